-- The SKU master's mapping: one row per channel listing with the product it belongs to and
-- how that was decided (int_listings_matched documents the rules).
select
    listing_id,
    product_sku as product_id,
    channel,
    connection_name,
    storefront_id,
    listing_sku,
    channel_item_id,
    gtin14,
    title as listing_title,
    match_method,
    match_confidence,
    title_similarity,
    is_in_catalog,
    snapshot_date as last_catalog_date
from {{ ref('int_listings_matched') }}
