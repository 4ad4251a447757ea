{{ config(unique_key=['connection_name', 'walmart_purchase_order_id']) }}

with source as (
    {{ lake_source('walmart', 'orders') }}
),

renamed as (
    select
        {{ lake_columns() }},
        purchase_order_id as walmart_purchase_order_id,
        customer_order_id as walmart_customer_order_id,
        order_date_at as ordered_at,
        last_modified_at,
        customer_email,
        order_type,
        ship_node_type,
        ship_node_id,
        ship_node_name,
        order_total,
        currency,
        ship_method_code,
        ship_to_country,
        estimated_ship_at,
        estimated_delivery_at,
        line_count
    from source
)

select * from renamed
{{ keep_latest(['walmart_purchase_order_id'], 'last_modified_at') }}
