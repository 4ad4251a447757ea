-- One row per order: what the order risk score (models_ml/order_risk.py) reads. Every
-- feature looks only at what was known when the order was placed: orders placed before it
-- (trailing windows end just before ordered_at) and refunds issued before it. Definitions:
-- _risk__models.yml.
with orders as (
    select * from {{ ref('fct_orders') }}
),

identities as (
    select customer_identity_id, email_hash from {{ ref('dim_customers') }}
),

lines as (
    select order_id, product_id, ordered_at, quantity
    from {{ ref('fct_order_lines') }}
    where product_id is not null
),

addresses as (
    select order_id, ship_country, billing_country, ship_address_hash
    from {{ ref('int_orders_unioned') }}
),

refunds as (
    select order_id, min(refunded_at) as first_refunded_at
    from {{ ref('fct_refunds') }}
    group by order_id
),

based as (
    select
        orders.order_id,
        orders.channel,
        orders.connection_name,
        orders.customer_id,
        orders.customer_identity_id,
        identities.email_hash,
        addresses.ship_address_hash,
        addresses.ship_country,
        addresses.billing_country,
        orders.ordered_at,
        orders.ordered_date,
        orders.is_cancelled,
        orders.is_first_order,
        orders.net_amount_base,
        refunds.first_refunded_at,
        -- the first order of the channel identity (a new customer id on its channel)
        orders.ordered_at = min(orders.ordered_at) over (
            partition by orders.customer_identity_id
        ) and orders.customer_identity_id is not null as is_new_identity
    from orders
    left join identities on orders.customer_identity_id = identities.customer_identity_id
    left join refunds on orders.order_id = refunds.order_id
    left join addresses on orders.order_id = addresses.order_id
),

email_windows as (
    select
        order_id,
        count(*) over last_hour - 1 as email_orders_1h,
        count(*) over last_day - 1 as email_orders_24h,
        count(*) over last_week - 1 as email_orders_7d,
        cast(sum(cast(is_new_identity as int)) over last_day as bigint)
            - cast(is_new_identity as int) as email_new_identities_24h
    from based
    where email_hash is not null
    window
        by_email as (partition by email_hash order by ordered_at),
        last_hour as (by_email range between interval 1 hour preceding and current row),
        last_day as (by_email range between interval 24 hours preceding and current row),
        last_week as (by_email range between interval 7 days preceding and current row)
),

address_windows as (
    -- orders shipped to the same address in the 24 hours before, by other customers (all
    -- orders to it minus the customer's own: a household reorders, a drop takes many buyers)
    select
        order_id,
        (count(*) over last_day) - (count(*) over own_last_day) as address_other_customers_24h
    from based
    where ship_address_hash is not null
    window
        last_day as (
            partition by ship_address_hash order by ordered_at
            range between interval 24 hours preceding and current row
        ),
        own_last_day as (
            partition by ship_address_hash, coalesce(customer_id, order_id)
            order by ordered_at
            range between interval 24 hours preceding and current row
        )
),

customer_history as (
    -- the customer's orders placed before this one, and refunds issued before it
    select
        current_order.order_id,
        count(prior.order_id) as prior_orders,
        count(prior.order_id) filter (where prior.is_cancelled) as prior_cancelled_orders,
        count(prior.order_id) filter (
            where prior.first_refunded_at < current_order.ordered_at
        ) as prior_refunded_orders,
        avg(prior.net_amount_base) filter (where not prior.is_cancelled)
            as prior_avg_net_amount_base
    from based as current_order
    left join based as prior
        on current_order.customer_id = prior.customer_id
        and prior.ordered_at < current_order.ordered_at
    where current_order.customer_id is not null
    group by current_order.order_id
),

product_baskets as (
    -- each line's quantity against the product's mean quantity per line in earlier orders
    select
        order_id,
        quantity / avg(quantity) over (
            partition by product_id order by ordered_at
            range between unbounded preceding and interval 1 microsecond preceding
        ) as quantity_ratio
    from lines
),

order_baskets as (
    select order_id, max(quantity_ratio) as product_quantity_ratio
    from product_baskets
    group by order_id
),

first_baskets as (
    -- the typical first order on the connection: the median of the 90 days before
    select
        order_id,
        median(net_amount_base) over (
            partition by connection_name order by ordered_at
            range between interval 90 days preceding and interval 1 microsecond preceding
        ) as typical_first_order_base
    from based
    where is_first_order and not is_cancelled
),

final as (
    select
        based.order_id,
        based.channel,
        based.connection_name,
        based.customer_id,
        based.ordered_at,
        based.ordered_date,
        based.is_cancelled,
        based.is_first_order,
        based.net_amount_base,
        coalesce(email_windows.email_orders_1h, 0) as email_orders_1h,
        coalesce(email_windows.email_orders_24h, 0) as email_orders_24h,
        coalesce(email_windows.email_orders_7d, 0) as email_orders_7d,
        coalesce(email_windows.email_new_identities_24h, 0) as email_new_identities_24h,
        coalesce(address_windows.address_other_customers_24h, 0)
            as address_other_customers_24h,
        based.ship_country,
        based.billing_country,
        coalesce(based.billing_country <> based.ship_country, false) as is_country_mismatch,
        coalesce(customer_history.prior_orders, 0) as prior_orders,
        coalesce(customer_history.prior_cancelled_orders, 0) as prior_cancelled_orders,
        coalesce(customer_history.prior_refunded_orders, 0) as prior_refunded_orders,
        round(
            customer_history.prior_refunded_orders
            / nullif(customer_history.prior_orders - customer_history.prior_cancelled_orders, 0),
            4
        ) as prior_refund_share,
        {{ money('customer_history.prior_avg_net_amount_base') }} as prior_avg_net_amount_base,
        round(
            based.net_amount_base / nullif(customer_history.prior_avg_net_amount_base, 0), 4
        ) as value_to_customer_avg,
        round(order_baskets.product_quantity_ratio, 4) as product_quantity_ratio,
        {{ money('first_baskets.typical_first_order_base') }} as typical_first_order_base,
        round(
            based.net_amount_base / nullif(first_baskets.typical_first_order_base, 0), 4
        ) as first_order_value_ratio
    from based
    left join email_windows on based.order_id = email_windows.order_id
    left join address_windows on based.order_id = address_windows.order_id
    left join customer_history on based.order_id = customer_history.order_id
    left join order_baskets on based.order_id = order_baskets.order_id
    left join first_baskets on based.order_id = first_baskets.order_id
)

select * from final
