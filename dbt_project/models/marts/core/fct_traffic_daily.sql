-- Sessions, page views, units and sales per day and listing where the channel reports them:
-- Amazon's Sales & Traffic report (by child ASIN / SKU), in the marketplace currency and in
-- the base currency at that day's rate. Shopify and Walmart report no traffic through their
-- APIs; storefront clickstream arrives through the file inbox (analytics marts).
{% set rates_to_base = rate_to_base('traffic.currency', 'rates.rate_to_base') %}
with traffic as (
    select * from {{ ref('stg_amazon__sales_traffic_by_sku') }}
),

products as (
    select listing_id, product_sku as product_id from {{ ref('int_listings_matched') }}
),

rates as (
    select rate_date, currency, rate_to_base from {{ ref('int_fx_rates_daily') }}
)

select
    traffic.connection_name || ':' || traffic.marketplace_id || ':' || traffic.seller_sku
        || ':' || traffic.report_date as traffic_day_id,
    traffic.report_date as traffic_date,
    'amazon' as channel,
    traffic.connection_name,
    traffic.marketplace_id as storefront_id,
    traffic.connection_name || ':' || traffic.marketplace_id || ':' || traffic.seller_sku
        as listing_id,
    products.product_id,
    traffic.asin as channel_item_id,
    traffic.sessions,
    traffic.page_views,
    traffic.units_ordered,
    traffic.total_order_items as order_items,
    traffic.currency,
    traffic.ordered_product_sales,
    {{ rates_to_base }} as fx_rate_to_base,
    {{ to_base('traffic.ordered_product_sales', rates_to_base) }}
        as ordered_product_sales_base,
    traffic.buy_box_percentage,
    traffic.unit_session_percentage
from traffic
left join products
    on traffic.connection_name || ':' || traffic.marketplace_id || ':' || traffic.seller_sku
        = products.listing_id
left join rates
    on traffic.currency = rates.currency
    and traffic.report_date = rates.rate_date
