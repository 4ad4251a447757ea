"""The inbox: order exports, storefront events and reference data you drop in as files.

Channels without an API connection (a marketplace that only offers downloads, a point of
sale, a wholesale spreadsheet), storefront clickstream exports, product costs, SKU matches and
exchange rates reach the warehouse as files put into ``<data dir>/inbox/``::

    inbox/
      orders/<channel>/        order-line exports of one channel; the folder name is the channel
                               (e.g. orders/etsy/), plus a mapping.yml unless the files are
                               Amazon "All Orders" reports or Shopify order exports
      events/<source>/         storefront events (NDJSON or CSV), plus a mapping.yml
      reviews/<storefront>/    product reviews: Judge.me, Yotpo or Shopify Product Reviews CSV
                               exports, or any review file (e.g. Amazon's) with a mapping.yml
      product_costs/           unit costs per SKU (CSV)
      sku_mappings/            listing SKU -> product SKU matches (CSV)
      fx_rates/                exchange rates in the ECB layout (CSV)
      archive/                 every imported file, moved here:
                               archive/<kind>/[<folder>/]<UTC time>__<file name>
      quarantine/              files that could not be imported, each with <file name>.reason.txt

Folder names are lower-case letters, digits and ``_``, starting with a letter (they become
channel names in SQL). An ``orders/`` folder must not be
named like an API connection of channelhouse.yml (``orders/shopify_us/`` is refused): files and
API data would be mixed up. Files being written are left alone until they are complete: names
ending in ``.part``, ``.tmp``, ``.crdownload``..., hidden files (``.name``), and files changed
in the last 2 seconds. Files in deeper sub-folders are not read.

**What happens to a file.** It is read and checked; its usable rows land in the lake as one
Parquet part (``raw/channel=files/connection=<folder>/entity=<entity>/date=<import day>/
part-<first 16 hex digits of the file's SHA-256>.parquet``; ``connection=inbox`` for the
folder-less kinds; exchange rates go to ``raw/channel=reference/connection=inbox/``), then the
file moves to ``archive/``. Every row remembers its file (``_source_file``, the archived path)
and row (``_source_row``, 1-based data row; the line for NDJSON). Dropping the same file again
rewrites the same part: nothing is counted twice. A row that cannot be used (a date that is not
a date, a quantity that is not a whole number, no SKU...) is kept out and stored in the lake's
``quarantine/`` area with a reason naming the file, row and column; the rest of the file is
imported. A file that cannot be used at all (no mapping.yml, a mapped column missing, not
readable as CSV/JSON, no usable row) moves to ``quarantine/`` with a ``.reason.txt`` saying what
is wrong and what to change; put it back into its folder once fixed.

**Orders with a mapping.yml** (``orders/<channel>/mapping.yml``)::

    format: csv                  # csv | tsv | parquet; default from the name (.csv, .tsv/.txt, .parquet; .gz ok)
    delimiter: ";"               # csv/tsv: one character or 'tab' (default ',' for csv, tab for tsv)
    encoding: utf-8              # e.g. cp1252 for older Excel exports
    header_row: 1                # line of the header; lines above it are skipped
    decimal_comma: true          # numbers written 12,50 (default false: 12.50)
    thousands_separator: "."     # optional: ',' '.' ' ' or "'" between thousands
    timestamp_format: "%d.%m.%Y %H:%M"   # iso (default) | epoch_s | epoch_ms | a strftime pattern
    timezone: Europe/Berlin      # IANA zone of times without an offset (default UTC)
    currency: EUR                # fixed currency, or map a currency column (the column wins)
    storefront_id: my-shop       # optional; default: the folder name
    cancelled_statuses: [Canceled, Cancelled]   # status values that mean "cancelled"
    columns:                     # <field>: <the file's column header>
      order_id: Order ID         # required
      line_id: Transaction ID    # optional; default: position of the line within its order
      ordered_at: Sale Date      # required
      sku: SKU                   # required
      quantity: Quantity         # required, a whole number >= 0
      unit_price: Price          # unit_price or line_revenue is required
      line_revenue: Item Total
      discount: Discount Amount  # optional amounts, 0 when not mapped or empty
      shipping: Shipping
      tax: Sales Tax
      refunded_amount: Refunded
      status: Status
      customer_id: Buyer ID      # optional texts
      customer_email: Email
      product_name: Item Name
      gtin: Barcode
      channel_item_id: Listing ID
      updated_at: Last Modified  # optional times, same format as ordered_at
      shipped_at: Date Shipped
      currency: Currency
      storefront_id: Shop
      fulfillment_type: Fulfilment

Column headers are matched exactly, else ignoring case, spaces, ``_`` and ``-``. The goods
value of a line before discounts (``gross_amount``) is ``unit_price x quantity`` when
``unit_price`` is mapped, otherwise ``line_revenue + discount`` (``line_revenue`` is the line's
value after its discount); ``unit_price`` is then ``gross_amount / quantity`` (rounded to 4
decimals). Amounts exclude tax and shipping. Numbers may carry currency symbols and spaces;
``(12.50)`` is -12.50. A local time that does not exist or occurs twice at a daylight-saving
change is read with the offset in force before the change. A line given twice (same order and
line id) is imported once; the repeat is quarantined.

**Amazon "All Orders" report** (the tab-separated flat file of Seller Central / the Reports API,
``GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL`` and friends) is recognised by its header
(``amazon-order-id``, ``purchase-date``, ``sku``, ``item-price``...) and needs no mapping:
``order_id`` = amazon-order-id; ``item-price`` is the total for the line's quantity (Amazon's
definition), so ``gross_amount`` = item-price and ``unit_price`` = item-price / quantity;
``discount_amount`` = item-promotion-discount (sign ignored); ``shipping_amount`` =
shipping-price + gift-wrap-price - ship-promotion-discount; ``tax_amount`` = item-tax +
shipping-tax + gift-wrap-tax; empty amounts (Pending orders) are 0 and an empty currency is
the one of the order's other lines, else of the marketplace; ``is_cancelled`` when
order-status or item-status is ``Cancelled``; ``fulfillment_type`` FBA (fulfillment-channel
``Amazon``/AFN) or FBM (``Merchant``/MFN); ``storefront_id`` = sales-channel (``Amazon.com``);
``channel_item_id`` = ASIN; ``updated_at`` = last-updated-date. The report has no order-item
id, so ``line_id`` is the rank of the line's SKU within its order (by SKU, then file order),
which does not change when a later report lists the rows in another order.

**Shopify orders export** (Admin > Orders > Export, CSV) is recognised by its header (``Name``,
``Created at``, ``Lineitem quantity``, ``Lineitem price``, ``Lineitem sku``...): one row per line
item, with the order's fields on its first row. ``order_id`` = Name (``#1001``); ``line_id`` =
position of the line within the order; ``customer_email`` = Email; ``ordered_at`` = Created at
(``2026-01-05 14:03:11 -0500``); ``shipped_at`` = Fulfilled at; ``order_status`` = Financial
Status; ``is_cancelled`` when Cancelled at is set; ``unit_price`` = Lineitem price and
``gross_amount`` = price x quantity. The order's Shipping, Taxes and Refunded Amount are shared
over its lines in proportion to their gross amount (rounded to the cent, the remainder on the
first line, so the lines add up to the order exactly); so is Discount Amount, unless the export
has a ``Lineitem discount`` with a value on the order's lines, which is then used per line. A
problem on any row of an order keeps the whole order out (its amounts are shared).

**Events** (``events/<source>/``, NDJSON ``.ndjson``/``.jsonl``/``.json`` or CSV, optionally
``.gz``) need a mapping.yml::

    format: ndjson               # ndjson | csv (default from the name)
    channel: shopify             # default: the folder name
    storefront_id: shopify_us    # default: the folder name
    currency: USD                # optional: currency of values without one
    timestamp_format: iso        # and timezone, decimal_comma... as for orders
    columns:                     # CSV header, or JSON key; nested keys as a dotted path
      event_id: id               # optional; default (or empty): a hash of the folder and the raw line
      anonymous_id: anonymousId  # anonymous_id and/or user_id
      user_id: userId
      session_id: sessionId      # optional; without it the warehouse builds sessions
      event_name: event          # required
      occurred_at: timestamp     # required
      sku: properties.sku        # optional: quantity, value, currency, order_id,
      order_id: properties.order_id   #   page_url, referrer, traffic_source, channel, storefront_id
      page_url: context.page.url
    funnel_steps:                # event name in the file -> funnel step
      page_viewed: page_view     # steps: page_view, product_view, add_to_cart, checkout, purchase
      checkout_completed: purchase

An event name already equal to a step needs no line; other events are kept with no funnel step.
Without a mapped traffic_source, the ``utm_source`` of the page URL is used. An event without
an anonymous or user id, or without a readable time, is quarantined; so is a repeated event id.

**Reviews** (``reviews/<storefront>/``, the folder names the storefront or API connection the
reviewed products belong to, e.g. ``reviews/shopify_us/``): see :mod:`extractors.inbox.reviews`
for the recognised exports and the mapping (``rating``, ``reviewed_at`` and one of
``product_id``/``product_handle``/``product_sku`` are required). Reviewer e-mails are stored
only as a SHA-256 hash. A row with no or an out-of-range rating (1-5), an unreadable date, no
product or a repeated review id is quarantined with its reason.

**Product costs** (``product_costs/*.csv``): columns ``sku, unit_cost, currency,
effective_from`` (YYYY-MM-DD), optional ``shipping_cost_per_unit``; a cost applies from its
``effective_from`` until the SKU's next one (SKUs are the warehouse's product SKUs, as in
``dim_products.product_sku``). **SKU mappings** (``sku_mappings/*.csv``): columns
``channel, connection_name, listing_sku, product_sku, note`` as in
dbt_project/seeds/product_overrides.csv (an empty channel or connection_name means any).
Headers of both ignore case and spaces; ``,`` or ``;`` between cells; amounts ``12.50`` or
``12,50``. A key given twice with different values keeps all those rows out. **Exchange rates**
(``fx_rates/*.csv`` or ``.zip``): the ECB layout read by extractors/fx.py (``Date,USD,GBP,...``,
rates per 1 EUR).

Python: :func:`scan` lists the waiting files (:class:`PendingFile`, whose ``run_key`` changes
with the content, the folder's mapping.yml and the file's modification time);
:func:`import_file` imports one and returns an :class:`ImportResult`; :func:`import_all` does
both. Nothing here imports Dagster.
"""

from extractors.inbox.common import FileRejected
from extractors.inbox.files import FLAT_CONNECTION, KIND_ENTITY, KINDS, PendingFile, scan
from extractors.inbox.importer import (
    FILES_CHANNEL,
    ImportResult,
    import_all,
    import_file,
)
from extractors.inbox.schemas import (
    ENTITIES,
    EVENTS,
    ORDER_LINES,
    PRODUCT_COSTS,
    REVIEWS,
    SKU_MAPPINGS,
)

__all__ = [
    "ENTITIES",
    "EVENTS",
    "FILES_CHANNEL",
    "FLAT_CONNECTION",
    "KINDS",
    "KIND_ENTITY",
    "ORDER_LINES",
    "PRODUCT_COSTS",
    "REVIEWS",
    "SKU_MAPPINGS",
    "FileRejected",
    "ImportResult",
    "PendingFile",
    "import_all",
    "import_file",
    "scan",
]
