-- Contribution margin per order line that was not cancelled: net revenue minus marketplace
-- fees, cost of goods and the seller's shipping cost, in the base currency. Definitions
-- (fee sources, cost periods, returned units): _finance__models.yml.
with lines as (
    select * from {{ ref('fct_order_lines') }}
    where not is_cancelled
),

reported_fees as (
    select * from {{ ref('int_order_line_fees') }}
),

fee_rates as (
    {{ config_relation(var('marketplace_fees', {}), 'channel', [
        ['percent_of_revenue', 'decimal(18, 6)'],
        ['fixed_per_order', 'decimal(18, 4)'],
        ['currency', 'varchar'],
    ]) }}
),

costs as (
    select * from {{ ref('int_product_costs_versioned') }}
),

rates as (
    select rate_date, currency, rate_to_base from {{ ref('dim_fx_rates') }}
),

-- Rate-card fees (channels without reported fees and with an entry in var marketplace_fees):
-- percent_of_revenue x net revenue, plus the order's fixed fee (converted from its currency
-- at the order day's rate) shared over the order's lines by gross (equally when the order
-- is free), rounded to 4 places with the remainder on the order's first line.
rate_card_lines as (
    select
        lines.order_line_id,
        lines.order_id,
        fee_rates.percent_of_revenue,
        {{ to_base('fee_rates.fixed_per_order', rate_to_base(
            "coalesce(fee_rates.currency, '" ~ var('base_currency') ~ "')", 'fixed_rates.rate_to_base'
        )) }} as fixed_per_order_base,
        coalesce(
            lines.gross_amount / nullif(sum(lines.gross_amount) over order_lines, 0),
            1 / count(*) over order_lines
        ) as order_share,
        row_number() over (partition by lines.order_id order by lines.order_line_id) as line_rank
    from lines
    inner join fee_rates on lines.channel = fee_rates.channel
    left join rates as fixed_rates
        on fixed_rates.currency = coalesce(fee_rates.currency, '{{ var("base_currency") }}')
        and fixed_rates.rate_date = cast(lines.ordered_at as date)
    where lines.channel not in (select distinct channel from reported_fees)
    window order_lines as (partition by lines.order_id)
),

rate_card_shares as (
    select
        *,
        {{ money('round(fixed_per_order_base * order_share, 4)') }} as fixed_share_base
    from rate_card_lines
),

rate_card_fees as (
    select
        order_line_id,
        percent_of_revenue,
        {{ money(
            'fixed_share_base + case when line_rank = 1 then fixed_per_order_base'
            ~ ' - sum(fixed_share_base) over (partition by order_id) else 0 end'
        ) }} as fixed_fee_base
    from rate_card_shares
),

-- the cost in force on the local order day; a line ordered before the product's first cost
-- takes that first cost (is_cost_backfilled)
line_costs as (
    select
        lines.order_line_id,
        costs.unit_cost,
        costs.shipping_cost_per_unit,
        costs.currency as cost_currency,
        costs.effective_from as cost_effective_from,
        lines.ordered_date < costs.effective_from as is_cost_backfilled,
        {{ rate_to_base('costs.currency', 'cost_rates.rate_to_base') }} as cost_rate_to_base
    from lines
    inner join costs
        on lines.product_id = costs.product_sku
        and (lines.ordered_date >= costs.effective_from or costs.is_first_version)
        and (lines.ordered_date < costs.effective_to or costs.effective_to is null)
    left join rates as cost_rates
        on costs.currency = cost_rates.currency
        and cast(lines.ordered_at as date) = cost_rates.rate_date
),

joined as (
    select
        lines.*,
        greatest(lines.quantity - lines.refunded_quantity, 0) as kept_quantity,
        case
            when reported_fees_channels.channel is not null then 'financial_events'
            when rate_card_fees.order_line_id is not null then 'rate_card'
            else 'none'
        end as fee_source,
        reported_fees.fee_amount as reported_fee_amount,
        reported_fees.has_shipment_event,
        rate_card_fees.percent_of_revenue,
        rate_card_fees.fixed_fee_base,
        line_costs.unit_cost,
        line_costs.shipping_cost_per_unit,
        line_costs.cost_currency,
        line_costs.cost_effective_from,
        line_costs.is_cost_backfilled,
        line_costs.cost_rate_to_base
    from lines
    left join (select distinct channel from reported_fees) as reported_fees_channels
        on lines.channel = reported_fees_channels.channel
    left join reported_fees on lines.order_line_id = reported_fees.order_line_id
    left join rate_card_fees on lines.order_line_id = rate_card_fees.order_line_id
    left join line_costs on lines.order_line_id = line_costs.order_line_id
),

amounts as (
    select
        *,
        case fee_source
            -- reported fees are posted in the order's currency: the line's rate converts them
            when 'financial_events' then {{ to_base('coalesce(reported_fee_amount, 0)', 'fx_rate_to_base') }}
            when 'rate_card' then {{ money('round(percent_of_revenue * net_amount_base, 4) + fixed_fee_base') }}
            else {{ money(0) }}
        end as marketplace_fee_base,
        case fee_source
            when 'financial_events' then coalesce(has_shipment_event, false)
            else true
        end as is_fee_final,
        case
            when unit_cost is null then 'none'
            when cost_rate_to_base is null then 'missing_fx_rate'
            when is_cost_backfilled then 'product_costs_backfilled'
            else 'product_costs'
        end as cost_source,
        {{ to_base('unit_cost', 'cost_rate_to_base') }} as unit_cost_base,
        {{ to_base('unit_cost * kept_quantity', 'cost_rate_to_base') }} as cogs_base,
        shipping_cost_per_unit is not null and cost_rate_to_base is not null as has_shipping_cost,
        coalesce(
            {{ to_base('shipping_cost_per_unit * quantity', 'cost_rate_to_base') }},
            {{ money(0) }}
        ) as shipping_cost_base
    from joined
)

select
    order_line_id,
    order_id,
    channel,
    connection_name,
    storefront_id,
    product_id,
    listing_id,
    fulfillment_type,
    order_status,
    ordered_at,
    ordered_date,
    quantity,
    refunded_quantity,
    cast(kept_quantity as bigint) as kept_quantity,
    currency,
    fx_rate_to_base,
    gross_amount_base,
    discount_amount_base,
    refunded_amount_base,
    net_amount_base as net_revenue_base,
    marketplace_fee_base,
    fee_source,
    is_fee_final,
    unit_cost_base,
    cogs_base,
    cost_source,
    cost_effective_from,
    shipping_cost_base,
    has_shipping_cost,
    -- no margin for lines the channel has not priced yet (pending Amazon orders)
    case when not is_priced then null else
        {{ money('net_amount_base - marketplace_fee_base - cogs_base - shipping_cost_base') }}
    end as contribution_margin_base,
    case when not is_priced then null else round(
        (net_amount_base - marketplace_fee_base - cogs_base - shipping_cost_base)
        / nullif(net_amount_base, 0),
        4
    ) end as margin_pct
from amounts
