-- The purchase funnel per local day, channel and storefront: sessions and how many of them
-- reached product view, add to cart, checkout and purchase, with step conversion, drop-off
-- and overall conversion. Two sources, named in data_source:
--   events               storefront sessions (analytics.sessions), on the session start's
--                        local day. Steps are cumulative: a session reached a step when it
--                        logged that step or a later one (funnel_depth), so a purchase
--                        without a logged add_to_cart still counts at add_to_cart and
--                        checkout; the counts of sessions that logged each step are kept in
--                        the *_logged_sessions columns.
--   amazon_sales_traffic Amazon's Sales & Traffic report (core.fct_traffic_daily) on its
--                        report day: sessions = product-view sessions (every Amazon session is
--                        a detail-page session), add to cart and checkout are not reported
--                        (NULL), purchase_sessions = order items.
-- (Without the Amazon channel there are no Amazon rows; the dependency stays either way.)
-- depends_on: {{ ref('fct_traffic_daily') }}
with event_days as (
    select
        session_date as funnel_date,
        channel,
        storefront_id,
        'events' as data_source,
        count(*) as sessions,
        count_if(funnel_depth >= 1) as product_view_sessions,
        count_if(funnel_depth >= 2) as add_to_cart_sessions,
        count_if(funnel_depth >= 3) as checkout_sessions,
        count_if(funnel_depth >= 4) as purchase_sessions,
        count_if(reached_product_view) as product_view_logged_sessions,
        count_if(reached_add_to_cart) as add_to_cart_logged_sessions,
        count_if(reached_checkout) as checkout_logged_sessions,
        sum(revenue_base) as revenue_base
    from {{ ref('sessions') }}
    group by all
),

amazon_days as (
    select
        traffic_date as funnel_date,
        channel,
        storefront_id,
        'amazon_sales_traffic' as data_source,
        sum(sessions) as sessions,
        sum(sessions) as product_view_sessions,
        cast(null as bigint) as add_to_cart_sessions,
        cast(null as bigint) as checkout_sessions,
        sum(order_items) as purchase_sessions,
        cast(null as bigint) as product_view_logged_sessions,
        cast(null as bigint) as add_to_cart_logged_sessions,
        cast(null as bigint) as checkout_logged_sessions,
        sum(ordered_product_sales_base) as revenue_base
    from {{ ref('fct_traffic_daily') }}
    group by all
),

days as (
    select * from event_days
    union all by name
    select * from amazon_days
)

select
    data_source || ':' || channel || ':' || storefront_id || ':' || funnel_date as funnel_day_id,
    funnel_date,
    channel,
    storefront_id,
    data_source,
    cast(sessions as bigint) as sessions,
    cast(product_view_sessions as bigint) as product_view_sessions,
    cast(add_to_cart_sessions as bigint) as add_to_cart_sessions,
    cast(checkout_sessions as bigint) as checkout_sessions,
    cast(purchase_sessions as bigint) as purchase_sessions,
    cast(product_view_logged_sessions as bigint) as product_view_logged_sessions,
    cast(add_to_cart_logged_sessions as bigint) as add_to_cart_logged_sessions,
    cast(checkout_logged_sessions as bigint) as checkout_logged_sessions,
    product_view_sessions / nullif(sessions, 0) as product_view_rate,
    add_to_cart_sessions / nullif(product_view_sessions, 0) as add_to_cart_rate,
    checkout_sessions / nullif(add_to_cart_sessions, 0) as checkout_rate,
    purchase_sessions / nullif(checkout_sessions, 0) as purchase_rate,
    1 - product_view_sessions / nullif(sessions, 0) as product_view_drop_off,
    1 - add_to_cart_sessions / nullif(product_view_sessions, 0) as add_to_cart_drop_off,
    1 - checkout_sessions / nullif(add_to_cart_sessions, 0) as checkout_drop_off,
    1 - purchase_sessions / nullif(checkout_sessions, 0) as purchase_drop_off,
    purchase_sessions / nullif(sessions, 0) as overall_conversion_rate,
    {{ money('coalesce(revenue_base, 0)') }} as revenue_base
from days
