"""SP-API wire helpers shared by the emulator's route families: the error envelope, JSON
answers, page tokens, timestamps, money, the operations' rate limits and the marketplaces."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from flask import Response, request

from extractors.amazon.marketplaces import AMAZON_MARKETPLACES, MARKETPLACE_BY_NAME

API = "amazon"
TOKEN_TTL_S = 3600
BEFORE_LAG = timedelta(minutes=2)
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
    # Customer Feedback API: assumed 1/s, burst 1 (see DECISIONS.md "Customer Feedback API")
    "getItemReviewTopics": (1.0, 1),
    "getItemReviewTrends": (1.0, 1),
}
LOCAL_ZONE = {
    "US": "America/Los_Angeles",
    "CA": "America/Los_Angeles",
    "GB": "Europe/London",
    "DE": "Europe/Berlin",
    "FR": "Europe/Paris",
}
# marketplace id -> its name (getOrders' SalesChannel, the finances' MarketplaceName) and its
# SP-API region, from the extractors' own marketplace tables
SALES_CHANNEL = {marketplace: name for name, marketplace in MARKETPLACE_BY_NAME.items()}
REGION = {marketplace: region.upper() for marketplace, (region, _) in AMAZON_MARKETPLACES.items()}
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


def _hex_id(marketplace: str, product_id: int, length: int) -> str:
    digest = hashlib.sha1(f"{marketplace}:{product_id}".encode()).hexdigest().upper()
    return digest[:length]
