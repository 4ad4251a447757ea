{{ config(meta={'dagster': {'ref': {'name': 'customer_rfm'}}}) }}
-- customer_rfm has one row per customer with a counted order (not cancelled, with a customer,
-- on or before the analysis date), its orders and net revenue add up to those orders, the
-- segment counts add up to the customers, and equal values always got equal scores with
-- better values never scoring lower. A row names a check that failed.
with counted as (
    select
        count(distinct customer_id) as customers,
        count(*) as orders,
        sum(net_amount_base) as net_revenue_base
    from {{ ref('fct_orders') }}
    where not is_cancelled
        and customer_id is not null
        and ordered_date <= {{ analysis_date() }}
),

mart as (
    select
        count(*) as customers,
        sum(order_count) as orders,
        sum(monetary_base) as net_revenue_base
    from {{ ref('customer_rfm') }}
),

segments as (
    select sum(customers) as customers
    from (
        select rfm_segment, count(*) as customers
        from {{ ref('customer_rfm') }}
        group by rfm_segment
    )
),

ties as (
    select 'recency' as measure, count(distinct r_score) as scores
    from {{ ref('customer_rfm') }}
    group by recency_days
    union all
    select 'frequency', count(distinct f_score)
    from {{ ref('customer_rfm') }}
    group by frequency
    union all
    select 'monetary', count(distinct m_score)
    from {{ ref('customer_rfm') }}
    group by monetary_base
),

-- the best value of each score must be worse than the worst value of the next score
score_ranges as (
    select
        'recency' as measure, r_score as score, min(-recency_days) as worst, max(-recency_days) as best
    from {{ ref('customer_rfm') }}
    group by r_score
    union all
    select 'frequency', f_score, min(frequency), max(frequency)
    from {{ ref('customer_rfm') }}
    group by f_score
    union all
    select 'monetary', m_score, min(monetary_base), max(monetary_base)
    from {{ ref('customer_rfm') }}
    group by m_score
),

score_overlaps as (
    select measure, score
    from (
        select measure, score, best,
            lead(worst) over (partition by measure order by score) as next_worst
        from score_ranges
    )
    where best >= next_worst
)

select 'customers differ from the counted orders' as failed_check
from counted, mart
where counted.customers != mart.customers
union all
select 'orders differ from the counted orders'
from counted, mart
where counted.orders != mart.orders
union all
select 'net revenue differs from the counted orders'
from counted, mart
where counted.net_revenue_base != mart.net_revenue_base
union all
select 'segment counts do not add up to the customers'
from segments, mart
where segments.customers != mart.customers
union all
select 'equal ' || measure || ' values got different scores'
from ties
where scores > 1
union all
select 'a better ' || measure || ' value scored lower (score ' || score || ')'
from score_overlaps
