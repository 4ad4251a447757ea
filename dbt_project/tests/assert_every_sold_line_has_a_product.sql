{{ config(meta={'dagster': {'ref': {'name': 'fct_order_lines'}}}) }}
-- Every sold line must map to a product of the SKU master. A row here is a listing no rule
-- could match (no GTIN, no known SKU or ASIN, no similar title): add it to
-- seeds/product_overrides.csv (channel, connection_name, listing_sku, product_sku).
select
    channel,
    connection_name,
    listing_id,
    listing_sku,
    channel_item_id,
    count(*) as unmatched_lines,
    min(ordered_at) as first_sold_at
from {{ ref('fct_order_lines') }}
where product_id is null
group by all
