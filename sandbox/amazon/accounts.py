"""Per-account views of the business for the SP-API emulator, built once (lazily) and reused
by every request: orders, order items, listings, financial events and the reports' sales index."""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import polars as pl

from sandbox.amazon.common import (
    SALES_CHANNEL,
    _finance_money,
    _mix,
    _money,
    _us,
    _z,
)
from sandbox.business import Business
from sandbox.business.addresses import address_seed, with_address


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
                address_seed(pl.col("customer_id")).alias("_c"),
            )
        )
        return with_address(frame).drop("goods", "_c", "ship_address1")

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
