-- Price and availability events, from the listing price history (fct_listing_prices, SCD2)
-- and the daily stock (fct_inventory_daily):
--   price_drop     a listing's new price is below its previous one (same currency); with the
--                  lowest price in effect in the 30 days before and whether the new price
--                  beats it (is_lowest_price_30d)
--   new_listing    a listing's first price, unless it is on its connection's first snapshot
--                  day (the first sync finds every listing: they are not new)
--   back_in_stock  a product's available units on a connection (all locations) are above 0
--                  after a day at 0
with prices as (
    select * from {{ ref('fct_listing_prices') }}
),

first_days as (
    select connection_name, min(valid_from) as first_snapshot_date
    from prices
    group by connection_name
),

changes as (
    select
        *,
        lag(price) over listing as previous_price,
        lag(currency) over listing as previous_currency
    from prices
    window listing as (partition by listing_id order by version_number)
),

drops as (
    select
        changes.*,
        (
            select min(earlier.price)
            from prices as earlier
            where earlier.listing_id = changes.listing_id
                and earlier.currency = changes.currency
                and earlier.valid_from < changes.valid_from
                and coalesce(earlier.valid_to, changes.valid_from) > changes.valid_from - 30
        ) as lowest_price_30d
    from changes
    where changes.previous_currency = changes.currency and changes.price < changes.previous_price
),

stock as (
    select
        inventory_date,
        channel,
        connection_name,
        product_id,
        cast(sum(available_quantity) as bigint) as available_quantity
    from {{ ref('fct_inventory_daily') }}
    group by all
),

stock_changes as (
    select
        *,
        lag(available_quantity) over (
            partition by connection_name, product_id order by inventory_date
        ) as previous_quantity,
        lag(inventory_date) over (
            partition by connection_name, product_id order by inventory_date
        ) as previous_date
    from stock
),

events as (
    select
        'price_drop' as event_type,
        valid_from as event_date,
        channel,
        connection_name,
        listing_id,
        product_id,
        previous_price,
        price,
        currency,
        cast(price / previous_price - 1 as double) as price_change_pct,
        lowest_price_30d,
        lowest_price_30d is null or price < lowest_price_30d as is_lowest_price_30d,
        cast(null as bigint) as available_quantity
    from drops
    union all
    select
        'new_listing',
        prices.valid_from,
        prices.channel,
        prices.connection_name,
        prices.listing_id,
        prices.product_id,
        null,
        prices.price,
        prices.currency,
        null,
        null,
        null,
        null
    from prices
    inner join first_days using (connection_name)
    where prices.version_number = 1 and prices.valid_from > first_days.first_snapshot_date
    union all
    select
        'back_in_stock',
        inventory_date,
        channel,
        connection_name,
        null,
        product_id,
        null,
        null,
        null,
        null,
        null,
        null,
        available_quantity
    from stock_changes
    where available_quantity > 0 and previous_quantity <= 0
        and previous_date = inventory_date - 1
)

select
    md5(
        event_type || '|' || connection_name || '|' || coalesce(listing_id, product_id) || '|'
        || cast(event_date as varchar)
    ) as price_and_stock_event_id,
    event_type,
    event_date,
    channel,
    connection_name,
    listing_id,
    product_id,
    previous_price,
    price,
    currency,
    price_change_pct,
    lowest_price_30d,
    is_lowest_price_30d,
    available_quantity
from events
