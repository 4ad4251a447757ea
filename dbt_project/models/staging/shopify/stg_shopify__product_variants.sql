{{ config(unique_key=['connection_name', 'snapshot_date', 'shopify_variant_id']) }}

with source as (
    {{ lake_source('shopify', 'product_variants') }}
),

renamed as (
    select
        {{ lake_columns() }},
        cast(date as date) as snapshot_date,
        variant_id as shopify_variant_id,
        legacy_resource_id as shopify_variant_number_id,
        product_id as shopify_product_id,
        sku,
        title as variant_title,
        nullif(trim(barcode), '') as barcode,
        price,
        currency,
        inventory_item_id as shopify_inventory_item_id,
        created_at,
        updated_at
    from source
)

select * from renamed
{{ keep_latest_per_snapshot(['shopify_variant_id']) }}
