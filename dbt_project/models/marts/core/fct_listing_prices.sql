-- Price history per listing as slowly changing dimension type 2: one row per run of days a
-- listing kept the same price and currency, valid_from inclusive, valid_to exclusive (NULL
-- while current). Built from the daily catalog snapshots, so it starts with the first sync.
with snapshots as (
    select * from {{ ref('int_listing_price_snapshots') }}
),

changes as (
    select
        *,
        coalesce(
            price is distinct from lag(price) over listing
            or currency is distinct from lag(currency) over listing,
            true
        ) as is_change
    from snapshots
    window listing as (partition by listing_id order by snapshot_date)
),

versions as (
    select
        *,
        cast(sum(case when is_change then 1 else 0 end) over (
            partition by listing_id order by snapshot_date
        ) as bigint) as version_number
    from changes
),

collapsed as (
    select
        listing_id,
        version_number,
        any_value(channel) as channel,
        any_value(connection_name) as connection_name,
        any_value(price) as price,
        any_value(currency) as currency,
        arg_max(listing_status, snapshot_date) as listing_status,
        min(snapshot_date) as valid_from,
        max(snapshot_date) as last_seen_date
    from versions
    group by listing_id, version_number
),

products as (
    select listing_id, product_sku as product_id from {{ ref('int_listings_matched') }}
)

select
    collapsed.listing_id || ':' || collapsed.version_number as listing_price_id,
    collapsed.listing_id,
    products.product_id,
    collapsed.channel,
    collapsed.connection_name,
    collapsed.version_number,
    collapsed.price,
    collapsed.currency,
    collapsed.listing_status,
    collapsed.valid_from,
    lead(collapsed.valid_from) over (
        partition by collapsed.listing_id order by collapsed.version_number
    ) as valid_to,
    collapsed.last_seen_date,
    lead(collapsed.valid_from) over (
        partition by collapsed.listing_id order by collapsed.version_number
    ) is null as is_current
from collapsed
left join products on collapsed.listing_id = products.listing_id
