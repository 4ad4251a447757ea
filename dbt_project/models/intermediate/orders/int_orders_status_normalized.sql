-- Order headers with the normalized status (macros/order_status.sql): the channel's
-- fulfilment state in one vocabulary (file channels: from the files' flags, see
-- int_orders_unioned), then refund states from the refunded amounts.
with orders as (
    select * from {{ ref('int_orders_unioned') }}
),

line_totals as (
    select
        order_id,
        sum(gross_amount - discount_amount) as goods_amount,
        sum(refunded_amount) as refunded_amount,
        max(source_updated_at) as lines_updated_at
    from {{ ref('int_order_lines_refunds_netted') }}
    group by order_id
),

normalized as (
    select
        orders.*,
        {{ fulfilment_status('orders.channel', 'orders.channel_status', 'orders.fulfillment_status_raw',
            'orders.source_format') }}
            as fulfilment_status,
        coalesce(line_totals.goods_amount, 0) as goods_amount,
        coalesce(line_totals.refunded_amount, 0) as refunded_amount,
        greatest(orders.order_updated_at, coalesce(line_totals.lines_updated_at, orders.order_updated_at))
            as source_updated_at
    from orders
    left join line_totals on orders.order_id = line_totals.order_id
)

select
    *,
    {{ order_status('fulfilment_status', 'channel_status', 'refunded_amount', 'goods_amount') }}
        as order_status,
    fulfilment_status = 'cancelled' as is_cancelled
from normalized
