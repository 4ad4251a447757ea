-- Repeat purchase per monthly acquisition cohort (the local month of a customer's first
-- order; orders not cancelled, with a customer, on or before analysis_date()). A repeat
-- customer ordered again on a later local day than their first order (a second order on
-- the first day is the same purchase occasion); days to the second order are counted
-- between the two local days. Customers acquired recently had less time to come back:
-- the *_within_90_days / *_within_365_days columns only count customers observed that long.
with orders as (
    {{ customer_orders() }}
),

analysis as (
    select
        {{ analysis_date() }} as analysis_date
),

per_customer as (
    select
        customer_id,
        min(ordered_date) as first_order_date,
        list_sort(list(distinct ordered_date))[2] as second_order_date
    from orders
    group by customer_id
),

measured as (
    select
        cast(date_trunc('month', per_customer.first_order_date) as date) as cohort_month,
        analysis.analysis_date,
        per_customer.customer_id,
        cast(per_customer.second_order_date - per_customer.first_order_date as integer)
            as days_to_second_order,
        cast(analysis.analysis_date - per_customer.first_order_date as integer) as observation_days
    from per_customer
    cross join analysis
),

cohorts as (
    select
        cohort_month,
        any_value(analysis_date) as analysis_date,
        count(*) as customers,
        count(days_to_second_order) as repeat_customers,
        quantile_cont(days_to_second_order, 0.25) as days_to_second_order_p25,
        quantile_cont(days_to_second_order, 0.5) as days_to_second_order_median,
        quantile_cont(days_to_second_order, 0.75) as days_to_second_order_p75,
        avg(days_to_second_order) as days_to_second_order_mean,
        count(*) filter (where days_to_second_order <= 30) as second_order_0_30_days,
        count(*) filter (where days_to_second_order between 31 and 60) as second_order_31_60_days,
        count(*) filter (where days_to_second_order between 61 and 90) as second_order_61_90_days,
        count(*) filter (where days_to_second_order between 91 and 180) as second_order_91_180_days,
        count(*) filter (where days_to_second_order between 181 and 365)
            as second_order_181_365_days,
        count(*) filter (where days_to_second_order > 365) as second_order_over_365_days,
        count(*) filter (where days_to_second_order is null) as no_second_order,
        min(observation_days) as min_observation_days,
        max(observation_days) as max_observation_days,
        count(*) filter (where observation_days >= 90) as customers_observed_90_days,
        count(*) filter (where observation_days >= 90 and days_to_second_order <= 90)
            as repeat_customers_within_90_days,
        count(*) filter (where observation_days >= 365) as customers_observed_365_days,
        count(*) filter (where observation_days >= 365 and days_to_second_order <= 365)
            as repeat_customers_within_365_days
    from measured
    group by cohort_month
)

select
    cohort_month,
    analysis_date,
    cast(customers as bigint) as customers,
    cast(repeat_customers as bigint) as repeat_customers,
    repeat_customers / customers as repeat_purchase_rate,
    cast(days_to_second_order_p25 as double) as days_to_second_order_p25,
    cast(days_to_second_order_median as double) as days_to_second_order_median,
    cast(days_to_second_order_p75 as double) as days_to_second_order_p75,
    cast(days_to_second_order_mean as double) as days_to_second_order_mean,
    cast(second_order_0_30_days as bigint) as second_order_0_30_days,
    cast(second_order_31_60_days as bigint) as second_order_31_60_days,
    cast(second_order_61_90_days as bigint) as second_order_61_90_days,
    cast(second_order_91_180_days as bigint) as second_order_91_180_days,
    cast(second_order_181_365_days as bigint) as second_order_181_365_days,
    cast(second_order_over_365_days as bigint) as second_order_over_365_days,
    cast(no_second_order as bigint) as no_second_order,
    cast(min_observation_days as integer) as min_observation_days,
    cast(max_observation_days as integer) as max_observation_days,
    cast(customers_observed_90_days as bigint) as customers_observed_90_days,
    cast(repeat_customers_within_90_days as bigint) as repeat_customers_within_90_days,
    repeat_customers_within_90_days / nullif(customers_observed_90_days, 0)
        as repeat_purchase_rate_within_90_days,
    cast(customers_observed_365_days as bigint) as customers_observed_365_days,
    cast(repeat_customers_within_365_days as bigint) as repeat_customers_within_365_days,
    repeat_customers_within_365_days / nullif(customers_observed_365_days, 0)
        as repeat_purchase_rate_within_365_days
from cohorts
