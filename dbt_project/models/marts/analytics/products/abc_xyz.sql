{%- set abc_a, abc_b = var('abc_cumulative_shares')[0], var('abc_cumulative_shares')[1] -%}
{%- set xyz_x, xyz_y = var('xyz_cv_thresholds')[0], var('xyz_cv_thresholds')[1] -%}
{%- set weeks = var('xyz_weeks') | int -%}
-- ABC/XYZ per product over the last xyz_weeks 7-day weeks ending on analysis_date() (week 0 =
-- the analysis date and the 6 days before it), from the order lines of orders not cancelled.
-- ABC: net revenue share, a product is A while the revenue before it (in descending order)
-- is below the first cut-off, B below the second, else C. XYZ: coefficient of variation of
-- weekly units (weeks without a sale count 0; a product first sold inside the window only
-- from its first sale's week). Classes are decided in exact decimal arithmetic, so a product
-- exactly on a cut-off lands on the documented side.
with analysis as (
    select
        {{ analysis_date() }} as analysis_date,
        {{ analysis_date() }} - {{ 7 * weeks - 1 }} as window_start_date
),

lines as (
    select
        lines.order_id,
        lines.product_id,
        lines.ordered_date,
        lines.quantity,
        lines.net_amount_base
    from {{ ref('fct_order_lines') }} as lines
    cross join analysis
    where not lines.is_cancelled
        and lines.product_id is not null
        and lines.ordered_date <= analysis.analysis_date
),

first_sales as (
    select
        product_id,
        min(ordered_date) as first_sale_date
    from lines
    group by product_id
),

weekly as (
    select
        lines.product_id,
        (analysis.analysis_date - lines.ordered_date) // 7 as week_index,
        count(distinct lines.order_id) as orders,
        sum(lines.quantity) as units,
        sum(lines.net_amount_base) as revenue_base
    from lines
    cross join analysis
    where lines.ordered_date >= analysis.window_start_date
    group by all
),

per_product as (
    select
        weekly.product_id,
        -- weeks from the product's first sale week to week 0, at most the window's weeks
        least(
            {{ weeks }},
            (any_value(analysis.analysis_date) - any_value(first_sales.first_sale_date)) // 7 + 1
        ) as weeks_observed,
        any_value(first_sales.first_sale_date) as first_sale_date,
        sum(weekly.orders) as orders,
        sum(weekly.units) as units,
        sum(weekly.units * weekly.units) as units_squared,
        sum(weekly.revenue_base) as revenue_base
    from weekly
    inner join first_sales on weekly.product_id = first_sales.product_id
    cross join analysis
    group by weekly.product_id
),

ranked as (
    select
        *,
        sum(revenue_base) over () as total_revenue_base,
        sum(revenue_base) over (
            order by revenue_base desc, product_id rows between unbounded preceding and current row
        ) as cumulative_revenue_base,
        row_number() over (order by revenue_base desc, product_id) as revenue_rank,
        -- n * (n * sum(x^2) - sum(x)^2) and (n - 1) * sum(x)^2: cv^2 is their ratio
        cast(weeks_observed * (weeks_observed * units_squared - units * units) as decimal(38, 6))
            as cv_squared_numerator,
        cast((weeks_observed - 1) * units * units as decimal(38, 6)) as cv_squared_denominator
    from per_product
),

classified as (
    select
        *,
        case
            when cumulative_revenue_base - revenue_base
                < cast({{ abc_a }} as decimal(18, 6)) * total_revenue_base then 'A'
            when cumulative_revenue_base - revenue_base
                < cast({{ abc_b }} as decimal(18, 6)) * total_revenue_base then 'B'
            else 'C'
        end as abc_class,
        case
            when weeks_observed < 2 or units <= 0 then null
            when cv_squared_numerator <= cast({{ xyz_x }} as decimal(18, 6))
                * cast({{ xyz_x }} as decimal(18, 6)) * cv_squared_denominator then 'X'
            when cv_squared_numerator <= cast({{ xyz_y }} as decimal(18, 6))
                * cast({{ xyz_y }} as decimal(18, 6)) * cv_squared_denominator then 'Y'
            else 'Z'
        end as xyz_class
    from ranked
)

select
    classified.product_id,
    products.product_title,
    products.product_type,
    analysis.analysis_date,
    analysis.window_start_date,
    classified.first_sale_date,
    cast(classified.weeks_observed as integer) as weeks_observed,
    cast(classified.orders as bigint) as orders,
    cast(classified.units as bigint) as units,
    {{ money('classified.revenue_base') }} as revenue_base,
    cast(classified.revenue_rank as integer) as revenue_rank,
    cast(classified.revenue_base / nullif(classified.total_revenue_base, 0) as double)
        as revenue_share,
    cast(classified.cumulative_revenue_base / nullif(classified.total_revenue_base, 0) as double)
        as cumulative_share,
    classified.abc_class,
    cast(classified.units / classified.weeks_observed as double) as weekly_units_mean,
    -- sample variance = (n * sum(x^2) - sum(x)^2) / (n * (n - 1)), from the weekly sums
    case
        when classified.weeks_observed >= 2 then sqrt(
            cast(
                classified.weeks_observed * classified.units_squared
                - classified.units * classified.units as double
            ) / (classified.weeks_observed * (classified.weeks_observed - 1))
        )
    end as weekly_units_std,
    case
        when classified.weeks_observed >= 2 and classified.units > 0 then sqrt(
            cast(classified.cv_squared_numerator as double)
            / cast(classified.cv_squared_denominator as double)
        )
    end as weekly_units_cv,
    classified.xyz_class,
    classified.abc_class || classified.xyz_class as abc_xyz
from classified
cross join analysis
left join {{ ref('dim_products') }} as products on classified.product_id = products.product_id
