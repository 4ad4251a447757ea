{{ config(meta={'dagster': {'ref': {'name': 'inventory_health'}}}) }}
-- Demand attribution moves units between locations but never invents them: per connection and
-- product, the units analytics.inventory_health attributes to its locations over the demand
-- window are at most the units of the lines not cancelled in core.fct_order_lines over that
-- window. A row is a connection and product with more attributed units than sold.
with health as (
    select
        connection_name,
        product_id,
        any_value(demand_window_start_date) as window_start,
        any_value(analysis_date) as window_end,
        sum(units_sold) as attributed_units
    from {{ ref('inventory_health') }}
    group by all
),

sold as (
    select health.connection_name, health.product_id, sum(lines.quantity) as sold_units
    from health
    inner join {{ ref('fct_order_lines') }} as lines
        on health.connection_name = lines.connection_name
        and health.product_id = lines.product_id
        and lines.ordered_date between health.window_start and health.window_end
        and not lines.is_cancelled
    group by all
)

select health.*, coalesce(sold.sold_units, 0) as sold_units
from health
left join sold
    on health.connection_name = sold.connection_name
    and health.product_id = sold.product_id
-- units split over locations are rounded to 4 places
where health.attributed_units > coalesce(sold.sold_units, 0) + 0.001
