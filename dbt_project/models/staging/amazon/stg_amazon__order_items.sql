{{ config(unique_key=['connection_name', 'amazon_order_id', 'seller_sku']) }}
-- An Amazon order line is (order, seller SKU) whichever path fetched it: the flat-file orders
-- reports (history in bulk) carry no OrderItemId, and Amazon merges an order's units of one
-- SKU into one item (the extractor quarantines an order that repeats a SKU). The OrderItemId
-- is kept from the newest row that has one (getOrderItems), also across incremental builds.

with source as (
    {{ lake_source('amazon', 'order_items') }}
),

renamed as (
    select
        {{ lake_columns() }},
        amazon_order_id,
        order_item_id as amazon_order_item_id,
        order_last_updated_at,
        marketplace_id,
        asin,
        seller_sku,
        title,
        quantity_ordered,
        quantity_shipped,
        -- SP-API ItemPrice is the price of the whole line (unit price x quantity)
        item_price,
        item_tax,
        shipping_price,
        shipping_tax,
        promotion_discount,
        currency,
        condition_id,
        is_gift
    from source
),

latest as (
    select
        * replace (
            last_value(amazon_order_item_id ignore nulls) over (
                partition by connection_name, amazon_order_id, seller_sku
                order by order_last_updated_at, extracted_at
                rows between unbounded preceding and unbounded following
            ) as amazon_order_item_id
        )
    from renamed
    {{ keep_latest(['amazon_order_id', 'seller_sku'], 'order_last_updated_at') }}
)

{% if is_incremental() %}
select
    latest.* replace (
        coalesce(latest.amazon_order_item_id, loaded.amazon_order_item_id) as amazon_order_item_id
    )
from latest
left join {{ this }} as loaded
    on latest.connection_name = loaded.connection_name
    and latest.amazon_order_id = loaded.amazon_order_id
    and latest.seller_sku = loaded.seller_sku
{% else %}
select * from latest
{% endif %}
