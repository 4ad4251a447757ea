-- Seller-account health per channel, connection and ISO week of the local order day:
-- cancellation, late-shipment and refund rates next to the marketplace's published limits
-- (var account_health_thresholds), with a breach flag per metric. Definitions:
-- _operations__models.yml.
with orders as (
    select * from {{ ref('fct_orders') }}
),

shipments as (
    select * from {{ ref('int_order_shipments') }}
),

thresholds as (
    {{ config_relation(var('account_health_thresholds', {}), 'channel', [
        ['cancellation_rate', 'double'],
        ['late_shipment_rate', 'double'],
        ['refund_rate', 'double'],
    ]) }}
),

classified as (
    select
        orders.channel,
        orders.connection_name,
        cast(date_trunc('week', orders.ordered_date) as date) as week_start_date,
        orders.is_cancelled,
        not orders.is_cancelled
            and (
                orders.order_status in ('shipped', 'delivered', 'refunded', 'partially_refunded')
                or shipments.shipped_at is not null
            ) as is_shipped,
        not orders.is_cancelled
            and (orders.refunded_amount > 0 or orders.refunded_units > 0) as has_refund,
        -- the marketplaces rate the seller's own shipping: FBA and WFS orders are theirs
        not orders.is_cancelled
            and coalesce(orders.fulfillment_type, '') not in ('FBA', 'WFS')
            and shipments.promised_ship_by is not null
            and shipments.shipped_at is not null as is_promise_measurable,
        coalesce(not orders.is_cancelled and shipments.is_late, false) as is_late
    from orders
    left join shipments on orders.order_id = shipments.order_id
),

weekly as (
    select
        channel,
        connection_name,
        week_start_date,
        count(*) as orders,
        count(*) filter (where is_cancelled) as cancelled_orders,
        count(*) filter (where is_shipped) as shipped_orders,
        count(*) filter (where is_promise_measurable) as shipped_orders_with_promise,
        count(*) filter (where is_promise_measurable and is_late) as late_shipped_orders,
        count(*) filter (where has_refund) as refunded_orders
    from classified
    group by all
),

rated as (
    select
        weekly.*,
        round(cancelled_orders / orders, 4) as cancellation_rate,
        round(late_shipped_orders / nullif(shipped_orders_with_promise, 0), 4) as late_shipment_rate,
        round(refunded_orders / nullif(shipped_orders, 0), 4) as refund_rate
    from weekly
)

select
    rated.connection_name || ':' || strftime(rated.week_start_date, '%G-W%V') as account_health_id,
    rated.channel,
    rated.connection_name,
    strftime(rated.week_start_date, '%G-W%V') as iso_week,
    rated.week_start_date,
    cast(rated.week_start_date + 6 as date) as week_end_date,
    rated.week_start_date + 6 > {{ analysis_date() }} as is_partial_week,
    rated.orders,
    rated.cancelled_orders,
    rated.shipped_orders,
    rated.shipped_orders_with_promise,
    rated.late_shipped_orders,
    rated.refunded_orders,
    rated.cancellation_rate,
    rated.late_shipment_rate,
    rated.refund_rate,
    thresholds.cancellation_rate as cancellation_rate_threshold,
    thresholds.late_shipment_rate as late_shipment_rate_threshold,
    thresholds.refund_rate as refund_rate_threshold,
    -- breaches compare the counts, not the rounded rates
    {%- set breaches = {
        'cancellation': 'rated.cancelled_orders > thresholds.cancellation_rate * rated.orders',
        'late_shipment': 'rated.late_shipped_orders > thresholds.late_shipment_rate * rated.shipped_orders_with_promise',
        'refund': 'rated.refunded_orders > thresholds.refund_rate * rated.shipped_orders',
    } %}
    {%- for metric in ['cancellation', 'late_shipment', 'refund'] %}
    coalesce({{ breaches[metric] }}, false) as is_{{ metric }}_breach,
    {%- endfor %}
    coalesce(
        {{ breaches['cancellation'] }}
        or {{ breaches['late_shipment'] }}
        or {{ breaches['refund'] }},
        false
    ) as is_any_breach
from rated
left join thresholds on rated.channel = thresholds.channel
