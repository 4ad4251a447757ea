"""Shopify Admin GraphQL extractor: orders (incremental by ``updated_at``), catalog and
inventory snapshots.

Why it is shaped this way:

* **Cost, not request counts, is the budget.** Shopify charges every query its worst-case
  cost up front (reference B.3), so page sizes are derived from the query itself: the
  client estimates a query's requested cost with Shopify's published rules and picks the
  largest ``first`` that stays under the 1000-point single-query limit. Nested connections
  (line items, refund lines, variants, inventory levels) are fetched with small nested pages
  and the rare overflow is completed by follow-up queries on that one object.
* **Pacing before throttling.** Every response reports the bucket (``throttleStatus``); before
  the next query the client projects the bucket forward at the restore rate and sleeps just
  long enough if the query would not fit. A THROTTLED answer anyway (HTTP 200 with
  ``errors[].extensions.code``; some report 429) is retried after
  (requested − available) / restoreRate seconds.
* **Offline tokens cannot be refreshed.** A Shopify app's offline access token never expires;
  a 401 means it was revoked (app uninstalled or re-authorised). The client retries once with
  the same token (a transient revocation, as the sandbox's ``expire_tokens`` fault models)
  and then fails with an error that says so.
* **Orders by update time.** The orders stream asks for ``updated_at`` in the window, sorted
  by UPDATED_AT: each order lands (with its lines and refunds as they are now) in the
  partition of its last update, so a late refund to an old order reappears in today's
  partition, and the latest row per order wins downstream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import pyarrow as pa
import requests
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    parse,
)

from extractors import http
from extractors.base import (
    MONEY,
    TS,
    CallStats,
    EntitySpec,
    ExtractResult,
    RecordError,
    Stream,
    Window,
    iso_z,
    parse_iso,
    to_money,
)
from extractors.http import ApiClient, ApiError, RetrySettings, TransientError
from extractors.shopify.settings import ShopifyConnection

log = logging.getLogger("channelhouse.extractors.shopify")

CHANNEL = "shopify"
MAX_QUERY_COST = 1000  # Shopify's single-query limit
MAX_PAGE_SIZE = 250
ORDER_HISTORY_DAYS = 60  # older orders need the read_all_orders scope (reference B.1)
# Nested page sizes: big enough for almost every object, small enough to keep the outer
# page large (the nested `first` multiplies the cost of every outer node).
LINE_PAGE = 3
REFUND_LINE_PAGE = 3
VARIANT_PAGE = 10
LEVEL_PAGE = 5

# --------------------------------------------------------------------------------------------
# entities
# --------------------------------------------------------------------------------------------


STRING = pa.string()


def _key(name: str, type_: pa.DataType = STRING) -> pa.Field:
    return pa.field(name, type_, nullable=False)


ORDERS = EntitySpec(
    "orders",
    pa.schema(
        [
            _key("shopify_order_id"),
            _key("legacy_resource_id"),
            pa.field("name", pa.string()),
            _key("created_at", TS),
            _key("updated_at", TS),
            pa.field("processed_at", TS),
            pa.field("cancelled_at", TS),
            _key("currency"),
            pa.field("financial_status", pa.string()),
            pa.field("fulfillment_status", pa.string()),
            pa.field("total_price", MONEY),
            pa.field("subtotal_price", MONEY),
            pa.field("total_discounts", MONEY),
            pa.field("total_tax", MONEY),
            pa.field("total_shipping", MONEY),
            pa.field("customer_id", pa.string()),
            pa.field("customer_email", pa.string()),
        ]
    ),
    ("shopify_order_id",),
    "updated_at",
)

ORDER_LINES = EntitySpec(
    "order_lines",
    pa.schema(
        [
            _key("shopify_order_id"),
            _key("line_item_id"),
            _key("order_updated_at", TS),
            pa.field("sku", pa.string()),
            pa.field("variant_id", pa.string()),
            pa.field("product_id", pa.string()),
            _key("quantity", pa.int64()),
            _key("unit_price", MONEY),
            pa.field("total_discount", MONEY),
            _key("currency"),
        ]
    ),
    ("shopify_order_id", "line_item_id"),
    "order_updated_at",
)

REFUNDS = EntitySpec(
    "refunds",
    pa.schema(
        [
            _key("refund_id"),
            _key("shopify_order_id"),
            _key("order_updated_at", TS),
            pa.field("created_at", TS),
            _key("amount", MONEY),
            _key("currency"),
        ]
    ),
    ("refund_id",),
    "order_updated_at",
)

REFUND_LINES = EntitySpec(
    "refund_lines",
    pa.schema(
        [
            _key("refund_id"),
            _key("line_item_id"),
            _key("shopify_order_id"),
            _key("order_updated_at", TS),
            _key("quantity", pa.int64()),
            pa.field("amount", MONEY),
        ]
    ),
    ("refund_id", "line_item_id"),
    "order_updated_at",
)

PRODUCTS = EntitySpec(
    "products",
    pa.schema(
        [
            _key("product_id"),
            pa.field("legacy_resource_id", pa.string()),
            pa.field("title", pa.string()),
            pa.field("handle", pa.string()),
            pa.field("vendor", pa.string()),
            pa.field("product_type", pa.string()),
            pa.field("status", pa.string()),
            pa.field("created_at", TS),
            pa.field("updated_at", TS),
        ]
    ),
    ("product_id",),
    None,
)

PRODUCT_VARIANTS = EntitySpec(
    "product_variants",
    pa.schema(
        [
            _key("variant_id"),
            pa.field("legacy_resource_id", pa.string()),
            _key("product_id"),
            pa.field("sku", pa.string()),
            pa.field("title", pa.string()),
            pa.field("barcode", pa.string()),
            pa.field("price", MONEY),
            pa.field("currency", pa.string()),
            pa.field("inventory_item_id", pa.string()),
            pa.field("created_at", TS),
            pa.field("updated_at", TS),
        ]
    ),
    ("variant_id",),
    None,
)

INVENTORY_LEVELS = EntitySpec(
    "inventory_levels",
    pa.schema(
        [
            _key("inventory_item_id"),
            _key("location_id"),
            pa.field("variant_id", pa.string()),
            pa.field("sku", pa.string()),
            pa.field("location_name", pa.string()),
            pa.field("available", pa.int64()),
            pa.field("on_hand", pa.int64()),
            pa.field("committed", pa.int64()),
            pa.field("incoming", pa.int64()),
            pa.field("reserved", pa.int64()),
            pa.field("updated_at", TS),
        ]
    ),
    ("inventory_item_id", "location_id"),
    None,
)

ENTITIES: dict[str, EntitySpec] = {
    e.name: e
    for e in (
        ORDERS,
        ORDER_LINES,
        REFUNDS,
        REFUND_LINES,
        PRODUCTS,
        PRODUCT_VARIANTS,
        INVENTORY_LEVELS,
    )
}

STREAMS: dict[str, Stream] = {
    "orders": Stream(
        "orders",
        (ORDERS, ORDER_LINES, REFUNDS, REFUND_LINES),
        incremental=True,
        cadence="hourly",
        description="Orders updated in the window, with their line items and "
        "refunds as they are now (orders query, sortKey UPDATED_AT).",
    ),
    "products": Stream(
        "products",
        (PRODUCTS, PRODUCT_VARIANTS),
        incremental=False,
        cadence="every_6_hours",
        description="The product catalog with variants (SKU, barcode, price).",
    ),
    "inventory": Stream(
        "inventory",
        (INVENTORY_LEVELS,),
        incremental=False,
        cadence="every_30_minutes",
        description="Inventory quantities per inventory item and location.",
    ),
}

# --------------------------------------------------------------------------------------------
# queries
# --------------------------------------------------------------------------------------------
_LINE = """
fragment Line on LineItem {
  id sku quantity
  originalUnitPriceSet { shopMoney { amount currencyCode } }
  totalDiscountSet { shopMoney { amount } }
  variant { id } product { id }
}"""
_REFUND_LINE = """
fragment RefundLine on RefundLineItem { quantity lineItem { id } subtotalSet { shopMoney { amount } } }
"""
_PAGE = "pageInfo { hasNextPage endCursor }"

ORDERS_QUERY = (
    f"""
query Orders($first: Int!, $after: String, $query: String!) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    {_PAGE}
    nodes {{
      id legacyResourceId name createdAt updatedAt processedAt cancelledAt currencyCode
      displayFinancialStatus displayFulfillmentStatus
      totalPriceSet {{ shopMoney {{ amount }} }}
      subtotalPriceSet {{ shopMoney {{ amount }} }}
      totalDiscountsSet {{ shopMoney {{ amount }} }}
      totalTaxSet {{ shopMoney {{ amount }} }}
      totalShippingPriceSet {{ shopMoney {{ amount }} }}
      customer {{ id email }}
      lineItems(first: {LINE_PAGE}) {{ {_PAGE} nodes {{ ...Line }} }}
      refunds {{
        id createdAt totalRefundedSet {{ shopMoney {{ amount currencyCode }} }}
        refundLineItems(first: {REFUND_LINE_PAGE}) {{ {_PAGE} nodes {{ ...RefundLine }} }}
      }}
    }}
  }}
}}"""
    + _LINE
    + _REFUND_LINE
)

ORDER_LINES_QUERY = (
    f"""
query OrderLines($id: ID!, $first: Int!, $after: String) {{
  order(id: $id) {{ lineItems(first: $first, after: $after) {{ {_PAGE} nodes {{ ...Line }} }} }}
}}"""
    + _LINE
)

REFUND_LINES_QUERY = (
    f"""
query RefundLines($id: ID!, $first: Int!, $after: String) {{
  refund(id: $id) {{
    refundLineItems(first: $first, after: $after) {{ {_PAGE} nodes {{ ...RefundLine }} }}
  }}
}}"""
    + _REFUND_LINE
)

_VARIANT = """
fragment Variant on ProductVariant {
  id legacyResourceId sku title price barcode createdAt updatedAt inventoryItem { id }
}"""

PRODUCTS_QUERY = (
    f"""
query Products($first: Int!, $after: String) {{
  products(first: $first, after: $after, sortKey: ID) {{
    {_PAGE}
    nodes {{
      id legacyResourceId title handle vendor productType status createdAt updatedAt
      variants(first: {VARIANT_PAGE}) {{ {_PAGE} nodes {{ ...Variant }} }}
    }}
  }}
}}"""
    + _VARIANT
)

PRODUCT_VARIANTS_QUERY = (
    f"""
query ProductVariants($id: ID!, $first: Int!, $after: String) {{
  product(id: $id) {{ variants(first: $first, after: $after) {{ {_PAGE} nodes {{ ...Variant }} }} }}
}}"""
    + _VARIANT
)

SHOP_QUERY = "query Shop { shop { currencyCode } }"

_LEVEL = """
fragment Level on InventoryLevel {
  updatedAt location { id name }
  quantities(names: ["available", "on_hand", "committed", "incoming", "reserved"]) {
    name quantity
  }
}"""

INVENTORY_QUERY = (
    f"""
query Inventory($first: Int!, $after: String) {{
  inventoryItems(first: $first, after: $after) {{
    {_PAGE}
    nodes {{
      id sku variant {{ id }}
      inventoryLevels(first: {LEVEL_PAGE}) {{ {_PAGE} nodes {{ ...Level }} }}
    }}
  }}
}}"""
    + _LEVEL
)

INVENTORY_LEVELS_QUERY = (
    f"""
query InventoryLevels($id: ID!, $first: Int!, $after: String) {{
  inventoryItem(id: $id) {{
    inventoryLevels(first: $first, after: $after) {{ {_PAGE} nodes {{ ...Level }} }}
  }}
}}"""
    + _LEVEL
)


# --------------------------------------------------------------------------------------------
# query cost (Shopify's published rules, computed from the query text)
# --------------------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _document(query: str) -> tuple[OperationDefinitionNode, dict[str, FragmentDefinitionNode]]:
    document = parse(query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return operation, fragments


def _field_nodes(
    selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode]
) -> list[FieldNode]:
    found: list[FieldNode] = []
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            found.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            found += _field_nodes(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            found += _field_nodes(fragments[selection.name.value].selection_set, fragments)
    return found


def _first_arg(node: FieldNode, variables: dict[str, Any]) -> int | None:
    for argument in node.arguments:
        if argument.name.value == "first":
            value = argument.value
            if isinstance(value, VariableNode):
                return variables.get(value.name.value)
            if isinstance(value, IntValueNode):
                return int(value.value)
    return None


def _selection_cost(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> int:
    total = 0
    for node in _field_nodes(selection_set, fragments):
        if node.selection_set is None:
            continue  # scalars and enums are free
        first = _first_arg(node, variables)
        children = {c.name.value: c for c in _field_nodes(node.selection_set, fragments)}
        if "edges" in children or "nodes" in children:  # a connection: 2 + first x item
            items = [children["nodes"]] if "nodes" in children else []
            if "edges" in children:
                items += [
                    c
                    for c in _field_nodes(children["edges"].selection_set, fragments)
                    if c.name.value == "node"
                ]
            item = max(1 + _selection_cost(i.selection_set, fragments, variables) for i in items)
            total += 2 + (first or 0) * item
        else:  # an object (1) or a list of objects (first x item, 1 x item without first)
            total += (first or 1) * (1 + _selection_cost(node.selection_set, fragments, variables))
    return total


def query_cost(query: str, variables: dict[str, Any]) -> int:
    """The requested (worst-case) cost Shopify will charge for ``query``."""
    operation, fragments = _document(query)
    return _selection_cost(operation.selection_set, fragments, variables)


def fit_page_size(query: str, variables: dict[str, Any]) -> int:
    """The largest ``first`` (≤ 250) whose requested cost stays within the query limit."""
    base = query_cost(query, {**variables, "first": 0})
    per_item = query_cost(query, {**variables, "first": 1}) - base
    if per_item <= 0:
        return MAX_PAGE_SIZE
    size = min(MAX_PAGE_SIZE, (MAX_QUERY_COST - base) // per_item)
    if size < 1:
        raise ValueError(
            f"one item of this query costs {base + per_item} points, over the "
            f"{MAX_QUERY_COST}-point limit"
        )
    return size


# --------------------------------------------------------------------------------------------
# the client
# --------------------------------------------------------------------------------------------
def _graphql_errors(body: object) -> list[dict]:
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        return [e for e in body["errors"] if isinstance(e, dict)]
    return []


def _error_codes(body: object) -> set[str]:
    return {str((e.get("extensions") or {}).get("code")) for e in _graphql_errors(body)}


def _json_or_none(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


class ShopifyClient(ApiClient):
    """One shop's Admin GraphQL endpoint: token header, cost-aware pacing, GraphQL errors."""

    def __init__(
        self, connection: str, url: str, access_token: str, retry: RetrySettings | None = None
    ):
        super().__init__(connection, url, secrets=[access_token], retry=retry)
        self._token = access_token
        # last throttleStatus seen: (currentlyAvailable, maximumAvailable, restoreRate, when)
        self._bucket: tuple[float, float, float, float] | None = None

    def auth_headers(self) -> dict[str, str]:
        return {"X-Shopify-Access-Token": self._token}

    def refresh_token(self) -> None:
        """Offline tokens cannot be refreshed: the retry re-sends the same token once.

        A revocation that persists (the app was uninstalled) fails the call on the second
        401 with a message that says the credentials were refused after a retry.
        """
        log.warning(
            "[%s] the shop refused the access token; Shopify offline tokens cannot "
            "be refreshed, retrying once with the same token",
            self.connection,
        )

    def is_throttled(self, response: requests.Response) -> bool:
        """HTTP 429, or Shopify's usual HTTP 200 with an error coded THROTTLED."""
        if response.status_code == 429:
            return True
        return (
            response.status_code == 200
            and b'"THROTTLED"' in response.content
            and "THROTTLED" in _error_codes(_json_or_none(response))
        )

    def throttle_wait(self, response: requests.Response) -> float | None:
        """(requested − currentlyAvailable) / restoreRate, from the THROTTLED body."""
        cost = self._cost_extension(_json_or_none(response))
        if cost is None:
            return http.retry_after_seconds(response)
        status = cost["throttleStatus"]
        missing = float(cost.get("requestedQueryCost") or 0) - float(status["currentlyAvailable"])
        return max(0.0, missing / float(status["restoreRate"]))

    def error_detail(self, response: requests.Response) -> str:
        body = _json_or_none(response)
        if isinstance(body, dict) and "errors" in body:
            errors = body["errors"]
            if isinstance(errors, list):
                return "; ".join(
                    str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
                )[:300]
            return str(errors)[:300]
        return response.text[:300]

    @staticmethod
    def _cost_extension(body: object) -> dict | None:
        """``extensions.cost`` if it carries a usable ``throttleStatus``, else None."""
        extensions = body.get("extensions") if isinstance(body, dict) else None
        cost = extensions.get("cost") if isinstance(extensions, dict) else None
        status = cost.get("throttleStatus") if isinstance(cost, dict) else None
        try:
            usable = (
                float(status["restoreRate"]) > 0  # type: ignore[index]
                and float(status["currentlyAvailable"]) >= 0  # type: ignore[index]
                and float(status["maximumAvailable"]) > 0
            )  # type: ignore[index]
        except (KeyError, TypeError, ValueError):
            return None
        return cost if usable else None

    def _pace(self, cost: int) -> None:
        """Sleep until the bucket, projected at its restore rate, holds ``cost`` points."""
        if self._bucket is None:
            return
        available, maximum, rate, seen = self._bucket
        if rate <= 0:
            return
        available = min(maximum, available + rate * (time.monotonic() - seen))
        if available < cost:
            wait = (cost - available) / rate
            self.stats.wait_seconds += wait
            log.debug(
                "[%s] pacing: %.0f points available, query costs %d; waiting %.2fs",
                self.connection,
                available,
                cost,
                wait,
            )
            http.sleep(wait)

    def _parse(
        self, response: requests.Response, endpoint: str, path: tuple[str, ...], connection: bool
    ) -> Any:
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError("the response body is not a JSON object")
        cost = self._cost_extension(body)
        if cost is not None:
            status = cost["throttleStatus"]
            self._bucket = (
                float(status["currentlyAvailable"]),
                float(status["maximumAvailable"]),
                float(status["restoreRate"]),
                time.monotonic(),
            )
        errors = _graphql_errors(body) or (
            [{"message": str(body["errors"])}] if body.get("errors") else []
        )
        if errors:
            message = "; ".join(str(e.get("message")) for e in errors)[:300]
            if "INTERNAL_SERVER_ERROR" in _error_codes(body):
                raise TransientError(f"GraphQL internal error: {message}")
            raise ApiError(self.connection, endpoint, f"GraphQL error: {self.redact(message)}")
        value: Any = body.get("data")
        for key in path:
            if not isinstance(value, dict) or key not in value:
                raise ValueError(f"the response has no data.{'.'.join(path)}")
            value = value[key]
        if (
            connection
            and value is not None
            and not (
                isinstance(value, dict)
                and isinstance(value.get("nodes"), list)
                and isinstance(value.get("pageInfo"), dict)
            )
        ):
            raise ValueError(f"data.{'.'.join(path)} is not a connection page")
        return value

    def query(
        self,
        query: str,
        variables: dict[str, Any],
        endpoint: str,
        path: tuple[str, ...],
        connection: bool = False,
    ) -> Any:
        """Run one query (paced, retried) and return ``data`` at ``path``.

        With ``connection``, a value at ``path`` without ``nodes`` and ``pageInfo`` makes the
        page fail (and be retried) like an unreadable body.
        """
        self._pace(query_cost(query, variables))
        value = self.call(
            "POST",
            "",
            endpoint=endpoint,
            json={"query": query, "variables": variables},
            parse=lambda r: self._parse(r, endpoint, path, connection),
        )
        self.stats.pages += 1
        return value

    def pages(
        self, query: str, variables: dict[str, Any], endpoint: str, path: tuple[str, ...]
    ) -> Iterator[list[dict]]:
        """The ``nodes`` of every page of the connection at ``path``, following cursors."""
        after = variables.get("after")
        while True:
            page = self.query(query, {**variables, "after": after}, endpoint, path, connection=True)
            if page is None:
                raise ApiError(
                    self.connection,
                    endpoint,
                    f"{'.'.join(path)} is null (the object no longer exists)",
                )
            yield page["nodes"]
            if not page["pageInfo"]["hasNextPage"]:
                return
            after = page["pageInfo"]["endCursor"]


# --------------------------------------------------------------------------------------------
# record parsing
# --------------------------------------------------------------------------------------------
def _required(node: dict, key: str, field: str) -> Any:
    value = node.get(key)
    if value in (None, ""):
        raise RecordError(f"{field}: required field {key!r} is missing")
    return value


def _timestamp(value: object, field: str, required: bool = False) -> datetime | None:
    if value in (None, ""):
        if required:
            raise RecordError(f"{field}: required timestamp is missing")
        return None
    try:
        return parse_iso(str(value))
    except ValueError as exc:
        raise RecordError(f"{field}: not an ISO 8601 timestamp: {value!r} ({exc})") from None


def _money(node: dict, key: str, field: str, required: bool = False) -> Decimal | None:
    bag = node.get(key)
    amount = ((bag or {}).get("shopMoney") or {}).get("amount") if isinstance(bag, dict) else None
    return to_money(amount, field, required)


def _int(value: object, field: str) -> int:
    if isinstance(value, bool) or value is None:
        raise RecordError(f"{field}: not an integer: {value!r}")
    try:
        return int(str(value))
    except ValueError:
        raise RecordError(f"{field}: not an integer: {value!r}") from None


def _id_of(node: dict, key: str) -> str | None:
    inner = node.get(key)
    return inner.get("id") if isinstance(inner, dict) else None


def parse_order(node: dict) -> dict:
    """An Order node to an ``orders`` row (its lines and refunds are parsed separately)."""
    customer = node.get("customer") if isinstance(node.get("customer"), dict) else {}
    return {
        "shopify_order_id": _required(node, "id", "shopify_order_id"),
        "legacy_resource_id": str(_required(node, "legacyResourceId", "legacy_resource_id")),
        "name": node.get("name"),
        "created_at": _timestamp(node.get("createdAt"), "created_at", required=True),
        "updated_at": _timestamp(node.get("updatedAt"), "updated_at", required=True),
        "processed_at": _timestamp(node.get("processedAt"), "processed_at"),
        "cancelled_at": _timestamp(node.get("cancelledAt"), "cancelled_at"),
        "currency": _required(node, "currencyCode", "currency"),
        "financial_status": node.get("displayFinancialStatus"),
        "fulfillment_status": node.get("displayFulfillmentStatus"),
        "total_price": _money(node, "totalPriceSet", "total_price"),
        "subtotal_price": _money(node, "subtotalPriceSet", "subtotal_price"),
        "total_discounts": _money(node, "totalDiscountsSet", "total_discounts"),
        "total_tax": _money(node, "totalTaxSet", "total_tax"),
        "total_shipping": _money(node, "totalShippingPriceSet", "total_shipping"),
        "customer_id": customer.get("id"),
        "customer_email": customer.get("email"),
    }


def parse_line(node: dict, order: dict) -> dict:
    return {
        "shopify_order_id": order["shopify_order_id"],
        "line_item_id": _required(node, "id", "line_item_id"),
        "order_updated_at": order["updated_at"],
        "sku": node.get("sku"),
        "variant_id": _id_of(node, "variant"),
        "product_id": _id_of(node, "product"),
        "quantity": _int(node.get("quantity"), "quantity"),
        "unit_price": _money(node, "originalUnitPriceSet", "unit_price", required=True),
        "total_discount": _money(node, "totalDiscountSet", "total_discount"),
        "currency": order["currency"],
    }


def parse_refund(node: dict, order: dict) -> dict:
    bag = node.get("totalRefundedSet") or {}
    currency = (bag.get("shopMoney") or {}).get("currencyCode") or order["currency"]
    return {
        "refund_id": _required(node, "id", "refund_id"),
        "shopify_order_id": order["shopify_order_id"],
        "order_updated_at": order["updated_at"],
        "created_at": _timestamp(node.get("createdAt"), "created_at"),
        "amount": _money(node, "totalRefundedSet", "amount", required=True),
        "currency": currency,
    }


def parse_refund_line(node: dict, refund: dict) -> dict:
    line_id = _id_of(node, "lineItem")
    if not line_id:
        raise RecordError("line_item_id: required field 'lineItem.id' is missing")
    return {
        "refund_id": refund["refund_id"],
        "line_item_id": line_id,
        "shopify_order_id": refund["shopify_order_id"],
        "order_updated_at": refund["order_updated_at"],
        "quantity": _int(node.get("quantity"), "quantity"),
        "amount": _money(node, "subtotalSet", "amount"),
    }


def parse_product(node: dict) -> dict:
    return {
        "product_id": _required(node, "id", "product_id"),
        "legacy_resource_id": node.get("legacyResourceId"),
        "title": node.get("title"),
        "handle": node.get("handle"),
        "vendor": node.get("vendor"),
        "product_type": node.get("productType"),
        "status": node.get("status"),
        "created_at": _timestamp(node.get("createdAt"), "created_at"),
        "updated_at": _timestamp(node.get("updatedAt"), "updated_at"),
    }


def parse_variant(node: dict, product_id: str, currency: str | None) -> dict:
    return {
        "variant_id": _required(node, "id", "variant_id"),
        "legacy_resource_id": node.get("legacyResourceId"),
        "product_id": product_id,
        "sku": node.get("sku"),
        "title": node.get("title"),
        "barcode": node.get("barcode"),
        "price": to_money(node.get("price"), "price"),
        "currency": currency,
        "inventory_item_id": _id_of(node, "inventoryItem"),
        "created_at": _timestamp(node.get("createdAt"), "created_at"),
        "updated_at": _timestamp(node.get("updatedAt"), "updated_at"),
    }


def parse_level(node: dict, item: dict) -> dict:
    location = node.get("location") if isinstance(node.get("location"), dict) else {}
    quantities = {
        q.get("name"): q.get("quantity")
        for q in node.get("quantities") or []
        if isinstance(q, dict)
    }
    row = {
        "inventory_item_id": _required(item, "id", "inventory_item_id"),
        "location_id": _required(location, "id", "location_id"),
        "variant_id": _id_of(item, "variant"),
        "sku": item.get("sku"),
        "location_name": location.get("name"),
        "updated_at": _timestamp(node.get("updatedAt"), "updated_at"),
    }
    for name in ("available", "on_hand", "committed", "incoming", "reserved"):
        value = quantities.get(name)
        row[name] = None if value is None else _int(value, name)
    return row


def _parsed(
    result: ExtractResult, entity: str, parse_row: Callable[..., dict], raw: object, *context: Any
) -> dict | None:
    """The row parsed from one API node, or None after putting the node in quarantine.

    A node of the wrong shape (a list or a string where an object belongs) is a bad record
    too, never a crash of the whole extraction.
    """
    try:
        if not isinstance(raw, dict):
            raise RecordError(f"{entity}: the record is not a JSON object")
        return parse_row(raw, *context)
    except RecordError as exc:
        reason = str(exc)
    except (AttributeError, TypeError, KeyError) as exc:
        reason = f"{entity}: unexpected record shape ({type(exc).__name__}: {exc})"
    result.reject(entity, reason, raw)
    return None


def _add(
    result: ExtractResult, entity: str, parse_row: Callable[..., dict], raw: object, *context: Any
) -> None:
    row = _parsed(result, entity, parse_row, raw, *context)
    if row is not None:
        result.add(entity, row)


# --------------------------------------------------------------------------------------------
# the extractor
# --------------------------------------------------------------------------------------------
class ShopifyExtractor:
    """Extracts one shop (one ShopifyConnection) into the raw entities above."""

    channel = CHANNEL
    streams = STREAMS

    def __init__(
        self,
        conn: ShopifyConnection,
        secrets: dict[str, str],
        *,
        sandbox_url: str = "",
        retry: RetrySettings | None = None,
    ):
        if not secrets.get("access_token"):
            raise ValueError(f"connection {conn.name!r}: the access_token secret is empty")
        self.conn = conn
        self.connection = conn.name
        self.client = ShopifyClient(
            conn.name,
            conn.base_url(sandbox_url),
            secrets["access_token"],
            retry or RetrySettings(**conn.retry.model_dump()),
        )

    def extract(self, stream: str, window: Window | None) -> ExtractResult:
        if stream not in STREAMS:
            raise KeyError(f"unknown Shopify stream {stream!r}; one of {sorted(STREAMS)}")
        if STREAMS[stream].incremental and window is None:
            raise ValueError(f"stream {stream!r} is incremental: it needs a window")
        self.client.stats = CallStats()  # each extraction reports its own calls
        result = ExtractResult(stats=self.client.stats, api_version=self.conn.api_version)
        handlers: dict[str, Callable[[ExtractResult, Window | None], None]] = {
            "orders": self._orders,
            "products": self._products,
            "inventory": self._inventory,
        }
        handlers[stream](result, window)
        return result

    # -- orders ------------------------------------------------------------------------------
    def _orders(self, result: ExtractResult, window: Window | None) -> None:
        assert window is not None
        if window.start < datetime.now(UTC) - timedelta(days=ORDER_HISTORY_DAYS):
            result.notes.append(
                f"the window starts more than {ORDER_HISTORY_DAYS} days ago: Shopify returns "
                "such orders only to apps with the read_all_orders scope"
            )
        search = f"updated_at:>='{iso_z(window.start)}' AND updated_at:<'{iso_z(window.end)}'"
        variables = {"query": search}
        variables["first"] = fit_page_size(ORDERS_QUERY, variables)
        outside = 0
        for nodes in self.client.pages(ORDERS_QUERY, variables, "orders", ("orders",)):
            for node in nodes:
                outside += not self._order(node, window, result)
        if outside:
            result.notes.append(
                f"{outside} orders outside the window were returned by the API and skipped"
            )

    def _order(self, node: object, window: Window, result: ExtractResult) -> bool:
        """Add one order with its lines and refunds; False if it is outside the window."""
        order = _parsed(result, "orders", parse_order, node)
        if order is None:
            return True
        if not window.start <= order["updated_at"] < window.end:
            return False
        result.add("orders", order)
        for line in self._rest(
            node.get("lineItems"),
            ORDER_LINES_QUERY,
            order["shopify_order_id"],
            "order lineItems",
            ("order", "lineItems"),
        ):
            _add(result, "order_lines", parse_line, line, order)
        for refund_node in node.get("refunds") or []:
            refund = _parsed(result, "refunds", parse_refund, refund_node, order)
            if refund is None:
                continue
            result.add("refunds", refund)
            for item in self._rest(
                refund_node.get("refundLineItems"),
                REFUND_LINES_QUERY,
                refund["refund_id"],
                "refund refundLineItems",
                ("refund", "refundLineItems"),
            ):
                _add(result, "refund_lines", parse_refund_line, item, refund)
        return True

    def _rest(
        self, nested: object, query: str, owner_id: str, endpoint: str, path: tuple[str, ...]
    ) -> list[dict]:
        """A nested connection's nodes, completed by follow-up queries on its owner."""
        if not isinstance(nested, dict):
            return []
        nodes = list(nested.get("nodes") or [])
        info = nested.get("pageInfo")
        if isinstance(info, dict) and info.get("hasNextPage"):
            variables = {"id": owner_id, "after": info.get("endCursor")}
            variables["first"] = fit_page_size(query, variables)
            for page in self.client.pages(query, variables, endpoint, path):
                nodes += page
        return nodes

    # -- snapshots ---------------------------------------------------------------------------
    def _products(self, result: ExtractResult, _window: Window | None) -> None:
        currency = self.client.query(SHOP_QUERY, {}, "shop", ("shop",)).get("currencyCode")
        variables = {"first": fit_page_size(PRODUCTS_QUERY, {})}
        for nodes in self.client.pages(PRODUCTS_QUERY, variables, "products", ("products",)):
            for node in nodes:
                self._product(node, currency, result)

    def _product(self, node: object, currency: str | None, result: ExtractResult) -> None:
        product = _parsed(result, "products", parse_product, node)
        if product is None:
            return
        result.add("products", product)
        for variant in self._rest(
            node.get("variants"),
            PRODUCT_VARIANTS_QUERY,
            product["product_id"],
            "product variants",
            ("product", "variants"),
        ):
            _add(
                result, "product_variants", parse_variant, variant, product["product_id"], currency
            )

    def _inventory(self, result: ExtractResult, _window: Window | None) -> None:
        variables: dict[str, Any] = {}
        variables["first"] = fit_page_size(INVENTORY_QUERY, variables)
        for nodes in self.client.pages(
            INVENTORY_QUERY, variables, "inventoryItems", ("inventoryItems",)
        ):
            for item in nodes:
                if not isinstance(item, dict) or not item.get("id"):
                    result.reject(
                        "inventory_levels",
                        "inventory_item_id: required field 'id' is missing",
                        item,
                    )
                    continue
                for level in self._rest(
                    item.get("inventoryLevels"),
                    INVENTORY_LEVELS_QUERY,
                    item["id"],
                    "inventoryItem inventoryLevels",
                    ("inventoryItem", "inventoryLevels"),
                ):
                    _add(result, "inventory_levels", parse_level, level, item)
