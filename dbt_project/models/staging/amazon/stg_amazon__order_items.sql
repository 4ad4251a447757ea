{{ config(unique_key=['connection_name', 'amazon_order_id', 'amazon_order_item_id']) }}

with source as (
    {{ lake_source('amazon', 'order_items') }}
),

renamed as (
    select
        {{ lake_columns() }},
        amazon_order_id,
        order_item_id as amazon_order_item_id,
        order_last_updated_at,
        marketplace_id,
        asin,
        seller_sku,
        title,
        quantity_ordered,
        quantity_shipped,
        -- SP-API ItemPrice is the price of the whole line (unit price x quantity)
        item_price,
        item_tax,
        shipping_price,
        shipping_tax,
        promotion_discount,
        currency,
        condition_id,
        is_gift
    from source
)

select * from renamed
{{ keep_latest(['amazon_order_id', 'amazon_order_item_id'], 'order_last_updated_at') }}
