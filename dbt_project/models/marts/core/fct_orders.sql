{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}
-- One row per order of every channel and connection; amounts are the sums of its lines
-- (fct_order_lines), so orders and lines always agree. Incremental like fct_order_lines.
with orders as (
    select * from {{ ref('int_orders_status_normalized') }}
),

lines as (
    select * from {{ ref('int_order_lines_joined_to_fx') }}
),

identities as (
    select order_id, customer_id, customer_identity_id from {{ ref('int_customer_identities') }}
),

first_orders as (
    select customer_id, first_order_id from {{ ref('int_customer_first_orders') }}
),

line_totals as (
    select
        order_id,
        count(*) as line_count,
        cast(sum(quantity) as bigint) as units,
        cast(sum(refunded_quantity) as bigint) as refunded_units,
        bool_and(is_priced) as is_priced,
        {{ money('sum(gross_amount)') }} as gross_amount,
        {{ money('sum(discount_amount)') }} as discount_amount,
        {{ money('sum(shipping_amount)') }} as shipping_amount,
        {{ money('sum(tax_amount)') }} as tax_amount,
        {{ money('sum(refunded_amount)') }} as refunded_amount,
        {{ money('sum(net_amount)') }} as net_amount,
        max(fx_rate_to_base) as fx_rate_to_base,
        {{ money('sum(gross_amount_base)') }} as gross_amount_base,
        {{ money('sum(discount_amount_base)') }} as discount_amount_base,
        {{ money('sum(shipping_amount_base)') }} as shipping_amount_base,
        {{ money('sum(tax_amount_base)') }} as tax_amount_base,
        {{ money('sum(refunded_amount_base)') }} as refunded_amount_base,
        {{ money('sum(net_amount_base)') }} as net_amount_base,
        max(last_refunded_at) as last_refunded_at
    from lines
    group by order_id
),

{{ changed_rows_and_their_customers('orders') }}

final as (
    select
        selected.order_id,
        selected.channel,
        selected.connection_name,
        selected.storefront_id,
        selected.channel_order_id,
        selected.order_status,
        selected.channel_status,
        selected.fulfillment_type,
        selected.is_cancelled,
        coalesce(line_totals.is_priced, false) as is_priced,
        identities.customer_id,
        identities.customer_identity_id,
        coalesce(first_orders.first_order_id = selected.order_id, false) as is_first_order,
        selected.ordered_at,
        {{ local_date('selected.ordered_at') }} as ordered_date,
        coalesce(line_totals.line_count, 0) as line_count,
        coalesce(line_totals.units, 0) as units,
        coalesce(line_totals.refunded_units, 0) as refunded_units,
        selected.currency,
        coalesce(line_totals.gross_amount, 0) as gross_amount,
        coalesce(line_totals.discount_amount, 0) as discount_amount,
        coalesce(line_totals.shipping_amount, 0) as shipping_amount,
        coalesce(line_totals.tax_amount, 0) as tax_amount,
        coalesce(line_totals.refunded_amount, 0) as refunded_amount,
        coalesce(line_totals.net_amount, 0) as net_amount,
        line_totals.fx_rate_to_base,
        coalesce(line_totals.gross_amount_base, 0) as gross_amount_base,
        coalesce(line_totals.discount_amount_base, 0) as discount_amount_base,
        coalesce(line_totals.shipping_amount_base, 0) as shipping_amount_base,
        coalesce(line_totals.tax_amount_base, 0) as tax_amount_base,
        coalesce(line_totals.refunded_amount_base, 0) as refunded_amount_base,
        coalesce(line_totals.net_amount_base, 0) as net_amount_base,
        line_totals.last_refunded_at,
        selected.source_updated_at
    from selected
    left join line_totals on selected.order_id = line_totals.order_id
    left join identities on selected.order_id = identities.order_id
    left join first_orders on identities.customer_id = first_orders.customer_id
)

select * from final
