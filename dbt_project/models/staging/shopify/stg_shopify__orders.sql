{{ config(unique_key=['connection_name', 'shopify_order_id']) }}

with source as (
    {{ lake_source('shopify', 'orders') }}
),

renamed as (
    select
        {{ lake_columns() }},
        shopify_order_id,
        legacy_resource_id as shopify_order_number_id,
        name as order_name,
        created_at,
        updated_at,
        processed_at,
        cancelled_at,
        currency,
        financial_status,
        fulfillment_status,
        total_price,
        subtotal_price,
        total_discounts,
        total_tax,
        total_shipping,
        customer_id as shopify_customer_id,
        customer_email,
        ship_address1,
        ship_city,
        ship_province_code,
        ship_postal_code,
        ship_country,
        billing_country,
        billing_matches_shipping
    from source
)

select * from renamed
{{ keep_latest(['shopify_order_id'], 'updated_at') }}
