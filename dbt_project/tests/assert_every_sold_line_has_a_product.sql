{{ config(meta={'dagster': {'ref': {'name': 'fct_order_lines'}}}) }}
-- Every sold line must map to a product of the SKU master. A row here is a listing that is
-- ambiguous (its SKU or ASIN points at several products) or has no SKU: say which
-- product it is in seeds/product_overrides.csv or an inbox sku_mappings/ file (channel,
-- connection_name, listing_sku, product_sku).
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
