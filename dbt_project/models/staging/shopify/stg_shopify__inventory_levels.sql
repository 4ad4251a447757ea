{{ config(unique_key=['connection_name', 'snapshot_date', 'shopify_inventory_item_id', 'shopify_location_id']) }}

with source as (
    {{ lake_source('shopify', 'inventory_levels') }}
),

renamed as (
    select
        {{ lake_columns() }},
        cast(date as date) as snapshot_date,
        inventory_item_id as shopify_inventory_item_id,
        location_id as shopify_location_id,
        variant_id as shopify_variant_id,
        sku,
        location_name,
        available,
        on_hand,
        committed,
        incoming,
        reserved,
        updated_at
    from source
)

select * from renamed
{{ keep_latest_per_snapshot(['shopify_inventory_item_id', 'shopify_location_id']) }}
