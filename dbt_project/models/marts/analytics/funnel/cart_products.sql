-- Cart activity per local day, channel, storefront and product (SKU): units added and removed,
-- the sessions that added it and how many of those purchased. The most added products of any
-- period are the sum of items_added over its days (analytics.cart_daily keeps the day's top one).
with events as (
    select * from {{ ref('int_events_sessionized') }}
),

cart_events as (
    select
        session_id,
        {{ local_date('occurred_at') }} as cart_date,
        channel,
        storefront_id,
        sku,
        coalesce(funnel_step = 'add_to_cart', false) as is_add,
        coalesce(quantity, 1) as quantity
    from events
    where sku is not null
        and (funnel_step = 'add_to_cart'
            or (funnel_step is null and {{ is_cart_removal('event_name') }}))
),

purchased_sessions as (
    select distinct session_id from events where funnel_step = 'purchase'
)

select
    md5(cast(cart_date as varchar) || '|' || channel || '|' || storefront_id || '|' || sku)
        as cart_product_day_id,
    cart_date,
    channel,
    storefront_id,
    sku,
    cast(coalesce(sum(quantity) filter (where is_add), 0) as bigint) as items_added,
    cast(coalesce(sum(quantity) filter (where not is_add), 0) as bigint) as items_removed,
    count(distinct session_id) filter (where is_add) as cart_sessions,
    count(distinct session_id) filter (
        where is_add and session_id in (select session_id from purchased_sessions)
    ) as purchased_sessions
from cart_events
group by all
