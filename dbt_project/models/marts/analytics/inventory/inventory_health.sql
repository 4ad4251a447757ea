-- Stock health per product and stock location as of the analysis date: the stock position,
-- stockout-adjusted daily demand over the last demand_window_days, days of cover and the
-- revenue at risk before a replenishment could arrive. Definitions: _inventory__models.yml.
{%- set window_days = var('demand_window_days') | int %}

with params as (
    select
        {{ analysis_date() }} as analysis_date,
        {{ inventory_stock_date() }} as stock_as_of
),

inventory as (
    select * from {{ ref('fct_inventory_daily') }}
    -- stock of listings that map to no product cannot be matched with demand
    where product_id not like 'unmatched:%'
),

-- each connection's latest snapshot on or before the stock date; a listing missing from it
-- is no longer stocked there
stock_days as (
    select connection_name, max(inventory_date) as stock_date
    from inventory
    cross join params
    where inventory.inventory_date <= params.stock_as_of
    group by connection_name
),

stock as (
    select inventory.*
    from inventory
    inner join stock_days
        on inventory.connection_name = stock_days.connection_name
        and inventory.inventory_date = stock_days.stock_date
),

lines as (
    select
        fct_order_lines.order_line_id,
        fct_order_lines.connection_name,
        fct_order_lines.storefront_id,
        fct_order_lines.product_id,
        fct_order_lines.fulfillment_type,
        fct_order_lines.ordered_date,
        fct_order_lines.quantity,
        fct_order_lines.gross_amount_base - fct_order_lines.discount_amount_base as goods_amount_base
    from {{ ref('fct_order_lines') }} as fct_order_lines
    cross join params
    where not fct_order_lines.is_cancelled
        and fct_order_lines.product_id is not null
        and fct_order_lines.ordered_date <= params.analysis_date
),

-- Demand attribution: a line's units go to the stock locations of the same connection and
-- product that match how it was fulfilled, best rank only, split evenly over ties:
--   1  FBA: the FBA location of the line's marketplace; WFS: a WFS location;
--      merchant / FBM / none: the seller's own locations (Shopify locations, seller ship nodes)
--   2  FBA: the connection's FBA location in another marketplace (pooled stock, e.g. Pan-EU)
-- Lines with no such location are not attributed: Amazon reports no merchant stock, so FBM
-- lines only count where the connection reports own locations.
candidates as (
    select
        lines.*,
        stock.location_id,
        case
            when lines.fulfillment_type = 'FBA' and stock.location_type = 'FBA'
                then case when stock.location_id = lines.storefront_id then 1 else 2 end
            when lines.fulfillment_type = 'WFS' and stock.location_type = 'WFS' then 1
            when coalesce(lines.fulfillment_type, '') not in ('FBA', 'WFS')
                and stock.location_type not in ('FBA', 'WFS') then 1
        end as match_rank
    from lines
    inner join stock
        on lines.connection_name = stock.connection_name
        and lines.product_id = stock.product_id
),

best_candidates as (
    select *
    from candidates
    where match_rank is not null
    qualify match_rank = min(match_rank) over (partition by order_line_id)
),

attributed as (
    select
        *,
        1.0 / count(*) over (partition by order_line_id) as share
    from best_candidates
),

daily_units as (
    select
        connection_name,
        location_id,
        product_id,
        ordered_date as demand_date,
        sum(quantity * share) as units,
        sum(goods_amount_base * share) as goods_amount_base
    from attributed
    group by all
),

-- a location's history starts with its first snapshot or its first attributed sale
history_starts as (
    select connection_name, location_id, product_id, min(first_day) as first_day
    from (
        select connection_name, location_id, product_id, min(demand_date) as first_day
        from daily_units
        group by all
        union all
        select connection_name, location_id, product_id, min(inventory_date)
        from inventory
        group by all
    )
    group by all
),

-- the demand window's days on which the location had history
window_days as (
    select
        stock.connection_name,
        stock.location_id,
        stock.product_id,
        cast(day.generate_series as date) as demand_date
    from stock
    cross join params
    inner join history_starts
        on stock.connection_name = history_starts.connection_name
        and stock.location_id = history_starts.location_id
        and stock.product_id = history_starts.product_id
    cross join generate_series(
        greatest(params.analysis_date - {{ window_days - 1 }}, history_starts.first_day),
        params.analysis_date,
        interval 1 day
    ) as day
),

-- a stockout day: the snapshot shows nothing available and nothing sold (a sale proves
-- stock); days without a snapshot count as in stock
days as (
    select
        window_days.*,
        coalesce(daily_units.units, 0) as units,
        coalesce(daily_units.goods_amount_base, 0) as goods_amount_base,
        coalesce(inventory.available_quantity <= 0 and coalesce(daily_units.units, 0) = 0, false)
            as is_stockout_day
    from window_days
    left join daily_units
        on window_days.connection_name = daily_units.connection_name
        and window_days.location_id = daily_units.location_id
        and window_days.product_id = daily_units.product_id
        and window_days.demand_date = daily_units.demand_date
    left join inventory
        on window_days.connection_name = inventory.connection_name
        and window_days.location_id = inventory.location_id
        and window_days.product_id = inventory.product_id
        and window_days.demand_date = inventory.inventory_date
),

demand as (
    select
        connection_name,
        location_id,
        product_id,
        count(*) as history_days,
        count(*) filter (where not is_stockout_day) as in_stock_days,
        count(*) filter (where is_stockout_day) as days_out_of_stock,
        sum(units) as units_sold,
        sum(units) / nullif(count(*) filter (where not is_stockout_day), 0) as daily_demand,
        stddev_samp(units) filter (where not is_stockout_day) as demand_std_dev,
        sum(goods_amount_base) / nullif(sum(units), 0) as avg_unit_price_base
    from days
    group by all
),

products as (
    select product_id, product_title, product_type from {{ ref('dim_products') }}
),

settings as (
    {{ inventory_settings('products') }}
),

measured as (
    select
        stock.connection_name || ':' || stock.location_id || ':' || stock.product_id
            as inventory_health_id,
        stock.product_id,
        products.product_title,
        products.product_type,
        stock.channel,
        stock.connection_name,
        stock.location_id,
        stock.location_name,
        stock.location_type,
        params.analysis_date,
        stock.inventory_date as stock_date,
        stock.on_hand_quantity,
        stock.available_quantity,
        stock.reserved_quantity,
        stock.inbound_quantity,
        stock.available_quantity <= 0 as is_out_of_stock,
        params.analysis_date - {{ window_days - 1 }} as demand_window_start_date,
        cast(coalesce(demand.history_days, 0) as bigint) as history_days,
        cast(coalesce(demand.in_stock_days, 0) as bigint) as in_stock_days,
        cast(coalesce(demand.days_out_of_stock, 0) as bigint) as days_out_of_stock,
        -- rates to 4 decimal places: a unit test can state them, and no plan needs more
        round(coalesce(demand.units_sold, 0), 4) as units_sold,
        round(coalesce(demand.daily_demand, 0), 4) as daily_demand,
        round(coalesce(demand.demand_std_dev, 0), 4) as demand_std_dev,
        {{ money('demand.avg_unit_price_base') }} as avg_unit_price_base,
        settings.lead_time_days,
        settings.service_level,
        settings.review_period_days,
        settings.config_source
    from stock
    cross join params
    left join demand
        on stock.connection_name = demand.connection_name
        and stock.location_id = demand.location_id
        and stock.product_id = demand.product_id
    left join products on stock.product_id = products.product_id
    left join settings on stock.product_id = settings.product_id
)

select
    *,
    case when daily_demand > 0 then round(available_quantity / daily_demand, 4) end as days_of_cover,
    -- daily_demand x max(0, lead time - cover) x price = max(0, lead-time demand - available) x price
    case
        when daily_demand > 0 then {{ money(
            'round(greatest(0, daily_demand * lead_time_days - greatest(available_quantity, 0))'
            ~ ' * avg_unit_price_base, 4)') }}
        else {{ money(0) }}
    end as revenue_at_risk_base
from measured
