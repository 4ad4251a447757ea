-- One row per refund and order line, dated when the money went back (the platforms' finance
-- reports count refunds on that date). Amounts are positive, in the order currency:
-- refunded_amount is the product amount (without tax), tax and shipping refunds apart.
-- File channels: one refund per refunded line, dated as files_refunds says.
with
amazon_refunds as (
    select
        'amazon' as channel,
        connection_name,
        amazon_order_id as channel_order_id,
        -- the line is (order, SKU), as in int_order_lines_unioned (refund events carry the SKU)
        seller_sku as channel_line_id,
        'refund-' || amazon_order_id || '-' || seller_sku || '-' || strftime(posted_at, '%Y%m%d%H%M%S')
            as channel_refund_id,
        posted_at as refunded_at,
        posted_at as source_updated_at,
        -- the refunded goods value: the principal given back net of the promotion reversed
        -- with it (Amazon posts a refunded discount as a positive promotion adjustment)
        -coalesce(sum(amount) filter (where amount_type = 'Charge' and amount_name = 'Principal'), 0)
            - coalesce(sum(amount) filter (where amount_type = 'Promotion'), 0) as refunded_amount,
        -sum(amount) filter (where amount_type = 'Charge' and amount_name in ('Tax', 'ShippingTax'))
            as refunded_tax,
        -sum(amount) filter (where amount_type = 'Charge' and amount_name = 'ShippingCharge')
            as refunded_shipping,
        max(abs(quantity)) filter (where amount_name = 'Principal') as refunded_quantity,
        any_value(currency) as currency
    from {{ ref('stg_amazon__financial_events') }}
    where event_type = 'Refund' and amount_type in ('Charge', 'Promotion')
    group by all
),

shopify_refunds as (
    select
        'shopify' as channel,
        rl.connection_name,
        rl.shopify_order_id as channel_order_id,
        rl.shopify_line_item_id as channel_line_id,
        rl.shopify_refund_id as channel_refund_id,
        r.refunded_at,
        rl.order_updated_at as source_updated_at,
        rl.amount as refunded_amount,
        cast(null as decimal(18, 4)) as refunded_tax,
        cast(null as decimal(18, 4)) as refunded_shipping,
        rl.quantity as refunded_quantity,
        r.currency
    from {{ ref('stg_shopify__refund_lines') }} as rl
    inner join {{ ref('stg_shopify__refunds') }} as r
        on rl.connection_name = r.connection_name
        and rl.shopify_refund_id = r.shopify_refund_id
),

walmart_refunds as (
    select
        'walmart' as channel,
        connection_name,
        walmart_purchase_order_id as channel_order_id,
        walmart_line_number as channel_line_id,
        coalesce(walmart_refund_id, 'refund-' || walmart_purchase_order_id || '-' || walmart_line_number)
            as channel_refund_id,
        case when line_status = 'Refund' then line_status_at else order_last_modified_at end
            as refunded_at,
        order_last_modified_at as source_updated_at,
        refunded_amount,
        refunded_tax,
        cast(null as decimal(18, 4)) as refunded_shipping,
        refunded_quantity,
        currency
    from {{ ref('stg_walmart__order_lines') }}
    where refunded_amount > 0 or refunded_quantity > 0
),

files_refunds as (
    -- exports give a line's refunded amount so far, without a date: one refund per line,
    -- dated when the files first showed that amount (stg_files__order_lines); exports give
    -- no refunded quantity, tax or shipping (0)
    select
        connection_name as channel,
        connection_name,
        order_id as channel_order_id,
        line_id as channel_line_id,
        'refund-' || order_id || '-' || line_id as channel_refund_id,
        refund_recorded_at as refunded_at,
        extracted_at as source_updated_at,
        refunded_amount,
        cast(null as decimal(18, 4)) as refunded_tax,
        cast(null as decimal(18, 4)) as refunded_shipping,
        cast(null as bigint) as refunded_quantity,
        currency
    from {{ ref('stg_files__order_lines') }}
    where refunded_amount > 0
),

unioned as (
    {{ union_channels('_refunds', with_files=true) }}
)

select
    connection_name || ':' || channel_refund_id || ':' || channel_line_id as refund_line_id,
    connection_name || ':' || channel_order_id as order_id,
    connection_name || ':' || channel_order_id || ':' || channel_line_id as order_line_id,
    channel,
    connection_name,
    channel_order_id,
    channel_line_id,
    channel_refund_id,
    refunded_at,
    source_updated_at,
    {{ money('coalesce(refunded_amount, 0)') }} as refunded_amount,
    {{ money('coalesce(refunded_tax, 0)') }} as refunded_tax,
    {{ money('coalesce(refunded_shipping, 0)') }} as refunded_shipping,
    cast(coalesce(refunded_quantity, 0) as bigint) as refunded_quantity,
    currency
from unioned
