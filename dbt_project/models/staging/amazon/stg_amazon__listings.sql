{{ config(unique_key=['connection_name', 'snapshot_date', 'marketplace_id', 'seller_sku']) }}

with source as (
    {{ lake_source('amazon', 'listings') }}
),

renamed as (
    select
        {{ lake_columns() }},
        cast(date as date) as snapshot_date,
        marketplace_id,
        seller_sku,
        asin,
        listing_id,
        title,
        price,
        currency,
        quantity,
        status,
        fulfillment_channel,
        open_date as opened_at,
        product_id as external_product_id,
        product_id_type as external_product_id_type,
        item_condition
    from source
)

select * from renamed
{{ keep_latest_per_snapshot(['marketplace_id', 'seller_sku']) }}
