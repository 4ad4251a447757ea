{{ config(meta={'dagster': {'ref': {'name': 'order_line_margin'}}}) }}
-- analytics.order_line_margin has exactly the order lines of core.fct_order_lines that were
-- not cancelled, with the same net revenue, and analytics.daily_margin adds up to it, per
-- local day and channel. A row is a day and channel that differs.
with facts as (
    select ordered_date as margin_date, channel, count(*) as lines, sum(net_amount_base) as revenue,
        null as fees, null as margin
    from {{ ref('fct_order_lines') }}
    where not is_cancelled
    group by all
),

line_margins as (
    select ordered_date as margin_date, channel, count(*) as lines, sum(net_revenue_base) as revenue,
        sum(marketplace_fee_base) as fees, coalesce(sum(contribution_margin_base), 0) as margin
    from {{ ref('order_line_margin') }}
    group by all
),

daily as (
    select margin_date, channel, sum(order_lines) as lines, sum(net_revenue_base) as revenue,
        sum(marketplace_fee_base) as fees, sum(contribution_margin_base) as margin
    from {{ ref('daily_margin') }}
    group by all
),

keys as (
    select margin_date, channel from facts
    union
    select margin_date, channel from line_margins
    union
    select margin_date, channel from daily
)

select
    keys.margin_date,
    keys.channel,
    facts.lines as fact_lines,
    line_margins.lines as margin_lines,
    daily.lines as daily_lines,
    facts.revenue as fact_revenue,
    line_margins.revenue as margin_revenue,
    daily.revenue as daily_revenue,
    line_margins.fees as margin_fees,
    daily.fees as daily_fees,
    line_margins.margin as line_margin,
    daily.margin as daily_margin
from keys
left join facts on keys.margin_date = facts.margin_date and keys.channel = facts.channel
left join line_margins
    on keys.margin_date = line_margins.margin_date and keys.channel = line_margins.channel
left join daily on keys.margin_date = daily.margin_date and keys.channel = daily.channel
where facts.lines is distinct from line_margins.lines
    or line_margins.lines is distinct from daily.lines
    or facts.revenue is distinct from line_margins.revenue
    or line_margins.revenue is distinct from daily.revenue
    or line_margins.fees is distinct from daily.fees
    or line_margins.margin is distinct from daily.margin
