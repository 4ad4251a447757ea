-- Contribution margin per local order day, channel, connection and product (order_line_margin
-- summed). Lines without a margin (no known unit cost, or not priced yet) add to revenue and
-- fees but not to the margin: contribution_margin_base and margin_pct cover the lines with a
-- margin only (costed_net_revenue_base).
with lines as (
    select * from {{ ref('order_line_margin') }}
)

select
    strftime(ordered_date, '%Y-%m-%d') || ':' || connection_name || ':'
        || coalesce(product_id, 'unmatched') as daily_margin_id,
    ordered_date as margin_date,
    channel,
    connection_name,
    product_id,
    count(*) as order_lines,
    cast(sum(quantity) as bigint) as units,
    cast(sum(kept_quantity) as bigint) as kept_units,
    {{ money('sum(net_revenue_base)') }} as net_revenue_base,
    {{ money('sum(marketplace_fee_base)') }} as marketplace_fee_base,
    {{ money('sum(cogs_base)') }} as cogs_base,
    {{ money('sum(shipping_cost_base)') }} as shipping_cost_base,
    {{ money('coalesce(sum(contribution_margin_base), 0)') }} as contribution_margin_base,
    {{ money('coalesce(sum(net_revenue_base) filter (where contribution_margin_base is not null), 0)') }}
        as costed_net_revenue_base,
    round(sum(contribution_margin_base) / nullif(sum(net_revenue_base) filter (where contribution_margin_base is not null), 0), 4)
        as margin_pct,
    count(*) filter (where contribution_margin_base is null) as uncosted_order_lines,
    count(*) filter (where not is_fee_final) as provisional_fee_order_lines,
    bool_and(is_fee_final) as is_fee_final
from lines
group by all
