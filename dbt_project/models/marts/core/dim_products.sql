-- One row per product (a GTIN, or a master SKU named in the overrides), with where it is
-- listed. The title is taken from the most descriptive channel (Amazon titles carry brand
-- and variant, then Walmart, then Shopify).
with listings as (
    select * from {{ ref('int_listings_matched') }}
    where product_sku is not null
)

select
    product_sku as product_id,
    product_sku,
    min(gtin14) as gtin14,
    arg_min(title, (case channel when 'amazon' then 0 when 'walmart' then 1 else 2 end,
        title is null, listing_id)) as product_title,
    max(brand) as brand,
    max(product_type) as product_type,
    count(*) as listing_count,
    string_agg(distinct channel, ',' order by channel) as channels,
    bool_or(channel = 'amazon') as is_on_amazon,
    bool_or(channel = 'shopify') as is_on_shopify,
    bool_or(channel = 'walmart') as is_on_walmart,
    min(match_confidence) as min_match_confidence
from listings
group by product_sku
