{% set rates_to_base = rate_to_base('refunds.currency', 'rates.rate_to_base') %}
{{
    config(
        materialized='incremental',
        unique_key='refund_line_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}
-- One row per refund and order line, counted on the day the money went back (as the
-- platforms' finance reports do), converted at that day's rate.
with refunds as (
    select * from {{ ref('int_refunds_unioned') }}
    {% if is_incremental() %}
    where {{ changed_recently('source_updated_at') }}
    {% endif %}
),

lines as (
    select order_line_id, listing_id, storefront_id, ordered_at
    from {{ ref('int_order_lines_unioned') }}
),

products as (
    select listing_id, product_sku as product_id from {{ ref('int_listings_matched') }}
),

rates as (
    select rate_date, currency, rate_to_base from {{ ref('int_fx_rates_daily') }}
)

select
    refunds.refund_line_id,
    refunds.order_id,
    refunds.order_line_id,
    refunds.channel,
    refunds.connection_name,
    lines.storefront_id,
    refunds.channel_order_id,
    refunds.channel_refund_id,
    lines.listing_id,
    products.product_id,
    lines.order_line_id is not null as has_order_line,
    lines.ordered_at,
    refunds.refunded_at,
    {{ local_date('refunds.refunded_at') }} as refunded_date,
    refunds.refunded_quantity,
    refunds.currency,
    refunds.refunded_amount,
    refunds.refunded_tax,
    refunds.refunded_shipping,
    {{ rates_to_base }} as fx_rate_to_base,
    {{ to_base('refunds.refunded_amount', rates_to_base) }} as refunded_amount_base,
    {{ to_base('refunds.refunded_tax', rates_to_base) }} as refunded_tax_base,
    {{ to_base('refunds.refunded_shipping', rates_to_base) }} as refunded_shipping_base,
    refunds.source_updated_at
from refunds
left join lines on refunds.order_line_id = lines.order_line_id
left join products on lines.listing_id = products.listing_id
left join rates
    on refunds.currency = rates.currency
    and cast(refunds.refunded_at as date) = rates.rate_date
