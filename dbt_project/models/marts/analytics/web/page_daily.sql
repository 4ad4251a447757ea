-- Page views per local day, storefront, page and page type: views, unique visitors, average
-- time on page (over the views followed by another event), entrances, exits, exit rate
-- (exits / views) and bounce rate (bounced sessions entering here / entrances; a bounce as in
-- analytics.sessions: one page view and no other event).
with views as (
    select * from {{ ref('page_views') }}
),

sessions as (
    select session_id, is_bounce from {{ ref('sessions') }}
)

select
    md5(
        cast(views.view_date as varchar) || '|' || views.storefront_id || '|' || views.page_path
        || '|' || views.page_type
    ) as page_day_id,
    views.view_date,
    views.channel,
    views.storefront_id,
    views.page_path,
    views.page_type,
    count(*) as views,
    count(distinct views.visitor_id) as unique_visitors,
    avg(views.time_on_page_seconds) as avg_time_on_page_seconds,
    avg(views.scroll_depth_pct) as avg_scroll_depth_pct,
    count(*) filter (where views.is_entrance) as entrances,
    count(*) filter (where views.is_exit) as exits,
    count(*) filter (where views.is_exit) / count(*) as exit_rate,
    count(*) filter (where views.is_entrance and sessions.is_bounce)
    / nullif(count(*) filter (where views.is_entrance), 0) as bounce_rate
from views
left join sessions on views.session_id = sessions.session_id
group by all
