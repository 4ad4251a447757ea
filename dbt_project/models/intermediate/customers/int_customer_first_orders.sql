-- Each unified customer's first order: the earliest order that was not cancelled
-- (ties broken by order id), across every channel the customer is known on.
select
    identities.customer_id,
    arg_min(orders.order_id, (orders.ordered_at, orders.order_id)) as first_order_id,
    min(orders.ordered_at) as first_ordered_at
from {{ ref('int_customer_identities') }} as identities
inner join {{ ref('int_orders_status_normalized') }} as orders
    on identities.order_id = orders.order_id
where not orders.is_cancelled
group by identities.customer_id
