-- Sales per local day (reporting time zone), channel, storefront and product, in the base
-- currency. Orders, units, gross revenue and discounts come from the day's orders that were
-- not cancelled; refunds are counted on the day they were made (fct_refunds), so
-- net_revenue = gross - discounts - that day's refunds. Sum over storefronts for the
-- channel view. Refunds of orders older than the lake have no product (product_id NULL).
with sales as (
    select
        ordered_date as sales_date,
        channel,
        connection_name,
        storefront_id,
        product_id,
        count(distinct order_id) filter (where not is_cancelled) as orders,
        count(distinct order_id) filter (where is_cancelled) as cancelled_orders,
        sum(quantity) filter (where not is_cancelled) as units,
        sum(gross_amount_base) filter (where not is_cancelled) as gross_revenue_base,
        sum(discount_amount_base) filter (where not is_cancelled) as discounts_base,
        0 as refunded_units,
        0 as refunds_base
    from {{ ref('fct_order_lines') }}
    group by all
),

refunds as (
    select
        refunded_date as sales_date,
        channel,
        connection_name,
        storefront_id,
        product_id,
        0 as orders,
        0 as cancelled_orders,
        0 as units,
        0 as gross_revenue_base,
        0 as discounts_base,
        sum(refunded_quantity) as refunded_units,
        sum(refunded_amount_base) as refunds_base
    from {{ ref('fct_refunds') }}
    group by all
),

combined as (
    select
        sales_date,
        channel,
        connection_name,
        storefront_id,
        product_id,
        sum(orders) as orders,
        sum(units) as units,
        sum(cancelled_orders) as cancelled_orders,
        sum(gross_revenue_base) as gross_revenue_base,
        sum(discounts_base) as discounts_base,
        sum(refunds_base) as refunds_base,
        sum(refunded_units) as refunded_units
    from (
        select * from sales
        union all by name
        select * from refunds
    )
    group by all
)

select
    sales_date,
    channel,
    connection_name,
    storefront_id,
    product_id,
    cast(coalesce(orders, 0) as bigint) as orders,
    cast(coalesce(units, 0) as bigint) as units,
    cast(coalesce(cancelled_orders, 0) as bigint) as cancelled_orders,
    {{ money('coalesce(gross_revenue_base, 0)') }} as gross_revenue_base,
    {{ money('coalesce(discounts_base, 0)') }} as discounts_base,
    {{ money('coalesce(refunds_base, 0)') }} as refunds_base,
    cast(coalesce(refunded_units, 0) as bigint) as refunded_units,
    {{ money('coalesce(gross_revenue_base, 0) - coalesce(discounts_base, 0) - coalesce(refunds_base, 0)') }}
        as net_revenue_base
from combined
