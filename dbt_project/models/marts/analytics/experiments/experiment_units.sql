-- The per-unit outcomes the experiment statistics read (models_ml.experiment_results): for
-- every exposed unit (experiment_exposures), what it did from its first exposure on for
-- var('experiment_attribution_days') days, and in the var('experiment_pre_period_days') days
-- before it (the CUPED covariate). Purchases count once per logged order id (as in sessions);
-- revenue is their value at the UTC day's rate to the base currency.
{% set window = var('experiment_attribution_days') | int %}
{% set pre = var('experiment_pre_period_days') | int %}
{% set rates_to_base = rate_to_base('purchases.currency', 'rates.rate_to_base') %}
with exposures as (
    select * from {{ ref('experiment_exposures') }}
),

events as (
    select * from {{ ref('int_events_sessionized') }}
    where funnel_step in ('add_to_cart', 'purchase')
),

rates as (
    select rate_date, currency, rate_to_base from {{ ref('dim_fx_rates') }}
),

purchases as (
    select
        connection_name,
        visitor_id,
        occurred_at,
        value,
        coalesce(currency, '{{ var("base_currency") }}') as currency
    from events
    where funnel_step = 'purchase'
    qualify row_number() over (
        partition by connection_name, visitor_id, coalesce(channel_order_id, event_id)
        order by occurred_at, event_id
    ) = 1
),

purchases_base as (
    select
        purchases.connection_name,
        purchases.visitor_id,
        purchases.occurred_at,
        coalesce({{ to_base('purchases.value', rates_to_base) }}, 0) as revenue_base
    from purchases
    left join rates
        on purchases.currency = rates.currency
        and cast(purchases.occurred_at as date) = rates.rate_date
),

purchase_outcomes as (
    select
        exposures.experiment_exposure_id,
        count(*) filter (where purchases_base.occurred_at >= exposures.first_exposed_at)
            as orders,
        coalesce(
            sum(purchases_base.revenue_base)
                filter (where purchases_base.occurred_at >= exposures.first_exposed_at),
            0
        ) as revenue_base,
        count(*) filter (where purchases_base.occurred_at < exposures.first_exposed_at)
            as pre_orders,
        coalesce(
            sum(purchases_base.revenue_base)
                filter (where purchases_base.occurred_at < exposures.first_exposed_at),
            0
        ) as pre_revenue_base
    from exposures
    inner join purchases_base
        on exposures.connection_name = purchases_base.connection_name
        and exposures.unit_id = purchases_base.visitor_id
        and purchases_base.occurred_at >= exposures.first_exposed_at - to_days({{ pre }})
        and purchases_base.occurred_at < exposures.first_exposed_at + to_days({{ window }})
    group by exposures.experiment_exposure_id
),

carts as (
    select distinct exposures.experiment_exposure_id
    from exposures
    inner join events
        on exposures.connection_name = events.connection_name
        and exposures.unit_id = events.visitor_id
        and events.funnel_step = 'add_to_cart'
        and events.occurred_at >= exposures.first_exposed_at
        and events.occurred_at < exposures.first_exposed_at + to_days({{ window }})
)

select
    exposures.experiment_exposure_id,
    exposures.connection_name,
    exposures.experiment_id,
    exposures.unit_id,
    exposures.experiment_unit,
    exposures.variant,
    exposures.first_exposed_at,
    exposures.exposure_date,
    exposures.first_exposed_at + to_days({{ window }}) as attribution_ends_at,
    exposures.is_multi_variant,
    carts.experiment_exposure_id is not null as added_to_cart,
    coalesce(purchase_outcomes.orders, 0) > 0 as converted,
    coalesce(purchase_outcomes.orders, 0) as orders,
    {{ money('coalesce(purchase_outcomes.revenue_base, 0)') }} as revenue_base,
    coalesce(purchase_outcomes.pre_orders, 0) as pre_orders,
    {{ money('coalesce(purchase_outcomes.pre_revenue_base, 0)') }} as pre_revenue_base
from exposures
left join purchase_outcomes
    on exposures.experiment_exposure_id = purchase_outcomes.experiment_exposure_id
left join carts
    on exposures.experiment_exposure_id = carts.experiment_exposure_id
