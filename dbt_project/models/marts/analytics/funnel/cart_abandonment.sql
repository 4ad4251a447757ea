-- One row per abandoned cart. A cart is a visitor's run of add_to_cart events on one
-- connection (sessions do not matter: a storefront cart outlives its session). It starts at
-- an add_to_cart when the visitor has no open cart, and stays open while further items are
-- added; it closes
--   converted  at the visitor's first purchase at or after an add_to_cart and no later than
--              var('cart_abandonment_hours') after the cart's last add_to_cart, or
--   abandoned  when that many hours pass after its last add_to_cart without a purchase;
--              abandoned_at = last add_to_cart + the window.
-- An add_to_cart after a purchase, or after the window has passed, starts a new cart.
-- Carts whose window has not elapsed by the connection's latest event are still open and
-- not listed; carts the visitor emptied (every unit removed again) are not listed either.
-- A later purchase by the visitor recovers the cart (is_recovered); customer_id is the unified
-- customer of an identified visitor ('user:<channel customer id>'), what the abandoned-cart
-- audience sends. Cart value and items:
-- add_to_cart value / quantity (quantity 1 when missing) minus cart removals (events named
-- like remove_from_cart, see macros/sessions.sql) made between the cart's first add and
-- abandoned_at, at the UTC day's rate to the base currency.
{% set rates_to_base = rate_to_base("coalesce(events.currency, '" ~ var('base_currency') ~ "')", 'rates.rate_to_base') %}
{% set window = 'to_seconds(' ~ (((var('cart_abandonment_hours') | float) * 3600) | int) ~ ')' %}
with events as (
    select * from {{ ref('int_events_sessionized') }}
),

rates as (
    select rate_date, currency, rate_to_base from {{ ref('dim_fx_rates') }}
),

horizons as (
    select connection_name, max(occurred_at) as latest_event_at
    from events
    group by connection_name
),

purchases as (
    select connection_name, visitor_id, occurred_at as purchased_at
    from events
    where funnel_step = 'purchase'
),

valued as (
    -- cart events with their value in the base currency (rate of the event's UTC day)
    select
        events.*,
        coalesce(events.quantity, 1) as item_quantity,
        {{ to_base('events.value', rates_to_base) }} as value_base
    from events
    left join rates
        on coalesce(events.currency, '{{ var("base_currency") }}') = rates.currency
        and cast(events.occurred_at as date) = rates.rate_date
    where events.funnel_step = 'add_to_cart'
        or (events.funnel_step is null and {{ is_cart_removal('events.event_name') }})
),

adds as (
    select
        connection_name, channel, storefront_id, visitor_id, session_id, event_id, occurred_at,
        sku, item_quantity as quantity, value_base
    from valued
    where funnel_step = 'add_to_cart'
),

removals as (
    select connection_name, visitor_id, occurred_at, sku, item_quantity as quantity, value_base
    from valued
    where funnel_step is null
),

-- the visitor's first purchase at or after each add_to_cart
adds_with_next_purchase as (
    select
        adds.*,
        (
            select min(purchases.purchased_at)
            from purchases
            where purchases.connection_name = adds.connection_name
                and purchases.visitor_id = adds.visitor_id
                and purchases.purchased_at >= adds.occurred_at
        ) as next_purchased_at
    from adds
),

cart_starts as (
    select
        *,
        case
            when lag(occurred_at) over visitor_adds is null then 1
            -- a purchase closed the previous cart
            when lag(next_purchased_at) over visitor_adds <= occurred_at then 1
            -- the previous cart was abandoned before this add
            when occurred_at > lag(occurred_at) over visitor_adds + {{ window }} then 1
            else 0
        end as is_cart_start
    from adds_with_next_purchase
    window visitor_adds as (
        partition by connection_name, visitor_id order by occurred_at, event_id
    )
),

cart_numbered as (
    select
        *,
        sum(is_cart_start) over (
            partition by connection_name, visitor_id
            order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as cart_number
    from cart_starts
),

carts as (
    select
        connection_name,
        visitor_id,
        cart_number,
        arg_min(channel, occurred_at) as channel,
        arg_min(storefront_id, occurred_at) as storefront_id,
        min(occurred_at) as first_added_at,
        max(occurred_at) as last_added_at,
        arg_max(session_id, occurred_at) as session_id,
        -- the visitor's first purchase after the cart's last add_to_cart
        arg_max_null(next_purchased_at, occurred_at) as next_purchased_at,
        max(occurred_at) + {{ window }} as abandoned_at,
        count(*) as add_to_cart_events
    from cart_numbered
    group by connection_name, visitor_id, cart_number
),

abandoned as (
    select carts.*
    from carts
    inner join horizons on carts.connection_name = horizons.connection_name
    -- the window has elapsed by the connection's latest event, without a purchase in it
    where horizons.latest_event_at >= carts.abandoned_at
        and (carts.next_purchased_at is null or carts.next_purchased_at > carts.abandoned_at)
),

-- adds and removals per cart and SKU
cart_lines as (
    select connection_name, visitor_id, cart_number, sku, quantity, value_base
    from cart_numbered
    union all
    select
        abandoned.connection_name,
        abandoned.visitor_id,
        abandoned.cart_number,
        removals.sku,
        -removals.quantity,
        -removals.value_base
    from removals
    inner join abandoned
        on removals.connection_name = abandoned.connection_name
        and removals.visitor_id = abandoned.visitor_id
        and removals.occurred_at between abandoned.first_added_at and abandoned.abandoned_at
),

cart_skus as (
    select
        connection_name,
        visitor_id,
        cart_number,
        sku,
        sum(quantity) as quantity,
        sum(value_base) as value_base
    from cart_lines
    group by all
),

cart_contents as (
    select
        connection_name,
        visitor_id,
        cart_number,
        list(sku order by sku) filter (where quantity > 0 and sku is not null) as products,
        sum(quantity) filter (where quantity > 0) as item_count,
        sum(greatest(value_base, 0)) filter (where quantity > 0) as cart_value_base
    from cart_skus
    group by all
)

select
    md5(abandoned.connection_name || '|' || abandoned.visitor_id || '|'
        || epoch_us(abandoned.first_added_at)) as cart_id,
    abandoned.channel,
    abandoned.connection_name,
    abandoned.storefront_id,
    abandoned.visitor_id,
    visitors.customer_id,
    abandoned.session_id,
    abandoned.first_added_at,
    abandoned.last_added_at,
    abandoned.abandoned_at,
    {{ local_date('abandoned.abandoned_at') }} as abandoned_date,
    cast(abandoned.add_to_cart_events as bigint) as add_to_cart_events,
    cast(cart_contents.item_count as bigint) as item_count,
    coalesce(cart_contents.products, cast([] as varchar[])) as products,
    {{ money('coalesce(cart_contents.cart_value_base, 0)') }} as cart_value_base,
    abandoned.next_purchased_at is not null as is_recovered,
    abandoned.next_purchased_at as recovered_at
from abandoned
inner join cart_contents
    on abandoned.connection_name = cart_contents.connection_name
    and abandoned.visitor_id = cart_contents.visitor_id
    and abandoned.cart_number = cart_contents.cart_number
left join {{ ref('int_customer_visitors') }} as visitors
    on abandoned.channel = visitors.channel
    and abandoned.visitor_id = visitors.visitor_id
where cart_contents.item_count > 0
