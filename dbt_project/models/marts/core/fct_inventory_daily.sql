-- Stock per day, product and location, from the daily inventory snapshots the lake keeps
-- (history stays even when a channel no longer reports old data). A snapshot holds until
-- the connection's next snapshot; days between snapshots carry it (is_snapshot_day false).
-- A listing missing from a later snapshot has no row from that snapshot on.
with snapshots as (
    select * from {{ ref('int_inventory_snapshots_unioned') }}
),

snapshot_days as (
    select
        connection_name,
        snapshot_date,
        coalesce(
            lead(snapshot_date) over (partition by connection_name order by snapshot_date)
                - interval 1 day,
            snapshot_date
        ) as valid_through
    from (select distinct connection_name, snapshot_date from snapshots)
),

products as (
    select listing_id, product_sku as product_id from {{ ref('int_listings_matched') }}
),

expanded as (
    select
        cast(day.generate_series as date) as inventory_date,
        snapshots.*
    from snapshots
    inner join snapshot_days using (connection_name, snapshot_date)
    cross join generate_series(
        snapshots.snapshot_date, snapshot_days.valid_through, interval 1 day
    ) as day
)

select
    expanded.inventory_date || ':' || expanded.connection_name || ':' || expanded.location_id
        || ':' || coalesce(products.product_id, expanded.listing_id) as inventory_day_id,
    expanded.inventory_date,
    coalesce(products.product_id, 'unmatched:' || expanded.listing_id) as product_id,
    expanded.channel,
    expanded.connection_name,
    expanded.location_id,
    any_value(expanded.location_name) as location_name,
    any_value(expanded.location_type) as location_type,
    count(*) as listing_count,
    cast(sum(expanded.available_quantity) as bigint) as available_quantity,
    cast(sum(expanded.reserved_quantity) as bigint) as reserved_quantity,
    cast(sum(expanded.inbound_quantity) as bigint) as inbound_quantity,
    cast(sum(expanded.on_hand_quantity) as bigint) as on_hand_quantity,
    max(expanded.snapshot_date) as snapshot_date,
    bool_or(expanded.snapshot_date = expanded.inventory_date) as is_snapshot_day
from expanded
left join products on expanded.listing_id = products.listing_id
group by 1, 2, 3, 4, 5, 6
