{{ config(meta={'dagster': {'ref': {'name': 'daily_sales'}}}) }}
-- analytics.daily_sales adds up to the core facts per local day and channel: orders, units,
-- gross revenue of orders not cancelled (fct_order_lines) and refunds on their own day
-- (fct_refunds). A row is a day and channel that differs.
with facts as (
    select sales_date, channel, sum(orders) as orders, sum(units) as units,
        sum(gross) as gross, sum(refunds) as refunds
    from (
        select ordered_date as sales_date, channel, count(distinct order_id) as orders,
            sum(quantity) as units, sum(gross_amount_base) as gross, 0 as refunds
        from {{ ref('fct_order_lines') }}
        where not is_cancelled
        group by all
        union all
        select refunded_date, channel, 0, 0, 0, sum(refunded_amount_base)
        from {{ ref('fct_refunds') }}
        group by all
    )
    group by all
),

mart as (
    select sales_date, channel, sum(units) as units, sum(gross_revenue_base) as gross,
        sum(refunds_base) as refunds
    from {{ ref('daily_sales') }}
    group by all
)

select sales_date, channel, facts.units, mart.units as mart_units,
    facts.gross, mart.gross as mart_gross, facts.refunds, mart.refunds as mart_refunds
from facts
full outer join mart using (sales_date, channel)
-- a day with only cancelled orders has a mart row of zeros and no fact row
where coalesce(facts.units, 0) != coalesce(mart.units, 0)
    or coalesce(facts.gross, 0) != coalesce(mart.gross, 0)
    or coalesce(facts.refunds, 0) != coalesce(mart.refunds, 0)
