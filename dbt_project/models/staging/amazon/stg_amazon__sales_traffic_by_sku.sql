{{ config(unique_key=['connection_name', 'marketplace_id', 'report_date', 'seller_sku']) }}

with source as (
    {{ lake_source('amazon', 'sales_traffic_by_sku') }}
),

renamed as (
    select
        {{ lake_columns() }},
        marketplace_id,
        cast(date as date) as report_date,
        sku as seller_sku,
        parent_asin,
        child_asin as asin,
        units_ordered,
        ordered_product_sales,
        currency,
        total_order_items,
        sessions,
        browser_sessions,
        mobile_app_sessions,
        page_views,
        buy_box_percentage,
        unit_session_percentage
    from source
)

select * from renamed
{{ keep_latest(['marketplace_id', 'report_date', 'seller_sku'], 'report_date') }}
