{{ config(unique_key=['sku_mapping_id']) }}

-- Manual listing -> product matches from the inbox's sku_mappings/ CSV files (lake connection
-- `inbox`), like seeds/product_overrides.csv; an empty channel or connection_name matches any.
-- One row per (channel, connection_name, listing SKU): the latest import wins, within one file
-- the last row. The file's own connection_name column names the sales connection, so the
-- lake's connection (the inbox folder) is kept as inbox_folder.
with source as (
    {{ lake_source('files', 'sku_mappings') }}
),

renamed as (
    select
        connection as inbox_folder,
        cast(date as date) as lake_partition_date,
        _extracted_at as extracted_at,
        _extraction_id as extraction_id,
        nullif(lower(trim(channel)), '') as channel,
        nullif(trim(connection_name), '') as connection_name,
        listing_sku,
        -- SKUs compare upper-cased and trimmed, as int_listings_unioned.sku_normalized
        upper(trim(listing_sku)) as sku_normalized,
        upper(trim(product_sku)) as product_sku,
        note,
        _source_file as source_file,
        cast(_source_row as bigint) as source_row
    from source
)

select
    coalesce(channel, '*') || ':' || coalesce(connection_name, '*') || ':' || sku_normalized
        as sku_mapping_id,
    *
from renamed
qualify row_number() over (
    partition by channel, connection_name, sku_normalized
    order by extracted_at desc, source_file desc, source_row desc
) = 1
