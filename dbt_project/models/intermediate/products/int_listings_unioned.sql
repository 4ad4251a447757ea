-- Every channel listing once: from the latest catalog snapshot of each channel (Amazon
-- merchant listings, Shopify variants, Walmart items), plus listings only known from order
-- lines (sold, then delisted before the first snapshot; and every listing of a file channel,
-- which has no catalog: one per connection, storefront and SKU sold, with the GTIN, item id
-- and product name of its latest line that gives one). `listing_key` is what order lines
-- carry: the seller SKU on Amazon, Walmart and file channels, the variant id on Shopify.
-- gtin14 is the GTIN/UPC/EAN normalized to 14 digits, when the channel gives one; asin is
-- the ASIN of Amazon listings and of the lines of Amazon all-orders flat files.
with
amazon_listings as (
    select
        'amazon' as channel,
        connection_name,
        marketplace_id as storefront_id,
        seller_sku as listing_key,
        seller_sku as listing_sku,
        asin as channel_item_id,
        asin,
        case when external_product_id_type in ('UPC', 'EAN', 'GTIN', 'ISBN')
            then external_product_id end as raw_gtin,
        title,
        cast(null as varchar) as brand,
        cast(null as varchar) as product_type,
        snapshot_date
    from {{ ref('stg_amazon__listings') }}
    qualify snapshot_date = max(snapshot_date) over (partition by connection_name, marketplace_id, seller_sku)
),

shopify_listings as (
    select
        'shopify' as channel,
        v.connection_name,
        v.connection_name as storefront_id,
        v.shopify_variant_id as listing_key,
        v.sku as listing_sku,
        v.shopify_variant_id as channel_item_id,
        v.barcode as raw_gtin,
        p.title || coalesce(' - ' || nullif(v.variant_title, 'Default Title'), '') as title,
        p.vendor as brand,
        p.product_type,
        v.snapshot_date
    from {{ ref('stg_shopify__product_variants') }} as v
    left join {{ ref('stg_shopify__products') }} as p
        on v.connection_name = p.connection_name
        and v.shopify_product_id = p.shopify_product_id
        and v.snapshot_date = p.snapshot_date
    qualify v.snapshot_date = max(v.snapshot_date) over (partition by v.connection_name, v.shopify_variant_id)
),

walmart_listings as (
    select
        'walmart' as channel,
        connection_name,
        connection_name as storefront_id,
        sku as listing_key,
        sku as listing_sku,
        sku as channel_item_id,
        coalesce(gtin, upc) as raw_gtin,
        product_name as title,
        cast(null as varchar) as brand,
        product_type,
        snapshot_date
    from {{ ref('stg_walmart__items') }}
    qualify snapshot_date = max(snapshot_date) over (partition by connection_name, sku)
),

catalog as (
    -- Shopify and Walmart listings have no asin column: NULL by the union by name
    {{ union_channels('_listings') }}
),

sold_only as (
    -- listings seen on order lines but in no catalog snapshot (arg_max skips NULL values)
    select
        channel,
        connection_name,
        storefront_id,
        case when channel = 'shopify' and source_format = 'api' then channel_item_id
            else listing_sku end as listing_key,
        any_value(listing_sku) as listing_sku,
        arg_max(channel_item_id, ordered_at) as channel_item_id,
        arg_max(channel_item_id, ordered_at) filter (
            where (channel = 'amazon' and source_format = 'api')
                or source_format = 'amazon_all_orders'
        ) as asin,
        arg_max(gtin, ordered_at) as raw_gtin,
        arg_max(item_title, ordered_at) as title,
        cast(null as varchar) as brand,
        cast(null as varchar) as product_type,
        cast(null as date) as snapshot_date
    from {{ ref('int_order_lines_unioned') }}
    where listing_id not in (
        select connection_name || ':' || storefront_id || ':' || listing_key from catalog
    )
    group by all
),

unioned as (
    select *, true as is_in_catalog from catalog
    union all by name
    select *, false as is_in_catalog from sold_only
)

select
    connection_name || ':' || storefront_id || ':' || listing_key as listing_id,
    *,
    case
        when length(regexp_replace(coalesce(raw_gtin, ''), '[^0-9]', '', 'g')) between 8 and 14
            then lpad(regexp_replace(raw_gtin, '[^0-9]', '', 'g'), 14, '0')
    end as gtin14,
    nullif(upper(trim(listing_sku)), '') as sku_normalized
from unioned
