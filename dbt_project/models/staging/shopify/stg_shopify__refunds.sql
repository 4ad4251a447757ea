with source as (
    select * from {{ source('shopify', 'refunds') }}
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
