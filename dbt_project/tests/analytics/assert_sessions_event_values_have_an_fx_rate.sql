{{ config(meta={'dagster': {'ref': {'name': 'sessions'}}}) }}
-- Purchase and cart values are converted to the base currency at the event's UTC day's rate
-- (dim_fx_rates); without a rate they would silently drop out of revenue_base and
-- cart_value_base. A row names a currency and day the rates do not cover.
with valued as (
    select
        coalesce(currency, '{{ var("base_currency") }}') as currency,
        cast(occurred_at as date) as rate_date_needed
    from {{ ref('int_events_sessionized') }}
    where value is not null
        and (funnel_step in ('purchase', 'add_to_cart') or {{ is_cart_removal('event_name') }})
)

select valued.currency, valued.rate_date_needed, count(*) as events
from valued
left join {{ ref('dim_fx_rates') }} as rates
    on valued.currency = rates.currency
    and valued.rate_date_needed = rates.rate_date
where rates.rate_to_base is null
    and valued.currency <> '{{ var("base_currency") }}'  -- the base currency needs no rate
group by all
