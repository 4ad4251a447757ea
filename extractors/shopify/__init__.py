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
* **Bulk for history.** An orders window longer than the connection's ``bulk_history_days``
  (the first sync, a long backfill) is one bulk operation (``bulk.py``) instead of thousands
  of pages: the same fields, regrouped into the same nodes, parsed by the same functions.
  The refund lines are fetched afterwards per refund (a bulk query cannot nest a connection
  inside the ``refunds`` list), by the follow-up query the paginated path uses for overflow.
* **Orders by update time.** The orders stream asks for ``updated_at`` in the window, sorted
  by UPDATED_AT: each order lands (with its lines and refunds as they are now) in the
  partition of its last update, so a late refund to an old order reappears in today's
  partition, and the latest row per order wins downstream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

# The package re-exports what callers import from ``extractors.shopify`` (the noqa: F401s).
from extractors.base import CallStats, ExtractResult, Window, iso_z
from extractors.http import RetrySettings
from extractors.shopify.bulk import BulkQuery, regroup
from extractors.shopify.client import (
    MAX_PAGE_SIZE,  # noqa: F401
    MAX_QUERY_COST,  # noqa: F401
    QueryCosts,
    ShopifyClient,
    fit_page_size,
    log,
    query_cost,  # noqa: F401
)
from extractors.shopify.parse import (
    _add,
    _parsed,
    parse_level,
    parse_line,
    parse_order,
    parse_product,
    parse_refund,
    parse_refund_line,
    parse_variant,
)
from extractors.shopify.schemas import (
    ENTITIES,  # noqa: F401
    INVENTORY_LEVELS,  # noqa: F401
    INVENTORY_LEVELS_QUERY,
    INVENTORY_QUERY,
    LEVEL_PAGE,  # noqa: F401
    LINE_PAGE,  # noqa: F401
    ORDER_LINES,  # noqa: F401
    ORDER_LINES_QUERY,
    ORDERS,  # noqa: F401
    ORDERS_QUERY,
    PRODUCT_VARIANTS,  # noqa: F401
    PRODUCT_VARIANTS_QUERY,
    PRODUCTS,  # noqa: F401
    PRODUCTS_QUERY,
    REFUND_LINE_PAGE,  # noqa: F401
    REFUND_LINES,  # noqa: F401
    REFUND_LINES_QUERY,
    REFUNDS,  # noqa: F401
    SHOP_QUERY,
    STREAMS,
    STRING,  # noqa: F401
    VARIANT_PAGE,  # noqa: F401
    bulk_orders_query,
)
from extractors.shopify.settings import ShopifyConnection

CHANNEL = "shopify"
ORDER_HISTORY_DAYS = 60  # older orders need the read_all_orders scope (reference B.1)


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
        self.client.costs = QueryCosts()
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
        outside = 0
        for nodes in self._order_nodes(search, window, result):
            for node in nodes:
                outside += not self._order(node, window, result)
        if outside:
            result.notes.append(
                f"{outside} orders outside the window were returned by the API and skipped"
            )

    def _order_nodes(
        self, search: str, window: Window, result: ExtractResult
    ) -> Iterator[list[dict]]:
        """The window's Order nodes: pages of a paginated query, or one bulk result."""
        if window.end - window.start <= timedelta(days=self.conn.bulk_history_days):
            variables = {"query": search}
            variables["first"] = fit_page_size(ORDERS_QUERY, variables)
            yield from self.client.pages(ORDERS_QUERY, variables, "orders", ("orders",))
            return
        lines = BulkQuery(self.client, bulk_orders_query(search)).lines()
        nodes = regroup(lines, "orders", {"LineItem": ("lineItems", "order_lines")}, result)
        for node in nodes:
            for refund in node.get("refunds") or []:
                if isinstance(refund, dict):  # its lines: by the overflow query, all of them
                    refund["refundLineItems"] = {"nodes": [], "pageInfo": {"hasNextPage": True}}
        log.info("[%s] bulk result: %d objects, %d orders", self.connection, len(lines), len(nodes))
        yield sorted(nodes, key=lambda n: (str(n.get("updatedAt")), str(n.get("id"))))

    def _order(self, node: object, window: Window, result: ExtractResult) -> bool:
        """Add one order with its lines and refunds; False if it is outside the window."""
        order = _parsed(result, "orders", parse_order, node)
        if order is None:
            return True
        if not window.contains(order["updated_at"]):
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
