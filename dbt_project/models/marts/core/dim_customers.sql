-- One row per customer identity per channel connection (a Shopify customer, an Amazon buyer,
-- a Walmart e-mail). customer_id is the unified customer: identities share it only when
-- their salted e-mail hashes match. No e-mail is stored, only its salted hash.
with identities as (
    select * from {{ ref('int_customer_identities') }}
),

orders as (
    select order_id, ordered_at, is_cancelled from {{ ref('int_orders_status_normalized') }}
),

order_values as (
    select order_id, sum(net_amount_base) as net_amount_base
    from {{ ref('int_order_lines_joined_to_fx') }}
    group by order_id
),

per_identity as (
    select
        identities.customer_identity_id,
        any_value(identities.customer_id) as customer_id,
        any_value(identities.channel) as channel,
        any_value(identities.connection_name) as connection_name,
        any_value(identities.channel_customer_id) as channel_customer_id,
        any_value(identities.email_hash) as email_hash,
        min(orders.ordered_at) as first_ordered_at,
        max(orders.ordered_at) as last_ordered_at,
        count(*) filter (where not orders.is_cancelled) as order_count,
        {{ money('coalesce(sum(order_values.net_amount_base), 0)') }} as net_revenue_base
    from identities
    inner join orders on identities.order_id = orders.order_id
    left join order_values on identities.order_id = order_values.order_id
    group by identities.customer_identity_id
)

select
    *,
    count(distinct channel) over (partition by customer_id) > 1 as is_multichannel
from per_identity
