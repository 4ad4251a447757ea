-- The price of every listing on every catalog snapshot day (the lake keeps one snapshot a
-- day from the first sync on), in the listing's currency.
with
amazon_prices as (
    select 'amazon' as channel, connection_name, snapshot_date,
        connection_name || ':' || marketplace_id || ':' || seller_sku as listing_id,
        price, currency, status as listing_status
    from {{ ref('stg_amazon__listings') }}
),
shopify_prices as (
    select 'shopify' as channel, connection_name, snapshot_date,
        connection_name || ':' || connection_name || ':' || shopify_variant_id as listing_id,
        price, currency, cast(null as varchar) as listing_status
    from {{ ref('stg_shopify__product_variants') }}
),
walmart_prices as (
    select 'walmart' as channel, connection_name, snapshot_date,
        connection_name || ':' || connection_name || ':' || sku as listing_id,
        price, currency, published_status as listing_status
    from {{ ref('stg_walmart__items') }}
),

unioned as (
    {{ union_channels('_prices') }}
)

select * from unioned
where price is not null
