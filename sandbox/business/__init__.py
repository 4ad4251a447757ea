"""A deterministic simulated multichannel business, served by the sandbox API emulators.

The business sells a catalog of about 300 products (eight categories, twenty brands, products
grouped in variant families) through eight storefronts (:data:`ACCOUNTS`): five Amazon
marketplaces under two seller accounts, two Shopify stores and Walmart US. Each product is
listed on one to three channels; every listing has its own channel ids (ASIN, Shopify
variant/product ids, Walmart item id/WPID), its own seller SKU (some Amazon SKUs carry an
``-FBA`` suffix and some Walmart SKUs are ``WM-<gtin tail>``, so matching must go through the
GTIN), its own price history in local currency and its own promotions.

Demand is generated per listing and day. Each storefront's volume follows its target (about
100 orders a day in all at scale 1, times ``scale``), a slow business growth, yearly
seasonality (Q4 peak, Black Friday, Cyber Monday, Prime Day on Amazon) and weekly seasonality;
the catalog decides how that volume is shared: a log-normal base weight (a few products sell
every day, a long tail sells a unit now and then), a per-product trend, a launch ramp, and
whether the listing is live. The price in force (elasticity 1.5) and promotions (which lift
demand) then move it up or down. The daily line count is negative-binomial (a gamma-mixed
Poisson). Lines are grouped into baskets of one to three products (same storefront and
fulfilment channel, usually the same category) with a purchase time from a diurnal profile in
the storefront's time zone.

Stock is tracked per listing at one location (the marketplace's FBA centre for Amazon listings,
MFN ones included; one of two Shopify locations; the Walmart seller node or WFS). Lines are
served in time order from the day's opening stock while it lasts; the rest of the demand is
lost (censored). Sold units are reserved until they ship (or come back if the order is
cancelled), and a reorder-point policy places replenishment orders that arrive 10-45 days
later, so listings with a low safety factor run out now and then. ``inventory_daily`` holds the
opening stock of each day, after that morning's receipts.

Each order then gets a customer (a preferential-attachment pool per storefront with a bias to
recent buyers: most customers buy once, a few buy many times; some Walmart customers are
Shopify US customers under the same e-mail address), a life cycle (shipped a few hours to three
days later, delivered two to seven days after that, about 2% cancelled before shipping, about
6.5% refunded 5-40 days after purchase, fully or partially), taxes (US only), shipping charges
and, on Amazon, marketplace fees. Amazon listings also get daily sessions and page views.

Everything is a pure function of ``(seed, scale)`` and the calendar day: the catalog comes from
``default_rng([seed, 0])``, each simulated day from ``default_rng([seed, day.toordinal(),
stream])``, and price/promotion schedules are drawn for a fixed horizon, so the data of a day
never changes when ``end`` moves later. The frames hold the whole life of every order placed
before ``end`` (including ship, delivery and refund events scheduled after ``end``); the
``*_view`` methods show what an API would show at a given wall-clock time (UTC; naive
datetimes are taken as UTC), and ``apply_late_update`` adds refunds to old orders to exercise
incremental extraction.
"""

from sandbox.business.model import Business
from sandbox.business.parameters import (
    ACCOUNTS,
    FX_PER_USD,
    LOCATIONS,
    PENDING_FOR,
    SIM_EPOCH,
    Storefront,
)

__all__ = [
    "ACCOUNTS",
    "FX_PER_USD",
    "LOCATIONS",
    "PENDING_FOR",
    "SIM_EPOCH",
    "Business",
    "Storefront",
]
