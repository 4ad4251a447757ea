{{ config(meta={'dagster': {'ref': {'name': 'order_line_margin'}}}) }}
-- Amazon fees in analytics.order_line_margin are the Finances fees of each line: posted in the
-- line's own currency (the assumption behind converting them at the line's rate) and, summed
-- per connection and currency, equal to the fee amounts of stg_amazon__financial_events for
-- the lines in the margin (signs turned). A row is a line in another currency, or a
-- connection and currency whose totals differ.
with margin_lines as (
    select order_line_id, connection_name, currency, fx_rate_to_base, marketplace_fee_base
    from {{ ref('order_line_margin') }}
    where fee_source = 'financial_events'
),

fees as (
    select order_line_id, fee_amount, fee_currency from {{ ref('int_order_line_fees') }}
),

events as (
    select
        connection_name || ':' || amazon_order_id || ':' || seller_sku as order_line_id,
        -sum(amount) as fee_amount
    from {{ ref('stg_amazon__financial_events') }}
    where amount_type = 'Fee'
    group by all
),

other_currency as (
    select margin_lines.order_line_id, margin_lines.connection_name, fees.fee_currency as currency,
        null as margin_fees, null as event_fees
    from margin_lines
    inner join fees on margin_lines.order_line_id = fees.order_line_id
    where fees.fee_currency != margin_lines.currency
),

totals as (
    select
        null as order_line_id,
        margin_lines.connection_name,
        margin_lines.currency,
        sum(margin_lines.marketplace_fee_base) as margin_fees,
        sum({{ to_base('coalesce(events.fee_amount, 0)', 'margin_lines.fx_rate_to_base') }}) as event_fees
    from margin_lines
    left join events on margin_lines.order_line_id = events.order_line_id
    group by all
)

select * from other_currency
union all
select * from totals where margin_fees is distinct from event_fees
