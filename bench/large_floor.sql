-- The floor of `make bench SCALE=large`: analytics.daily_sales and customer_rfm computed by
set enable_progress_bar = false;
-- hand from the raw Parquet lake in one DuckDB script, with the marts' definitions (latest
-- version of every order and line, cancelled orders apart, refunds on their own day, amounts
-- in USD through the ECB's EUR rates, local days in the reporting time zone, RFM quintiles by
-- rank). {lake} is the lake's raw folder, {tz} the reporting time zone.
set TimeZone = 'UTC';
create or replace temp table fx as
with latest as (
    select * from read_parquet('{lake}/channel=reference/*/entity=fx_rates/*/*.parquet',
        hive_partitioning = true)
    qualify date = max(date) over ()
)
select c.rate_date, c.currency, u.rate_per_eur / c.rate_per_eur as to_usd
from (select rate_date, currency, rate_per_eur from latest
      union all select distinct rate_date, 'EUR', 1 from latest) as c
inner join latest as u on u.rate_date = c.rate_date and u.currency = 'USD';

create or replace temp table lines as
with amazon_orders as (
    select amazon_order_id as order_id, connection, purchased_at, order_status = 'Canceled' as is_cancelled,
        lower(buyer_email) as customer
    from read_parquet('{lake}/channel=amazon/*/entity=orders/*/*.parquet', hive_partitioning = true)
    qualify row_number() over (partition by connection, amazon_order_id order by last_updated_at desc, _extracted_at desc) = 1
),
amazon_lines as (
    select amazon_order_id as order_id, connection, marketplace_id as storefront, seller_sku as sku,
        quantity_ordered as quantity, item_price as gross, promotion_discount as discount, currency
    from read_parquet('{lake}/channel=amazon/*/entity=order_items/*/*.parquet', hive_partitioning = true)
    qualify row_number() over (partition by connection, amazon_order_id, order_item_id order by order_last_updated_at desc, _extracted_at desc) = 1
),
shopify_orders as (
    select shopify_order_id as order_id, connection, created_at as purchased_at, cancelled_at is not null as is_cancelled,
        lower(customer_email) as customer
    from read_parquet('{lake}/channel=shopify/*/entity=orders/*/*.parquet', hive_partitioning = true)
    qualify row_number() over (partition by connection, shopify_order_id order by updated_at desc, _extracted_at desc) = 1
),
shopify_lines as (
    select shopify_order_id as order_id, connection, connection as storefront, sku, quantity,
        unit_price * quantity as gross, total_discount as discount, currency
    from read_parquet('{lake}/channel=shopify/*/entity=order_lines/*/*.parquet', hive_partitioning = true)
    qualify row_number() over (partition by connection, shopify_order_id, line_item_id order by order_updated_at desc, _extracted_at desc) = 1
),
walmart_orders as (
    select purchase_order_id as order_id, connection, order_date_at as purchased_at, false as is_cancelled,
        lower(customer_email) as customer
    from read_parquet('{lake}/channel=walmart/*/entity=orders/*/*.parquet', hive_partitioning = true)
    qualify row_number() over (partition by connection, purchase_order_id order by last_modified_at desc, _extracted_at desc) = 1
),
walmart_lines as (
    select purchase_order_id as order_id, connection, connection as storefront, sku, quantity,
        item_price as gross, discount, currency, status = 'Cancelled' as line_cancelled
    from read_parquet('{lake}/channel=walmart/*/entity=order_lines/*/*.parquet', hive_partitioning = true)
    qualify row_number() over (partition by connection, purchase_order_id, line_number order by order_last_modified_at desc, _extracted_at desc) = 1
)
select 'amazon' as channel, * from amazon_lines inner join amazon_orders using (connection, order_id)
union all by name
select 'shopify' as channel, * from shopify_lines inner join shopify_orders using (connection, order_id)
union all by name
select 'walmart' as channel, * exclude (is_cancelled, line_cancelled), line_cancelled as is_cancelled
from walmart_lines inner join walmart_orders using (connection, order_id);

create or replace temp table refunds as
select 'amazon' as channel, connection, marketplace_id as storefront, seller_sku as sku, amazon_order_id as order_id,
    posted_at as refunded_at, -sum(amount) filter (where amount_name = 'Principal' or amount_type = 'Promotion') as refunded,
    max(abs(quantity)) filter (where amount_name = 'Principal') as quantity, any_value(currency) as currency
from read_parquet('{lake}/channel=amazon/*/entity=financial_events/*/*.parquet', hive_partitioning = true)
where event_type = 'Refund' and amount_type in ('Charge', 'Promotion')
group by connection, marketplace_id, seller_sku, amazon_order_id, order_item_id, posted_at
union all
select 'shopify', rl.connection, rl.connection, l.sku, rl.shopify_order_id, r.created_at, rl.amount, rl.quantity, r.currency
from (select * from read_parquet('{lake}/channel=shopify/*/entity=refund_lines/*/*.parquet', hive_partitioning = true)
      qualify row_number() over (partition by connection, refund_id, line_item_id order by order_updated_at desc) = 1) as rl
inner join (select * from read_parquet('{lake}/channel=shopify/*/entity=refunds/*/*.parquet', hive_partitioning = true)
      qualify row_number() over (partition by connection, refund_id order by order_updated_at desc) = 1) as r
    using (connection, refund_id)
left join (select distinct connection, line_item_id, sku from read_parquet('{lake}/channel=shopify/*/entity=order_lines/*/*.parquet', hive_partitioning = true)) as l
    using (connection, line_item_id)
union all
select 'walmart', connection, connection, sku, purchase_order_id, order_last_modified_at, refunded_amount, refunded_quantity, currency
from read_parquet('{lake}/channel=walmart/*/entity=order_lines/*/*.parquet', hive_partitioning = true)
where refunded_amount > 0
qualify row_number() over (partition by connection, purchase_order_id, line_number order by order_last_modified_at desc) = 1;

create or replace temp table floor_daily_sales as
with sales as (
    select cast(timezone('{tz}', purchased_at) as date) as sales_date, channel, connection, storefront, sku,
        count(distinct order_id) filter (where not is_cancelled) as orders,
        count(distinct order_id) filter (where is_cancelled) as cancelled_orders,
        sum(quantity) filter (where not is_cancelled) as units,
        sum(gross * to_usd) filter (where not is_cancelled) as gross_revenue_base,
        sum(discount * to_usd) filter (where not is_cancelled) as discounts_base,
        0 as refunded_units, 0 as refunds_base
    from lines asof left join fx on lines.currency = fx.currency and cast(lines.purchased_at as date) >= fx.rate_date
    group by all
),
refunded as (
    select cast(timezone('{tz}', refunded_at) as date) as sales_date, channel, connection, storefront, sku,
        0 as orders, 0 as cancelled_orders, 0 as units, 0 as gross_revenue_base, 0 as discounts_base,
        sum(quantity) as refunded_units, sum(refunded * to_usd) as refunds_base
    from refunds asof left join fx on refunds.currency = fx.currency and cast(refunds.refunded_at as date) >= fx.rate_date
    group by all
)
select sales_date, channel, connection, storefront, sku, sum(orders) as orders, sum(units) as units,
    sum(cancelled_orders) as cancelled_orders, round(sum(gross_revenue_base), 4) as gross_revenue_base,
    round(sum(discounts_base), 4) as discounts_base, round(sum(refunds_base), 4) as refunds_base,
    sum(refunded_units) as refunded_units,
    round(sum(gross_revenue_base) - sum(discounts_base) - sum(refunds_base), 4) as net_revenue_base
from (select * from sales union all by name select * from refunded)
group by all;

create or replace temp table floor_customer_rfm as
with orders as (
    select customer, order_id, any_value(channel) as channel,
        any_value(cast(timezone('{tz}', purchased_at) as date)) as ordered_date,
        sum((gross - discount) * to_usd) as net
    from lines asof left join fx on lines.currency = fx.currency and cast(lines.purchased_at as date) >= fx.rate_date
    where not is_cancelled and customer is not null
    group by customer, order_id
),
refunded as (
    select order_id, sum(refunded * to_usd) as refunded
    from refunds asof left join fx on refunds.currency = fx.currency and cast(refunds.refunded_at as date) >= fx.rate_date
    group by order_id
),
per_customer as (
    select customer, min(ordered_date) as first_order_date, max(ordered_date) as last_order_date,
        count(*) as order_count, count(distinct ordered_date) as frequency,
        round(sum(net - coalesce(refunded, 0)), 4) as monetary_base,
        array_to_string(list_sort(list_distinct(list(channel))), ',') as channels
    from orders left join refunded using (order_id)
    group by customer
),
scored as (
    select *, (select max(last_order_date) from per_customer) as analysis_date,
        least(5, 1 + (5 * (rank() over (order by last_order_date) - 1)) // greatest(count(*) over () - 1, 1)) as r_score,
        least(5, 1 + (5 * (rank() over (order by frequency) - 1)) // greatest(count(*) over () - 1, 1)) as f_score,
        least(5, 1 + (5 * (rank() over (order by monetary_base) - 1)) // greatest(count(*) over () - 1, 1)) as m_score
    from per_customer
)
select *, analysis_date - last_order_date as recency_days, (f_score + m_score + 1) // 2 as fm_score,
    case when r_score >= 4 and (f_score + m_score + 1) // 2 >= 4 then 'champions'
        when r_score <= 2 and (f_score + m_score + 1) // 2 >= 3 then 'at_risk'
        when (f_score + m_score + 1) // 2 >= 3 then 'loyal' else 'other' end as rfm_segment
from scored;
