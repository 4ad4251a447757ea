-- Every inventory snapshot row of every channel in one shape, per listing and location.
--   available  sellable now            reserved  held for open orders / transfers
--   inbound    on its way in           on_hand   physically at the location
-- Amazon FBA: available = fulfillable, reserved = reserved, inbound = working + shipped +
-- receiving, on_hand = fulfillable + reserved + unfulfillable + researching.
-- Shopify: reserved = committed + reserved, inbound = incoming. Walmart: on_hand = input
-- quantity, available = available to sell, inbound is not reported (0).
with
amazon_inventory as (
    select
        'amazon' as channel,
        i.connection_name,
        i.snapshot_date,
        i.connection_name || ':' || i.marketplace_id || ':' || i.seller_sku as listing_id,
        i.marketplace_id as location_id,
        coalesce(m.marketplace_name, i.marketplace_id) || ' FBA' as location_name,
        'FBA' as location_type,
        coalesce(i.fulfillable_quantity, 0) as available_quantity,
        coalesce(i.reserved_quantity, 0) as reserved_quantity,
        coalesce(i.inbound_working_quantity, 0) + coalesce(i.inbound_shipped_quantity, 0)
            + coalesce(i.inbound_receiving_quantity, 0) as inbound_quantity,
        coalesce(i.fulfillable_quantity, 0) + coalesce(i.reserved_quantity, 0)
            + coalesce(i.unfulfillable_quantity, 0) + coalesce(i.researching_quantity, 0)
            as on_hand_quantity
    from {{ ref('stg_amazon__inventory_summaries') }} as i
    left join {{ ref('amazon_marketplaces') }} as m on i.marketplace_id = m.marketplace_id
),

shopify_inventory as (
    select
        'shopify' as channel,
        connection_name,
        snapshot_date,
        connection_name || ':' || connection_name || ':' || shopify_variant_id as listing_id,
        shopify_location_id as location_id,
        location_name,
        'shopify_location' as location_type,
        coalesce(available, 0) as available_quantity,
        coalesce(committed, 0) + coalesce(reserved, 0) as reserved_quantity,
        coalesce(incoming, 0) as inbound_quantity,
        coalesce(on_hand, 0) as on_hand_quantity
    from {{ ref('stg_shopify__inventory_levels') }}
),

walmart_inventory as (
    select
        'walmart' as channel,
        connection_name,
        snapshot_date,
        connection_name || ':' || connection_name || ':' || sku as listing_id,
        ship_node as location_id,
        case when ship_node like 'WFS%' then 'Walmart Fulfillment Services'
            else 'Seller ship node ' || ship_node end as location_name,
        case when ship_node like 'WFS%' then 'WFS' else 'walmart_ship_node' end as location_type,
        coalesce(avail_to_sell_qty, 0) as available_quantity,
        coalesce(reserved_qty, 0) as reserved_quantity,
        0 as inbound_quantity,
        coalesce(input_qty, 0) as on_hand_quantity
    from {{ ref('stg_walmart__inventory') }}
),

unioned as (
    {{ union_channels('_inventory') }}
)

select * from unioned
