"""Demo files for the inbox, made from the simulated business (deterministic from its seed).

:func:`write_demo_inbox` fills ``<data dir>/inbox/`` with what a seller would drop there:

* ``events/shopify_us/``, ``events/shopify_eu/``: the two Shopify storefronts' clickstream, one
  ``<storefront>-events-<UTC day>.ndjson.gz`` per day, in the shape of Shopify web-pixel /
  Segment-style events (``event``, ``anonymousId``, ``userId``, ``timestamp``, ``properties``,
  ``context.page``), with a ``mapping.yml``. Every Shopify order of the period is a session
  ending with a ``checkout_completed`` event that carries the order's id (the Shopify order GID,
  as the lake's ``shopify_order_id``), name, value (its subtotal after discounts) and products;
  visitors who do not buy browse, search, add to cart and abandon (about 2.5% of sessions
  convert). The files hold no session id: sessions are rebuilt downstream with the 30-minute
  rule, and some visitors come back after more than 30 minutes (buyers who visited 35 minutes
  to 3 days before their order, browsers who return); most buyers keep one anonymous id over
  all their orders, and logged-in customers carry their Shopify customer GID as ``userId``.
* ``product_costs/product_costs.csv``: the catalog's unit cost (USD) per product SKU of the
  warehouse (``dim_products.product_sku``: the most common listing SKU of the GTIN), effective
  from the simulation's first day, plus a cost change for about 10% of the SKUs half-way
  through the period.
* ``reviews/<storefront>/``: the period's product reviews (sandbox.business.reviews) as a
  Judge.me export (shopify_us), a Shopify Product Reviews export (shopify_eu) and an Amazon
  review download with its ``mapping.yml`` per seller account (sandbox.exports.reviews).
* ``orders/etsy/``: a file-only channel, ``etsy``: a semicolon-separated "sold items" export
  in EUR with decimal commas and local (Europe/Berlin) times, and its ``mapping.yml``.

Files are written under a hidden temporary name and renamed, so a watcher never sees half a
file.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from extractors.inbox.files import write_text_atomic
from sandbox.business import Business
from sandbox.exports.common import (
    DEMO_DAYS,
    _period,
    product_skus,
)
from sandbox.exports.costs import (
    _costs_csv,
    product_costs,
)
from sandbox.exports.etsy import (
    ETSY_MAPPING,
    _etsy_csv,
    etsy_orders,
)
from sandbox.exports.events import (
    EVENTS_MAPPING,
    storefront_events,
    write_storefront_events,
)
from sandbox.exports.reviews import write_review_exports

__all__ = [
    "DEMO_DAYS",
    "EVENTS_MAPPING",
    "etsy_orders",
    "product_costs",
    "product_skus",
    "storefront_events",
    "write_demo_inbox",
    "write_storefront_events",
]


def write_demo_inbox(
    business: Business, data_dir: Path, days: int = DEMO_DAYS, end: date | None = None
) -> list[Path]:
    """Write the demo files for the ``days`` days before ``end`` (default: the business's end)
    into ``<data_dir>/inbox/``: storefront events, reviews, product costs, the Etsy channel's
    orders and the mappings. Every file is written atomically; returns the paths written."""
    start, end = _period(business, days, end)
    inbox = Path(data_dir) / "inbox"
    written = [write_text_atomic(inbox / "orders" / "etsy" / "mapping.yml", ETSY_MAPPING)]
    written += write_storefront_events(business, inbox, start, end)
    written += write_review_exports(business, inbox, start, end)
    written.append(
        write_text_atomic(
            inbox / "product_costs" / "product_costs.csv",
            _costs_csv(product_costs(business, start, end)),
        )
    )
    last = end - timedelta(days=1)
    written.append(
        write_text_atomic(
            inbox / "orders" / "etsy" / f"etsy_sold_items_{start}_{last}.csv",
            _etsy_csv(etsy_orders(business, start, end)),
        )
    )
    return written
