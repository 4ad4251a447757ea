-- One row per storefront session (int_events_sessionized): its visitor, time span, page
-- views, the funnel steps it logged, its purchases and their value in the base currency.
-- Definitions (every one also in _funnel__models.yml):
--   page_views   = events whose funnel step is page_view or product_view
--   is_bounce    = exactly one page view and no other event of any kind (an experiment
--                  exposure event does not count)
--   reached_<s>  = the session logged an event of step s (not cumulative; funnel_daily
--                  counts cumulatively through funnel_depth)
--   purchases    = purchase events, one per logged order id (a re-fired confirmation counts
--                  once); revenue_base = their value at the UTC day's rate
{% set rates_to_base = rate_to_base('purchases.currency', 'rates.rate_to_base') %}
with events as (
    select * from {{ ref('int_events_sessionized') }}
),

rates as (
    select rate_date, currency, rate_to_base from {{ ref('dim_fx_rates') }}
),

orders as (
    select order_id, channel, storefront_id, channel_order_id from {{ ref('fct_orders') }}
),

purchases as (
    select
        connection_name,
        session_id,
        channel,
        storefront_id,
        channel_order_id,
        -- Shopify's storefront pixels give the numeric order id; fct_orders keeps the GID
        case
            when channel = 'shopify' and regexp_full_match(channel_order_id, '[0-9]+')
                then 'gid://shopify/Order/' || channel_order_id
            else channel_order_id
        end as order_lookup_id,
        occurred_at,
        value,
        coalesce(currency, '{{ var("base_currency") }}') as currency
    from events
    where funnel_step = 'purchase'
    qualify row_number() over (
        partition by connection_name, session_id, coalesce(channel_order_id, event_id)
        order by occurred_at, event_id
    ) = 1
),

purchase_totals as (
    select
        purchases.connection_name,
        purchases.session_id,
        count(*) as purchases,
        list(distinct orders.order_id order by orders.order_id)
            filter (where orders.order_id is not null) as order_ids,
        list(distinct purchases.channel_order_id order by purchases.channel_order_id)
            filter (where purchases.channel_order_id is not null) as channel_order_ids,
        sum({{ to_base('purchases.value', rates_to_base) }}) as revenue_base
    from purchases
    left join rates
        on purchases.currency = rates.currency
        and cast(purchases.occurred_at as date) = rates.rate_date
    left join orders
        on purchases.channel = orders.channel
        and purchases.storefront_id = orders.storefront_id
        and purchases.order_lookup_id = orders.channel_order_id
    group by purchases.connection_name, purchases.session_id
),

session_events as (
    select
        connection_name,
        session_id,
        arg_min(channel, event_sequence) as channel,
        arg_min(storefront_id, event_sequence) as storefront_id,
        any_value(session_visitor_id) as visitor_id,
        bool_or(source_session_id is not null) as has_source_session_id,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        any_value(session_date) as session_date,
        count(*) as events,
        -- an A/B-test exposure is not something the visitor did: it does not stop a bounce
        count_if(experiment_id is null or funnel_step is not null) as interaction_events,
        cast(count_if(funnel_step in ('page_view', 'product_view')) as bigint) as page_views,
        count(distinct sku) filter (where funnel_step = 'product_view') as products_viewed,
        arg_min(page_url, event_sequence) filter (where page_url is not null) as landing_page,
        arg_min(referrer, event_sequence) filter (where referrer is not null) as referrer,
        arg_min(traffic_source, event_sequence) filter (where traffic_source is not null)
            as traffic_source,
        count_if(funnel_step = 'product_view') > 0 as reached_product_view,
        count_if(funnel_step = 'add_to_cart') > 0 as reached_add_to_cart,
        count_if(funnel_step = 'checkout') > 0 as reached_checkout,
        count_if(funnel_step = 'purchase') > 0 as reached_purchase,
        max({{ funnel_depth('funnel_step') }}) as funnel_depth
    from events
    group by connection_name, session_id
)

select
    session_events.session_id,
    session_events.channel,
    session_events.connection_name,
    session_events.storefront_id,
    session_events.visitor_id,
    session_events.visitor_id like 'user:%' as is_identified,
    session_events.has_source_session_id,
    session_events.started_at,
    session_events.ended_at,
    session_events.session_date,
    (epoch_us(session_events.ended_at) - epoch_us(session_events.started_at)) // 1000000
        as duration_seconds,
    session_events.events,
    session_events.page_views,
    session_events.products_viewed,
    session_events.page_views = 1 and session_events.interaction_events = 1 as is_bounce,
    session_events.landing_page,
    session_events.referrer,
    session_events.traffic_source,
    session_events.reached_product_view,
    session_events.reached_add_to_cart,
    session_events.reached_checkout,
    session_events.reached_purchase,
    cast(session_events.funnel_depth as integer) as funnel_depth,
    case session_events.funnel_depth
        when 1 then 'product_view'
        when 2 then 'add_to_cart'
        when 3 then 'checkout'
        when 4 then 'purchase'
    end as furthest_funnel_step,
    session_events.reached_purchase as is_converted,
    coalesce(purchase_totals.purchases, 0) as purchases,
    coalesce(purchase_totals.order_ids, cast([] as varchar[])) as order_ids,
    coalesce(purchase_totals.channel_order_ids, cast([] as varchar[])) as channel_order_ids,
    {{ money('coalesce(purchase_totals.revenue_base, 0)') }} as revenue_base
from session_events
left join purchase_totals
    on session_events.connection_name = purchase_totals.connection_name
    and session_events.session_id = purchase_totals.session_id
