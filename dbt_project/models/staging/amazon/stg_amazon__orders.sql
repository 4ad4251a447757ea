{{ config(unique_key=['connection_name', 'amazon_order_id']) }}

with source as (
    {{ lake_source('amazon', 'orders') }}
),

renamed as (
    select
        {{ lake_columns() }},
        amazon_order_id,
        marketplace_id,
        purchased_at,
        last_updated_at,
        order_status,
        fulfillment_channel,
        sales_channel,
        order_type,
        order_total_amount,
        order_total_currency,
        number_of_items_shipped,
        number_of_items_unshipped,
        is_prime,
        is_business_order,
        buyer_email,
        ship_country,
        earliest_ship_at,
        latest_ship_at
    from source
)

select * from renamed
{{ keep_latest(['amazon_order_id'], 'last_updated_at') }}
