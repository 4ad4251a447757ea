{{ config(meta={'dagster': {'ref': {'name': 'account_health'}}}) }}
-- analytics.account_health counts every order of core.fct_orders once, in the ISO week of its
-- local order day: orders and cancellations per connection and week match, and no rate leaves
-- [0, 1]. A row is a connection and week that differs or a rate out of range.
with facts as (
    select
        connection_name,
        cast(date_trunc('week', ordered_date) as date) as week_start_date,
        count(*) as orders,
        count(*) filter (where is_cancelled) as cancelled_orders
    from {{ ref('fct_orders') }}
    group by all
),

mart as (
    select connection_name, week_start_date, orders, cancelled_orders,
        cancellation_rate, late_shipment_rate, refund_rate
    from {{ ref('account_health') }}
)

select
    coalesce(facts.connection_name, mart.connection_name) as connection_name,
    coalesce(facts.week_start_date, mart.week_start_date) as week_start_date,
    facts.orders,
    mart.orders as mart_orders,
    facts.cancelled_orders,
    mart.cancelled_orders as mart_cancelled_orders
from facts
full outer join mart
    on facts.connection_name = mart.connection_name
    and facts.week_start_date = mart.week_start_date
where facts.orders is distinct from mart.orders
    or facts.cancelled_orders is distinct from mart.cancelled_orders
    or not coalesce(mart.cancellation_rate between 0 and 1, true)
    or not coalesce(mart.late_shipment_rate between 0 and 1, true)
    or not coalesce(mart.refund_rate between 0 and 1, true)
