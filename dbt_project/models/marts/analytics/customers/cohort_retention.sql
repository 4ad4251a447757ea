-- Monthly acquisition cohorts: a customer belongs to the local month of their first order
-- (orders not cancelled, with a customer, on or before analysis_date()). One row per cohort
-- and calendar month since acquisition, from 0 up to the analysis date's month, also when
-- nobody was active (no holes in a heat map); the analysis date's month is flagged partial
-- unless the analysis date is its last day.
with orders as (
    {{ customer_orders() }}
),

analysis as (
    select
        {{ analysis_date() }} as analysis_date
),

customers as (
    select
        customer_id,
        cast(date_trunc('month', min(ordered_date)) as date) as cohort_month
    from orders
    group by customer_id
),

cohorts as (
    select
        cohort_month,
        count(*) as cohort_size
    from customers
    group by cohort_month
),

activity as (
    select
        customers.cohort_month,
        {{ month_number('orders.ordered_date') }} - {{ month_number('customers.cohort_month') }}
            as months_since_first_order,
        count(distinct orders.customer_id) as active_customers,
        count(*) as orders,
        sum(orders.net_amount_base) as net_revenue_base
    from orders
    inner join customers on orders.customer_id = customers.customer_id
    group by all
),

grid as (
    select
        cohorts.cohort_month,
        cohorts.cohort_size,
        analysis.analysis_date,
        unnest(generate_series(
            0,
            {{ month_number('analysis.analysis_date') }} - {{ month_number('cohorts.cohort_month') }}
        )) as months_since_first_order
    from cohorts
    cross join analysis
),

filled as (
    select
        grid.cohort_month,
        cast(grid.months_since_first_order as integer) as months_since_first_order,
        cast(
            grid.cohort_month + to_months(cast(grid.months_since_first_order as integer)) as date
        ) as activity_month,
        grid.analysis_date,
        grid.cohort_size,
        coalesce(activity.active_customers, 0) as active_customers,
        coalesce(activity.orders, 0) as orders,
        coalesce(activity.net_revenue_base, 0) as net_revenue_base,
        sum(coalesce(activity.net_revenue_base, 0)) over (
            partition by grid.cohort_month order by grid.months_since_first_order
        ) as cumulative_net_revenue_base
    from grid
    left join activity
        on grid.cohort_month = activity.cohort_month
        and grid.months_since_first_order = activity.months_since_first_order
)

select
    strftime(cohort_month, '%Y-%m') || ':' || cast(months_since_first_order as varchar)
        as cohort_month_id,
    cohort_month,
    months_since_first_order,
    activity_month,
    analysis_date,
    cast(cohort_size as bigint) as cohort_size,
    cast(active_customers as bigint) as active_customers,
    active_customers / cohort_size as retention_rate,
    cast(orders as bigint) as orders,
    {{ money('net_revenue_base') }} as net_revenue_base,
    {{ money('cumulative_net_revenue_base') }} as cumulative_net_revenue_base,
    {{ money('cumulative_net_revenue_base / cohort_size') }} as cumulative_net_revenue_per_customer,
    activity_month = cast(date_trunc('month', analysis_date) as date)
        and analysis_date < last_day(analysis_date) as is_partial_month
from filled
