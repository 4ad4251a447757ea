-- Order lines with their order's status and every amount also in the base currency, at the
-- rate of the order's UTC purchase date (dim_fx_rates). A missing rate stays NULL here and
-- fails assert_every_order_line_has_an_fx_rate, which names the currency and day.
{% set rates_to_base = rate_to_base('netted.currency', 'rates.rate_to_base') %}
with lines as (
    select * from {{ ref('int_order_lines_refunds_netted') }}
),

orders as (
    select order_id, order_status, is_cancelled
    from {{ ref('int_orders_status_normalized') }}
),

rates as (
    select rate_date, currency, rate_to_base from {{ ref('int_fx_rates_daily') }}
),

netted as (
    select
        lines.*,
        orders.order_status,
        orders.is_cancelled,
        case
            when orders.is_cancelled then cast(0 as decimal(18, 4))
            else {{ money('lines.gross_amount - lines.discount_amount - lines.refunded_amount') }}
        end as net_amount
    from lines
    inner join orders on lines.order_id = orders.order_id
)

select
    netted.*,
    {{ rates_to_base }} as fx_rate_to_base,
    {{ to_base('netted.gross_amount', rates_to_base) }} as gross_amount_base,
    {{ to_base('netted.discount_amount', rates_to_base) }} as discount_amount_base,
    {{ to_base('netted.shipping_amount', rates_to_base) }} as shipping_amount_base,
    {{ to_base('netted.tax_amount', rates_to_base) }} as tax_amount_base,
    {{ to_base('netted.refunded_amount', rates_to_base) }} as refunded_amount_base,
    {{ to_base('netted.net_amount', rates_to_base) }} as net_amount_base
from netted
left join rates
    on netted.currency = rates.currency
    and cast(netted.ordered_at as date) = rates.rate_date
