-- When each order shipped and by when the channel promised it would, for the channels that
-- report both (one row per such order; other channels' orders have no row):
--   amazon   promised_ship_by = the order's LatestShipDate; shipped_at = the PostedDate of its
--            ShipmentEvent in Finances (the order has no ship time of its own: Amazon posts
--            the shipment's charges and fees when the shipment is confirmed, so the posting
--            time is the proxy; events arrive up to 48 hours late, so a just-shipped order
--            may still show shipped_at NULL). Several shipments: the last one.
--   walmart  promised_ship_by = the order's estimatedShipDate; shipped_at = the latest
--            shipped_at of its lines (the order is on time only if every line was).
-- Shopify and the file channels promise no ship date (and Shopify reports no ship time).
-- is_late: shipped after the promise; NULL while not shipped or without a promise.
with
amazon_shipments as (
    select
        connection_name,
        amazon_order_id,
        max(posted_at) as shipped_at,
        count(distinct posted_at) as shipment_count
    from {{ ref('stg_amazon__financial_events') }}
    where event_type = 'Shipment'
    group by all
),

amazon_orders as (
    select
        'amazon' as channel,
        o.connection_name,
        o.amazon_order_id as channel_order_id,
        o.latest_ship_at as promised_ship_by,
        s.shipped_at,
        coalesce(s.shipment_count, 0) as shipment_count,
        'amazon_shipment_event' as shipped_at_source
    from {{ ref('stg_amazon__orders') }} as o
    left join amazon_shipments as s
        on o.connection_name = s.connection_name
        and o.amazon_order_id = s.amazon_order_id
),

walmart_shipments as (
    select
        connection_name,
        walmart_purchase_order_id,
        max(shipped_at) as shipped_at,
        count(distinct shipped_at) as shipment_count
    from {{ ref('stg_walmart__order_lines') }}
    group by all
),

walmart_orders as (
    select
        'walmart' as channel,
        o.connection_name,
        o.walmart_purchase_order_id as channel_order_id,
        o.estimated_ship_at as promised_ship_by,
        s.shipped_at,
        coalesce(s.shipment_count, 0) as shipment_count,
        'walmart_line_shipped_at' as shipped_at_source
    from {{ ref('stg_walmart__orders') }} as o
    left join walmart_shipments as s
        on o.connection_name = s.connection_name
        and o.walmart_purchase_order_id = s.walmart_purchase_order_id
),

unioned as (
    select * from amazon_orders
    union all by name
    select * from walmart_orders
)

select
    connection_name || ':' || channel_order_id as order_id,
    channel,
    connection_name,
    channel_order_id,
    promised_ship_by,
    shipped_at,
    cast(shipment_count as bigint) as shipment_count,
    shipped_at_source,
    shipped_at > promised_ship_by as is_late
from unioned
