-- Every channel's order lines in one shape. Amounts are in the order currency, as the
-- channel reports them: gross = unit price x quantity (before discounts, without tax and
-- shipping). Shopify reports shipping and tax per order only: they are shared across the
-- order's lines by gross, so line sums equal the order totals exactly.
-- File channels (inbox orders/<channel>/, always on, no rows until a file is imported) come
-- as exported, per line; their lines take the order's earliest ordered_at, and the order's
-- latest import time as its update time (the import is when the warehouse learns of a
-- change, whatever the export's own updated_at). source_format says where a line came
-- from: api, or the file format (mapping, amazon_all_orders, shopify_orders_csv).
with
amazon_lines as (
    select
        'amazon' as channel,
        i.connection_name,
        i.marketplace_id as storefront_id,
        i.amazon_order_id as channel_order_id,
        -- (order, SKU) is the Amazon line in both the getOrderItems and the bulk reports path
        i.seller_sku as channel_line_id,
        o.purchased_at as ordered_at,
        o.last_updated_at as order_updated_at,
        i.seller_sku as listing_sku,
        i.asin as channel_item_id,
        i.title as item_title,
        i.quantity_ordered as quantity,
        coalesce(i.item_price, 0) as gross_amount,
        coalesce(i.promotion_discount, 0) as discount_amount,
        coalesce(i.shipping_price, 0) as shipping_amount,
        {{ money('coalesce(i.item_tax, 0) + coalesce(i.shipping_tax, 0)') }} as tax_amount,
        i.item_price is not null as is_priced,
        -- pending Amazon orders carry no amounts yet: their currency is the marketplace's
        coalesce(i.currency, o.order_total_currency, m.default_currency) as currency,
        case o.fulfillment_channel when 'AFN' then 'FBA' when 'MFN' then 'FBM' end
            as fulfillment_type,
        cast(null as varchar) as gtin,
        'api' as source_format
    from {{ ref('stg_amazon__order_items') }} as i
    inner join {{ ref('stg_amazon__orders') }} as o
        on i.connection_name = o.connection_name
        and i.amazon_order_id = o.amazon_order_id
    left join {{ ref('amazon_marketplaces') }} as m on i.marketplace_id = m.marketplace_id
),

shopify_weighted as (
    select
        l.*,
        o.created_at as ordered_at,
        o.updated_at as order_updated_at,
        coalesce(o.total_shipping, 0) as order_shipping,
        coalesce(o.total_tax, 0) as order_tax,
        {{ money('l.unit_price * l.quantity') }} as gross,
        sum(l.unit_price * l.quantity) over order_lines as order_gross,
        row_number() over (
            partition by l.connection_name, l.shopify_order_id order by l.shopify_line_item_id
        ) as line_rank,
        count(*) over order_lines as line_count
    from {{ ref('stg_shopify__order_lines') }} as l
    inner join {{ ref('stg_shopify__orders') }} as o
        on l.connection_name = o.connection_name
        and l.shopify_order_id = o.shopify_order_id
    window order_lines as (partition by l.connection_name, l.shopify_order_id)
),

shopify_shares as (
    -- order-level shipping and tax shared by line gross (equally when the order is free),
    -- rounded to 4 places; the rounding remainder goes to the first line
    select
        *,
        cast(round(order_shipping * coalesce(gross / nullif(order_gross, 0), 1 / line_count), 4)
            as decimal(18, 4)) as shipping_share,
        cast(round(order_tax * coalesce(gross / nullif(order_gross, 0), 1 / line_count), 4)
            as decimal(18, 4)) as tax_share
    from shopify_weighted
),

shopify_lines as (
    select
        'shopify' as channel,
        connection_name,
        connection_name as storefront_id,
        shopify_order_id as channel_order_id,
        shopify_line_item_id as channel_line_id,
        ordered_at,
        order_updated_at,
        sku as listing_sku,
        shopify_variant_id as channel_item_id,
        cast(null as varchar) as item_title,
        quantity,
        gross as gross_amount,
        coalesce(total_discount, 0) as discount_amount,
        {{ money('shipping_share + case when line_rank = 1
            then order_shipping - sum(shipping_share) over order_lines else 0 end') }}
            as shipping_amount,
        {{ money('tax_share + case when line_rank = 1
            then order_tax - sum(tax_share) over order_lines else 0 end') }}
            as tax_amount,
        true as is_priced,
        currency,
        'merchant' as fulfillment_type,
        cast(null as varchar) as gtin,
        'api' as source_format
    from shopify_shares
    window order_lines as (partition by connection_name, shopify_order_id)
),

walmart_lines as (
    select
        'walmart' as channel,
        l.connection_name,
        l.connection_name as storefront_id,
        l.walmart_purchase_order_id as channel_order_id,
        l.walmart_line_number as channel_line_id,
        o.ordered_at,
        o.last_modified_at as order_updated_at,
        l.sku as listing_sku,
        l.sku as channel_item_id,
        l.product_name as item_title,
        l.quantity,
        coalesce(l.item_price, 0) as gross_amount,
        coalesce(l.discount, 0) as discount_amount,
        coalesce(l.shipping_price, 0) as shipping_amount,
        {{ money('coalesce(l.item_tax, 0) + coalesce(l.shipping_tax, 0)') }} as tax_amount,
        l.item_price is not null as is_priced,
        l.currency,
        case when o.ship_node_type = 'WFSFulfilled' then 'WFS' else 'merchant' end
            as fulfillment_type,
        cast(null as varchar) as gtin,
        'api' as source_format
    from {{ ref('stg_walmart__order_lines') }} as l
    inner join {{ ref('stg_walmart__orders') }} as o
        on l.connection_name = o.connection_name
        and l.walmart_purchase_order_id = o.walmart_purchase_order_id
),

files_lines as (
    select
        connection_name as channel,
        connection_name,
        storefront_id,
        order_id as channel_order_id,
        line_id as channel_line_id,
        min(ordered_at) over file_order as ordered_at,
        max(extracted_at) over file_order as order_updated_at,
        sku as listing_sku,
        channel_item_id,
        product_name as item_title,
        quantity,
        gross_amount,
        discount_amount,
        shipping_amount,
        tax_amount,
        -- an export without a price (e.g. a pending Amazon order) has gross 0 and no unit price
        unit_price is not null or gross_amount <> 0 as is_priced,
        currency,
        fulfillment_type,
        gtin,
        source_format
    from {{ ref('stg_files__order_lines') }}
    window file_order as (partition by connection_name, order_id)
),

unioned as (
    {{ union_channels('_lines', with_files=true) }}
)

select
    connection_name || ':' || channel_order_id as order_id,
    connection_name || ':' || channel_order_id || ':' || channel_line_id as order_line_id,
    -- the listing a line sold: the variant on Shopify, the seller SKU elsewhere (files too)
    connection_name || ':' || storefront_id || ':'
        || case when channel = 'shopify' and source_format = 'api' then channel_item_id
            else listing_sku end as listing_id,
    *,
    cast(gross_amount / nullif(quantity, 0) as decimal(18, 4)) as unit_price
from unioned
