{{ config(meta={'dagster': {'ref': {'name': 'fct_refunds'}}}) }}
-- Refunded goods value per connection and UTC refund day in the warehouse equals the raw
-- lake's, recomputed from the Parquet files: Amazon refund Principal (net of reversed
-- promotions) in Finances, Shopify
-- refund lines, Walmart refunded lines, file channels' refunded lines (latest import of each
-- line, dated by the first import showing its refunded amount since it last changed: that
-- version's updated_at, else its import time). A row is a day that differs.
{% set channels = api_channels() %}
{% set cutoff = reconcile_cutoff() %}
{% set since = 'where date >= ' ~ cutoff if cutoff else '' %}
with lake as (
    {% for channel in channels %}
    {% if channel == 'amazon' %}
    select connection as connection_name, cast(posted_at as date) as refund_date,
        -sum(amount) as refunded
    from (
        select distinct connection, event_type, amazon_order_id, order_item_id, amount_type,
            amount_name, posted_at, amount
        from {{ lake_relation('amazon', 'financial_events') }} as raw_rows {{ since }}
    )
    where event_type = 'Refund'
        and (amount_type = 'Charge' and amount_name = 'Principal' or amount_type = 'Promotion')
    group by all
    {% elif channel == 'shopify' %}
    select rl.connection as connection_name, cast(r.created_at as date) as refund_date,
        sum(rl.amount) as refunded
    from (select distinct connection, refund_id, line_item_id, amount
          from {{ lake_relation('shopify', 'refund_lines') }} as raw_rows {{ since }}) as rl
    inner join (select distinct connection, refund_id, created_at
                from {{ lake_relation('shopify', 'refunds') }} as raw_rows {{ since }}) as r
        on rl.connection = r.connection and rl.refund_id = r.refund_id
    group by all
    {% elif channel == 'walmart' %}
    select connection as connection_name,
        cast(case when status = 'Refund' then status_at else order_last_modified_at end as date)
            as refund_date,
        sum(refunded_amount) as refunded
    from (select * from {{ lake_relation('walmart', 'order_lines') }} as raw_rows {{ since }}) as l
    where refunded_amount > 0
        and order_last_modified_at = (
            select max(order_last_modified_at)
            from (select * from {{ lake_relation('walmart', 'order_lines') }} as raw_rows {{ since }}) as latest
            where latest.connection = l.connection
                and latest.purchase_order_id = l.purchase_order_id
                and latest.line_number = l.line_number
        )
    group by all
    {% endif %}
    union all
    {% endfor %}
    select connection as connection_name, cast(refund_at as date) as refund_date,
        sum(latest_amount) as refunded
    from (
        select
            connection,
            order_id,
            line_id,
            any_value(latest_amount) as latest_amount,
            min(coalesce(updated_at, _extracted_at)) filter (
                where _extracted_at > coalesce(changed_at, timestamptz '1900-01-01')
            ) as refund_at
        from (
            select
                *,
                max(_extracted_at) filter (where refunded_amount is distinct from latest_amount)
                    over (partition by connection, order_id, line_id) as changed_at
            from (
                select
                    *,
                    first_value(refunded_amount) over (
                        partition by connection, order_id, line_id order by _extracted_at desc
                    ) as latest_amount
                from (
                    select * from {{ lake_relation('files', 'order_lines') }} as raw_rows
                )
            )
        )
        group by all
    )
    where latest_amount > 0
    group by all
),

warehouse as (
    select connection_name, cast(refunded_at as date) as refund_date,
        sum(refunded_amount) as refunded
    from {{ ref('fct_refunds') }}
    group by all
)

select
    coalesce(lake.connection_name, warehouse.connection_name) as connection_name,
    coalesce(lake.refund_date, warehouse.refund_date) as refund_date,
    lake.refunded as lake_refunded,
    warehouse.refunded as warehouse_refunded
from (
    select * from lake {% if cutoff %}where refund_date >= {{ cutoff }}{% endif %}
) as lake
full outer join (
    select * from warehouse {% if cutoff %}where refund_date >= {{ cutoff }}{% endif %}
) as warehouse
    on lake.connection_name = warehouse.connection_name
    and lake.refund_date = warehouse.refund_date
where coalesce(lake.refunded, 0) is distinct from coalesce(warehouse.refunded, 0)
