"""A large simulated business written straight into the raw lake (``make bench SCALE=large``).

Not through HTTP: at 10 million order lines the sandbox emulators and the extractors would
take hours; the warehouse only needs the lake. DuckDB computes every row from a hash of its
ids (deterministic for a seed, vectorised) and writes each raw entity of each connection in
the layout and Arrow schema the extractors write (``extractors/lake.py`` ``entity_path``,
``extractors/<channel>/schemas.py``): ``date=<day>`` partitions of the entity's partition
column, plus the lake's stamp columns.

The business: a catalogue of products sold on five connections (Amazon NA and EU with five
marketplaces, two Shopify shops, Walmart US) in USD, CAD, GBP and EUR; customers who come back
(a skewed draw, so most orders are repeat orders); multi-line orders; cancellations; refunds
days after the purchase (a new version of the order, in the partition of its update day, as
the incremental extractors land them); daily ECB rates; catalogue and stock snapshots.

``write_days(root, first, last)`` writes the partitions of the update days ``first..last``;
a later call for the next day appends that day (the daily incremental), and the rows of a day
do not depend on the range it was written with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from extractors import fx
from extractors.amazon import schemas as amazon
from extractors.amazon.marketplaces import MARKETPLACES
from extractors.base import EntitySpec
from extractors.lake import entity_path
from extractors.shopify import schemas as shopify
from extractors.walmart import schemas as walmart

LINES_PER_ORDER = 1.51  # the mean of the line-count draw below
REFUND_DAYS = 25  # a refund comes at most this many days after the purchase
# connection, channel, storefront (marketplace id or the connection), currency, share of orders
STOREFRONTS = (
    ("amazon_na", "amazon", "ATVPDKIKX0DER", "USD", 0.26),
    ("amazon_na", "amazon", "A2EUQ1WTGCTBG2", "CAD", 0.04),
    ("amazon_eu", "amazon", "A1F83G8C2ARO7P", "GBP", 0.08),
    ("amazon_eu", "amazon", "A1PA6795UKMFR9", "EUR", 0.08),
    ("amazon_eu", "amazon", "A13V1IB3VIYZZH", "EUR", 0.04),
    ("shopify_us", "shopify", "shopify_us", "USD", 0.20),
    ("shopify_eu", "shopify", "shopify_eu", "EUR", 0.10),
    ("walmart_us", "walmart", "walmart_us", "USD", 0.20),
)
# units of the currency per 1 EUR (ECB convention), around which the daily rate moves
EUR_RATES = {"USD": 1.08, "CAD": 1.47, "GBP": 0.85}
PRICE_FACTOR = {"USD": 1.0, "CAD": 1.35, "GBP": 0.80, "EUR": 0.93}
API_VERSIONS = {"amazon": "orders/v0", "shopify": "2025-10", "walmart": "v3", "reference": "ecb"}


@dataclass(frozen=True)
class Shape:
    """The business's size: orders per day follow from the order lines asked for."""

    order_lines: int
    end: date = date(2026, 11, 30)  # the last day of the history (the full build's lake)
    days: int = 730
    products: int = 2_000
    seed: int = 42

    @property
    def start(self) -> date:
        return self.end - timedelta(days=self.days - 1)

    @property
    def orders_per_day(self) -> int:
        return max(1, round(self.order_lines / LINES_PER_ORDER / self.days))

    @property
    def customers(self) -> int:
        return max(10, self.orders_per_day * self.days // 3)


def duck_type(t: pa.DataType) -> str:
    """The DuckDB type that writes Parquet read back as Arrow type ``t``."""
    if pa.types.is_timestamp(t):
        return "timestamptz"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_list(t):
        return duck_type(t.value_type) + "[]"
    names = {"string": "varchar", "int64": "bigint", "bool": "boolean", "date32[day]": "date"}
    return names[str(t)]


def _rnd(*parts: str) -> str:
    """A uniform draw in [0, 1) from the hash of ``parts`` (SQL expressions) and the seed."""
    return f"(hash({', '.join(parts)}, getvariable('seed')) % 1000000) / 1000000.0"


def _storefront_case(column: str) -> str:
    """SQL CASE picking a storefront index from a uniform draw by the shares above."""
    whens, edge = [], 0.0
    for i, (*_, share) in enumerate(STOREFRONTS):
        edge += share
        whens.append(f"when {column} < {edge:.4f} then {i}")
    return f"case {' '.join(whens)} else {len(STOREFRONTS) - 1} end"


def _base_tables(con: duckdb.DuckDBPyConnection, shape: Shape, first: date, last: date) -> None:
    """Orders and lines of every purchase day whose versions can fall in ``first..last``."""
    storefronts = ", ".join(
        f"({i}, '{conn}', '{channel}', '{sf}', '{cur}', {PRICE_FACTOR[cur]})"
        for i, (conn, channel, sf, cur, _) in enumerate(STOREFRONTS)
    )
    con.execute(f"""
        create or replace table storefronts as
        select * from (values {storefronts}) as s(sf, connection, channel, storefront,
            currency, price_factor);
        create or replace table products as
        select p, printf('LRG-%05d', p) as sku,
            printf('%012d', 400000000000 + p * 7) as upc,
            printf('B0%08X', 268435456 + p * 13) as asin,
            'Product ' || p || ' ' || (['Mug', 'Lamp', 'Towel', 'Jar', 'Bowl'])[p % 5 + 1]
                as title,
            (['Kitchen', 'Home', 'Bath', 'Garden'])[p % 4 + 1] as product_type,
            round(5 + 95 * {_rnd("p", "'price'")}, 0) - 0.01 as price_usd
        from range({shape.products}) as t(p);
    """)
    start = max(shape.start, first - timedelta(days=REFUND_DAYS + 2))
    con.execute(f"""
        create or replace table orders as
        with days as (
            select d::date as day, datediff('day', date '2000-01-01', d::date) as day_no
            from range(date '{start}', date '{last}' + 1, interval 1 day) as t(d)
        ),
        seqs as (
            select day, day_no, seq
            from days, range({round(shape.orders_per_day * 1.3) + 1}) as s(seq)
            -- weekly season and noise around orders_per_day
            where seq < {shape.orders_per_day} * (0.85 + 0.3 * {_rnd("day_no", "'n'")}
                + case when dayofweek(day) in (0, 6) then 0.15 else 0 end)
        ),
        drawn as (
            select *, day_no * 1000000 + seq as o,
                {_rnd("day_no", "seq", "'sf'")} as u_sf, {_rnd("day_no", "seq", "'n'")} as u_n,
                {_rnd("day_no", "seq", "'c'")} as u_c, {_rnd("day_no", "seq", "'x'")} as u_x,
                {_rnd("day_no", "seq", "'t'")} as u_t, {_rnd("day_no", "seq", "'r'")} as u_r
            from seqs
        )
        select o, day, {_storefront_case("u_sf")} as sf,
            1 + (u_n < 0.35)::int + (u_n < 0.12)::int + (u_n < 0.04)::int as n_lines,
            floor({shape.customers} * pow(u_c, 2))::bigint as customer,
            u_x < 0.02 as is_cancelled,
            -- utc: every day's orders are purchased in it, updated (shipped) 2 hours later
            day::timestamptz + to_seconds(floor(u_t * 79000)::bigint) as purchased_at,
            day::timestamptz + to_seconds(floor(u_t * 79000)::bigint + 7200) as updated_at,
            case when u_x >= 0.02 and u_r < 0.06 then
                day::timestamptz + to_seconds(86400 * (1 + floor(u_r * 400)::bigint % {REFUND_DAYS})
                    + floor(u_t * 79000)::bigint + 3600)
            end as refunded_at
        from drawn;
        create or replace table lines as
        select o.*, s.connection, s.channel, s.storefront, s.currency, l,
            -- a skewed draw per order, its other lines a fixed stride away: no order repeats a
            -- product (Amazon merges a repeated SKU into one item; staging keys lines by SKU)
            (floor({shape.products} * pow({_rnd("o.o", "'p'")}, 1.6))::bigint
                + (l - 1) * {shape.products // 4 - 1}) % {shape.products} as p,
            1 + ({_rnd("o.o", "l", "'q'")} < 0.15)::int + ({_rnd("o.o", "l", "'q'")} < 0.05)::int
                as quantity,
            -- a refund gives back the first line of the order
            o.refunded_at is not null and l = 1 as is_refunded
        from orders as o inner join storefronts as s using (sf), range(1, o.n_lines + 1) as t(l);
        create or replace table priced as
        select lines.*, products.sku, products.upc, products.asin, products.title,
            round(products.price_usd * price_factor, 2) as unit_price,
            round(products.price_usd * price_factor, 2) * quantity as item_price,
            round(products.price_usd * price_factor * quantity * 0.08, 2) as item_tax,
            case when {_rnd("o", "l", "'d'")} < 0.1
                then round(products.price_usd * price_factor * quantity * 0.1, 2) else 0 end
                as discount
        from lines inner join products using (p) inner join storefronts using (sf);
    """)


@dataclass(frozen=True)
class Entity:
    channel: str
    spec: EntitySpec
    select: str  # SQL with every column of spec, `connection` and `part_at` (partition time)


def write_entity(
    con: duckdb.DuckDBPyConnection, root: Path, entity: Entity, first: date, last: date
) -> int:
    """COPY one entity of every connection of its channel into its ``date=`` partitions (one
    COPY: the partition folders are the hive columns connection, entity and date)."""
    columns = ", ".join(
        f"cast({f.name} as {duck_type(f.type)}) as {f.name}" for f in entity.spec.schema
    )
    channel_folder = entity_path(root, entity.channel, "-", entity.spec.name).parent.parent
    channel_folder.mkdir(parents=True, exist_ok=True)
    (rows,) = con.execute(f"""
        copy (
            select {columns}, '{entity.channel}' as _channel, connection as _connection,
                (date + 1)::timestamptz + interval 5 minute as _extracted_at,
                md5(connection || '/{entity.spec.name}/' || date) as _extraction_id,
                '{API_VERSIONS[entity.channel]}' as _api_version,
                date::timestamptz as _window_start, (date + 1)::timestamptz as _window_end,
                connection, '{entity.spec.name}' as entity, date
            from (select *, cast(part_at as date) as date from ({entity.select}))
            where date between date '{first}' and date '{last}'
        ) to '{channel_folder}' (format parquet, compression zstd,
            partition_by (connection, entity, date), filename_pattern 'part-{{i}}',
            overwrite_or_ignore)
    """).fetchone()
    return rows


def _version_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Each line and order as the lake sees it: the version of its purchase day, and a later
    version on the day a refund changed it."""
    con.execute("""
        create or replace table line_versions as
        select *, updated_at as version_at, false as is_refund_version from priced
        union all
        select *, refunded_at as version_at, true as is_refund_version from priced
        where refunded_at is not null;
        create or replace table order_versions as
        select o, version_at, is_refund_version, any_value(connection) as connection,
            any_value(storefront) as storefront, any_value(currency) as currency,
            any_value(customer) as customer, any_value(n_lines) as n_lines,
            any_value(is_cancelled) as is_cancelled, any_value(purchased_at) as purchased_at,
            any_value(refunded_at) as refunded_at, sum(item_price) as goods,
            sum(item_tax) as tax, sum(discount) as discount, sum(quantity) as units,
            sum(item_price - discount + item_tax) filter (where is_refunded) as refund_total,
            sum(item_price - discount) filter (where is_refunded) as refund_goods
        from line_versions group by o, version_at, is_refund_version;
    """)


def _amazon_entities(last: date) -> list[Entity]:
    names = ", ".join(
        f"('{m.marketplace_id}', '{m.marketplace_name}', '{m.country_code}')" for m in MARKETPLACES
    )
    market = f"(select * from (values {names}) as m(storefront, marketplace_name, country))"
    order_id = (
        "printf('%03d-%07d-%07d', 100 + o // 10000000000, o // 10000000 % 1000, o % 10000000)"
    )
    item_id = "printf('%014d', o * 10 + l)"
    fee = "round(item_price * 0.15, 2)"
    catalog = f"""select s.connection, s.storefront as marketplace_id, s.currency, p.*,
            round(p.price_usd * s.price_factor, 2) as local_price, date '{last}' as part_at
        from storefronts as s, products as p where s.channel = 'amazon'"""
    return [
        Entity(
            "amazon",
            amazon.ORDERS,
            f"""
            select {order_id} as amazon_order_id, storefront as marketplace_id, purchased_at,
                version_at as last_updated_at,
                case when is_cancelled then 'Canceled' else 'Shipped' end as order_status,
                'AFN' as fulfillment_channel, m.marketplace_name as sales_channel,
                'StandardOrder' as order_type,
                case when not is_cancelled then goods - discount + tax end as order_total_amount,
                currency as order_total_currency,
                case when is_cancelled then 0 else units end as number_of_items_shipped,
                0 as number_of_items_unshipped, 'Other' as payment_method,
                'Standard' as shipment_service_level_category, customer % 3 = 0 as is_prime,
                false as is_business_order, false as is_premium_order,
                'customer' || customer || '@example.com' as buyer_email,
                'City ' || customer % 97 as ship_city, 'ST' as ship_state,
                printf('%05d', customer % 99999) as ship_postal_code, m.country as ship_country,
                purchased_at + interval 1 day as earliest_ship_at,
                purchased_at + interval 2 day as latest_ship_at,
                connection, version_at as part_at
            from order_versions inner join {market} as m using (storefront)
            where not is_refund_version and connection like 'amazon%'""",
        ),
        Entity(
            "amazon",
            amazon.ORDER_ITEMS,
            f"""
            select {order_id} as amazon_order_id, {item_id} as order_item_id,
                version_at as order_last_updated_at, storefront as marketplace_id,
                case when is_cancelled then 'Canceled' else 'Shipped' end as order_status,
                asin, sku as seller_sku, title, quantity as quantity_ordered,
                case when is_cancelled then 0 else quantity end as quantity_shipped,
                item_price, item_tax, 0 as shipping_price, 0 as shipping_tax,
                discount as promotion_discount, currency,
                case when discount > 0 then ['PROMO-10'] else [] end as promotion_ids,
                'New' as condition_id, false as is_gift, connection, version_at as part_at
            from line_versions where not is_refund_version and channel = 'amazon'""",
        ),
        Entity(
            "amazon",
            amazon.FINANCIAL_EVENTS,
            f"""
            with events as (
                select *, 'Shipment' as event_type, updated_at as posted_at, unnest([
                    {{'t': 'Charge', 'n': 'Principal', 'a': item_price}},
                    {{'t': 'Charge', 'n': 'Tax', 'a': item_tax}},
                    {{'t': 'Fee', 'n': 'Commission', 'a': -{fee}}},
                    {{'t': 'Promotion', 'n': 'PromotionMetaDataDefinitionValue', 'a': -discount}}
                ]) as e
                from priced where channel = 'amazon' and not is_cancelled
                union all
                select *, 'Refund' as event_type, refunded_at as posted_at, unnest([
                    {{'t': 'Charge', 'n': 'Principal', 'a': -item_price}},
                    {{'t': 'Charge', 'n': 'Tax', 'a': -item_tax}},
                    {{'t': 'Fee', 'n': 'Commission', 'a': round({fee} * 0.8, 2)}},
                    {{'t': 'Promotion', 'n': 'PromotionMetaDataDefinitionValue', 'a': discount}}
                ]) as e
                from priced where channel = 'amazon' and is_refunded
            )
            select event_type, {order_id} as amazon_order_id, {item_id} as order_item_id,
                e.t as amount_type, e.n as amount_name, posted_at,
                m.marketplace_name, storefront as marketplace_id, sku as seller_sku,
                case when event_type = 'Refund' then -quantity else quantity end as quantity,
                e.a as amount, currency, connection, posted_at as part_at
            from events inner join {market} as m using (storefront)
            where e.t <> 'Promotion' or e.a <> 0""",
        ),
        Entity(
            "amazon",
            amazon.LISTINGS,
            f"""
            select marketplace_id, sku as seller_sku, asin, printf('L%09d', p) as listing_id,
                title, local_price as price, currency, 100 as quantity, 'Active' as status,
                'AMAZON_NA' as fulfillment_channel, timestamptz '2023-01-01 00:00:00+00' as open_date,
                upc as product_id, 'UPC' as product_id_type, 'New' as item_condition,
                connection, part_at
            from ({catalog})""",
        ),
        Entity(
            "amazon",
            amazon.INVENTORY_SUMMARIES,
            f"""
            select marketplace_id, sku as seller_sku, asin, printf('X%09d', p) as fn_sku,
                title as product_name, 'NewItem' as condition,
                hash(p, marketplace_id) % 300 as fulfillable_quantity, 5 as reserved_quantity,
                0 as inbound_working_quantity, 0 as inbound_shipped_quantity,
                0 as inbound_receiving_quantity, 0 as unfulfillable_quantity,
                0 as researching_quantity, hash(p, marketplace_id) % 300 + 5 as total_quantity,
                part_at::timestamptz as last_updated_at, connection, part_at
            from ({catalog})""",
        ),
    ]


def _shopify_entities(last: date) -> list[Entity]:
    gid = "'gid://shopify/{}/' || {}".format
    catalog = f"""select s.connection, s.currency, p.*,
            round(p.price_usd * s.price_factor, 2) as local_price, date '{last}' as part_at,
            timestamptz '2023-01-01 00:00:00+00' as created_at
        from storefronts as s, products as p where s.channel = 'shopify'"""
    return [
        Entity(
            "shopify",
            shopify.ORDERS,
            f"""
            select {gid("Order", "o")} as shopify_order_id, o::varchar as legacy_resource_id,
                '#' || o as name, purchased_at as created_at, version_at as updated_at,
                purchased_at as processed_at,
                case when is_cancelled then updated_at end as cancelled_at, currency,
                case when is_cancelled then 'VOIDED'
                    when is_refund_version and n_lines = 1 then 'REFUNDED'
                    when is_refund_version then 'PARTIALLY_REFUNDED' else 'PAID' end
                    as financial_status,
                case when is_cancelled then 'UNFULFILLED' else 'FULFILLED' end
                    as fulfillment_status,
                goods - discount + tax as total_price, goods - discount as subtotal_price,
                discount as total_discounts, tax as total_tax, 0 as total_shipping,
                {gid("Customer", "customer")} as customer_id,
                'customer' || customer || '@example.com' as customer_email,
                customer % 480 + 1 || ' Main Street' as ship_address1,
                'City ' || customer % 97 as ship_city, null as ship_province_code,
                printf('%05d', customer % 99999) as ship_postal_code,
                case when connection = 'shopify_eu' then 'DE' else 'US' end as ship_country,
                ship_country as billing_country, true as billing_matches_shipping,
                connection, version_at as part_at
            from order_versions where connection like 'shopify%'""",
        ),
        Entity(
            "shopify",
            shopify.ORDER_LINES,
            f"""
            select {gid("Order", "o")} as shopify_order_id, {gid("LineItem", "o * 10 + l")}
                    as line_item_id, version_at as order_updated_at, sku,
                {gid("ProductVariant", "p + 1")} as variant_id,
                {gid("Product", "p + 1")} as product_id, quantity, unit_price,
                discount as total_discount, currency, connection, version_at as part_at
            from line_versions where channel = 'shopify'""",
        ),
        Entity(
            "shopify",
            shopify.REFUNDS,
            f"""
            select {gid("Refund", "o")} as refund_id, {gid("Order", "o")} as shopify_order_id,
                version_at as order_updated_at, refunded_at as created_at,
                refund_total as amount, currency, connection, version_at as part_at
            from order_versions where is_refund_version and connection like 'shopify%'""",
        ),
        Entity(
            "shopify",
            shopify.REFUND_LINES,
            f"""
            select {gid("Refund", "o")} as refund_id, {gid("LineItem", "o * 10 + l")}
                    as line_item_id, {gid("Order", "o")} as shopify_order_id,
                version_at as order_updated_at, quantity, item_price - discount as amount,
                connection, version_at as part_at
            from line_versions where is_refund_version and is_refunded and channel = 'shopify'""",
        ),
        Entity(
            "shopify",
            shopify.PRODUCTS,
            f"""
            select {gid("Product", "p + 1")} as product_id, (p + 1)::varchar as legacy_resource_id,
                title, 'product-' || p as handle, 'ChannelHouse' as vendor, product_type,
                'ACTIVE' as status, created_at, created_at as updated_at, connection, part_at
            from ({catalog})""",
        ),
        Entity(
            "shopify",
            shopify.PRODUCT_VARIANTS,
            f"""
            select {gid("ProductVariant", "p + 1")} as variant_id,
                (p + 1)::varchar as legacy_resource_id, {gid("Product", "p + 1")} as product_id,
                sku, 'Default Title' as title, upc as barcode, local_price as price, currency,
                {gid("InventoryItem", "p + 1")} as inventory_item_id, created_at,
                created_at as updated_at, connection, part_at
            from ({catalog})""",
        ),
        Entity(
            "shopify",
            shopify.INVENTORY_LEVELS,
            f"""
            select {gid("InventoryItem", "p + 1")} as inventory_item_id,
                {gid("Location", "1")} as location_id, {gid("ProductVariant", "p + 1")}
                    as variant_id, sku, 'Warehouse' as location_name,
                hash(p, connection) % 300 as available, hash(p, connection) % 300 + 4 as on_hand,
                4 as committed, 0 as incoming, 0 as reserved,
                part_at::timestamptz as updated_at, connection, part_at
            from ({catalog})""",
        ),
    ]


def _walmart_entities(last: date) -> list[Entity]:
    catalog = f"""select p.*, date '{last}' as part_at, 'walmart_us' as connection
        from products as p"""
    return [
        Entity(
            "walmart",
            walmart.ORDERS,
            """
            select o::varchar as purchase_order_id, (o + 7)::varchar as customer_order_id,
                purchased_at as order_date_at, version_at as last_modified_at,
                'customer' || customer || '@example.com' as customer_email,
                'REGULAR' as order_type, 'SellerFulfilled' as ship_node_type,
                '1001' as ship_node_id, 'Main DC' as ship_node_name,
                goods - discount + tax as order_total, currency,
                'Standard' as ship_method_code, 'AR' as ship_to_state,
                printf('%05d', customer % 99999) as ship_to_postal_code,
                'USA' as ship_to_country, purchased_at + interval 1 day as estimated_ship_at,
                purchased_at + interval 4 day as estimated_delivery_at, n_lines as line_count,
                connection, version_at as part_at
            from order_versions where connection = 'walmart_us'""",
        ),
        Entity(
            "walmart",
            walmart.ORDER_LINES,
            """
            select o::varchar as purchase_order_id, l::varchar as line_number,
                version_at as order_last_modified_at, purchased_at as order_date_at, sku,
                title as product_name, quantity,
                case when is_cancelled then 'Cancelled' else 'Delivered' end as status,
                updated_at as status_at, item_price, item_tax, discount, 0 as shipping_price,
                0 as shipping_tax,
                case when is_refund_version and is_refunded then quantity end
                    as refunded_quantity,
                case when is_refund_version and is_refunded then item_price - discount end
                    as refunded_amount,
                case when is_refund_version and is_refunded then item_tax end as refunded_tax,
                case when is_refund_version and is_refunded then 'R' || o end as refund_id,
                case when is_refund_version and is_refunded then 'Damaged item' end
                    as refund_reason,
                currency, case when not is_cancelled then updated_at end as shipped_at,
                'UPS' as carrier, printf('1Z%012d', o) as tracking_number,
                'STANDARD' as ship_method, 'S2H' as fulfillment_option,
                connection, version_at as part_at
            from line_versions where channel = 'walmart'""",
        ),
        Entity(
            "walmart",
            walmart.ITEMS,
            f"""
            select sku, printf('W%011d', p) as wpid, upc, '00' || upc as gtin,
                title as product_name, '["' || product_type || '"]' as shelf, product_type,
                price_usd as price, 'USD' as currency, 'PUBLISHED' as published_status,
                'ACTIVE' as lifecycle_status, null as unpublished_reasons,
                'WALMART_US' as mart, connection, part_at
            from ({catalog})""",
        ),
        Entity(
            "walmart",
            walmart.INVENTORY,
            f"""
            select sku, '1001' as ship_node, hash(p, 'w') % 300 + 3 as input_qty,
                hash(p, 'w') % 300 as avail_to_sell_qty, 3 as reserved_qty, connection, part_at
            from ({catalog})""",
        ),
    ]


def _fx_entity(shape: Shape, last: date) -> Entity:
    """The ECB feed as fetched on ``last``: every working day's rates since before the start."""
    rates = " union all ".join(
        f"select '{cur}' as currency, {rate} as base" for cur, rate in EUR_RATES.items()
    )
    return Entity(
        fx.CHANNEL,
        fx.FX_RATES,
        f"""
        select d::date as rate_date, currency,
            round(base * (1 + 0.03 * sin(datediff('day', date '2000-01-01', d::date) / 40.0)), 6)
                as rate_per_eur,
            'ecb' as source, 'ecb' as connection, date '{last}' as part_at
        from range(date '{shape.start - timedelta(days=30)}', date '{last}' + 1, interval 1 day)
            as t(d), ({rates})
        where dayofweek(d) not in (0, 6)""",
    )


def write_days(root: Path, shape: Shape, first: date, last: date) -> dict[str, int]:
    """Write every entity's partitions of the update days ``first..last`` (the catalogue,
    stock and rates snapshots on ``last``); rows per entity."""
    # a scratch database file beside the lake, so the working tables spill to disk instead of
    # holding every order line in memory (10M lines: ~10 GB in an in-memory database)
    Path(root).mkdir(parents=True, exist_ok=True)
    scratch = Path(root) / ".large_lake.duckdb"
    con = duckdb.connect(str(scratch))
    con.execute(
        "set TimeZone = 'UTC'; set memory_limit = '3GB'; set preserve_insertion_order = false"
    )
    con.execute(f"set variable seed = {shape.seed}")
    _base_tables(con, shape, first, last)
    _version_tables(con)
    entities = [
        *_amazon_entities(last),
        *_shopify_entities(last),
        *_walmart_entities(last),
        _fx_entity(shape, last),
    ]
    counts = {}
    for entity in entities:
        counts[f"{entity.channel}.{entity.spec.name}"] = write_entity(
            con, root, entity, first, last
        )
    con.close()
    scratch.unlink()
    return counts
