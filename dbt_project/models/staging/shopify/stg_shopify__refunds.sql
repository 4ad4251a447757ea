{{ config(unique_key=['connection_name', 'shopify_refund_id']) }}

with source as (
    {{ lake_source('shopify', 'refunds') }}
),

renamed as (
    select
        {{ lake_columns() }},
        refund_id as shopify_refund_id,
        shopify_order_id,
        order_updated_at,
        created_at as refunded_at,
        amount,
        currency
    from source
)

select * from renamed
{{ keep_latest(['shopify_refund_id'], 'order_updated_at') }}
