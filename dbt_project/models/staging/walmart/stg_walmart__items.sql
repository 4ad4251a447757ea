{{ config(unique_key=['connection_name', 'snapshot_date', 'sku']) }}

with source as (
    {{ lake_source('walmart', 'items') }}
),

renamed as (
    select
        {{ lake_columns() }},
        cast(date as date) as snapshot_date,
        sku,
        wpid,
        nullif(trim(upc), '') as upc,
        nullif(trim(gtin), '') as gtin,
        product_name,
        product_type,
        price,
        currency,
        published_status,
        lifecycle_status
    from source
)

select * from renamed
{{ keep_latest_per_snapshot(['sku']) }}
