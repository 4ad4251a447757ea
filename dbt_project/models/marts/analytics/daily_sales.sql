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
        count(distinct order_id) as orders,
        sum(quantity) as units,
        sum(gross_amount_base) as gross_revenue_base,
        sum(discount_amount_base) as discounts_base
    from {{ ref('fct_order_lines') }}
    where not is_cancelled
    group by all
),

cancellations as (
    select
        ordered_date as sales_date,
        channel,
        connection_name,
        storefront_id,
        product_id,
        count(distinct order_id) as cancelled_orders
    from {{ ref('fct_order_lines') }}
    where is_cancelled
    group by all
),

refunds as (
    select
        refunded_date as sales_date,
        channel,
        connection_name,
        storefront_id,
        product_id,
        sum(refunded_quantity) as refunded_units,
        sum(refunded_amount_base) as refunds_base
    from {{ ref('fct_refunds') }}
    group by all
),

joined as (
    select *
    from sales
    full outer join cancellations
        using (sales_date, channel, connection_name, storefront_id, product_id)
    full outer join refunds
        using (sales_date, channel, connection_name, storefront_id, product_id)
)

select
    sales_date,
    channel,
    connection_name,
    storefront_id,
    product_id,
    coalesce(orders, 0) as orders,
    cast(coalesce(units, 0) as bigint) as units,
    coalesce(cancelled_orders, 0) as cancelled_orders,
    cast(coalesce(gross_revenue_base, 0) as decimal(18, 4)) as gross_revenue_base,
    cast(coalesce(discounts_base, 0) as decimal(18, 4)) as discounts_base,
    cast(coalesce(refunds_base, 0) as decimal(18, 4)) as refunds_base,
    cast(coalesce(refunded_units, 0) as bigint) as refunded_units,
    cast(
        coalesce(gross_revenue_base, 0) - coalesce(discounts_base, 0) - coalesce(refunds_base, 0)
        as decimal(18, 4)
    ) as net_revenue_base
from joined
