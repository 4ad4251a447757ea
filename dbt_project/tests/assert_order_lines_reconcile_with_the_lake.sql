{{ config(meta={'dagster': {'ref': {'name': 'fct_order_lines'}}}) }}
-- Orders, lines, units and gross revenue per connection, storefront and UTC purchase day in
-- the warehouse equal the raw lake's, recomputed here straight from the Parquet files
-- (latest version of each record) without any warehouse model. A row is a day that differs.
-- With CHANNELHOUSE_RECONCILE_DAYS set only the last N days are compared (macros/staging.sql). File
-- channels: the latest import of each line (all imports are read: they are few files), lines
-- dated by their order's earliest ordered_at.
{% set channels = api_channels() %}
{% set cutoff = reconcile_cutoff() %}
{% set since = 'where date >= ' ~ cutoff if cutoff else '' %}
with lake as (
    {% for channel in channels %}
    {% if channel == 'amazon' %}
    select
        o.connection as connection_name,
        o.marketplace_id as storefront_id,
        cast(o.purchased_at as date) as purchase_date,
        count(distinct o.amazon_order_id) as orders,
        count(i.seller_sku) as lines,
        coalesce(sum(i.quantity_ordered), 0) as units,
        coalesce(sum(i.item_price), 0) as gross
    from (
        select * from {{ lake_relation('amazon', 'orders') }} as raw_rows {{ since }}
        qualify last_updated_at = max(last_updated_at) over (partition by connection, amazon_order_id)
    ) as o
    left join (select * from {{ lake_relation('amazon', 'order_items') }} as raw_rows {{ since }}) as i
        on o.connection = i.connection
        and o.amazon_order_id = i.amazon_order_id
        and o.last_updated_at = i.order_last_updated_at
    group by all
    {% elif channel == 'shopify' %}
    select
        o.connection as connection_name,
        o.connection as storefront_id,
        cast(o.created_at as date) as purchase_date,
        count(distinct o.shopify_order_id) as orders,
        count(l.line_item_id) as lines,
        coalesce(sum(l.quantity), 0) as units,
        coalesce(sum(l.unit_price * l.quantity), 0) as gross
    from (
        select * from {{ lake_relation('shopify', 'orders') }} as raw_rows {{ since }}
        qualify updated_at = max(updated_at) over (partition by connection, shopify_order_id)
    ) as o
    left join (select * from {{ lake_relation('shopify', 'order_lines') }} as raw_rows {{ since }}) as l
        on o.connection = l.connection
        and o.shopify_order_id = l.shopify_order_id
        and o.updated_at = l.order_updated_at
    group by all
    {% elif channel == 'walmart' %}
    select
        o.connection as connection_name,
        o.connection as storefront_id,
        cast(o.order_date_at as date) as purchase_date,
        count(distinct o.purchase_order_id) as orders,
        count(l.line_number) as lines,
        coalesce(sum(l.quantity), 0) as units,
        coalesce(sum(l.item_price), 0) as gross
    from (
        select * from {{ lake_relation('walmart', 'orders') }} as raw_rows {{ since }}
        qualify last_modified_at = max(last_modified_at) over (partition by connection, purchase_order_id)
    ) as o
    left join (select * from {{ lake_relation('walmart', 'order_lines') }} as raw_rows {{ since }}) as l
        on o.connection = l.connection
        and o.purchase_order_id = l.purchase_order_id
        and o.last_modified_at = l.order_last_modified_at
    group by all
    {% endif %}
    union all
    {% endfor %}
    select connection_name, storefront_id, purchase_date, count(distinct order_id) as orders,
        count(*) as lines, coalesce(sum(quantity), 0) as units, coalesce(sum(gross_amount), 0) as gross
    from (
        select
            connection as connection_name,
            storefront_id,
            cast(min(ordered_at) over (partition by connection, order_id) as date) as purchase_date,
            order_id,
            quantity,
            gross_amount
        from (
            select * from (
                select * from {{ lake_relation('files', 'order_lines') }} as raw_rows
            )
            qualify row_number() over (
                partition by connection, order_id, line_id order by _extracted_at desc
            ) = 1
        )
    )
    group by all
),

warehouse as (
    select
        connection_name,
        storefront_id,
        cast(ordered_at as date) as purchase_date,
        count(distinct order_id) as orders,
        count(*) as lines,
        sum(quantity) as units,
        sum(gross_amount) as gross
    from {{ ref('fct_order_lines') }}
    group by all
),

lake_days as (
    select * from lake
    {% if cutoff %}where purchase_date >= {{ cutoff }}{% endif %}
),

warehouse_days as (
    select * from warehouse
    {% if cutoff %}where purchase_date >= {{ cutoff }}{% endif %}
),

orders_mart as (
    select connection_name, storefront_id, cast(ordered_at as date) as purchase_date,
        count(*) as orders
    from {{ ref('fct_orders') }}
    group by all
)

select
    coalesce(lake.connection_name, warehouse.connection_name) as connection_name,
    coalesce(lake.storefront_id, warehouse.storefront_id) as storefront_id,
    coalesce(lake.purchase_date, warehouse.purchase_date) as purchase_date,
    lake.orders as lake_orders,
    orders_mart.orders as warehouse_orders,
    lake.lines as lake_lines,
    warehouse.lines as warehouse_lines,
    lake.units as lake_units,
    warehouse.units as warehouse_units,
    lake.gross as lake_gross,
    warehouse.gross as warehouse_gross
from lake_days as lake
full outer join warehouse_days as warehouse
    on lake.connection_name = warehouse.connection_name
    and lake.storefront_id = warehouse.storefront_id
    and lake.purchase_date = warehouse.purchase_date
left join orders_mart
    on orders_mart.connection_name = coalesce(lake.connection_name, warehouse.connection_name)
    and orders_mart.storefront_id = coalesce(lake.storefront_id, warehouse.storefront_id)
    and orders_mart.purchase_date = coalesce(lake.purchase_date, warehouse.purchase_date)
where lake.orders is distinct from orders_mart.orders
    or coalesce(lake.lines, 0) is distinct from coalesce(warehouse.lines, 0)
    or coalesce(lake.units, 0) is distinct from coalesce(warehouse.units, 0)
    or coalesce(lake.gross, 0) is distinct from coalesce(warehouse.gross, 0)
