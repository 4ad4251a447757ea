{{ config(unique_key=['connection_name', 'snapshot_date', 'marketplace_id', 'seller_sku']) }}

with source as (
    {{ lake_source('amazon', 'inventory_summaries') }}
),

renamed as (
    select
        {{ lake_columns() }},
        cast(date as date) as snapshot_date,
        marketplace_id,
        seller_sku,
        asin,
        fn_sku,
        product_name,
        condition,
        fulfillable_quantity,
        reserved_quantity,
        inbound_working_quantity,
        inbound_shipped_quantity,
        inbound_receiving_quantity,
        unfulfillable_quantity,
        researching_quantity,
        total_quantity,
        last_updated_at
    from source
)

select * from renamed
{{ keep_latest_per_snapshot(['marketplace_id', 'seller_sku']) }}
