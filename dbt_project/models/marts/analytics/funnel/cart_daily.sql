-- Cart activity per local day, channel and storefront: sessions that added to cart and how
-- many of them purchased (session-level cart abandonment rate), items added and removed, the
-- average value added per cart session (base currency, the UTC day's rate), the abandoned carts
-- of analytics.cart_abandonment by their abandoned_date, and the most added product.
{% set rates_to_base = rate_to_base("coalesce(events.currency, '" ~ var('base_currency') ~ "')", 'rates.rate_to_base') %}
with events as (
    select * from {{ ref('int_events_sessionized') }}
),

rates as (
    select rate_date, currency, rate_to_base from {{ ref('dim_fx_rates') }}
),

cart_events as (
    select
        events.session_id,
        {{ local_date('events.occurred_at') }} as cart_date,
        events.channel,
        events.storefront_id,
        events.sku,
        coalesce(events.funnel_step = 'add_to_cart', false) as is_add,
        coalesce(events.quantity, 1) as quantity,
        {{ to_base('events.value', rates_to_base) }} as value_base
    from events
    left join rates
        on coalesce(events.currency, '{{ var("base_currency") }}') = rates.currency
        and cast(events.occurred_at as date) = rates.rate_date
    where events.funnel_step = 'add_to_cart'
        or (events.funnel_step is null and {{ is_cart_removal('events.event_name') }})
),

purchased_sessions as (
    select distinct session_id from events where funnel_step = 'purchase'
),

daily as (
    select
        cart_date,
        channel,
        storefront_id,
        count(distinct session_id) filter (where is_add) as cart_sessions,
        count(distinct cart_events.session_id) filter (
            where is_add and cart_events.session_id in (select session_id from purchased_sessions)
        ) as converted_cart_sessions,
        coalesce(sum(quantity) filter (where is_add), 0) as items_added,
        coalesce(sum(quantity) filter (where not is_add), 0) as items_removed,
        sum(value_base) filter (where is_add) as value_added_base
    from cart_events
    group by all
),

top_products as (
    select cart_date, channel, storefront_id, sku as most_added_sku, added as most_added_units
    from (
        select cart_date, channel, storefront_id, sku, sum(quantity) as added
        from cart_events
        where is_add and sku is not null
        group by all
    )
    qualify row_number() over (
        partition by cart_date, channel, storefront_id order by added desc, sku
    ) = 1
),

abandoned as (
    select
        abandoned_date,
        channel,
        storefront_id,
        count(*) as abandoned_carts,
        sum(cart_value_base) as abandoned_value_base
    from {{ ref('cart_abandonment') }}
    group by all
)

select
    md5(cast(daily.cart_date as varchar) || '|' || daily.channel || '|' || daily.storefront_id)
        as cart_day_id,
    daily.cart_date,
    daily.channel,
    daily.storefront_id,
    daily.cart_sessions,
    daily.converted_cart_sessions,
    1 - daily.converted_cart_sessions / nullif(daily.cart_sessions, 0) as cart_abandonment_rate,
    daily.items_added,
    daily.items_removed,
    {{ money('daily.value_added_base / nullif(daily.cart_sessions, 0)') }} as avg_cart_value_base,
    coalesce(abandoned.abandoned_carts, 0) as abandoned_carts,
    {{ money('coalesce(abandoned.abandoned_value_base, 0)') }} as abandoned_value_base,
    top_products.most_added_sku,
    top_products.most_added_units
from daily
left join abandoned
    on daily.cart_date = abandoned.abandoned_date
    and daily.channel = abandoned.channel
    and daily.storefront_id = abandoned.storefront_id
left join top_products
    on daily.cart_date = top_products.cart_date
    and daily.channel = top_products.channel
    and daily.storefront_id = top_products.storefront_id
