{{ config(unique_key=['connection_name', 'snapshot_date', 'shopify_product_id']) }}

with source as (
    {{ lake_source('shopify', 'products') }}
),

renamed as (
    select
        {{ lake_columns() }},
        cast(date as date) as snapshot_date,
        product_id as shopify_product_id,
        legacy_resource_id as shopify_product_number_id,
        title,
        handle,
        vendor,
        product_type,
        status,
        created_at,
        updated_at
    from source
)

select * from renamed
{{ keep_latest_per_snapshot(['shopify_product_id']) }}
