{{ config(meta={'dagster': {'ref': {'name': 'cohort_retention'}}}) }}
-- cohort_retention: month 0 is everyone (retention 1), cohort sizes add up to the customers of
-- customer_rfm, every cohort has every month up to the analysis date's month (no holes), no
-- month has more active customers than the cohort, and revenue adds up to customer_rfm's.
-- A row names a check that failed (and the cohort where there is one).
with cohorts as (
    select
        cohort_month,
        max(cohort_size) as cohort_size,
        count(*) as months,
        max(months_since_first_order) as last_month,
        max(year(analysis_date) * 12 + month(analysis_date))
            - (year(cohort_month) * 12 + month(cohort_month)) as expected_last_month,
        bool_and(active_customers <= cohort_size) as active_within_cohort,
        bool_or(
            months_since_first_order = 0
            and (active_customers != cohort_size or retention_rate != 1)
        ) as month_zero_incomplete,
        sum(net_revenue_base) as net_revenue_base
    from {{ ref('cohort_retention') }}
    group by cohort_month
),

rfm as (
    select count(*) as customers, sum(monetary_base) as net_revenue_base
    from {{ ref('customer_rfm') }}
)

select 'month 0 retention is not 1' as failed_check, cohort_month
from cohorts
where month_zero_incomplete
union all
select 'months missing or extra', cohort_month
from cohorts
where months != last_month + 1 or last_month != expected_last_month
union all
select 'more active customers than the cohort', cohort_month
from cohorts
where not active_within_cohort
union all
select 'cohort sizes do not add up to the customers', null
from rfm
where customers != (select sum(cohort_size) from cohorts)
union all
select 'revenue does not add up to customer_rfm', null
from rfm
where net_revenue_base != (select sum(net_revenue_base) from cohorts)
