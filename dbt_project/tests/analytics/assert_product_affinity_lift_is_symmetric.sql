{{ config(meta={'dagster': {'ref': {'name': 'product_affinity'}}}) }}
-- product_affinity: lift read from either side is the same (confidence_a_to_b / support_b =
-- confidence_b_to_a / support_a), pairs are ordered (product_a < product_b), a pair is never
-- bought together more often than either product alone, the cut-offs hold, and
-- orders_together recounts from fct_order_lines. A row is a pair that breaks one of these.
with baskets as (
    select distinct order_id, product_id
    from {{ ref('fct_order_lines') }}
    where not is_cancelled
        and product_id is not null
        and ordered_date <= {{ analysis_date() }}
),

recounted as (
    select
        pairs.product_pair_id,
        count(distinct a.order_id) as orders_together
    from {{ ref('product_affinity') }} as pairs
    inner join baskets as a on pairs.product_a = a.product_id
    inner join baskets as b on pairs.product_b = b.product_id and a.order_id = b.order_id
    group by pairs.product_pair_id
)

select
    pairs.product_pair_id,
    pairs.lift,
    pairs.confidence_a_to_b / pairs.support_b as lift_from_a,
    pairs.confidence_b_to_a / pairs.support_a as lift_from_b,
    pairs.orders_together,
    recounted.orders_together as recounted_orders_together
from {{ ref('product_affinity') }} as pairs
left join recounted on pairs.product_pair_id = recounted.product_pair_id
where abs(pairs.confidence_a_to_b / pairs.support_b - pairs.confidence_b_to_a / pairs.support_a)
        > 1e-9 * pairs.lift
    or abs(pairs.lift - pairs.confidence_a_to_b / pairs.support_b) > 1e-9 * pairs.lift
    or pairs.product_a >= pairs.product_b
    or pairs.orders_together > least(pairs.orders_with_a, pairs.orders_with_b)
    or pairs.orders_together < {{ var('affinity_min_orders') }}
    or pairs.support < {{ var('affinity_min_support') }} - 1e-12
    or recounted.orders_together is distinct from pairs.orders_together
