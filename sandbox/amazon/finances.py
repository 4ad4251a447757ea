"""SP-API Finances v0: ``listFinancialEvents``, pages of at most 30 days of postings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
from flask import Response, request

from sandbox.amazon.accounts import _Account, _Event
from sandbox.amazon.common import (
    _invalid,
    _iso_param,
    _json,
    _token,
    _untoken,
    _us,
)
from sandbox.amazon.context import SpApi

FINANCES_MAX_PAGE = 100
FINANCES_MAX_RANGE = timedelta(days=180)
FINANCES_PAGE_SPAN = timedelta(days=30)  # postings per page never span more than this


def register_finances(api: SpApi) -> None:
    """``listFinancialEvents`` on the blueprint."""
    blueprint, state, pages, operation = api.blueprint, api.state, api.pages, api.operation
    latest_before = api.latest_before

    @blueprint.get("/finances/v0/financialEvents")
    @operation("listFinancialEvents")
    def list_financial_events(acct: _Account) -> Response:
        token = request.args.get("NextToken")
        query = _untoken(token) if token else new_finances_query(acct)
        if query.get("account") != acct.account:
            raise _invalid("Invalid NextToken.")
        posted, events = pages.get(
            (
                "finances",
                acct.account,
                query["after"],
                query["before"],
                query["as_of"],
                acct.business.refunds.height,
            ),
            lambda: select_events(acct, query),
        )
        start, span_end, size = int(query["i"]), int(query["span_end"]), int(query["n"])
        stop = min(start + size, int(np.searchsorted(posted, span_end, side="left")))
        page = events[start:stop]
        lists: dict[str, list[dict]] = {
            "ShipmentEventList": [],
            "RefundEventList": [],
            "ServiceFeeEventList": [],
            "AdjustmentEventList": [],
        }
        for event in page:
            lists[event.kind].append(event.body)
        payload: dict[str, Any] = {"FinancialEvents": lists}
        if stop == start + size and stop < len(events):
            payload["NextToken"] = _token(query | {"i": stop})
        elif span_end < query["before"]:
            payload["NextToken"] = _token(
                query | {"i": stop, "span_end": min(span_end + _span_us(), query["before"])}
            )
        return _json({"payload": payload})

    def new_finances_query(acct: _Account) -> dict:
        after = _iso_param("PostedAfter", required=True)
        before = _iso_param("PostedBefore") or latest_before()
        assert after is not None
        if before > latest_before() or after > latest_before():
            raise _invalid(
                "Date range is invalid.",
                "PostedAfter and PostedBefore must be at least 2 minutes before the request time",
            )
        if before <= after:
            raise _invalid("PostedBefore must be later than PostedAfter.")
        try:
            size = int(request.args.get("MaxResultsPerPage", FINANCES_MAX_PAGE))
        except ValueError:
            raise _invalid("MaxResultsPerPage must be an integer.") from None
        if not 1 <= size <= FINANCES_MAX_PAGE:
            raise _invalid(f"MaxResultsPerPage must be between 1 and {FINANCES_MAX_PAGE}.")
        a, b = _us(after), _us(before)
        return {
            "account": acct.account,
            "after": a,
            "before": b,
            "as_of": _us(state.now()),
            "n": size,
            "i": 0,
            "span_end": min(a + _span_us(), b),
        }

    def select_events(acct: _Account, query: dict) -> tuple[np.ndarray, list[_Event]]:
        """Shipments and refunds posted in [after, before), oldest first; nothing at all for
        a range over 180 days (what the real API does)."""
        after, before = query["after"], query["before"]
        if before - after > FINANCES_MAX_RANGE // timedelta(microseconds=1):
            return np.zeros(0, dtype=np.int64), []
        chosen: list[_Event] = []
        for posted, events in (acct.shipment_events, acct.refund_events()):
            lo, hi = np.searchsorted(posted, [after, before], side="left")
            chosen += [e for e in events[lo:hi] if e.posted_us <= query["as_of"]]
        chosen.sort(key=lambda e: e.posted_us)
        return np.array([e.posted_us for e in chosen], dtype=np.int64), chosen


def _span_us() -> int:
    return FINANCES_PAGE_SPAN // timedelta(microseconds=1)
