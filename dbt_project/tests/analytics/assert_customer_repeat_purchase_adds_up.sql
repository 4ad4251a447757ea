{{ config(meta={'dagster': {'ref': {'name': 'cohort_repeat_purchase'}}}) }}
-- cohort_repeat_purchase: the time-to-second-order buckets add up to the cohort, repeat
-- customers are the customers with a second order, and both agree with customer_rfm (same
-- cohort by first order month; a repeat customer has frequency >= 2). A row is a cohort that
-- disagrees.
with rfm as (
    select
        cast(date_trunc('month', first_order_date) as date) as cohort_month,
        count(*) as customers,
        count(*) filter (where frequency >= 2) as repeat_customers
    from {{ ref('customer_rfm') }}
    group by all
)

select
    coalesce(mart.cohort_month, rfm.cohort_month) as cohort_month,
    mart.customers,
    rfm.customers as rfm_customers,
    mart.repeat_customers,
    rfm.repeat_customers as rfm_repeat_customers
from {{ ref('cohort_repeat_purchase') }} as mart
full outer join rfm on mart.cohort_month = rfm.cohort_month
where mart.customers is distinct from rfm.customers
    or mart.repeat_customers is distinct from rfm.repeat_customers
    or mart.customers != mart.second_order_0_30_days + mart.second_order_31_60_days
        + mart.second_order_61_90_days + mart.second_order_91_180_days
        + mart.second_order_181_365_days + mart.second_order_over_365_days + mart.no_second_order
    or mart.repeat_customers != mart.customers - mart.no_second_order
    or mart.repeat_customers_within_365_days > mart.customers_observed_365_days
    or mart.repeat_customers_within_90_days > mart.customers_observed_90_days
