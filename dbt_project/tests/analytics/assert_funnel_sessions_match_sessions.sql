{{ config(meta={'dagster': {'ref': {'name': 'funnel_daily'}}}) }}
-- funnel_daily's storefront rows add up to analytics.sessions per local day, channel and
-- storefront: sessions, converted sessions and purchase revenue. A row is a day that differs.
with mart as (
    select funnel_date, channel, storefront_id, sum(sessions) as sessions,
        sum(purchase_sessions) as purchase_sessions, sum(revenue_base) as revenue_base
    from {{ ref('funnel_daily') }}
    where data_source = 'events'
    group by all
),

facts as (
    select session_date as funnel_date, channel, storefront_id, count(*) as sessions,
        count_if(is_converted) as purchase_sessions, sum(revenue_base) as revenue_base
    from {{ ref('sessions') }}
    group by all
)

select funnel_date, channel, storefront_id, facts.sessions, mart.sessions as mart_sessions,
    facts.purchase_sessions, mart.purchase_sessions as mart_purchase_sessions,
    facts.revenue_base, mart.revenue_base as mart_revenue_base
from facts
full outer join mart using (funnel_date, channel, storefront_id)
where coalesce(facts.sessions, 0) != coalesce(mart.sessions, 0)
    or coalesce(facts.purchase_sessions, 0) != coalesce(mart.purchase_sessions, 0)
    or coalesce(facts.revenue_base, 0) != coalesce(mart.revenue_base, 0)
