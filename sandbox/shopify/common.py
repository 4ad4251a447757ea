"""Shopify's wire format in the emulator: constants, gids, money, timestamps, cursors, pages,
the search syntax and the sorted, searchable collections the resolvers page through."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from graphql import GraphQLError

API = "shopify"
OPERATION = "graphql"  # one cost bucket per app and shop
MAX_QUERY_COST = 1000
BUCKET_SIZE = 1000.0  # Standard plan figures from older docs (reference B.3)
RESTORE_RATE = 50.0
MAX_PAGE_SIZE = 250
UNPAGED = 2**62  # the page size of a connection in a bulk operation: all of it
VIEW_TTL = timedelta(seconds=60)
VERSION_RE = re.compile(r"^(\d{4}-\d{2}|unstable)$")
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
DOCS_RATE_LIMITS = "https://shopify.dev/api/usage/rate-limits"
INVENTORY_ITEM_OFFSET = 40_000_000_000_000  # inventory item ids live in their own id range
CUSTOMER_ID_BASE = 6_800_000_000_000  # business customer n -> Shopify customer id base + n
REFUND_ID_BASE = 9_100_000_000_000  # refund id = base + order key * 100 + first line number
REFUND_LINE_FACTOR = 10  # refund line item id = refund number * factor + line number
QUANTITY_NAMES = (
    "available",
    "on_hand",
    "committed",
    "incoming",
    "reserved",
    "damaged",
    "safety_stock",
    "quality_control",
)

_CONNECTIONS = (
    "Order",
    "LineItem",
    "RefundLineItem",
    "Product",
    "ProductVariant",
    "InventoryItem",
    "InventoryLevel",
    "Location",
)


# ----------------------------------------------------------------------------------------
# formats: ids, money, timestamps, cursors
# ----------------------------------------------------------------------------------------
def gid(kind: str, number: int | str) -> str:
    return f"gid://shopify/{kind}/{number}"


def gid_number(value: str) -> int:
    """The numeric part of a GID (``gid://shopify/X/123?extra`` -> 123)."""
    try:
        return int(value.rsplit("/", 1)[1].split("?", 1)[0])
    except (IndexError, ValueError):
        raise GraphQLError(f"Invalid global id '{value}'") from None


def money(amount: float, currency: str) -> dict:
    """A MoneyBag: shop and presentment money are the same (one currency per shop)."""
    value = {"amount": f"{round(amount, 2) + 0.0:.2f}", "currencyCode": currency}  # no "-0.00"
    return {"shopMoney": value, "presentmentMoney": value}


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_cursor(last_id: int, last_value: object) -> str:
    raw = json.dumps({"last_id": last_id, "last_value": last_value}, separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, Any]:
    try:
        data = json.loads(base64.b64decode(cursor, validate=True))
        return int(data["last_id"]), data["last_value"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise GraphQLError(f"Invalid cursor for current pagination: '{cursor}'") from None


def check_page_size(first: int | None) -> int:
    if first is None:
        raise GraphQLError("you must provide one of first or last")
    if first < 0 or (first > MAX_PAGE_SIZE and first != UNPAGED):
        # Shopify refuses larger pages; this wording is the sandbox's own.
        raise GraphQLError(f"first: the page size must be between 0 and {MAX_PAGE_SIZE}")
    return first


def connection(nodes: list[dict], cursors: list[str], has_next: bool, has_previous: bool) -> dict:
    return {
        "edges": [{"cursor": c, "node": n} for n, c in zip(nodes, cursors, strict=True)],
        "nodes": nodes,
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }


def list_page(items: list[dict], first: int | None, after: str | None) -> dict:
    """A nested connection over a short list (line items, variants, levels), id cursors."""
    first = check_page_size(first)
    start = 0
    if after:
        last_id, _ = decode_cursor(after)
        numbers = [gid_number(item["id"]) for item in items]
        start = numbers.index(last_id) + 1 if last_id in numbers else len(items)
    chosen = items[start : start + first]
    cursors = [encode_cursor(n, n) for n in (gid_number(i["id"]) for i in chosen)]
    return connection(chosen, cursors, start + first < len(items), start > 0)


# ----------------------------------------------------------------------------------------
# search syntax
# ----------------------------------------------------------------------------------------
_CLAUSE = re.compile(
    r"""^(?P<field>[a-z_]+):(?P<op><=|>=|<|>)?(?P<value>'[^']*'|"[^"]*"|[^\s'"]+)$"""
)


@dataclass(frozen=True)
class Clause:
    """One ``field:[op]value`` term of a search query, on epoch seconds."""

    field: str
    op: str  # "=", "<", "<=", ">", ">="
    value: int
    whole_day: bool  # a bare date with "=" matches the whole (UTC) day

    def mask(self, column: np.ndarray) -> np.ndarray:
        if self.op == "=":
            if self.whole_day:
                return (column >= self.value) & (column < self.value + 86400)
            return column == self.value
        ops: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
            "<": np.less,
            "<=": np.less_equal,
            ">": np.greater,
            ">=": np.greater_equal,
        }
        return ops[self.op](column, self.value)


def parse_search(text: str | None, fields: tuple[str, ...]) -> list[Clause]:
    """Shopify search syntax, the subset the sandbox understands; the rest is an error.

    Timestamps are ISO 8601 (a missing offset means UTC, the sandbox shops' time zone).
    """
    if text is None or not text.strip():
        return []
    clauses = []
    for part in re.split(r"\s+AND\s+", text.strip()):
        match = _CLAUSE.match(part)
        if not match:
            raise GraphQLError(
                f"Invalid search query '{text}': cannot parse '{part}' (the sandbox supports "
                "field:[<|<=|>|>=]value clauses joined by AND)"
            )
        if match["field"] not in fields:
            raise GraphQLError(
                f"Invalid search query '{text}': unsupported field "
                f"'{match['field']}' (supported: {', '.join(fields)})"
            )
        raw = match["value"].strip("'\"")
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise GraphQLError(
                f"Invalid search query '{text}': '{raw}' is not a date or an ISO 8601 timestamp"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        whole_day = len(raw) == 10
        clauses.append(
            Clause(match["field"], match["op"] or "=", int(moment.timestamp()), whole_day)
        )
    return clauses


# ----------------------------------------------------------------------------------------
# root collections: sortable, searchable, cursor-paged
# ----------------------------------------------------------------------------------------
class Collection:
    """The nodes of one root connection, with int64 columns (epoch seconds) to sort/search."""

    def __init__(self, nodes: list[dict], columns: dict[str, np.ndarray]):
        self.nodes = nodes
        self.ids = np.array([gid_number(n["id"]) for n in nodes], dtype=np.int64)
        self.columns = columns
        self._orders: dict[str | None, np.ndarray] = {}

    def _sorted(self, column: str | None) -> np.ndarray:
        if column not in self._orders:
            keys = self.ids if column is None else self.columns[column]
            self._orders[column] = np.lexsort((self.ids, keys))
        return self._orders[column]

    def page(
        self,
        first: int | None,
        after: str | None,
        clauses: list[Clause],
        sort_column: str | None,
        reverse: bool,
    ) -> dict:
        first = check_page_size(first)
        order = self._sorted(sort_column)
        if clauses:
            mask = np.ones(len(order), dtype=bool)
            for clause in clauses:
                mask &= clause.mask(self.columns[clause.field][order])
            order = order[mask]
        keys = self.ids[order] if sort_column is None else self.columns[sort_column][order]
        ids = self.ids[order]
        if reverse:  # descending = ascending over negated values
            order, keys, ids = order[::-1], -keys[::-1], -ids[::-1]
        start = 0
        if after:
            last_id, last_value = decode_cursor(after)
            value = last_id if sort_column is None else _cursor_epoch(last_value)
            sign = -1 if reverse else 1
            lo = int(np.searchsorted(keys, sign * value, "left"))
            hi = int(np.searchsorted(keys, sign * value, "right"))
            start = lo + int(np.searchsorted(ids[lo:hi], sign * last_id, "right"))
        chosen = order[start : start + first]
        nodes = [self.nodes[i] for i in chosen]
        cursors = [
            encode_cursor(
                int(self.ids[i]),
                int(self.ids[i])
                if sort_column is None
                else _cursor_value(int(self.columns[sort_column][i])),
            )
            for i in chosen
        ]
        return connection(nodes, cursors, start + first < len(order), start > 0)


def _cursor_value(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _cursor_epoch(value: object) -> int:
    try:
        return int(
            datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()
        )
    except ValueError:
        raise GraphQLError("Invalid cursor for current pagination") from None


def _epochs(frame: pl.DataFrame, column: str) -> np.ndarray:
    return frame[column].dt.epoch("s").fill_null(0).to_numpy().astype(np.int64)


def _utc(column: str) -> pl.Expr:
    """A timestamp column as UTC, truncated to whole seconds (Shopify's precision)."""
    return pl.col(column).dt.convert_time_zone("UTC").dt.truncate("1s")
