-- The demand forecast's input (orchestration/defs/ml/forecast.py): per product, channel and local
-- order day the units sold and their net revenue (lines not cancelled, of a known product),
-- and whether the product was in stock on the channel that day (any of its stock locations
-- with available units). A day with sales but no stock snapshot counts as in stock; a stock
-- day without sales has 0 units. The same rows as ml.py's DAILY_DEMAND query.
with sales as (
    select
        product_id,
        channel,
        ordered_date as date,
        sum(quantity) as units,
        sum(net_amount_base) as revenue
    from {{ ref('fct_order_lines') }}
    where not is_cancelled and product_id is not null
    group by all
),

stock as (
    select
        product_id,
        channel,
        inventory_date as date,
        bool_or(available_quantity > 0) as in_stock
    from {{ ref('fct_inventory_daily') }}
    group by all
)

select
    product_id,
    channel,
    date,
    coalesce(units, 0)::double as units,
    coalesce(revenue, 0)::double as revenue,
    coalesce(in_stock, true) as in_stock
from sales
full outer join stock using (product_id, channel, date)
order by all
