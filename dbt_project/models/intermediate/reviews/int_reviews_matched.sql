-- Every review of the inbox with the review listing it belongs to and, when the warehouse
-- knows it, its product. A review listing is what the channel collects reviews on: the ASIN
-- in one Amazon marketplace, the Shopify product (all its variants), otherwise the file's own
-- product id, handle or SKU. Reviews whose product the catalog does not know are kept
-- (is_matched false) and counted, never dropped. A review is a verified purchase when the file
-- says so, or (Shopify) when its reviewer's e-mail hash bought the product before reviewing.
with reviews as (
    select * from {{ ref('stg_files__reviews') }}
),

listings as (
    select * from {{ ref('dim_product_listings') }}
),

shopify_products as (
    select
        variants.connection_name,
        variants.shopify_product_number_id,
        variants.product_handle,
        min_by(listings.product_id, listings.channel_item_id) as product_id
    from {{ ref('int_shopify_variants_to_products') }} as variants
    inner join listings
        on listings.channel = 'shopify'
        and listings.connection_name = variants.connection_name
        and listings.channel_item_id = variants.shopify_variant_id
    group by all
),

amazon_products as (
    select
        connection_name,
        storefront_id,
        channel_item_id as asin,
        min(product_id) as product_id
    from listings
    where channel = 'amazon'
    group by all
),

matched as (
    select
        reviews.*,
        coalesce(by_id.shopify_product_number_id, by_handle.shopify_product_number_id) as shopify_ref,
        coalesce(by_id.product_id, by_handle.product_id, amazon.product_id) as product_id,
        case
            when by_id.product_id is not null or by_handle.product_id is not null then 'shopify'
            when amazon.product_id is not null then 'amazon'
        end as channel
    from reviews
    left join shopify_products as by_id
        on reviews.connection_name = by_id.connection_name
        and reviews.channel_product_ref = by_id.shopify_product_number_id
    left join (
        -- Shopify keeps handles unique per shop; should two products share one, the first wins
        select * from shopify_products
        qualify row_number() over (
            partition by connection_name, product_handle order by shopify_product_number_id
        ) = 1
    ) as by_handle
        on by_id.shopify_product_number_id is null
        and reviews.connection_name = by_handle.connection_name
        and reviews.product_handle = by_handle.product_handle
    left join amazon_products as amazon
        on reviews.connection_name = amazon.connection_name
        and reviews.storefront_id = amazon.storefront_id
        and reviews.channel_product_ref = amazon.asin
),

verified as (
    -- a Shopify review is a verified purchase when its reviewer bought the product before
    select matched.*, purchases.first_purchased_at
    from matched
    left join {{ ref('int_review_purchases') }} as purchases
        on matched.connection_name = purchases.connection_name
        and matched.shopify_ref = purchases.shopify_product_number_id
        and matched.reviewer_email_sha256 = purchases.email_sha256
        and purchases.first_purchased_at <= matched.reviewed_at
)

select
    review_key,
    connection_name,
    coalesce(channel, 'files') as channel,
    storefront_id,
    connection_name || ':' || storefront_id || ':'
        || coalesce(shopify_ref, channel_product_ref, 'handle:' || product_handle, 'sku:' || product_sku)
        as review_listing_id,
    coalesce(shopify_ref, channel_product_ref, product_handle, product_sku) as product_ref,
    product_id,
    product_id is not null as is_matched,
    rating,
    coalesce(reviewer_id, 'name:' || lower(trim(reviewer_name))) as reviewer_key,
    reviewed_at,
    {{ local_date('reviewed_at') }} as review_date,
    coalesce(
        is_verified_by_source,
        case when channel = 'shopify' and reviewer_email_sha256 is not null
            then first_purchased_at is not null end
    ) as is_verified,
    review_title,
    review_text,
    source_format
from verified
