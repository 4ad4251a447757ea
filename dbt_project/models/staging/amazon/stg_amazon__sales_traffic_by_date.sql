{{ config(unique_key=['connection_name', 'marketplace_id', 'report_date']) }}

with source as (
    {{ lake_source('amazon', 'sales_traffic_by_date') }}
),

renamed as (
    select
        {{ lake_columns() }},
        marketplace_id,
        cast(date as date) as report_date,
        ordered_product_sales,
        currency,
        units_ordered,
        total_order_items,
        units_refunded,
        units_shipped,
        orders_shipped,
        shipped_product_sales,
        sessions,
        browser_sessions,
        mobile_app_sessions,
        page_views,
        browser_page_views,
        mobile_app_page_views,
        buy_box_percentage,
        unit_session_percentage,
        order_item_session_percentage
    from source
)

select * from renamed
{{ keep_latest(['marketplace_id', 'report_date'], 'report_date') }}
