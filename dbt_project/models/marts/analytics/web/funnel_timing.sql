-- Time between funnel steps per local session day and storefront: for each session that
-- logged both steps with the later one at or after the earlier, the seconds from the first
-- event of the earlier step to the first event of the later step at or after it; median and
-- 90th percentile (continuous) over those sessions.
with events as (
    select * from {{ ref('int_events_sessionized') }}
    where funnel_step in ('product_view', 'add_to_cart', 'checkout', 'purchase')
),

pairs as (
    select * from (
        values
            ('product_view', 'add_to_cart', 1),
            ('add_to_cart', 'checkout', 2),
            ('checkout', 'purchase', 3),
            ('product_view', 'purchase', 4)
    ) as p (from_step, to_step, step_order)
),

firsts as (
    select connection_name, session_id, session_date, storefront_id, channel, funnel_step,
        min(occurred_at) as first_at
    from events
    group by all
),

timed as (
    select
        a.session_date,
        a.channel,
        a.storefront_id,
        pairs.from_step,
        pairs.to_step,
        pairs.step_order,
        a.session_id,
        min(extract(epoch from b.occurred_at - a.first_at)) as seconds
    from firsts as a
    inner join pairs on a.funnel_step = pairs.from_step
    inner join events as b
        on a.connection_name = b.connection_name
        and a.session_id = b.session_id
        and b.funnel_step = pairs.to_step
        and b.occurred_at >= a.first_at
    group by all
)

select
    md5(
        cast(session_date as varchar) || '|' || storefront_id || '|' || from_step || '|' || to_step
    ) as funnel_timing_id,
    session_date,
    channel,
    storefront_id,
    from_step,
    to_step,
    step_order,
    count(*) as sessions,
    cast(quantile_cont(seconds, 0.5) as double) as median_seconds,
    cast(quantile_cont(seconds, 0.9) as double) as p90_seconds
from timed
group by all
