-- Implicit feedback per unified customer, product, kind of event and local day: what the
-- recommendations (and the churn model's activity features) learn from. Orders come from the
-- counted order lines (not cancelled, with a customer and a product); product views and cart
-- adds from the storefront events of visitors identified as a customer (visitor_id
-- 'user:<channel customer id>', stitched anonymous events included), their SKU mapped to the
-- product through the listing of the same channel. Anonymous browsing has no customer and is
-- left out. Everything on or before analysis_date.
with order_lines as (
    select customer_id, product_id, ordered_date
    from {{ ref('fct_order_lines') }}
    where not is_cancelled
        and customer_id is not null
        and product_id is not null
        and ordered_date <= {{ analysis_date() }}
),

listings as (
    select channel, listing_sku, min(product_id) as product_id
    from {{ ref('dim_product_listings') }}
    where product_id is not null and listing_sku is not null
    group by channel, listing_sku
),

storefront as (
    select
        customers.customer_id,
        listings.product_id,
        case events.funnel_step when 'product_view' then 'view' else 'cart' end as event_type,
        events.session_date as event_date
    from {{ ref('int_events_sessionized') }} as events
    inner join {{ ref('int_customer_visitors') }} as customers
        on events.channel = customers.channel
        and events.visitor_id = customers.visitor_id
    inner join listings
        on events.channel = listings.channel
        and events.sku = listings.listing_sku
    where events.funnel_step in ('product_view', 'add_to_cart')
        and events.session_date <= {{ analysis_date() }}
),

unioned as (
    select customer_id, product_id, 'order' as event_type, ordered_date as event_date
    from order_lines
    union all
    select customer_id, product_id, event_type, event_date
    from storefront
)

select
    customer_id,
    product_id,
    event_type,
    event_date,
    count(*) as events
from unioned
group by customer_id, product_id, event_type, event_date
