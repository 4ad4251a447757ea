"""One shop as the Admin API shows it at one moment (``ShopView``): the shop, products and
variants, locations and inventory levels, orders with their lines and refunds."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl

from sandbox.business.addresses import address_seed, with_address
from sandbox.business.parameters import ACCOUNTS
from sandbox.shopify.common import (
    CUSTOMER_ID_BASE,
    INVENTORY_ITEM_OFFSET,
    REFUND_ID_BASE,
    REFUND_LINE_FACTOR,
    Collection,
    _epochs,
    _utc,
    gid,
    gid_number,
    iso,
    money,
)
from sandbox.wire import SHOPIFY_SHOPS


# ----------------------------------------------------------------------------------------
# the shop's data at one moment
# ----------------------------------------------------------------------------------------
class ShopView:
    """Everything one shop serves, as of ``now``: built lazily per part, then read-only."""

    def __init__(self, business: Any, account: str, now: datetime, frames: tuple[object, ...]):
        self.business = business
        self.account = account
        self.now = now
        self.frames = frames
        storefront = business.storefronts.filter(pl.col("account") == account).row(0, named=True)
        self.currency: str = storefront["currency"]
        self.country: str = storefront["country"]

    @cached_property
    def shop(self) -> dict:
        domain = next(name for name, acct in SHOPIFY_SHOPS.items() if acct == self.account)
        return {
            "id": gid("Shop", 60_000_000 + sorted(SHOPIFY_SHOPS).index(domain)),
            "name": domain,
            "myshopifyDomain": f"{domain}.myshopify.com",
            "currencyCode": self.currency,
            "ianaTimezone": "Etc/UTC",
        }

    # -- catalog ---------------------------------------------------------------------------
    @cached_property
    def listings(self) -> pl.DataFrame:
        """The shop's listings visible now, with product facts and current price."""
        prices = (
            self.business.current_prices(self.now)
            .filter(pl.col("account") == self.account)
            .select("product_id", "price")
        )
        changed = (
            self.business.prices.filter(
                (pl.col("account") == self.account) & (pl.col("valid_from") <= self.now.date())
            )
            .group_by("product_id")
            .agg(pl.col("valid_from").max().alias("price_from"))
        )
        return (
            self.business.listings.filter(
                (pl.col("account") == self.account) & (pl.col("listed_from") <= self.now.date())
            )
            .join(
                self.business.products.select(
                    "product_id", "title", "brand", "category", "gtin", "upc"
                ),
                on="product_id",
                how="left",
                suffix="_product",
            )
            .join(prices, on="product_id", how="inner")  # no variant without a price
            .join(changed, on="product_id", how="left")
            .sort("channel_product_id", "channel_item_id")
        )

    @cached_property
    def catalog(self) -> tuple[Collection, dict[str, dict], dict[str, dict]]:
        """(products collection, products by gid, variants by gid)."""
        products: dict[str, dict] = {}
        variants: dict[str, dict] = {}
        product_epochs: dict[str, list[int]] = {}
        for row in self.listings.iter_rows(named=True):
            created = _start_of(row["listed_from"])
            updated = max(created, _start_of(row["price_from"]) if row["price_from"] else created)
            product_gid = gid("Product", row["channel_product_id"])
            product = products.get(product_gid)
            if product is None:
                product = products[product_gid] = {
                    "id": product_gid,
                    "legacyResourceId": row["channel_product_id"],
                    "title": row.get("title_product") or row["title"],
                    "handle": _handle(row.get("title_product") or row["title"]),
                    "vendor": row["brand"],
                    "productType": row["category"],
                    "status": "ACTIVE"
                    if row["listed_until"] is None or row["listed_until"] > self.now.date()
                    else "ARCHIVED",
                    "createdAt": iso(created),
                    "updatedAt": iso(updated),
                    "_variants": [],
                }
                product_epochs[product_gid] = [int(created.timestamp()), int(updated.timestamp())]
            elif int(updated.timestamp()) > product_epochs[product_gid][1]:
                product["updatedAt"] = iso(updated)
                product_epochs[product_gid][1] = int(updated.timestamp())
            variant = self._variant(row, created, updated, product_gid)
            variants[variant["id"]] = variant
            product["_variants"].append(variant)
        nodes = list(products.values())
        collection = Collection(
            nodes,
            {
                "created_at": np.array([product_epochs[n["id"]][0] for n in nodes], np.int64),
                "updated_at": np.array([product_epochs[n["id"]][1] for n in nodes], np.int64),
            },
        )
        return collection, products, variants

    def _variant(self, row: dict, created: datetime, updated: datetime, product_gid: str) -> dict:
        return {
            "id": gid("ProductVariant", row["channel_item_id"]),
            "legacyResourceId": row["channel_item_id"],
            "sku": row["channel_sku"],
            "title": "Default Title",
            "price": f"{row['price']:.2f}",
            # US shops keep the 12-digit UPC in the barcode field, EU shops the EAN-13 (GTIN)
            "barcode": row["upc"] if self.country == "US" else row["gtin"],
            "createdAt": iso(created),
            "updatedAt": iso(updated),
            "_product": product_gid,
            "_inventory_item": gid(
                "InventoryItem", INVENTORY_ITEM_OFFSET + int(row["channel_item_id"])
            ),
        }

    # -- inventory -------------------------------------------------------------------------
    @cached_property
    def locations(self) -> dict[str, dict]:
        frame = self.business.locations.filter(pl.col("account") == self.account)
        return {
            row["location_id"]: {
                "id": row["location_id"],
                "legacyResourceId": str(gid_number(row["location_id"])),
                "name": row["location_name"],
                "isActive": True,
            }
            for row in frame.sort("location_id").iter_rows(named=True)
        }

    @cached_property
    def inventory(self) -> tuple[Collection, dict[str, dict]]:
        """(inventory items collection, items by gid); one item per listed variant."""
        levels = (
            self.business.inventory_at(self.now)
            .filter(pl.col("account") == self.account)
            .join(
                self.listings.select("product_id", "channel_item_id", "channel_sku", "listed_from"),
                on="product_id",
                how="inner",
            )
            .with_columns(_utc("last_updated_at").alias("updated"))
            .sort("channel_item_id", "location_id")
        )
        items: dict[str, dict] = {}
        epochs: dict[str, int] = {}
        for row in levels.iter_rows(named=True):
            number = INVENTORY_ITEM_OFFSET + int(row["channel_item_id"])
            item_gid = gid("InventoryItem", number)
            updated = row["updated"] or _start_of(row["listed_from"])
            item = items.get(item_gid)
            if item is None:
                item = items[item_gid] = {
                    "id": item_gid,
                    "legacyResourceId": str(number),
                    "sku": row["channel_sku"],
                    "tracked": True,
                    "createdAt": iso(_start_of(row["listed_from"])),
                    "updatedAt": iso(updated),
                    "_variant": gid("ProductVariant", row["channel_item_id"]),
                    "_levels": [],
                }
                epochs[item_gid] = int(updated.timestamp())
            elif int(updated.timestamp()) > epochs[item_gid]:
                item["updatedAt"] = iso(updated)
                epochs[item_gid] = int(updated.timestamp())
            item["_levels"].append(self._level(row, item_gid, number, updated))
        nodes = list(items.values())
        collection = Collection(
            nodes, {"updated_at": np.array([epochs[n["id"]] for n in nodes], np.int64)}
        )
        return collection, items

    def _level(self, row: dict, item_gid: str, item_number: int, updated: datetime) -> dict:
        # The business reserves sold units until they ship: Shopify calls those "committed"
        # (on_hand = available + committed + the unavailable states, none of which we model).
        location = self.locations[row["location_id"]]
        return {
            "id": f"gid://shopify/InventoryLevel/{gid_number(location['id'])}"
            f"?inventory_item_id={item_number}",
            "location": location,
            "_item": item_gid,
            "updatedAt": iso(updated),
            "_quantities": {
                "available": int(row["available"]),
                "on_hand": int(row["on_hand"]),
                "committed": int(row["reserved"]),
                "incoming": int(row["inbound"]),
                "reserved": 0,
                "damaged": 0,
                "safety_stock": 0,
                "quality_control": 0,
            },
        }

    # -- orders ----------------------------------------------------------------------------
    @cached_property
    def order_data(self) -> tuple[Collection, dict[str, dict], dict[str, dict]]:
        """(orders collection, orders by gid, refunds by gid)."""
        frames = order_frames(self.business, self.account, self.now)
        lines_by_order = _line_payloads(frames["lines"], self.currency)
        refunds_by_order, refunds = _refund_payloads(
            frames["refunds"], lines_by_order, self.currency
        )
        nodes = [
            _order_payload(
                row,
                lines_by_order.get(row["order_key"], []),
                refunds_by_order.get(row["order_key"], []),
            )
            for row in frames["orders"].iter_rows(named=True)
        ]
        orders = frames["orders"]
        collection = Collection(
            nodes,
            {
                "created_at": _epochs(orders, "purchased"),
                "processed_at": _epochs(orders, "purchased"),
                "updated_at": _epochs(orders, "updated"),
            },
        )
        return collection, {n["id"]: n for n in nodes}, refunds


def _start_of(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(microsecond=0)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _handle(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def order_frames(business: Any, account: str, now: datetime) -> dict[str, pl.DataFrame]:
    """The shop's orders (with totals), lines and refunds as of ``now``, as polars frames."""
    orders = business.orders_view(now).filter(pl.col("account") == account)
    keys = orders.select("order_key")
    listings = business.listings.filter(pl.col("account") == account).select(
        "product_id", "channel_item_id", "channel_product_id"
    )
    lines = (
        business.lines_view(now)
        .join(keys, on="order_key", how="semi")
        .join(listings, on="product_id", how="left")
        .sort("order_key", "line_number")
    )
    refunds = (
        business.refunds_view(now)
        .join(keys, on="order_key", how="semi")
        .join(
            lines.select("order_key", "line_number", "line_id", "unit_price"),
            on=["order_key", "line_number"],
            how="left",
        )
        .with_columns(_utc("refunded_at").alias("refunded"))
        .sort("order_key", "refunded_at", "refund_id", "line_number")
    )
    totals = lines.group_by("order_key").agg(
        (pl.col("unit_price") * pl.col("quantity")).sum().alias("gross"),
        pl.col("discount").sum().alias("discounts"),
        pl.col("tax").sum().alias("line_tax"),
    )
    customers = business.customers.select("customer_id", "email", "address_of", "billing_country")
    country = next(s.country for s in ACCOUNTS if s.account == account)
    orders = (
        orders.join(totals, on="order_key", how="left")
        .join(customers, on="customer_id", how="left")
        .with_columns(
            pl.lit(country).alias("country"),
            address_seed(pl.col("address_of")).alias("_c"),
        )
        .pipe(with_address)
        .with_columns(
            _utc("purchased_at").alias("purchased"),
            _utc("last_updated_at").alias("updated"),
            _utc("cancelled_at").alias("cancelled"),
            pl.col("gross", "discounts", "line_tax").fill_null(0.0),
        )
        .sort("updated", "channel_order_id")
    )
    return {"orders": orders, "lines": lines, "refunds": refunds}


def _financial_status(row: dict) -> str:
    if row["is_refunded"] == "full":
        return "REFUNDED"
    if row["is_refunded"] == "partial":
        return "PARTIALLY_REFUNDED"
    if row["cancelled"] is not None:
        return "VOIDED"  # cancelled before the payment was captured
    if row["status"] == "pending":
        return "PENDING"
    return "PAID"


def _order_payload(row: dict, lines: list[dict], refunds: list[dict]) -> dict:
    currency = row["currency"]
    subtotal = row["gross"] - row["discounts"]
    tax = row["line_tax"] + (row["shipping_tax"] or 0.0)
    total = subtotal + (row["shipping_price"] or 0.0) + tax
    refunded = row["refunded_amount"] or 0.0
    customer = None
    if row["customer_id"] is not None:
        number = CUSTOMER_ID_BASE + int(row["customer_id"])
        customer = {
            "id": gid("Customer", number),
            "legacyResourceId": str(number),
            "email": row["email"],
        }
    return {
        "id": gid("Order", row["channel_order_id"]),
        "legacyResourceId": str(row["channel_order_id"]),
        "name": row["channel_order_name"],
        "email": row["email"],
        "createdAt": iso(row["purchased"]),
        "updatedAt": iso(row["updated"]),
        "processedAt": iso(row["purchased"]),
        "cancelledAt": iso(row["cancelled"]),
        "currencyCode": currency,
        "presentmentCurrencyCode": currency,
        "displayFinancialStatus": _financial_status(row),
        "displayFulfillmentStatus": "FULFILLED"
        if row["status"] in ("shipped", "delivered")
        else "UNFULFILLED",
        "subtotalPriceSet": money(subtotal, currency),
        "totalPriceSet": money(total, currency),
        "currentTotalPriceSet": money(total - refunded, currency),
        "totalDiscountsSet": money(row["discounts"], currency),
        "totalTaxSet": money(tax, currency),
        "totalShippingPriceSet": money(row["shipping_price"] or 0.0, currency),
        "totalRefundedSet": money(refunded, currency),
        "customer": customer,
        "shippingAddress": customer and _address(row, row["country"]),
        "billingAddress": customer and _address(row, row["billing_country"]),
        "billingAddressMatchesShippingAddress": customer is not None
        and row["billing_country"] == row["country"],
        "_lines": lines,
        "refunds": refunds,
    }


def _address(row: dict, country: str) -> dict:
    """A MailingAddress: the shipping address, or the billing address of a card issued in
    ``country`` (its street and city are not simulated: only the country is told)."""
    if country != row["country"]:
        return {"address1": None, "city": None, "provinceCode": None, "zip": None,
                "countryCodeV2": country}  # fmt: skip
    return {
        "address1": row["ship_address1"],
        "city": row["ship_city"],
        "provinceCode": row["ship_state"] if country in ("US", "CA") else None,
        "zip": row["ship_postal_code"],
        "countryCodeV2": country,
    }


def _line_payloads(lines: pl.DataFrame, currency: str) -> dict[str, list[dict]]:
    by_order: dict[str, list[dict]] = defaultdict(list)
    for row in lines.iter_rows(named=True):
        by_order[row["order_key"]].append(
            {
                "id": gid("LineItem", row["line_id"]),
                "sku": row["channel_sku"],
                "name": row["channel_sku"],
                "quantity": int(row["quantity"]),
                "originalUnitPriceSet": money(row["unit_price"], currency),
                "totalDiscountSet": money(row["discount"] or 0.0, currency),
                "_line_number": row["line_number"],
                "_variant": None
                if row["channel_item_id"] is None
                else gid("ProductVariant", row["channel_item_id"]),
                "_product": None
                if row["channel_product_id"] is None
                else gid("Product", row["channel_product_id"]),
            }
        )
    return by_order


def _refund_payloads(
    refunds: pl.DataFrame, lines_by_order: dict[str, list[dict]], currency: str
) -> tuple[dict[str, list[dict]], dict[str, dict]]:
    """Refund rows (one per refunded line) grouped into Shopify refunds: the lines of one
    order refunded at the same moment form one refund, numbered after its first line."""
    by_order: dict[str, list[dict]] = defaultdict(list)
    by_gid: dict[str, dict] = {}
    current: dict[tuple[str, datetime], dict] = {}
    for row in refunds.iter_rows(named=True):
        group = (row["order_key"], row["refunded"])
        refund = current.get(group)
        if refund is None:
            number = REFUND_ID_BASE + int(row["order_key"]) * 100 + int(row["line_number"])
            refund = current[group] = by_gid[gid("Refund", number)] = {
                "id": gid("Refund", number),
                "legacyResourceId": str(number),
                "createdAt": iso(row["refunded"]),
                "updatedAt": iso(row["refunded"]),
                "note": row["reason"],
                "_number": number,
                "_amount": 0.0,
                "_lines": [],
            }
            by_order[row["order_key"]].append(refund)
        refund["_amount"] += row["amount"]
        line = next(
            (
                item
                for item in lines_by_order.get(row["order_key"], [])
                if item["_line_number"] == row["line_number"]
            ),
            None,
        )
        if line is not None:
            line_number = refund["_number"] * REFUND_LINE_FACTOR + int(row["line_number"])
            refund["_lines"].append(
                {
                    "id": gid("RefundLineItem", line_number),
                    "quantity": int(row["quantity"]),
                    "restocked": False,
                    "lineItem": line,
                    "subtotalSet": money(row["amount"], currency),
                    "priceSet": money(row["unit_price"] or 0.0, currency),
                }
            )
    for refund in by_gid.values():
        refund["totalRefundedSet"] = money(refund.pop("_amount"), currency)
        del refund["_number"]
    return by_order, by_gid
