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
* **Reports 2021-06-30** GET_SALES_AND_TRAFFIC_REPORT (gzip JSON),
  GET_MERCHANT_LISTINGS_ALL_DATA and the flat-file orders reports
  GET_FLAT_FILE_ALL_ORDERS_DATA_BY_{LAST_UPDATE,ORDER_DATE}_GENERAL (gzip tab-separated, every
  marketplace of the account whatever ``marketplaceIds`` says, as the real ones):
  IN_QUEUE -> IN_PROGRESS -> DONE over a few seconds (milliseconds in the fast profile),
  CANCELLED when there is no data, FATAL / CANCELLED / an expired URL on an injected fault;
  documents behind presigned-style URLs under ``/amazon/_documents/`` that expire after five
  minutes.
* **Customer Feedback 2024-06-01** ``getItemReviewTopics`` and ``getItemReviewTrends`` per
  ASIN, from the simulated reviews (sandbox/amazon/feedback.py).
* **FBA Inventory v1** ``getInventorySummaries``: the FBA stock of AFN listings, 50 per page,
  ``pagination.nextToken`` at the top level, expiring 30 s after it was issued.

An account only sees its own marketplaces; asking for another one (the other account's are
in the other region) is 400 ``InvalidInput``. Not emulated: restricted data tokens (buyer
e-mail and the non-PII address fields are served with the plain LWA token), other report
types, WEEK/MONTH granularity.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, request

from sandbox.amazon.common import API, TOKEN_TTL_S, _json
from sandbox.amazon.context import SpApi
from sandbox.amazon.feedback import register_customer_feedback
from sandbox.amazon.finances import register_finances
from sandbox.amazon.inventory import register_inventory
from sandbox.amazon.orders import register_orders
from sandbox.amazon.reports import register_reports
from sandbox.wire import SANDBOX_CREDENTIALS, ChannelWire, SandboxState


def create_blueprint(state: SandboxState) -> tuple[Blueprint, ChannelWire]:
    """The SP-API routes over ``state``, and how SP-API answers the generic faults."""
    api = SpApi(state, Blueprint(API, __name__, url_prefix=f"/{API}"))
    register_lwa(api)
    register_orders(api)
    register_finances(api)
    register_reports(api)
    register_inventory(api)
    register_customer_feedback(api)
    return api.blueprint, ChannelWire(throttled=api.throttled, server_error=api.server_error)


def register_lwa(api: SpApi) -> None:
    """Login with Amazon: access tokens for the refresh tokens of the sandbox's accounts."""
    blueprint, state = api.blueprint, api.state
    by_client_id = {
        c["client_id"]: (a, c) for a, c in SANDBOX_CREDENTIALS.items() if a.startswith(API)
    }

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
