{{
    config(
        materialized='incremental',
        unique_key='order_line_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}
-- One row per order line of every channel and connection. Incremental: a run re-merges the
-- lines whose source changed within the lookback window (late updates, refunds) and every
-- line of the customers those touch (their first-order flags may move).
with lines as (
    select * from {{ ref('int_order_lines_joined_to_fx') }}
),

identities as (
    select order_id, customer_id, customer_identity_id from {{ ref('int_customer_identities') }}
),

first_orders as (
    select customer_id, first_order_id from {{ ref('int_customer_first_orders') }}
),

products as (
    select listing_id, product_sku as product_id from {{ ref('int_listings_matched') }}
),

{{ changed_rows_and_their_customers('lines') }}

final as (
    select
        selected.order_line_id,
        selected.order_id,
        selected.channel,
        selected.connection_name,
        selected.storefront_id,
        selected.channel_order_id,
        selected.channel_line_id,
        selected.listing_id,
        products.product_id,
        selected.listing_sku,
        selected.channel_item_id,
        selected.fulfillment_type,
        selected.order_status,
        selected.is_cancelled,
        selected.is_priced,
        identities.customer_id,
        identities.customer_identity_id,
        coalesce(first_orders.first_order_id = selected.order_id, false) as is_first_order,
        selected.ordered_at,
        {{ local_date('selected.ordered_at') }} as ordered_date,
        selected.quantity,
        selected.refunded_quantity,
        selected.currency,
        selected.unit_price,
        selected.gross_amount,
        selected.discount_amount,
        selected.shipping_amount,
        selected.tax_amount,
        selected.refunded_amount,
        selected.net_amount,
        selected.fx_rate_to_base,
        selected.gross_amount_base,
        selected.discount_amount_base,
        selected.shipping_amount_base,
        selected.tax_amount_base,
        selected.refunded_amount_base,
        selected.net_amount_base,
        selected.last_refunded_at,
        selected.source_updated_at
    from selected
    left join identities on selected.order_id = identities.order_id
    left join first_orders on identities.customer_id = first_orders.customer_id
    left join products on selected.listing_id = products.listing_id
)

select * from final
