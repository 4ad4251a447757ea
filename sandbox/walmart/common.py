"""Walmart's wire format in the emulator: the constants, the rate assumptions, the error
envelopes, dates, money and cursors."""

from __future__ import annotations

import base64
import json
import zlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Response, jsonify

API = "walmart"
TOKEN_TTL_S = 900
VISIBLE_DAYS = 180
MAX_ORDERS_PER_QUERY = 20_000
DEFAULT_CREATED_DAYS = 7
ACKNOWLEDGE_AFTER = timedelta(minutes=30)
VIEW_TTL = timedelta(seconds=10)
PARTNER_ID, SELLER_ID = "10001234567", "101"

# operation -> (requests per second, burst). ASSUMPTIONS: Walmart's per-endpoint limits are
# not published (reference C.6); these are plausible figures for a single seller.
RATES: dict[str, tuple[float, float]] = {
    "token": (2.0, 10.0),
    "getAllOrders": (20.0, 40.0),
    "getAllItems": (10.0, 20.0),
    "inventories": (5.0, 10.0),
}

ORDER_STATUSES = ("Created", "Acknowledged", "Shipped", "Delivered", "Cancelled")
BUSINESS_STATUS = {
    "pending": "Created",
    "unshipped": "Acknowledged",
    "shipped": "Shipped",
    "delivered": "Delivered",
    "cancelled": "Cancelled",
}
SHIP_NODES = {"WFS": ("WFSFulfilled", "WFS-1"), "SellerFulfilled": ("SellerFulfilled", "100009")}
CARRIERS = ("UPS", "FedEx", "USPS")
ADDRESSES = (  # (city, state, zip prefix)
    ("Edison", "NJ", "088"),
    ("Austin", "TX", "787"),
    ("Columbus", "OH", "432"),
    ("Denver", "CO", "802"),
    ("Tampa", "FL", "336"),
    ("Portland", "OR", "972"),
    ("Raleigh", "NC", "276"),
    ("Phoenix", "AZ", "850"),
    ("Madison", "WI", "537"),
    ("Albany", "NY", "122"),
    ("Fresno", "CA", "937"),
    ("Omaha", "NE", "681"),
)
STREETS = ("Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Park Rd", "Lake St", "Hill Ct")


# -- wire helpers --------------------------------------------------------------------------


def _error_object(
    code: str,
    field: str,
    description: str,
    category: str,
    severity: str = "ERROR",
    info: str | None = None,
) -> dict[str, Any]:
    """Walmart's GatewayError object (reference C.6)."""
    return {
        "code": code,
        "field": field,
        "description": description,
        "info": info or description,
        "severity": severity,
        "category": category,
        "causes": [],
        "errorIdentifiers": {},
    }


def _errors(status: int, *objects: dict[str, Any], nested: bool = False) -> Response:
    """``{"errors": [...]}``, or ``{"errors": {"error": [...]}}`` for the orders API."""
    body = {"errors": {"error": list(objects)}} if nested else {"errors": list(objects)}
    response = jsonify(body)
    response.status_code = status
    return response


def _unauthorized() -> Response:
    return _errors(
        401,
        _error_object(
            "UNAUTHORIZED.GMP_GATEWAY_API",
            "UNAUTHORIZED",
            "Unauthorized",
            "DATA",
            info="Unauthorized token or incorrect authorization header.",
        ),
    )


def _order_error(
    status: int, code: str, field: str, description: str, severity: str = "ERROR"
) -> Response:
    category = "DATA" if status == 404 else "REQUEST"
    return _errors(status, _error_object(code, field, description, category, severity), nested=True)


def _bad_param(field: str, description: str, nested: bool = False) -> Response:
    code = "INVALID_REQUEST.GMP_ORDER_API" if nested else "INVALID_REQUEST_PARAM.GMP_GATEWAY_API"
    return _errors(400, _error_object(code, field, description, "REQUEST"), nested=nested)


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _parse_date(value: str, *, end: bool) -> int:
    """``yyyy-MM-dd`` or ``yyyy-MM-ddTHH:mm:ssZ`` as epoch ms; a bare end date covers its day."""
    if len(value) == 10:
        day = date.fromisoformat(value)
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return _epoch_ms(moment) + (86_400_000 - 1 if end else 0)
    if len(value) != 20 or not value.endswith("Z"):
        raise ValueError(value)
    return _epoch_ms(datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC))


def _digits(seed: str, n: int) -> str:
    """``n`` deterministic digits derived from ``seed`` (addresses, phones, tracking)."""
    out, value = "", zlib.crc32(seed.encode())
    while len(out) < n:
        value = zlib.crc32(str(value).encode() + seed.encode())
        out += f"{value:010d}"
    return out[:n]


def _money(amount: float) -> float:
    return round(float(amount), 2)


def _encode_cursor(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _decode_cursor(value: str) -> dict[str, Any]:
    padded = value + "=" * (-len(value) % 4)
    payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    if not isinstance(payload, dict):
        raise ValueError("cursor is not an object")
    return payload
