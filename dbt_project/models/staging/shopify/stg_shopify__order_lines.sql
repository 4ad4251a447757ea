{{ config(unique_key=['connection_name', 'shopify_order_id', 'shopify_line_item_id']) }}

with source as (
    {{ lake_source('shopify', 'order_lines') }}
),

renamed as (
    select
        {{ lake_columns() }},
        shopify_order_id,
        line_item_id as shopify_line_item_id,
        order_updated_at,
        sku,
        variant_id as shopify_variant_id,
        product_id as shopify_product_id,
        quantity,
        unit_price,
        total_discount,
        currency
    from source
)

select * from renamed
{{ keep_latest(['shopify_order_id', 'shopify_line_item_id'], 'order_updated_at') }}
