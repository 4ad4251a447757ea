-- Each product's unit cost as periods: a cost holds from its effective_from day up to the
-- product's next effective_from (exclusive; NULL while current). is_first_version marks the
-- earliest known cost, which order_line_margin also applies to orders placed before it.
with costs as (
    select * from {{ ref('stg_files__product_costs') }}
)

select
    product_sku,
    effective_from,
    lead(effective_from) over (partition by product_sku order by effective_from) as effective_to,
    row_number() over (partition by product_sku order by effective_from) = 1 as is_first_version,
    unit_cost,
    shipping_cost_per_unit,
    currency
from costs
