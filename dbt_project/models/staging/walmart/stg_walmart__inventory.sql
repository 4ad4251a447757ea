{{ config(unique_key=['connection_name', 'snapshot_date', 'sku', 'ship_node']) }}

with source as (
    {{ lake_source('walmart', 'inventory') }}
),

renamed as (
    select
        {{ lake_columns() }},
        cast(date as date) as snapshot_date,
        sku,
        ship_node,
        input_qty,
        avail_to_sell_qty,
        reserved_qty
    from source
)

select * from renamed
{{ keep_latest_per_snapshot(['sku', 'ship_node']) }}
