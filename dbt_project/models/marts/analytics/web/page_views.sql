-- One row per page view (events whose funnel step is page_view or product_view) with its
-- page (the URL's path, query and fragment dropped), page type, time on page (until the
-- session's next event of any kind; NULL for the session's last event) and the entrance and
-- exit flags (the session's first / last page view).
with events as (
    -- an A/B-test exposure is logged by the storefront, not done by the visitor: it does not
    -- end the time on a page
    select * from {{ ref('int_events_sessionized') }}
    where experiment_id is null or funnel_step is not null
),

ordered as (
    select
        *,
        lead(occurred_at) over (
            partition by connection_name, session_id order by occurred_at, event_id
        ) as next_event_at
    from events
),

views as (
    select
        *,
        coalesce(
            nullif(regexp_extract(page_url, '^(?:[a-zA-Z]+://[^/?#]*)?([^?#]*)', 1), ''), '/'
        ) as page_path,
        row_number() over (
            partition by connection_name, session_id order by occurred_at, event_id
        ) as view_number,
        count(*) over (partition by connection_name, session_id) as session_page_views
    from ordered
    where funnel_step in ('page_view', 'product_view')
)

select
    md5(connection_name || '|' || event_id) as page_view_id,
    connection_name,
    event_id,
    session_id,
    channel,
    storefront_id,
    session_visitor_id as visitor_id,
    occurred_at,
    {{ local_date('occurred_at') }} as view_date,
    page_url,
    page_path,
    case
        when funnel_step = 'product_view' or page_path like '/products/%' then 'product'
        when page_path = '/' then 'home'
        when page_path like '/collections%' then 'collection'
        when page_path like '/search%' then 'search'
        when page_path like '/cart%' then 'cart'
        when page_path like '/checkout%' then 'checkout'
        else 'other'
    end as page_type,
    sku,
    scroll_depth as scroll_depth_pct,
    view_number,
    cast(extract(epoch from next_event_at - occurred_at) as double) as time_on_page_seconds,
    view_number = 1 as is_entrance,
    view_number = session_page_views as is_exit,
    session_page_views = 1 as is_single_page_session
from views
