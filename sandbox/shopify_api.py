"""Emulator of the Shopify Admin GraphQL API (``POST /shopify/<shop>/admin/api/<v>/graphql.json``).

A real GraphQL server (graphql-core, schema from SDL) over the simulated business, with the
parts of Shopify's behaviour an extractor has to cope with:

* **Auth**: the shop's offline access token in ``X-Shopify-Access-Token``; a wrong one gets
  Shopify's 401 body. Offline tokens never expire, so the ``expire_tokens`` fault is emulated
  as a revoked app session of the shop whose request carries the fault: that request is
  refused with the same 401, and the shop is re-authorised at once (the token is unchanged).
  A client cannot refresh such a token; retrying once with the same token is all it can do.
* **Cost-based throttling** (reference B.3): the requested cost is computed from the query
  AST (scalars and enums 0, objects 1, connections ``2 + first x item``, lists ``first`` (or
  1) x item), charged up front to a leaky bucket per shop (1000 points, 50 restored per
  second, scaled by the sandbox profile), the difference to the actual cost refunded;
  ``extensions.cost`` is on every executed response, the THROTTLED body (HTTP 200) when the
  bucket is short, and a query over 1000 points is refused outright.
* **Cursor pagination** with opaque base64 cursors, ``sortKey``/``reverse``, and the search
  syntax ``field:[op]value`` clauses joined by ``AND`` on ``updated_at``/``created_at``/
  ``processed_at`` (anything else is a GraphQL error rather than silently ignored).

* **Bulk operations** (``sandbox/shopify/bulk.py``): ``bulkOperationRunQuery``, its lifecycle,
  polling and the JSONL result at a signed URL.

Not emulated (out of scope for now): other mutations, ``last``/``before`` paging,
the 60-day order visibility limit without ``read_all_orders`` (the sandbox apps have it).
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from flask import Blueprint, Response, g, request
from graphql import execute_sync

from sandbox.shopify.bulk import BulkOperations, ShopBulk, register_downloads
from sandbox.shopify.common import (
    API,
    BUCKET_SIZE,
    DOCS_RATE_LIMITS,
    INVALID_TOKEN,
    MAX_QUERY_COST,
    OPERATION,
    RESTORE_RATE,
    VERSION_RE,
    VIEW_TTL,
)
from sandbox.shopify.cost import (
    PreparedQuery,
    actual_cost,
    is_mutation,
    prepare,
)
from sandbox.shopify.schema import SCHEMA
from sandbox.shopify.shop import ShopView
from sandbox.wire import (
    SANDBOX_CREDENTIALS,
    SHOPIFY_SHOPS,
    ChannelWire,
    Decision,
    SandboxState,
    TokenBucket,
)


# ----------------------------------------------------------------------------------------
# the HTTP side
# ----------------------------------------------------------------------------------------
class _Views:
    """One ShopView per shop, rebuilt when the sandbox clock moved by VIEW_TTL (either way)
    or the business changed (a late update)."""

    def __init__(self, state: SandboxState):
        self._state = state
        self._views: dict[str, ShopView] = {}
        self._locks = {account: threading.Lock() for account in SHOPIFY_SHOPS.values()}

    def get(self, account: str) -> ShopView:
        now = self._state.now()
        frames = business_frames(self._state.business)
        with self._locks[account]:
            view = self._views.get(account)
            if (
                view is None
                or now < view.now
                or now - view.now >= VIEW_TTL
                or any(a is not b for a, b in zip(view.frames, frames, strict=True))
            ):
                view = self._views[account] = ShopView(self._state.business, account, now, frames)
            return view


def business_frames(business: Any) -> tuple[object, ...]:
    """The business's event frames: a late update replaces one, so a view that holds them
    (by reference, so that no id is ever reused) can tell that it is stale."""
    return tuple(
        getattr(business, name, None)
        for name in ("orders", "order_lines", "refunds", "inventory_daily", "prices", "listings")
    )


def _revoked_now() -> bool:
    """True when this request carries an ``expire_tokens`` fault: the shop's app session is
    revoked for this one request (offline tokens never expire; the sandbox's token store
    holds no Shopify tokens), then re-authorised with the same token."""
    fault = getattr(g, "fault", None)
    return fault is not None and fault.kind == "expire_tokens"


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(
        json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json"
    )
    response.headers["X-Request-Id"] = str(uuid.uuid4())
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _cost_extension(
    requested: int, actual: int | None, available: float, capacity: float, rate: float
) -> dict:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": float(capacity),
                "currentlyAvailable": int(available),
                "restoreRate": float(rate),
            },
        }
    }


def _throttled_body(requested: int, available: float, capacity: float, rate: float) -> dict:
    return {
        "errors": [
            {
                "message": "Throttled",
                "extensions": {"code": "THROTTLED", "documentation": DOCS_RATE_LIMITS},
            }
        ],
        "extensions": _cost_extension(requested, None, available, capacity, rate),
    }


def _max_cost_body(requested: int, bucket: TokenBucket) -> dict:
    return {
        "errors": [
            {
                "message": f"Query cost is {requested}, which exceeds the single query max cost limit "
                f"({MAX_QUERY_COST}).",
                "extensions": {
                    "code": "MAX_COST_EXCEEDED",
                    "cost": requested,
                    "maxCost": MAX_QUERY_COST,
                    "documentation": DOCS_RATE_LIMITS,
                },
            }
        ],
        "extensions": _cost_extension(requested, None, bucket.tokens, bucket.capacity, bucket.rate),
    }


def _executed(
    prepared: PreparedQuery, view: ShopView, bulk: ShopBulk, decision: Decision, bucket: TokenBucket
) -> dict:
    """Execute a charged query and refund the difference between requested and actual cost."""
    operation_name = prepared.operation.name.value if prepared.operation.name else None
    result = execute_sync(
        SCHEMA,
        prepared.document,
        root_value=bulk,
        context_value=view,
        variable_values=prepared.raw_variables,
        operation_name=operation_name,
    )
    if is_mutation(prepared.operation):
        actual = prepared.requested  # a mutation's flat cost is what it costs
    else:
        actual = actual_cost(prepared.plan, result.data)
    refund = max(0, prepared.requested - actual)
    bucket.refund(refund)
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [e.formatted for e in result.errors]
    body["data"] = result.data
    body["extensions"] = _cost_extension(
        prepared.requested,
        actual,
        min(decision.capacity, decision.remaining + refund),
        decision.capacity,
        decision.limit,
    )
    return body


def _request_body() -> tuple[str, dict | None, str | None] | None:
    """(query, variables, operationName) from a JSON or application/graphql body."""
    if request.mimetype == "application/graphql":
        text = request.get_data(as_text=True)
        return (text, None, None) if text.strip() else None
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return None
    variables = body.get("variables")
    if variables is not None and not isinstance(variables, dict):
        return None
    return body["query"], variables, body.get("operationName")


def create_blueprint(state: SandboxState) -> tuple[Blueprint, ChannelWire]:
    """The Shopify routes over ``state``, and how Shopify answers the generic faults."""
    blueprint = Blueprint(API, __name__, url_prefix=f"/{API}")
    views = _Views(state)
    bulk_operations = BulkOperations(state)
    register_downloads(blueprint, bulk_operations)

    def bucket(account: str) -> TokenBucket:
        return state.limits.bucket(API, account, OPERATION, RESTORE_RATE, BUCKET_SIZE)

    def requested_of_current_request() -> int:
        body = _request_body()
        prepared = prepare(*body) if body else []
        return prepared.requested if isinstance(prepared, PreparedQuery) else 0

    def throttled() -> Response:
        """A forced throttle: the bucket reads empty for this request."""
        account = SHOPIFY_SHOPS.get((request.view_args or {}).get("shop", ""), "shopify_us")
        b = bucket(account)
        return _json(_throttled_body(requested_of_current_request(), 0.0, b.capacity, b.rate))

    def server_error(status: int) -> Response:
        request_id = str(uuid.uuid4())
        return _json(
            {
                "errors": [
                    {
                        "message": "Internal error. Looks like something went wrong on our end.\n"
                        f"Request ID: {request_id} (include this in support requests).",
                        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
                    }
                ]
            },
            status,
        )

    def answer(
        account: str, version: str, query: str, variables: dict | None, operation_name: str | None
    ) -> dict:
        """Validate, price, charge the bucket, execute, refund: the body of the answer."""
        b = bucket(account)
        prepared = prepare(query, variables, operation_name)
        if not isinstance(prepared, PreparedQuery):
            return {
                "errors": [e.formatted for e in prepared],
                "extensions": _cost_extension(0, 0, b.tokens, b.capacity, b.rate),
            }
        if prepared.requested > MAX_QUERY_COST:
            return _max_cost_body(prepared.requested, b)
        decision = state.limits.take(
            API, account, OPERATION, RESTORE_RATE, BUCKET_SIZE, cost=prepared.requested
        )
        if not decision.ok:
            return _throttled_body(
                prepared.requested, decision.remaining, decision.capacity, decision.limit
            )
        bulk = ShopBulk(bulk_operations, account, version, request.host_url, request.path)
        return _executed(prepared, views.get(account), bulk, decision, b)

    @blueprint.post("/<shop>/admin/api/<version>/graphql.json")
    def graphql_endpoint(shop: str, version: str) -> Response:
        account = SHOPIFY_SHOPS.get(shop)
        if account is None or not VERSION_RE.match(version):
            return _json({"errors": "Not Found"}, 404)
        token = request.headers.get("X-Shopify-Access-Token")
        if token != SANDBOX_CREDENTIALS[account]["access_token"] or _revoked_now():
            return _json({"errors": INVALID_TOKEN}, 401)
        body = _request_body()
        if body is None:
            return _json({"errors": {"query": "Required parameter missing or invalid"}}, 400)
        return _json(answer(account, version, *body), headers={"X-Shopify-API-Version": version})

    return blueprint, ChannelWire(throttled=throttled, server_error=server_error)
