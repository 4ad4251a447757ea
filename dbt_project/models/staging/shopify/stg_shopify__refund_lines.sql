{{ config(unique_key=['connection_name', 'shopify_refund_id', 'shopify_line_item_id']) }}

with source as (
    {{ lake_source('shopify', 'refund_lines') }}
),

renamed as (
    select
        {{ lake_columns() }},
        refund_id as shopify_refund_id,
        line_item_id as shopify_line_item_id,
        shopify_order_id,
        order_updated_at,
        quantity,
        amount
    from source
)

select * from renamed
{{ keep_latest(['shopify_refund_id', 'shopify_line_item_id'], 'order_updated_at') }}
