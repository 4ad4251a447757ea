-- What to reorder, per product and stock location (every row of inventory_health, with a
-- status): safety stock, reorder point, the order quantity that covers lead time plus review
-- period, and the last day to order. Definitions: _inventory__models.yml.
with health as (
    select * from {{ ref('inventory_health') }}
),

planned as (
    select
        *,
        round({{ normal_quantile('service_level') }}, 6) as service_level_z
    from health
),

-- units to 4 decimal places (the plan's arithmetic continues from the rounded figures)
quantities as (
    select
        *,
        round(service_level_z * demand_std_dev * sqrt(lead_time_days), 4) as safety_stock
    from planned
),

points as (
    select
        *,
        round(daily_demand * lead_time_days + safety_stock, 4) as reorder_point,
        round(daily_demand * (lead_time_days + review_period_days) + safety_stock, 4) as target_stock
    from quantities
),

ordered as (
    select
        *,
        cast(ceil(greatest(0, target_stock - available_quantity - inbound_quantity)) as bigint)
            as suggested_order_quantity,
        case
            when daily_demand <= 0 then null
            when available_quantity <= reorder_point then analysis_date
            else analysis_date
                + cast(floor((available_quantity - reorder_point) / daily_demand) as integer)
        end as reorder_by_date
    from points
),

statused as (
    select
        *,
        case
            when daily_demand <= 0 then 'no_demand'
            when suggested_order_quantity > 0 and available_quantity <= reorder_point then 'order_now'
            when suggested_order_quantity > 0
                and reorder_by_date < analysis_date + review_period_days then 'order_soon'
            else 'ok'
        end as replenishment_status
    from ordered
)

select
    inventory_health_id as replenishment_plan_id,
    product_id,
    product_title,
    product_type,
    channel,
    connection_name,
    location_id,
    location_name,
    location_type,
    analysis_date,
    stock_date,
    available_quantity,
    inbound_quantity,
    daily_demand,
    demand_std_dev,
    lead_time_days,
    service_level,
    review_period_days,
    config_source,
    service_level_z,
    safety_stock,
    reorder_point,
    target_stock,
    suggested_order_quantity,
    reorder_by_date,
    replenishment_status,
    replenishment_status in ('order_now', 'order_soon') as needs_order,
    days_of_cover,
    is_out_of_stock,
    revenue_at_risk_base
from statused
