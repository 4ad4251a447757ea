-- Units sold per review listing and local order day (cancelled lines left out): the ASIN's
-- lines in its marketplace, the Shopify product's lines over all its variants. Only listings
-- that have reviews; what review_daily expects reviews from.
with lines as (
    select * from {{ ref('fct_order_lines') }}
    where not is_cancelled
),

review_listings as (
    select distinct connection_name, channel, storefront_id, product_ref, review_listing_id
    from {{ ref('int_reviews_matched') }}
    where is_matched
),

variants as (
    select * from {{ ref('int_shopify_variants_to_products') }}
),

keyed as (
    select
        lines.connection_name,
        lines.storefront_id,
        case when lines.channel = 'shopify' then variants.shopify_product_number_id
            else lines.channel_item_id end as product_ref,
        lines.ordered_date,
        lines.quantity
    from lines
    left join variants
        on lines.channel = 'shopify'
        and lines.connection_name = variants.connection_name
        and lines.channel_item_id = variants.shopify_variant_id
)

select
    review_listings.review_listing_id,
    keyed.ordered_date,
    sum(keyed.quantity) as units_sold
from keyed
inner join review_listings
    on keyed.connection_name = review_listings.connection_name
    and keyed.storefront_id = review_listings.storefront_id
    and keyed.product_ref = review_listings.product_ref
group by all
