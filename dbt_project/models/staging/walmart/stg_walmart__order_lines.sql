{{ config(unique_key=['connection_name', 'walmart_purchase_order_id', 'walmart_line_number']) }}

with source as (
    {{ lake_source('walmart', 'order_lines') }}
),

renamed as (
    select
        {{ lake_columns() }},
        purchase_order_id as walmart_purchase_order_id,
        line_number as walmart_line_number,
        order_last_modified_at,
        order_date_at as ordered_at,
        sku,
        product_name,
        quantity,
        status as line_status,
        status_at as line_status_at,
        item_price,
        item_tax,
        discount,
        shipping_price,
        shipping_tax,
        refunded_quantity,
        refunded_amount,
        refunded_tax,
        refund_id as walmart_refund_id,
        refund_reason,
        currency,
        shipped_at,
        carrier,
        ship_method,
        fulfillment_option
    from source
)

select * from renamed
{{ keep_latest(['walmart_purchase_order_id', 'walmart_line_number'], 'order_last_modified_at') }}
