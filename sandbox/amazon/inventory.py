"""SP-API FBA Inventory v1: ``getInventorySummaries``, 50 per page, expiring ``nextToken``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
from flask import Response, request

from sandbox.amazon.accounts import _Account
from sandbox.amazon.common import (
    _hex_id,
    _invalid,
    _json,
    _token,
    _untoken,
    _us,
    _z,
)
from sandbox.amazon.context import SpApi

INVENTORY_PAGE_SIZE = 50
INVENTORY_TOKEN_TTL_S = 30.0


def register_inventory(api: SpApi) -> None:
    """``getInventorySummaries`` on the blueprint."""
    blueprint, state, pages, operation = api.blueprint, api.state, api.pages, api.operation
    marketplaces_param, check_marketplaces = api.marketplaces_param, api.check_marketplaces

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
