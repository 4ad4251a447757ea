-- Order lines with the refunds made on them so far (summed over every refund of the line),
-- and the time the line last changed at its source: the later of the order update and the
-- last refund posting (Amazon posts refunds in Finances without touching the order).
with lines as (
    select * from {{ ref('int_order_lines_unioned') }}
),

refunds as (
    select
        order_line_id,
        {{ money('sum(refunded_amount)') }} as refunded_amount,
        {{ money('sum(refunded_tax)') }} as refunded_tax,
        {{ money('sum(refunded_shipping)') }} as refunded_shipping,
        cast(sum(refunded_quantity) as bigint) as refunded_quantity,
        max(refunded_at) as last_refunded_at,
        max(source_updated_at) as refund_updated_at
    from {{ ref('int_refunds_unioned') }}
    group by order_line_id
)

select
    lines.*,
    coalesce(refunds.refunded_amount, 0) as refunded_amount,
    coalesce(refunds.refunded_tax, 0) as refunded_tax,
    coalesce(refunds.refunded_shipping, 0) as refunded_shipping,
    coalesce(refunds.refunded_quantity, 0) as refunded_quantity,
    refunds.last_refunded_at,
    greatest(lines.order_updated_at, coalesce(refunds.refund_updated_at, lines.order_updated_at))
        as source_updated_at
from lines
left join refunds on lines.order_line_id = refunds.order_line_id
