{{ config(meta={'dagster': {'ref': {'name': 'funnel_daily'}}}) }}
-- The storefront funnel is cumulative (a session reached a step when it logged it or a later
-- one), so along the funnel the counts never grow: sessions >= product views >= add to cart
-- >= checkout >= purchase, and the sessions that logged a step are among those that reached
-- it. A row is a day whose funnel breaks that.
select *
from {{ ref('funnel_daily') }}
where data_source = 'events'
    and (
        product_view_sessions > sessions
        or add_to_cart_sessions > product_view_sessions
        or checkout_sessions > add_to_cart_sessions
        or purchase_sessions > checkout_sessions
        or product_view_logged_sessions > product_view_sessions
        or add_to_cart_logged_sessions > add_to_cart_sessions
        or checkout_logged_sessions > checkout_sessions
        or product_view_rate > 1 or add_to_cart_rate > 1 or checkout_rate > 1 or purchase_rate > 1
    )
