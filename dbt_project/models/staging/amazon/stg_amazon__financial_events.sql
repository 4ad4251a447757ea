{{ config(unique_key=['connection_name', 'event_type', 'amazon_order_id', 'amazon_order_item_id', 'amount_type', 'amount_name', 'posted_at']) }}

with source as (
    {{ lake_source('amazon', 'financial_events') }}
),

renamed as (
    select
        {{ lake_columns() }},
        event_type,
        amazon_order_id,
        order_item_id as amazon_order_item_id,
        amount_type,
        amount_name,
        posted_at,
        marketplace_id,
        seller_sku,
        quantity,
        amount,
        currency
    from source
)

select * from renamed
{{ keep_latest(['event_type', 'amazon_order_id', 'amazon_order_item_id', 'amount_type', 'amount_name', 'posted_at'], 'posted_at') }}
