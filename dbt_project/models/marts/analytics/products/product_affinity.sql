{%- set min_support = var('affinity_min_support') -%}
{%- set min_orders = var('affinity_min_orders') | int -%}
-- Products bought together: one row per pair of products (product_a < product_b) that appear
-- in the same order, over the orders not cancelled placed on or before analysis_date() that
-- contain a product (each product counted once per order). Support, confidence and lift as in
-- association-rule mining; only pairs with support >= affinity_min_support and
-- orders_together >= affinity_min_orders are kept (the support cut-off is compared exactly).
with order_products as (
    select distinct
        order_id,
        product_id
    from {{ ref('fct_order_lines') }}
    where not is_cancelled
        and product_id is not null
        and ordered_date <= {{ analysis_date() }}
),

totals as (
    select count(distinct order_id) as total_orders
    from order_products
),

product_orders as (
    select
        product_id,
        count(*) as orders
    from order_products
    group by product_id
),

pairs as (
    select
        a.product_id as product_a,
        b.product_id as product_b,
        count(*) as orders_together
    from order_products as a
    inner join order_products as b
        on a.order_id = b.order_id
        and a.product_id < b.product_id
    group by all
    having count(*) >= {{ min_orders }}
)

select
    pairs.product_a || '|' || pairs.product_b as product_pair_id,
    pairs.product_a,
    pairs.product_b,
    {{ analysis_date() }} as analysis_date,
    cast(pairs.orders_together as bigint) as orders_together,
    cast(orders_a.orders as bigint) as orders_with_a,
    cast(orders_b.orders as bigint) as orders_with_b,
    cast(totals.total_orders as bigint) as total_orders,
    pairs.orders_together / totals.total_orders as support,
    orders_a.orders / totals.total_orders as support_a,
    orders_b.orders / totals.total_orders as support_b,
    pairs.orders_together / orders_a.orders as confidence_a_to_b,
    pairs.orders_together / orders_b.orders as confidence_b_to_a,
    pairs.orders_together * totals.total_orders / (orders_a.orders * orders_b.orders) as lift
from pairs
cross join totals
inner join product_orders as orders_a on pairs.product_a = orders_a.product_id
inner join product_orders as orders_b on pairs.product_b = orders_b.product_id
where cast(pairs.orders_together as decimal(38, 10))
    >= cast({{ min_support }} as decimal(38, 10)) * totals.total_orders
