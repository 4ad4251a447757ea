-- The marketplace fees a channel itself reports per order line, in the currency it posts
-- them in. Amazon: its Finances events (stg_amazon__financial_events, amount_type Fee), e.g.
-- Commission and FBAPerUnitFulfillmentFee on the ShipmentEvent posted when the line ships,
-- and fee adjustments on RefundEvents (a refunded Commission comes back positive, a
-- RefundCommission is charged). Amazon posts fees as negative amounts: fee_amount is their
-- sum with the sign turned, so a fee is positive and a fee given back lowers it.
-- has_shipment_event: the line's ShipmentEvent has been posted, so its fees are final
-- (until a refund). Channels that report no fees have no rows here; order_line_margin
-- applies their rate card (var marketplace_fees).
-- Lines are keyed by (order, SKU), as in int_order_lines_unioned: events carry the SellerSKU.
with events as (
    select * from {{ ref('stg_amazon__financial_events') }}
)

select
    connection_name || ':' || amazon_order_id || ':' || seller_sku as order_line_id,
    'amazon' as channel,
    connection_name,
    amazon_order_id as channel_order_id,
    seller_sku as channel_line_id,
    {{ money("-coalesce(sum(amount) filter (where amount_type = 'Fee'), 0)") }} as fee_amount,
    {{ money("-coalesce(sum(amount) filter (where amount_type = 'Fee' and event_type = 'Shipment'), 0)") }}
        as shipment_fee_amount,
    {{ money("-coalesce(sum(amount) filter (where amount_type = 'Fee' and event_type = 'Refund'), 0)") }}
        as refund_fee_amount,
    count(*) filter (where amount_type = 'Fee') as fee_entries,
    bool_or(event_type = 'Shipment') as has_shipment_event,
    min(posted_at) filter (where event_type = 'Shipment') as shipment_posted_at,
    max(posted_at) filter (where amount_type = 'Fee') as last_fee_posted_at,
    -- Amazon posts an order's amounts in its marketplace currency
    any_value(currency) filter (where amount_type = 'Fee') as fee_currency
from events
where event_type in ('Shipment', 'Refund')
group by all
