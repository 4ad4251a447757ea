"""Emulator of the Amazon Selling Partner API (``/amazon/...``) over the simulated business.

What it serves (reference A), with the behaviour an extractor has to cope with:

* **LWA** ``POST /amazon/auth/o2/token`` (form or JSON body, ``grant_type=refresh_token``): an
  access token for the account whose credentials match, ``expires_in`` 3600; a wrong client is
  401 ``invalid_client``, a wrong refresh token 400 ``invalid_grant``. Data calls need the
  token in ``x-amz-access-token``: missing, unknown or expired is 403 ``Unauthorized``.
* **Token buckets per operation and seller** at the documented rates (scaled by the sandbox
  profile), ``x-amzn-RateLimit-Limit`` on every rate-limited response, 429 ``QuotaExceeded``
  without ``Retry-After``, ``x-amzn-RequestId`` on every response.
* **Orders v0** ``getOrders`` (Created* or LastUpdated* filters, the two-minute rule on
  ``*Before``, ``payload.NextToken``) and ``getOrderItems`` (``NextToken`` too). A pending
  order has no OrderTotal, buyer or address, and its items no money fields.
* **Finances v0** ``listFinancialEvents``: a ShipmentEvent per shipped order (Principal, Tax,
  ShippingCharge, ShippingTax, Commission / FBAPerUnitFulfillmentFee, promotions) and a
  RefundEvent per refund; ``CurrencyAmount`` is a number. Pages hold at most 30 days of
  postings, so quiet periods give empty pages; a range over 180 days answers nothing.
* **Reports 2021-06-30** GET_SALES_AND_TRAFFIC_REPORT (gzip JSON) and
  GET_MERCHANT_LISTINGS_ALL_DATA (gzip tab-separated): IN_QUEUE -> IN_PROGRESS -> DONE over a
  few seconds (milliseconds in the fast profile), CANCELLED when there is no data; documents
  behind presigned-style URLs under ``/amazon/_documents/`` that expire after five minutes.
* **FBA Inventory v1** ``getInventorySummaries``: the FBA stock of AFN listings, 50 per page,
  ``pagination.nextToken`` at the top level, expiring 30 s after it was issued.

An account only sees its own marketplaces; asking for another one (the other account's are
in the other region) is 400 ``InvalidInput``. Not emulated: restricted data tokens (buyer
e-mail and the non-PII address fields are served with the plain LWA token), other report
types, WEEK/MONTH granularity.
"""

from __future__ import annotations

import base64
import binascii
import functools
import gzip
import hashlib
import hmac
import io
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from flask import Blueprint, Response, request

from sandbox.business import PENDING_FOR, Business
from sandbox.wire import SANDBOX_CREDENTIALS, ChannelWire, Decision, SandboxState

API = "amazon"
TOKEN_TTL_S = 3600
BEFORE_LAG = timedelta(minutes=2)
ORDERS_MAX_PAGE = 100
ORDER_ITEMS_PAGE_SIZE = 20
FINANCES_MAX_PAGE = 100
FINANCES_MAX_RANGE = timedelta(days=180)
FINANCES_PAGE_SPAN = timedelta(days=30)  # postings per page never span more than this
INVENTORY_PAGE_SIZE = 50
INVENTORY_TOKEN_TTL_S = 30.0
REPORT_QUEUE_S = 2.0  # realistic seconds in IN_QUEUE, divided by the profile's multiplier
REPORT_PROCESSING_S = 3.0  # ... and in IN_PROGRESS
DOCUMENT_URL_TTL_S = 300
CACHE_SIZE = 16  # query results kept for paging (a two-year orders query is ~10 MB)

# operation -> (requests per second, burst), reference A.3-A.6
OPERATIONS: dict[str, tuple[float, float]] = {
    "getOrders": (0.0167, 20),
    "getOrderItems": (0.5, 30),
    "listFinancialEvents": (0.5, 30),
    "createReport": (0.0167, 15),
    "getReport": (2.0, 15),
    "getReportDocument": (0.0167, 15),
    "getInventorySummaries": (2.0, 2),
}
ORDER_STATUS = {
    "pending": "Pending",
    "unshipped": "Unshipped",
    "shipped": "Shipped",
    "delivered": "Shipped",
    "cancelled": "Canceled",
}
ORDER_STATUSES = (
    "PendingAvailability",
    "Pending",
    "Unshipped",
    "PartiallyShipped",
    "Shipped",
    "InvoiceUnconfirmed",
    "Canceled",
    "Unfulfillable",
)
SALES_CHANNEL = {
    "ATVPDKIKX0DER": "Amazon.com",
    "A2EUQ1WTGCTBG2": "Amazon.ca",
    "A1F83G8C2ARO7P": "Amazon.co.uk",
    "A1PA6795UKMFR9": "Amazon.de",
    "A13V1IB3VIYZZH": "Amazon.fr",
}
REGION = {
    "ATVPDKIKX0DER": "NA",
    "A2EUQ1WTGCTBG2": "NA",
    "A1F83G8C2ARO7P": "EU",
    "A1PA6795UKMFR9": "EU",
    "A13V1IB3VIYZZH": "EU",
}
LOCAL_ZONE = {
    "US": "America/Los_Angeles",
    "CA": "America/Los_Angeles",
    "GB": "Europe/London",
    "DE": "Europe/Berlin",
    "FR": "Europe/Paris",
}
# (city, state or region, postal code prefix) per country; the rest of the code is derived.
ADDRESSES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "US": (("Seattle", "WA", "981"), ("Austin", "TX", "787"), ("Brooklyn", "NY", "112"),
           ("Chicago", "IL", "606"), ("Los Angeles", "CA", "900"), ("Miami", "FL", "331"),
           ("Denver", "CO", "802"), ("Atlanta", "GA", "303"), ("Columbus", "OH", "432"),
           ("Phoenix", "AZ", "850")),
    "CA": (("Toronto", "ON", "M5V"), ("Vancouver", "BC", "V6B"), ("Montreal", "QC", "H2X"),
           ("Calgary", "AB", "T2P"), ("Ottawa", "ON", "K1P")),
    "GB": (("London", "Greater London", "SW1A"), ("Manchester", "Greater Manchester", "M1"),
           ("Birmingham", "West Midlands", "B1"), ("Leeds", "West Yorkshire", "LS1"),
           ("Glasgow", "Glasgow City", "G1"), ("Bristol", "Bristol", "BS1")),
    "DE": (("Berlin", "Berlin", "10"), ("München", "Bayern", "80"), ("Hamburg", "Hamburg", "20"),
           ("Köln", "Nordrhein-Westfalen", "50"), ("Frankfurt am Main", "Hessen", "60"),
           ("Stuttgart", "Baden-Württemberg", "70")),
    "FR": (("Paris", "Île-de-France", "75"), ("Lyon", "Auvergne-Rhône-Alpes", "69"),
           ("Marseille", "Provence-Alpes-Côte d'Azur", "13"), ("Toulouse", "Occitanie", "31"),
           ("Bordeaux", "Nouvelle-Aquitaine", "33"), ("Lille", "Hauts-de-France", "59")),
}  # fmt: skip
LISTINGS_COLUMNS = (
    "item-name", "item-description", "listing-id", "seller-sku", "price", "quantity",
    "open-date", "image-url", "item-is-marketplace", "product-id-type", "zshop-shipping-fee",
    "item-note", "item-condition", "zshop-category1", "zshop-browse-path",
    "zshop-storefront-feature", "asin1", "asin2", "asin3", "will-ship-internationally",
    "expedited-shipping", "zshop-boldface", "product-id", "bid-for-featured-placement",
    "add-delete", "pending-quantity", "fulfillment-channel", "merchant-shipping-group", "status",
)  # fmt: skip
SALES_TRAFFIC = "GET_SALES_AND_TRAFFIC_REPORT"
MERCHANT_LISTINGS = "GET_MERCHANT_LISTINGS_ALL_DATA"
ORDER_ID = re.compile(r"^\d{3}-\d{7}-\d{7}$")
MONEY_FIELDS = (
    "ItemPrice",
    "ItemTax",
    "ShippingPrice",
    "ShippingTax",
    "ShippingDiscount",
    "PromotionDiscount",
    "PromotionDiscountTax",
    "PromotionIds",
)
US = 1_000_000  # microseconds per second


class SpApiError(Exception):
    """An SP-API error answer: HTTP status plus the ``errors`` envelope's code and message."""

    def __init__(self, status: int, code: str, message: str, details: str = ""):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def _invalid(message: str, details: str = "") -> SpApiError:
    return SpApiError(400, "InvalidInput", message, details)


def _json(body: object, status: int = 200) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status,
        mimetype="application/json",
    )


def _errors(status: int, code: str, message: str, details: str = "") -> Response:
    return _json({"errors": [{"code": code, "message": message, "details": details}]}, status)


def _rate_header(limit: float) -> str:
    return f"{limit:.4g}"


def _z(us: int) -> str:
    """Microseconds since 1970 as SP-API's second-precision ISO 8601 UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(us // US))


def _us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _money(amount: float, currency: str) -> dict:
    return {"CurrencyCode": currency, "Amount": f"{amount:.2f}"}


def _finance_money(amount: float, currency: str) -> dict:
    return {"CurrencyCode": currency, "CurrencyAmount": round(float(amount), 2)}


def _mix(values: pl.Expr, salt: int) -> pl.Expr:
    """A deterministic pseudo-random non-negative integer per value (flags, addresses)."""
    return ((values * 2_654_435_761 + salt) % 4_294_967_291).abs()


def _token(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def _untoken(text: str, name: str = "NextToken") -> dict:
    try:
        data = json.loads(base64.urlsafe_b64decode(text.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _invalid(
            f"Invalid {name}.", f"{name} {text[:40]!r} was not issued by this API"
        ) from None
    if not isinstance(data, dict):
        raise _invalid(f"Invalid {name}.")
    return data


def _iso_param(name: str, required: bool = False) -> datetime | None:
    value = request.args.get(name)
    if not value:
        if required:
            raise _invalid(f"Missing required parameter {name}.")
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(f"Invalid {name}: {value!r} is not an ISO 8601 date-time.") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class _Lru:
    """A small thread-safe least-recently-used cache."""

    def __init__(self, size: int = CACHE_SIZE):
        self._data: OrderedDict[object, object] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: object, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = make()
        with self._lock:
            self._data[key] = value
            while len(self._data) > self._size:
                self._data.popitem(last=False)
        return value


# ---------------------------------------------------------------------------------------------
# Per-account views of the business, built once (lazily) and reused by every request
# ---------------------------------------------------------------------------------------------
@dataclass
class _OrderItems:
    purchased_us: int
    shipped_us: int | None
    items: list[dict]


@dataclass
class _Event:
    posted_us: int
    kind: str  # ShipmentEventList | RefundEventList
    body: dict


class _Account:
    """One seller account's static data, indexed for fast request handling.

    Orders, lines, fees, listings and traffic never change; refunds can (late updates append
    to them), so everything built from refunds is keyed by the refunds frame's height.
    """

    def __init__(self, business: Business, account: str):
        self.business, self.account = business, account
        stores = business.storefronts.filter(pl.col("account") == account)
        self.marketplaces: list[str] = stores["marketplace_id"].to_list()
        self.currency: dict[str, str] = dict(
            zip(stores["marketplace_id"], stores["currency"], strict=True)
        )
        self.country: dict[str, str] = dict(
            zip(stores["marketplace_id"], stores["country"], strict=True)
        )
        self._lock = threading.RLock()  # builders use each other
        self._built: dict[str, Any] = {}

    def _once(self, name: str, build: Callable[[], Any]) -> Any:
        with self._lock:
            if name not in self._built:
                self._built[name] = build()
            return self._built[name]

    # -- orders ------------------------------------------------------------------------------
    @property
    def orders(self) -> pl.DataFrame:
        """Order attributes that never change (totals, buyer, address, flags), by order_key."""
        return self._once("orders", self._build_orders)

    def _build_orders(self) -> pl.DataFrame:
        b = self.business
        orders = b.orders.filter(pl.col("account") == self.account)
        lines = b.order_lines.join(orders.select("order_key"), on="order_key", how="semi")
        totals = lines.group_by("order_key").agg(
            pl.col("quantity").sum().cast(pl.Int64).alias("units"),
            (pl.col("unit_price") * pl.col("quantity") - pl.col("discount") + pl.col("tax"))
            .sum()
            .alias("goods"),
        )
        h = _mix(pl.col("order_key"), 7)
        c = _mix(pl.col("customer_id"), 11)
        frame = (
            orders.join(totals, on="order_key", how="left")
            .join(b.customers.select("customer_id", "email"), on="customer_id", how="left")
            .with_columns(
                (pl.col("goods") + pl.col("shipping_price") + pl.col("shipping_tax"))
                .round(2)
                .alias("order_total"),
                ((pl.col("fulfillment") == "AFN") & (h % 100 < 72)).alias("is_prime"),
                (h % 100 >= 96).alias("is_business"),
                pl.when((pl.col("fulfillment") == "AFN") & (h % 7 == 0))
                .then(pl.lit("Expedited"))
                .otherwise(pl.lit("Standard"))
                .alias("service_level"),
                pl.col("marketplace_id").replace_strict(self.country).alias("country"),
                c.alias("_c"),
            )
        )
        return _with_address(frame).drop("goods", "_c", "_postal_prefix")

    def orders_at(self, now: datetime) -> pl.DataFrame:
        """The account's orders as an API shows them at ``now``: status, last update, ..."""
        view = self.business.orders_view(now).filter(pl.col("account") == self.account)
        return view.select("order_key", "status", "last_updated_at").join(
            self.orders, on="order_key", how="inner"
        )

    @property
    def items(self) -> dict[str, _OrderItems]:
        """getOrderItems bodies (with money) per AmazonOrderId."""
        return self._once("items", self._build_items)

    def _build_items(self) -> dict[str, _OrderItems]:
        b = self.business
        orders = self.orders.select(
            "order_key",
            "channel_order_id",
            "marketplace_id",
            "currency",
            "purchased_at",
            "shipped_at",
            "shipping_price",
            "shipping_tax",
        )
        rows = (
            b.order_lines.join(orders, on="order_key", how="inner")
            .join(
                self.listings.select("marketplace_id", "product_id", "channel_item_id", "title"),
                on=["marketplace_id", "product_id"],
                how="left",
            )
            .sort("order_key", "line_number")
        )
        index: dict[str, _OrderItems] = {}
        for r in rows.iter_rows(named=True):
            entry = index.get(r["channel_order_id"])
            if entry is None:
                shipped = r["shipped_at"]
                entry = index[r["channel_order_id"]] = _OrderItems(
                    _us(r["purchased_at"]), _us(shipped) if shipped else None, []
                )
            cur, first = r["currency"], r["line_number"] == 1
            item = {
                "ASIN": r["channel_item_id"],
                "SellerSKU": r["channel_sku"],
                "OrderItemId": r["line_id"],
                "Title": r["title"],
                "QuantityOrdered": int(r["quantity"]),
                "QuantityShipped": 0,
                "ProductInfo": {"NumberOfItems": "1"},
                "ItemPrice": _money(r["unit_price"] * r["quantity"], cur),
                "ItemTax": _money(r["tax"], cur),
                "ShippingPrice": _money(r["shipping_price"] if first else 0.0, cur),
                "ShippingTax": _money(r["shipping_tax"] if first else 0.0, cur),
                "ShippingDiscount": _money(0.0, cur),
                "PromotionDiscount": _money(r["discount"], cur),
                "PromotionDiscountTax": _money(0.0, cur),
                "IsGift": "false",
                "ConditionId": "New",
                "ConditionSubtypeId": "New",
                "IsTransparency": False,
                "SerialNumberRequired": False,
            }
            if r["discount"] > 0:
                item["PromotionIds"] = [
                    f"PLM-{r['marketplace_id'][-4:]}-{r['product_id']:05d}-{r['purchased_at']:%Y%m}"
                ]
            entry.items.append(item)
        return index

    # -- listings ----------------------------------------------------------------------------
    @property
    def listings(self) -> pl.DataFrame:
        return self._once(
            "listings", lambda: self.business.listings.filter(pl.col("account") == self.account)
        )

    # -- finances ----------------------------------------------------------------------------
    @property
    def shipment_events(self) -> tuple[np.ndarray, list[_Event]]:
        return self._once("shipments", self._build_shipment_events)

    def _build_shipment_events(self) -> tuple[np.ndarray, list[_Event]]:
        b = self.business
        orders = self.orders.filter(pl.col("shipped_at").is_not_null()).select(
            "order_key",
            "channel_order_id",
            "marketplace_id",
            "currency",
            "shipped_at",
            "shipping_price",
            "shipping_tax",
        )
        lines = b.order_lines.join(orders, on="order_key", how="inner").sort(
            "shipped_at", "order_key", "line_number"
        )
        fees: dict[tuple[int, int], list[tuple[str, float]]] = defaultdict(list)
        for key, line, fee_type, amount in (
            b.fees.join(orders.select("order_key"), on="order_key", how="semi")
            .select("order_key", "line_number", "fee_type", "amount")
            .iter_rows()
        ):
            fees[(key, line)].append((fee_type, amount))
        events: list[_Event] = []
        for (_, order_id), group in itertools.groupby(
            lines.iter_rows(named=True), key=lambda r: (r["order_key"], r["channel_order_id"])
        ):
            group = list(group)
            first, cur = group[0], group[0]["currency"]
            items = [
                _shipment_item(r, fees[(r["order_key"], r["line_number"])], cur) for r in group
            ]
            posted = _us(first["shipped_at"])
            events.append(
                _Event(
                    posted,
                    "ShipmentEventList",
                    {
                        "AmazonOrderId": order_id,
                        "SellerOrderId": order_id,
                        "MarketplaceName": SALES_CHANNEL[first["marketplace_id"]],
                        "PostedDate": _z(posted),
                        "ShipmentItemList": items,
                    },
                )
            )
        events.sort(key=lambda e: e.posted_us)
        return np.array([e.posted_us for e in events], dtype=np.int64), events

    def refund_events(self) -> tuple[np.ndarray, list[_Event]]:
        refunds = self.business.refunds
        return self._once(f"refunds@{refunds.height}", lambda: self._build_refund_events(refunds))

    def _build_refund_events(self, refunds: pl.DataFrame) -> tuple[np.ndarray, list[_Event]]:
        orders = self.orders.select("order_key", "channel_order_id", "marketplace_id", "currency")
        rows = (
            refunds.join(orders, on="order_key", how="inner")
            .join(
                self.business.order_lines.select(
                    "order_key", "line_number", "line_id", "channel_sku"
                ),
                on=["order_key", "line_number"],
                how="left",
            )
            .sort("refunded_at", "order_key", "line_number")
        )
        events: list[_Event] = []
        for (_, order_id, at), group in itertools.groupby(
            rows.iter_rows(named=True),
            key=lambda r: (r["order_key"], r["channel_order_id"], r["refunded_at"]),
        ):
            group = list(group)
            cur, posted = group[0]["currency"], _us(at)
            events.append(
                _Event(
                    posted,
                    "RefundEventList",
                    {
                        "AmazonOrderId": order_id,
                        "SellerOrderId": order_id,
                        "MarketplaceName": SALES_CHANNEL[group[0]["marketplace_id"]],
                        "PostedDate": _z(posted),
                        "ShipmentItemAdjustmentList": [
                            {
                                "SellerSKU": r["channel_sku"],
                                "OrderItemId": r["line_id"],
                                "OrderAdjustmentItemId": f"{r['line_id']}{r['refund_id'][-2:]}".replace(
                                    "-", "0"
                                ),
                                "QuantityShipped": int(r["quantity"]),
                                "ItemChargeAdjustmentList": [
                                    {
                                        "ChargeType": "Principal",
                                        "ChargeAmount": _finance_money(-r["amount"], cur),
                                    }
                                ],
                            }
                            for r in group
                        ],
                    },
                )
            )
        return np.array([e.posted_us for e in events], dtype=np.int64), events

    def refunds_by_day(self) -> dict[tuple[str, date], list[tuple[int, int]]]:
        """(refunded at, units) per (marketplace, refund day)."""
        refunds = self.business.refunds
        return self._once(
            f"refund-days@{refunds.height}", lambda: self._build_refunds_by_day(refunds)
        )

    def _build_refunds_by_day(self, refunds: pl.DataFrame
                              ) -> dict[tuple[str, date], list[tuple[int, int]]]:  # fmt: skip
        index: dict[tuple[str, date], list[tuple[int, int]]] = defaultdict(list)
        rows = refunds.join(
            self.orders.select("order_key", "marketplace_id"), on="order_key", how="inner"
        )
        for m, at, qty in rows.select("marketplace_id", "refunded_at", "quantity").iter_rows():
            index[(m, at.date())].append((_us(at), int(qty)))
        return index

    # -- sales & traffic ---------------------------------------------------------------------
    @property
    def sales_index(self) -> _SalesIndex:
        return self._once("sales", lambda: _SalesIndex.build(self))


def _with_address(frame: pl.DataFrame) -> pl.DataFrame:
    """City, state/region and postal code of each order's customer, from the customer id
    (hashed into ``_c``) and the marketplace's ``country``."""
    exprs = []
    for n, part in enumerate(("ship_city", "ship_state", "_postal_prefix")):
        expr = pl.lit(None, dtype=pl.Utf8)
        for country, places in ADDRESSES.items():
            pick = pl.lit(pl.Series([p[n] for p in places])).gather(pl.col("_c") % len(places))
            expr = pl.when(pl.col("country") == country).then(pick).otherwise(expr)
        exprs.append(expr.alias(part))
    digits = (pl.col("_c") // 7 % 1000).cast(pl.Utf8).str.zfill(3)
    letters = pl.lit("ABDEFGHJLNPQRSTUWXYZ")
    letter = [letters.str.slice(pl.col("_c") // d % 20, 1) for d in (13, 17)]
    postal = (
        pl.when(pl.col("country") == "US").then(pl.col("_postal_prefix") + digits.str.slice(0, 2))
        .when(pl.col("country") == "CA")
        .then(pl.concat_str(pl.col("_postal_prefix"), pl.lit(" "), digits.str.slice(0, 1),
                            letter[0], digits.str.slice(1, 1)))
        .when(pl.col("country") == "GB")
        .then(pl.concat_str(pl.col("_postal_prefix"), pl.lit(" "), digits.str.slice(0, 1),
                            *letter))
        .otherwise(pl.col("_postal_prefix") + digits)
    )  # fmt: skip
    return frame.with_columns(*exprs).with_columns(postal.alias("ship_postal_code"))


def _shipment_item(line: dict, fees: list[tuple[str, float]], cur: str) -> dict:
    first = line["line_number"] == 1
    charges = [("Principal", line["unit_price"] * line["quantity"]), ("Tax", line["tax"])]
    if first and line["shipping_price"] > 0:
        charges += [
            ("ShippingCharge", line["shipping_price"]),
            ("ShippingTax", line["shipping_tax"]),
        ]
    item = {
        "SellerSKU": line["channel_sku"],
        "OrderItemId": line["line_id"],
        "QuantityShipped": int(line["quantity"]),
        "ItemChargeList": [
            {"ChargeType": t, "ChargeAmount": _finance_money(a, cur)} for t, a in charges
        ],
        "ItemFeeList": [
            {"FeeType": t, "FeeAmount": _finance_money(a, cur)} for t, a in sorted(fees)
        ],
    }
    if line["discount"] > 0:
        item["PromotionList"] = [
            {
                "PromotionType": "PromotionMetaDataDefinitionValue",
                "PromotionId": f"PLM-{line['marketplace_id'][-4:]}-{line['product_id']:05d}",
                "PromotionAmount": _finance_money(-line["discount"], cur),
            }
        ]
    return item


@dataclass
class _SalesIndex:
    """Order lines and traffic of one account per (marketplace, UTC day), for the reports."""

    ordered: dict[tuple[str, date], list[tuple]] = field(default_factory=dict)
    shipped: dict[tuple[str, date], list[tuple]] = field(default_factory=dict)
    traffic: dict[tuple[str, date], list[tuple]] = field(default_factory=dict)
    listing: dict[tuple[str, int], tuple[str, str, str]] = field(default_factory=dict)

    @classmethod
    def build(cls, acct: _Account) -> _SalesIndex:
        b = acct.business
        index = cls()
        for m, pid, sku, asin, parent in acct.listings.select(
            "marketplace_id", "product_id", "channel_sku", "channel_item_id", "channel_product_id"
        ).iter_rows():
            index.listing[(m, pid)] = (sku, asin, parent)
        lines = b.order_lines.join(
            acct.orders.select("order_key", "marketplace_id", "purchased_at", "shipped_at"),
            on="order_key",
            how="inner",
        )
        for key, m, pid, qty, price, purchased, shipped in lines.select(
            "order_key",
            "marketplace_id",
            "product_id",
            "quantity",
            "unit_price",
            "purchased_at",
            "shipped_at",
        ).iter_rows():
            line = (
                key,
                pid,
                int(qty),
                float(price),
                _us(purchased),
                _us(shipped) if shipped else None,
            )
            index.ordered.setdefault((m, purchased.date()), []).append(line)
            if shipped is not None:
                index.shipped.setdefault((m, shipped.date()), []).append(line)
        traffic = b.traffic_daily.filter(pl.col("account") == acct.account)
        for day, m, pid, sessions, views, browser, mobile, buy_box in traffic.select(
            "date",
            "marketplace_id",
            "product_id",
            "sessions",
            "page_views",
            "browser_sessions",
            "mobile_sessions",
            "buy_box_pct",
        ).iter_rows():
            index.traffic.setdefault((m, day), []).append(
                (pid, sessions, views, browser, mobile, buy_box)
            )
        return index


# ---------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------
@dataclass
class _Report:
    report_id: str
    account: str
    report_type: str
    marketplaces: list[str]
    start: datetime | None
    end: datetime | None
    options: dict[str, str]
    created_at: datetime  # sandbox clock: the data the report shows is as of this moment
    created_mono: float
    has_data: bool
    document_id: str = ""

    def status(self, multiplier: float) -> tuple[str, float | None, float | None]:
        """(processingStatus, processing start, processing end) in monotonic seconds."""
        queued = self.created_mono + REPORT_QUEUE_S / multiplier
        done = queued + REPORT_PROCESSING_S / multiplier
        now = time.monotonic()
        if now < queued:
            return "IN_QUEUE", None, None
        if now < done:
            return "IN_PROGRESS", queued, None
        return ("DONE" if self.has_data else "CANCELLED"), queued, done


class _Reports:
    """The reports created so far, by id, and their documents."""

    def __init__(self) -> None:
        self._reports: dict[str, _Report] = {}
        self._documents: dict[str, _Report] = {}
        self._ids = itertools.count(50_000_000_000 + secrets.randbelow(10**9))
        self._lock = threading.Lock()

    def add(self, report: _Report) -> None:
        with self._lock:
            self._reports[report.report_id] = report
            self._documents[report.document_id] = report

    def new_id(self) -> str:
        with self._lock:
            return str(next(self._ids))

    def get(self, report_id: str) -> _Report | None:
        with self._lock:
            return self._reports.get(report_id)

    def by_document(self, document_id: str) -> _Report | None:
        with self._lock:
            return self._documents.get(document_id)


def _sales_traffic_document(acct: _Account, report: _Report) -> dict:
    """GET_SALES_AND_TRAFFIC_REPORT with DAY granularity over the report's range."""
    assert report.start is not None and report.end is not None
    index, as_of = acct.sales_index, _us(report.created_at)
    marketplace = report.marketplaces[0]
    cur = acct.currency[marketplace]
    by_date, by_asin = [], defaultdict(_AsinTotals)
    granularity = report.options.get("asinGranularity", "PARENT")
    for day in _days(report.start, report.end):
        ordered = [ln for ln in index.ordered.get((marketplace, day), []) if ln[4] <= as_of]
        shipped = [
            ln
            for ln in index.shipped.get((marketplace, day), [])
            if ln[5] is not None and ln[5] <= as_of
        ]
        traffic = index.traffic.get((marketplace, day), []) if day < _as_of_date(as_of) else []
        by_date.append(
            _by_date_entry(
                day, ordered, shipped, traffic, _refunded_units(acct, marketplace, day, as_of), cur
            )
        )
        for ln in ordered:
            by_asin[_asin_key(index, marketplace, ln[1], granularity)].add_sale(ln)
        for t in traffic:
            by_asin[_asin_key(index, marketplace, t[0], granularity)].add_traffic(t)
    total_sessions = sum(t.sessions for t in by_asin.values()) or 1
    total_views = sum(t.page_views for t in by_asin.values()) or 1
    return {
        "reportSpecification": {
            "reportType": SALES_TRAFFIC,
            "reportOptions": report.options,
            "dataStartTime": report.start.date().isoformat(),
            "dataEndTime": report.end.date().isoformat(),
            "marketplaceIds": [marketplace],
        },
        "salesAndTrafficByDate": by_date,
        "salesAndTrafficByAsin": [
            t.entry(key, cur, total_sessions, total_views) for key, t in sorted(by_asin.items())
        ],
    }


def _as_of_date(as_of_us: int) -> date:
    """The day a report created at ``as_of_us`` is still in (its traffic is not final yet)."""
    return datetime.fromtimestamp(as_of_us / US, UTC).date()


def _days(start: datetime, end: datetime) -> list[date]:
    first, last = start.date(), end.date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _refunded_units(acct: _Account, marketplace: str, day: date, as_of: int) -> int:
    """Units refunded on ``day`` in ``marketplace``, counting refunds visible at ``as_of``."""
    return sum(qty for at, qty in acct.refunds_by_day().get((marketplace, day), ()) if at <= as_of)


def _asin_key(index: _SalesIndex, marketplace: str, product_id: int,
              granularity: str) -> tuple[str, str | None, str | None]:  # fmt: skip
    sku, asin, parent = index.listing.get((marketplace, product_id), (str(product_id), "", ""))
    if granularity == "PARENT":
        return parent, None, None
    if granularity == "CHILD":
        return parent, asin, None
    return parent, asin, sku


@dataclass
class _AsinTotals:
    units: int = 0
    sales: float = 0.0
    items: int = 0
    sessions: int = 0
    browser_sessions: int = 0
    mobile_sessions: int = 0
    page_views: int = 0
    buy_box_weighted: float = 0.0

    def add_sale(self, line: tuple) -> None:
        self.units += line[2]
        self.sales += line[2] * line[3]
        self.items += 1

    def add_traffic(self, t: tuple) -> None:
        _, sessions, views, browser, mobile, buy_box = t
        self.sessions += sessions
        self.browser_sessions += browser
        self.mobile_sessions += mobile
        self.page_views += views
        self.buy_box_weighted += buy_box * views

    def entry(self, key: tuple, cur: str, total_sessions: int, total_views: int) -> dict:
        parent, child, sku = key
        browser_views = _browser_share(self.page_views, self.browser_sessions, self.sessions)
        entry: dict[str, Any] = {"parentAsin": parent}
        if child is not None:
            entry["childAsin"] = child
        if sku is not None:
            entry["sku"] = sku
        entry["salesByAsin"] = {
            "unitsOrdered": self.units,
            "unitsOrderedB2B": 0,
            "orderedProductSales": {"amount": round(self.sales, 2), "currencyCode": cur},
            "orderedProductSalesB2B": {"amount": 0.0, "currencyCode": cur},
            "totalOrderItems": self.items,
            "totalOrderItemsB2B": 0,
        }
        entry["trafficByAsin"] = {
            "browserSessions": self.browser_sessions,
            "mobileAppSessions": self.mobile_sessions,
            "sessions": self.sessions,
            "browserSessionPercentage": _pct(self.browser_sessions, total_sessions),
            "mobileAppSessionPercentage": _pct(self.mobile_sessions, total_sessions),
            "sessionPercentage": _pct(self.sessions, total_sessions),
            "browserPageViews": browser_views,
            "mobileAppPageViews": self.page_views - browser_views,
            "pageViews": self.page_views,
            "browserPageViewsPercentage": _pct(browser_views, total_views),
            "mobileAppPageViewsPercentage": _pct(self.page_views - browser_views, total_views),
            "pageViewsPercentage": _pct(self.page_views, total_views),
            "buyBoxPercentage": round(self.buy_box_weighted / self.page_views, 2)
            if self.page_views
            else 0.0,
            "unitSessionPercentage": _pct(self.units, self.sessions),
        }
        return entry


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _browser_share(views: int, browser_sessions: int, sessions: int) -> int:
    return round(views * browser_sessions / sessions) if sessions else 0


def _by_date_entry(day: date, ordered: list[tuple], shipped: list[tuple], traffic: list[tuple],
                   units_refunded: int, cur: str) -> dict:  # fmt: skip
    units = sum(ln[2] for ln in ordered)
    sales = round(sum(ln[2] * ln[3] for ln in ordered), 2)
    items = len(ordered)
    sessions = sum(t[1] for t in traffic)
    views = sum(t[2] for t in traffic)
    browser = sum(t[3] for t in traffic)
    browser_views = _browser_share(views, browser, sessions)

    def money(amount: float) -> dict:
        return {"amount": round(amount, 2), "currencyCode": cur}

    return {
        "date": day.isoformat(),
        "salesByDate": {
            "orderedProductSales": money(sales),
            "unitsOrdered": units,
            "totalOrderItems": items,
            "averageSalesPerOrderItem": money(sales / items if items else 0.0),
            "averageUnitsPerOrderItem": round(units / items, 2) if items else 0.0,
            "averageSellingPrice": money(sales / units if units else 0.0),
            "unitsRefunded": units_refunded,
            "refundRate": _pct(units_refunded, units),
            "claimsGranted": 0,
            "claimsAmount": money(0.0),
            "shippedProductSales": money(sum(ln[2] * ln[3] for ln in shipped)),
            "unitsShipped": sum(ln[2] for ln in shipped),
            "ordersShipped": len({ln[0] for ln in shipped}),
        },
        "trafficByDate": {
            "browserPageViews": browser_views,
            "mobileAppPageViews": views - browser_views,
            "pageViews": views,
            "browserSessions": browser,
            "mobileAppSessions": sessions - browser,
            "sessions": sessions,
            "buyBoxPercentage": round(sum(t[5] * t[2] for t in traffic) / views, 2)
            if views
            else 0.0,
            "orderItemSessionPercentage": _pct(items, sessions),
            "unitSessionPercentage": _pct(units, sessions),
            "averageOfferCount": len(traffic),
            "averageParentItems": len(traffic),
            "feedbackReceived": 0,
            "negativeFeedbackReceived": 0,
            "receivedNegativeFeedbackRate": 0.0,
        },
    }


def _listings_document(acct: _Account, report: _Report) -> bytes:
    """GET_MERCHANT_LISTINGS_ALL_DATA: tab-separated, header row, one row per listing."""
    b, marketplace = acct.business, report.marketplaces[0]
    now = report.created_at
    listings = (
        b.current_prices(now)
        .filter((pl.col("account") == acct.account) & (pl.col("marketplace_id") == marketplace))
        .join(
            b.products.select("product_id", "upc", "brand", "category"), on="product_id", how="left"
        )
        .join(
            b.inventory_at(now)
            .filter(pl.col("location_id") == marketplace)
            .select("product_id", "available"),
            on="product_id",
            how="left",
        )
        .sort("channel_sku")
    )
    zone = ZoneInfo(LOCAL_ZONE[acct.country[marketplace]])
    north_america = REGION[marketplace] == "NA"
    out = io.StringIO()
    out.write("\t".join(LISTINGS_COLUMNS) + "\n")
    for r in listings.iter_rows(named=True):
        afn = r["fulfillment"] == "AFN"
        opened = datetime.combine(r["listed_from"], datetime.min.time(), UTC) + timedelta(
            seconds=(r["product_id"] * 7919) % 86_400
        )
        local = opened.astimezone(zone)
        values = {
            "item-name": r["title"],
            "item-description": f"{r['title']} from {r['brand']} ({r['category']}).",
            "listing-id": f"{r['listed_from']:%m%d}{_hex_id(marketplace, r['product_id'], 7)}",
            "seller-sku": r["channel_sku"],
            "price": f"{r['price']:.2f}",
            "quantity": "" if afn else str(int(r["available"] or 0)),
            "open-date": f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}",
            "item-is-marketplace": "y",
            "product-id-type": "3" if north_america else "4",
            "item-condition": "11",
            "asin1": r["channel_item_id"],
            "product-id": r["upc"] if north_america else "0" + r["upc"],
            "pending-quantity": "0",
            "fulfillment-channel": f"AMAZON_{REGION[marketplace]}" if afn else "DEFAULT",
            "merchant-shipping-group": "Migrated Template",
            "status": "Active" if r["is_active"] else "Inactive",
        }
        out.write("\t".join(_flat(values.get(c, "")) for c in LISTINGS_COLUMNS) + "\n")
    return out.getvalue().encode("utf-8")


def _flat(value: str) -> str:
    """Flat files have no quoting: tabs and line breaks inside a value become spaces."""
    return re.sub(r"[\t\r\n]+", " ", value)


def _hex_id(marketplace: str, product_id: int, length: int) -> str:
    digest = hashlib.sha1(f"{marketplace}:{product_id}".encode()).hexdigest().upper()
    return digest[:length]


# ---------------------------------------------------------------------------------------------
# The blueprint
# ---------------------------------------------------------------------------------------------
def create_blueprint(state: SandboxState) -> tuple[Blueprint, ChannelWire]:
    """The SP-API routes over ``state``, and how SP-API answers the generic faults."""
    blueprint = Blueprint(API, __name__, url_prefix=f"/{API}")
    accounts: dict[str, _Account] = {}
    accounts_lock = threading.Lock()
    pages = _Lru()
    reports = _Reports()
    url_key = secrets.token_bytes(16)
    operation_of_view: dict[str, str] = {}
    by_client_id = {
        c["client_id"]: (a, c) for a, c in SANDBOX_CREDENTIALS.items() if a.startswith(API)
    }

    def account_data(account: str) -> _Account:
        with accounts_lock:
            if account not in accounts:
                accounts[account] = _Account(state.business, account)
            return accounts[account]

    def multiplier() -> float:
        return state.limits.multiplier

    def quota_exceeded(limit: float) -> Response:
        response = _errors(
            429, "QuotaExceeded", "You exceeded your quota for the requested resource."
        )
        response.headers["x-amzn-RateLimit-Limit"] = _rate_header(limit)
        return response

    def throttled() -> Response:
        """A forced throttle, with the rate of the operation that was asked for."""
        operation = operation_of_view.get((request.endpoint or "").rsplit(".", 1)[-1])
        rate = OPERATIONS[operation][0] if operation else 1.0
        return quota_exceeded(rate * multiplier())

    def server_error(status: int) -> Response:
        if status == 503:
            return _errors(503, "ServiceUnavailable", "Service is temporarily unavailable.")
        return _errors(
            status, "InternalFailure", "We encountered an internal error. Please try again."
        )

    @blueprint.after_request
    def request_id(response: Response) -> Response:
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        return response

    def operation(name: str) -> Callable:
        """Auth, the operation's token bucket, its rate header and the error envelope."""
        rate, burst = OPERATIONS[name]

        def wrap(view: Callable[..., Response]) -> Callable[..., Response]:
            operation_of_view[view.__name__] = name

            @functools.wraps(view)
            def handler(**kwargs: Any) -> Response:
                token = request.headers.get("x-amz-access-token")
                account = state.tokens.account_for(API, token)
                if account is None:
                    return _errors(
                        403,
                        "Unauthorized",
                        "Access to requested resource is denied.",
                        "Access token is missing in the request header."
                        if not token
                        else "The access token you provided is revoked, malformed or invalid.",
                    )
                decision: Decision = state.limits.take(API, account, name, rate, burst)
                if not decision.ok:
                    return quota_exceeded(decision.limit)
                try:
                    response = view(account_data(account), **kwargs)
                except SpApiError as exc:
                    response = _errors(exc.status, exc.code, exc.message, exc.details)
                response.headers["x-amzn-RateLimit-Limit"] = _rate_header(decision.limit)
                return response

            return handler

        return wrap

    def marketplaces_param(acct: _Account, name: str, at_most: int = 50) -> list[str]:
        raw = request.args.get(name, "")
        ids = [m for m in raw.split(",") if m]
        if not ids:
            raise _invalid(f"Missing required parameter {name}.")
        if len(ids) > at_most:
            raise _invalid(f"{name} accepts at most {at_most} values.")
        return check_marketplaces(acct, ids, name)

    def check_marketplaces(acct: _Account, ids: list[str], name: str) -> list[str]:
        foreign = [m for m in ids if m not in acct.marketplaces]
        if foreign:
            raise _invalid(
                "Invalid Input",
                f"{name}: {', '.join(foreign)} is not a marketplace "
                "of this selling partner in this region",
            )
        return ids

    def latest_before() -> datetime:
        return state.now() - BEFORE_LAG

    # -- LWA ---------------------------------------------------------------------------------
    @blueprint.post("/auth/o2/token")
    def lwa_token() -> Response:
        form = request.form if request.form else (request.get_json(silent=True) or {})
        grant = form.get("grant_type")
        if grant is None or not form.get("client_id") or not form.get("client_secret"):
            return _json(
                {
                    "error": "invalid_request",
                    "error_description": "The request is missing a required parameter : grant_type, "
                    "client_id or client_secret",
                },
                400,
            )
        if grant != "refresh_token":
            return _json(
                {
                    "error": "unsupported_grant_type",
                    "error_description": f"The authorization grant type {grant} is not supported here",
                },
                400,
            )
        account, creds = by_client_id.get(str(form["client_id"]), (None, None))
        if creds is None or not hmac.compare_digest(
            creds["client_secret"], str(form["client_secret"])
        ):
            return _json(
                {"error": "invalid_client", "error_description": "Client authentication failed"},
                401,
            )
        if not hmac.compare_digest(creds["refresh_token"], str(form.get("refresh_token", ""))):
            return _json(
                {
                    "error": "invalid_grant",
                    "error_description": "The request has an invalid grant parameter : refresh_token",
                },
                400,
            )
        token = state.tokens.issue(API, account, TOKEN_TTL_S, prefix="Atza|")
        return _json({"access_token": token, "token_type": "bearer", "expires_in": TOKEN_TTL_S})

    # -- Orders v0 ---------------------------------------------------------------------------
    @blueprint.get("/orders/v0/orders")
    @operation("getOrders")
    def get_orders(acct: _Account) -> Response:
        marketplaces = marketplaces_param(acct, "MarketplaceIds")
        token = request.args.get("NextToken")
        query = _untoken(token) if token else new_orders_query(acct, marketplaces)
        if query.get("account") != acct.account or query.get("m") != marketplaces:
            raise _invalid("Invalid NextToken.", "NextToken does not match MarketplaceIds")
        matching = pages.get(
            ("orders", json.dumps(query | {"o": 0}, sort_keys=True)),
            lambda: select_orders(acct, query),
        )
        offset, size = int(query["o"]), int(query["n"])
        page = matching.slice(offset, size)
        payload: dict[str, Any] = {"Orders": [_order_json(r) for r in page.iter_rows(named=True)]}
        if offset + size < matching.height:
            payload["NextToken"] = _token(query | {"o": offset + size})
        payload[f"{query['by']}Before"] = _z(query["before"])
        return _json({"payload": payload})

    def new_orders_query(acct: _Account, marketplaces: list[str]) -> dict:
        created = _iso_param("CreatedAfter"), _iso_param("CreatedBefore")
        updated = _iso_param("LastUpdatedAfter"), _iso_param("LastUpdatedBefore")
        if any(created) and any(updated):
            raise _invalid(
                "CreatedAfter/CreatedBefore cannot be combined with "
                "LastUpdatedAfter/LastUpdatedBefore."
            )
        by, (after, before) = ("Created", created) if any(created) else ("LastUpdated", updated)
        if after is None:
            raise _invalid("Either CreatedAfter or LastUpdatedAfter must be specified.")
        latest = latest_before()
        if before is None:
            before = latest
        elif before > latest:
            raise _invalid(
                f"{by}Before must be a date at least 2 minutes before the time of the request."
            )
        if before < after:
            raise _invalid(f"{by}Before must be later than or equal to {by}After.")
        try:
            size = int(request.args.get("MaxResultsPerPage", ORDERS_MAX_PAGE))
        except ValueError:
            raise _invalid("MaxResultsPerPage must be an integer.") from None
        if not 1 <= size <= ORDERS_MAX_PAGE:
            raise _invalid(f"MaxResultsPerPage must be between 1 and {ORDERS_MAX_PAGE}.")
        statuses = [s for s in request.args.get("OrderStatuses", "").split(",") if s]
        unknown = [s for s in statuses if s not in ORDER_STATUSES]
        channels = [c for c in request.args.get("FulfillmentChannels", "").split(",") if c]
        if unknown or any(c not in ("AFN", "MFN") for c in channels):
            raise _invalid(
                "Invalid OrderStatuses or FulfillmentChannels value.",
                ", ".join(unknown + [c for c in channels if c not in ("AFN", "MFN")]),
            )
        return {
            "account": acct.account,
            "m": marketplaces,
            "by": by,
            "after": _us(after),
            "before": _us(before),
            "as_of": _us(state.now()),
            "s": statuses,
            "f": channels,
            "n": size,
            "o": 0,
        }

    def select_orders(acct: _Account, query: dict) -> pl.DataFrame:
        """The orders a query matches, as of the time of its first page, in a stable order."""
        as_of = datetime.fromtimestamp(query["as_of"] / US, UTC)
        frame = acct.orders_at(as_of).with_columns(
            (pl.col("last_updated_at").dt.epoch("us") // US * US).alias("_updated_us"),
            (pl.col("purchased_at").dt.epoch("us") // US * US).alias("_purchased_us"),
            pl.col("status").replace_strict(ORDER_STATUS).alias("order_status"),
        )
        column = "_updated_us" if query["by"] == "LastUpdated" else "_purchased_us"
        frame = frame.filter(
            pl.col("marketplace_id").is_in(query["m"])
            & pl.col(column).is_between(query["after"], query["before"])
        )
        if query["s"]:
            frame = frame.filter(pl.col("order_status").is_in(query["s"]))
        if query["f"]:
            frame = frame.filter(pl.col("fulfillment").is_in(query["f"]))
        return frame.sort(column, "channel_order_id")

    @blueprint.get("/orders/v0/orders/<order_id>/orderItems")
    @operation("getOrderItems")
    def get_order_items(acct: _Account, order_id: str) -> Response:
        if not ORDER_ID.match(order_id):
            raise _invalid("Invalid Input", f"{order_id!r} is not an AmazonOrderId")
        entry = acct.items.get(order_id)
        now_us = _us(state.now())
        if entry is None or entry.purchased_us > now_us:
            raise SpApiError(404, "NotFound", "Order not found.", f"AmazonOrderId {order_id}")
        offset = 0
        token = request.args.get("NextToken")
        if token:
            data = _untoken(token)
            if data.get("order") != order_id:
                raise _invalid("Invalid NextToken.", "NextToken belongs to another order")
            offset = int(data.get("o", 0))
        pending = now_us - entry.purchased_us < PENDING_FOR // timedelta(microseconds=1)
        shipped = entry.shipped_us is not None and entry.shipped_us <= now_us
        items = [
            _order_item_json(item, pending, shipped)
            for item in entry.items[offset : offset + ORDER_ITEMS_PAGE_SIZE]
        ]
        payload: dict[str, Any] = {"AmazonOrderId": order_id, "OrderItems": items}
        if offset + ORDER_ITEMS_PAGE_SIZE < len(entry.items):
            payload["NextToken"] = _token({"order": order_id, "o": offset + ORDER_ITEMS_PAGE_SIZE})
        return _json({"payload": payload})

    # -- Finances v0 -------------------------------------------------------------------------
    @blueprint.get("/finances/v0/financialEvents")
    @operation("listFinancialEvents")
    def list_financial_events(acct: _Account) -> Response:
        token = request.args.get("NextToken")
        query = _untoken(token) if token else new_finances_query(acct)
        if query.get("account") != acct.account:
            raise _invalid("Invalid NextToken.")
        posted, events = pages.get(
            (
                "finances",
                acct.account,
                query["after"],
                query["before"],
                query["as_of"],
                acct.business.refunds.height,
            ),
            lambda: select_events(acct, query),
        )
        start, span_end, size = int(query["i"]), int(query["span_end"]), int(query["n"])
        stop = min(start + size, int(np.searchsorted(posted, span_end, side="left")))
        page = events[start:stop]
        lists: dict[str, list[dict]] = {
            "ShipmentEventList": [],
            "RefundEventList": [],
            "ServiceFeeEventList": [],
            "AdjustmentEventList": [],
        }
        for event in page:
            lists[event.kind].append(event.body)
        payload: dict[str, Any] = {"FinancialEvents": lists}
        if stop == start + size and stop < len(events):
            payload["NextToken"] = _token(query | {"i": stop})
        elif span_end < query["before"]:
            payload["NextToken"] = _token(
                query | {"i": stop, "span_end": min(span_end + _span_us(), query["before"])}
            )
        return _json({"payload": payload})

    def new_finances_query(acct: _Account) -> dict:
        after = _iso_param("PostedAfter", required=True)
        before = _iso_param("PostedBefore") or latest_before()
        assert after is not None
        if before > latest_before() or after > latest_before():
            raise _invalid(
                "Date range is invalid.",
                "PostedAfter and PostedBefore must be at least 2 minutes before the request time",
            )
        if before <= after:
            raise _invalid("PostedBefore must be later than PostedAfter.")
        try:
            size = int(request.args.get("MaxResultsPerPage", FINANCES_MAX_PAGE))
        except ValueError:
            raise _invalid("MaxResultsPerPage must be an integer.") from None
        if not 1 <= size <= FINANCES_MAX_PAGE:
            raise _invalid(f"MaxResultsPerPage must be between 1 and {FINANCES_MAX_PAGE}.")
        a, b = _us(after), _us(before)
        return {
            "account": acct.account,
            "after": a,
            "before": b,
            "as_of": _us(state.now()),
            "n": size,
            "i": 0,
            "span_end": min(a + _span_us(), b),
        }

    def select_events(acct: _Account, query: dict) -> tuple[np.ndarray, list[_Event]]:
        """Shipments and refunds posted in [after, before), oldest first; nothing at all for
        a range over 180 days (what the real API does)."""
        after, before = query["after"], query["before"]
        if before - after > FINANCES_MAX_RANGE // timedelta(microseconds=1):
            return np.zeros(0, dtype=np.int64), []
        chosen: list[_Event] = []
        for posted, events in (acct.shipment_events, acct.refund_events()):
            lo, hi = np.searchsorted(posted, [after, before], side="left")
            chosen += [e for e in events[lo:hi] if e.posted_us <= query["as_of"]]
        chosen.sort(key=lambda e: e.posted_us)
        return np.array([e.posted_us for e in chosen], dtype=np.int64), chosen

    # -- Reports 2021-06-30 ------------------------------------------------------------------
    @blueprint.post("/reports/2021-06-30/reports")
    @operation("createReport")
    def create_report(acct: _Account) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise _invalid("The request body must be a JSON object.")
        report_type = body.get("reportType")
        if report_type not in (SALES_TRAFFIC, MERCHANT_LISTINGS):
            raise _invalid(
                "Invalid Input", f"reportType {report_type!r} is not supported by the sandbox"
            )
        ids = body.get("marketplaceIds")
        if not isinstance(ids, list) or not ids or not all(isinstance(m, str) for m in ids):
            raise _invalid("marketplaceIds must be a non-empty list of marketplace ids.")
        check_marketplaces(acct, ids, "marketplaceIds")
        if len(ids) != 1:
            raise _invalid(f"{report_type} accepts exactly one marketplace.")
        options = body.get("reportOptions") or {}
        if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
            raise _invalid("reportOptions must map strings to strings.")
        start, end = _report_range(body, report_type)
        now = state.now()
        if report_type == SALES_TRAFFIC:
            check_sales_traffic_options(options)
            assert start is not None and end is not None
            end = min(end, now)
            has_data = start < end and sales_data_exists(acct, ids[0], start, end, now)
        else:
            has_data = True
        report = _Report(
            reports.new_id(),
            acct.account,
            report_type,
            ids,
            start,
            end,
            options,
            now,
            time.monotonic(),
            has_data,
        )
        report.document_id = (
            f"amzn1.spdoc.1.4.{REGION[ids[0]].lower()}.{uuid.uuid4()}.T{secrets.randbelow(10**14)}"
        )
        reports.add(report)
        return _json({"reportId": report.report_id}, 202)

    def check_sales_traffic_options(options: dict) -> None:
        if options.get("dateGranularity", "DAY") != "DAY":
            raise _invalid("Invalid Input", "the sandbox only produces dateGranularity DAY")
        if options.get("asinGranularity", "PARENT") not in ("PARENT", "CHILD", "SKU"):
            raise _invalid("Invalid Input", "asinGranularity must be PARENT, CHILD or SKU")

    def sales_data_exists(acct: _Account, marketplace: str, start: datetime, end: datetime,
                          now: datetime) -> bool:  # fmt: skip
        index, now_us = acct.sales_index, _us(now)
        for day in _days(start, end):
            if any(ln[4] <= now_us for ln in index.ordered.get((marketplace, day), [])):
                return True
            if day < now.date() and index.traffic.get((marketplace, day)):
                return True
        return False

    def own_report(acct: _Account, report_id: str) -> _Report:
        report = reports.get(report_id)
        if report is None or report.account != acct.account:
            raise SpApiError(404, "NotFound", "Report not found.", f"reportId {report_id}")
        return report

    @blueprint.get("/reports/2021-06-30/reports/<report_id>")
    @operation("getReport")
    def get_report(acct: _Account, report_id: str) -> Response:
        report = own_report(acct, report_id)
        status, started, finished = report.status(multiplier())

        def wall(mono: float) -> str:
            return _z(_us(report.created_at) + int((mono - report.created_mono) * US))

        body: dict[str, Any] = {
            "reportId": report.report_id,
            "reportType": report.report_type,
            "marketplaceIds": report.marketplaces,
            "createdTime": _z(_us(report.created_at)),
            "processingStatus": status,
        }
        if report.start is not None and report.end is not None:
            body["dataStartTime"], body["dataEndTime"] = (
                _z(_us(report.start)),
                _z(_us(report.end)),
            )
        if started is not None:
            body["processingStartTime"] = wall(started)
        if finished is not None:
            body["processingEndTime"] = wall(finished)
        if status == "DONE":
            body["reportDocumentId"] = report.document_id
        return _json(body)

    @blueprint.get("/reports/2021-06-30/documents/<document_id>")
    @operation("getReportDocument")
    def get_report_document(acct: _Account, document_id: str) -> Response:
        report = reports.by_document(document_id)
        if (
            report is None
            or report.account != acct.account
            or report.status(multiplier())[0] != "DONE"
        ):
            raise SpApiError(
                404, "NotFound", "Report document not found.", f"reportDocumentId {document_id}"
            )
        issued = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(state.now().timestamp()))
        signature = sign(document_id, issued)
        url = (
            f"{request.host_url}{API}/_documents/{document_id}?X-Amz-Algorithm="
            f"AWS4-HMAC-SHA256&X-Amz-Date={issued}&X-Amz-Expires={DOCUMENT_URL_TTL_S}"
            f"&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}"
        )
        return _json({"reportDocumentId": document_id, "url": url, "compressionAlgorithm": "GZIP"})

    def sign(document_id: str, issued: str) -> str:
        return hmac.new(url_key, f"{document_id}|{issued}".encode(), hashlib.sha256).hexdigest()

    @blueprint.get("/_documents/<document_id>")
    def download_document(document_id: str) -> Response:
        """The presigned-style URL: no SP-API headers, S3-style XML errors."""
        issued = request.args.get("X-Amz-Date", "")
        given = request.args.get("X-Amz-Signature", "")
        report = reports.by_document(document_id)
        if report is None or not hmac.compare_digest(sign(document_id, issued), given):
            return _s3_error(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        issued_at = datetime.strptime(issued, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if state.now() > issued_at + timedelta(seconds=DOCUMENT_URL_TTL_S):
            return _s3_error("AccessDenied", "Request has expired")
        acct = account_data(report.account)
        if report.report_type == SALES_TRAFFIC:
            content = json.dumps(
                _sales_traffic_document(acct, report), separators=(",", ":")
            ).encode()
        else:
            content = _listings_document(acct, report)
        return Response(
            gzip.compress(content, compresslevel=5), 200, mimetype="application/octet-stream"
        )

    # -- FBA Inventory v1 --------------------------------------------------------------------
    @blueprint.get("/fba/inventory/v1/summaries")
    @operation("getInventorySummaries")
    def get_inventory_summaries(acct: _Account) -> Response:
        if request.args.get("granularityType") != "Marketplace":
            raise _invalid("Invalid Input", "granularityType must be Marketplace")
        marketplace = request.args.get("granularityId", "")
        if not marketplace:
            raise _invalid("Missing required parameter granularityId.")
        ids = marketplaces_param(acct, "marketplaceIds", at_most=1)
        check_marketplaces(acct, [marketplace], "granularityId")
        if ids != [marketplace]:
            raise _invalid("Invalid Input", "marketplaceIds must equal granularityId")
        details = request.args.get("details", "false").lower() == "true"
        offset, token = 0, request.args.get("nextToken")
        now = state.now()
        if token:
            data = _untoken(token, "nextToken")
            if data.get("m") != marketplace or data.get("account") != acct.account:
                raise _invalid("Invalid nextToken.")
            if now.timestamp() - float(data.get("issued", 0)) > INVENTORY_TOKEN_TTL_S:
                raise _invalid(
                    "Invalid Input", "The nextToken has expired; start again without it."
                )
            offset = int(data.get("o", 0))
        summaries = fba_inventory(acct, marketplace, now)
        page = summaries[offset : offset + INVENTORY_PAGE_SIZE]
        body: dict[str, Any] = {}
        if offset + INVENTORY_PAGE_SIZE < len(summaries):
            body["pagination"] = {
                "nextToken": _token(
                    {
                        "account": acct.account,
                        "m": marketplace,
                        "o": offset + INVENTORY_PAGE_SIZE,
                        "issued": now.timestamp(),
                    }
                )
            }
        body["payload"] = {
            "granularity": {"granularityType": "Marketplace", "granularityId": marketplace},
            "inventorySummaries": [
                s if details else {k: v for k, v in s.items() if k != "inventoryDetails"}
                for s in page
            ],
        }
        return _json(body)

    def fba_inventory(acct: _Account, marketplace: str, now: datetime) -> list[dict]:
        return pages.get(
            ("inventory", acct.account, marketplace, now.date()),
            lambda: _inventory_summaries(acct, marketplace, now),
        )

    return blueprint, ChannelWire(throttled=throttled, server_error=server_error)


def _span_us() -> int:
    return FINANCES_PAGE_SPAN // timedelta(microseconds=1)


def _report_range(body: dict, report_type: str) -> tuple[datetime | None, datetime | None]:
    """dataStartTime/dataEndTime (required for sales & traffic, ignored for listings)."""
    if report_type != SALES_TRAFFIC:
        return None, None
    bounds = []
    for name in ("dataStartTime", "dataEndTime"):
        value = body.get(name)
        if not isinstance(value, str):
            raise _invalid(f"{name} is required for {report_type}.")
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _invalid(f"{name}: {value!r} is not an ISO 8601 date-time.") from None
        bounds.append(
            moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        )
    if bounds[1] < bounds[0]:
        raise _invalid("dataEndTime must not be before dataStartTime.")
    return bounds[0], bounds[1]


def _s3_error(code: str, message: str) -> Response:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message><RequestId>{uuid.uuid4().hex[:16].upper()}"
        "</RequestId></Error>"
    )
    return Response(body, 403, mimetype="application/xml")


def _order_json(row: dict) -> dict:
    """One getOrders ``Order`` from a row of ``_Account.orders_at``."""
    status, cur = row["order_status"], row["currency"]
    purchased = row["_purchased_us"]
    afn = row["fulfillment"] == "AFN"
    units = int(row["units"] or 0)
    shipped = status == "Shipped"
    order: dict[str, Any] = {
        "AmazonOrderId": row["channel_order_id"],
        "SellerOrderId": row["channel_order_id"],
        "PurchaseDate": _z(purchased),
        "LastUpdateDate": _z(row["_updated_us"]),
        "OrderStatus": status,
        "FulfillmentChannel": row["fulfillment"],
        "SalesChannel": SALES_CHANNEL[row["marketplace_id"]],
        "ShipServiceLevel": f"{row['service_level']}Shipping" if afn else "Std Dom",
        "ShipmentServiceLevelCategory": row["service_level"],
    }
    if status != "Pending":
        order["OrderTotal"] = _money(row["order_total"], cur)
    order.update(
        {
            "NumberOfItemsShipped": units if shipped else 0,
            "NumberOfItemsUnshipped": units if status in ("Pending", "Unshipped") else 0,
            "PaymentMethod": "Other",
            "PaymentMethodDetails": ["Standard"],
            "MarketplaceId": row["marketplace_id"],
            "OrderType": "StandardOrder",
            "EarliestShipDate": _z(purchased),
            # the ship-by promise: the business ships MFN orders 6-72 h after purchase, so about
            # 1.5% ship late, a realistic late-shipment rate (FBA ships within 30 h)
            "LatestShipDate": _z(purchased + (48 if afn else 71) * 3_600 * US),
            "IsBusinessOrder": row["is_business"],
            "IsPrime": row["is_prime"],
            "IsPremiumOrder": False,
            "IsGlobalExpressEnabled": False,
            "IsReplacementOrder": False,
            "IsSoldByAB": False,
            "IsISPU": False,
            "IsAccessPointOrder": False,
            "HasRegulatedItems": False,
        }
    )
    if status != "Pending":
        order["BuyerInfo"] = {"BuyerEmail": row["email"]}
        order["ShippingAddress"] = {
            "City": row["ship_city"],
            "StateOrRegion": row["ship_state"],
            "PostalCode": row["ship_postal_code"],
            "CountryCode": row["country"],
        }
    return order


def _order_item_json(item: dict, pending: bool, shipped: bool) -> dict:
    """An order item as served now: no money while pending, shipped quantity once shipped."""
    served = {k: v for k, v in item.items() if not (pending and k in MONEY_FIELDS)}
    served["QuantityShipped"] = item["QuantityOrdered"] if shipped else 0
    return served


def _inventory_summaries(acct: _Account, marketplace: str, now: datetime) -> list[dict]:
    """FBA stock of the AFN listings of ``marketplace`` on ``now``'s day, by seller SKU."""
    listings = acct.listings.filter(
        (pl.col("marketplace_id") == marketplace) & (pl.col("fulfillment") == "AFN")
    )
    stock = (
        acct.business.inventory_at(now)
        .filter((pl.col("account") == acct.account) & (pl.col("location_id") == marketplace))
        .join(
            listings.select("product_id", "channel_item_id", "title"), on="product_id", how="inner"
        )
        .sort("channel_sku")
    )
    summaries = []
    for r in stock.iter_rows(named=True):
        fulfillable, reserved, inbound = int(r["available"]), int(r["reserved"]), int(r["inbound"])
        summaries.append(
            {
                "asin": r["channel_item_id"],
                "fnSku": "X00" + _hex_id(marketplace, r["product_id"], 7),
                "sellerSku": r["channel_sku"],
                "condition": "NewItem",
                "inventoryDetails": {
                    "fulfillableQuantity": fulfillable,
                    "inboundWorkingQuantity": 0,
                    "inboundShippedQuantity": inbound,
                    "inboundReceivingQuantity": 0,
                    "reservedQuantity": {
                        "totalReservedQuantity": reserved,
                        "pendingCustomerOrderQuantity": reserved,
                        "pendingTransshipmentQuantity": 0,
                        "fcProcessingQuantity": 0,
                    },
                    "researchingQuantity": {
                        "totalResearchingQuantity": 0,
                        "researchingQuantityBreakdown": [],
                    },
                    "unfulfillableQuantity": {
                        "totalUnfulfillableQuantity": 0,
                        "customerDamagedQuantity": 0,
                        "warehouseDamagedQuantity": 0,
                        "distributorDamagedQuantity": 0,
                        "carrierDamagedQuantity": 0,
                        "defectiveQuantity": 0,
                        "expiredQuantity": 0,
                    },
                },
                "lastUpdatedTime": _z(_us(r["last_updated_at"])),
                "productName": r["title"],
                "totalQuantity": fulfillable + reserved + inbound,
                "stores": [],
            }
        )
    return summaries
