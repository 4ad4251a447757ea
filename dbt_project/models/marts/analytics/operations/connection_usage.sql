-- API usage per connection and UTC day (the day a run started), with the connection's limits
-- (var connection_limits, from channelhouse.yml `connections: [..] limits:`).
{%- set limits = var('connection_limits') %}

with runs as (
    select * from {{ ref('stg_usage__stream_runs') }}
),

limits as (
    {%- if limits %}
    select * from (values
        {%- for name, limit in limits.items() %}
        ('{{ name }}', cast({{ limit.get('requests_per_day') or 'null' }} as bigint),
            cast({{ limit.get('rows_per_month') or 'null' }} as bigint)){{ ',' if not loop.last }}
        {%- endfor %}
    ) as l (connection_name, requests_per_day, rows_per_month)
    {%- else %}
    select
        cast(null as varchar) as connection_name,
        cast(null as bigint) as requests_per_day,
        cast(null as bigint) as rows_per_month
    where false
    {%- endif %}
),

daily as (
    select
        connection_name,
        lake_partition_date as usage_date,
        any_value(channel) as channel,
        count(*) as runs,
        count(*) filter (where outcome = 'failed') as failed_runs,
        count(*) filter (where outcome = 'limit_reached') as limit_stops,
        cast(sum(requests) as bigint) as requests,
        cast(sum(throttled) as bigint) as throttled,
        cast(sum(retries) as bigint) as retries,
        cast(sum(token_refreshes) as bigint) as token_refreshes,
        cast(sum(bytes_received) as bigint) as bytes_received,
        cast(sum(reports_requested) as bigint) as reports_requested,
        cast(sum(rows_landed) as bigint) as rows_landed,
        cast(sum(bytes_landed) as bigint) as bytes_landed,
        cast(sum(quarantined) as bigint) as quarantined,
        round(sum(seconds), 3) as run_seconds,
        round(sum(wait_seconds), 3) as wait_seconds
    from runs
    group by connection_name, lake_partition_date
)

select
    daily.connection_name || ':' || strftime(daily.usage_date, '%Y-%m-%d') as connection_usage_id,
    daily.*,
    cast(sum(daily.rows_landed) over (
        partition by daily.connection_name, date_trunc('month', daily.usage_date)
        order by daily.usage_date
    ) as bigint) as rows_month_to_date,
    limits.requests_per_day as requests_per_day_limit,
    round(daily.requests / limits.requests_per_day, 4) as requests_share_of_limit,
    limits.rows_per_month as rows_per_month_limit,
    round(
        sum(daily.rows_landed) over (
            partition by daily.connection_name, date_trunc('month', daily.usage_date)
            order by daily.usage_date
        ) / limits.rows_per_month,
        4
    ) as rows_share_of_limit
from daily
left join limits on limits.connection_name = daily.connection_name
