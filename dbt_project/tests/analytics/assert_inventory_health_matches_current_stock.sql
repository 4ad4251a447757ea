{{ config(meta={'dagster': {'ref': {'name': 'inventory_health'}}}) }}
-- analytics.inventory_health has one row per product and location of each connection's
-- latest inventory snapshot (core.fct_inventory_daily, matched products) with its stock, and
-- analytics.replenishment_plan one row per inventory_health row. A row is a location whose
-- stock differs or that is missing on one side.
with snapshot_days as (
    select connection_name, max(inventory_date) as stock_date
    from {{ ref('fct_inventory_daily') }}
    where inventory_date <= {{ inventory_stock_date() }}
    group by all
),

stock as (
    select
        i.connection_name || ':' || i.location_id || ':' || i.product_id as inventory_health_id,
        i.available_quantity,
        i.on_hand_quantity,
        i.inbound_quantity
    from {{ ref('fct_inventory_daily') }} as i
    inner join snapshot_days as d
        on i.connection_name = d.connection_name
        and i.inventory_date = d.stock_date
    where i.product_id not like 'unmatched:%'
),

health as (
    select inventory_health_id, available_quantity, on_hand_quantity, inbound_quantity
    from {{ ref('inventory_health') }}
),

plan as (
    select replenishment_plan_id as inventory_health_id, available_quantity
    from {{ ref('replenishment_plan') }}
)

select
    coalesce(stock.inventory_health_id, health.inventory_health_id, plan.inventory_health_id)
        as inventory_health_id,
    stock.available_quantity as stock_available,
    health.available_quantity as health_available,
    plan.available_quantity as plan_available
from stock
full outer join health on stock.inventory_health_id = health.inventory_health_id
full outer join plan
    on coalesce(stock.inventory_health_id, health.inventory_health_id) = plan.inventory_health_id
where stock.inventory_health_id is null
    or health.inventory_health_id is null
    or plan.inventory_health_id is null
    or stock.available_quantity is distinct from health.available_quantity
    or stock.on_hand_quantity is distinct from health.on_hand_quantity
    or stock.inbound_quantity is distinct from health.inbound_quantity
    or health.available_quantity is distinct from plan.available_quantity
