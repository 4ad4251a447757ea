"""What the SP-API route families share: the sandbox state, the blueprint, the per-account data,
the paging cache, the operations' auth and token buckets, and SP-API's answers to the faults."""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, request

from sandbox.amazon.accounts import _Account
from sandbox.amazon.common import (
    API,
    BEFORE_LAG,
    OPERATIONS,
    SpApiError,
    _errors,
    _invalid,
    _Lru,
    _rate_header,
)
from sandbox.wire import Decision, SandboxState


class SpApi:
    """One emulator's shared parts; each route family registers its views on ``blueprint``."""

    def __init__(self, state: SandboxState, blueprint: Blueprint):
        self.state, self.blueprint = state, blueprint
        self.accounts: dict[str, _Account] = {}
        self.accounts_lock = threading.Lock()
        self.pages = _Lru()
        self.operation_of_view: dict[str, str] = {}

        @blueprint.after_request
        def request_id(response: Response) -> Response:
            response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
            return response

    def account_data(self, account: str) -> _Account:
        with self.accounts_lock:
            if account not in self.accounts:
                self.accounts[account] = _Account(self.state.business, account)
            return self.accounts[account]

    def multiplier(self) -> float:
        return self.state.limits.multiplier

    def quota_exceeded(self, limit: float) -> Response:
        response = _errors(
            429, "QuotaExceeded", "You exceeded your quota for the requested resource."
        )
        response.headers["x-amzn-RateLimit-Limit"] = _rate_header(limit)
        return response

    def throttled(self) -> Response:
        """A forced throttle, with the rate of the operation that was asked for."""
        operation = self.operation_of_view.get((request.endpoint or "").rsplit(".", 1)[-1])
        rate = OPERATIONS[operation][0] if operation else 1.0
        return self.quota_exceeded(rate * self.multiplier())

    def server_error(self, status: int) -> Response:
        if status == 503:
            return _errors(503, "ServiceUnavailable", "Service is temporarily unavailable.")
        return _errors(
            status, "InternalFailure", "We encountered an internal error. Please try again."
        )

    def operation(self, name: str) -> Callable:
        """Auth, the operation's token bucket, its rate header and the error envelope."""
        rate, burst = OPERATIONS[name]
        state = self.state

        def wrap(view: Callable[..., Response]) -> Callable[..., Response]:
            self.operation_of_view[view.__name__] = name

            @functools.wraps(view)
            def handler(**kwargs: Any) -> Response:
                token = request.headers.get("x-amz-access-token")
                account = state.tokens.account_for(API, token)
                if account is None:
                    return _errors(
                        403,
                        "Unauthorized",
                        "Access to requested resource is denied.",
                        "Access token is missing in the request header."
                        if not token
                        else "The access token you provided is revoked, malformed or invalid.",
                    )
                decision: Decision = state.limits.take(API, account, name, rate, burst)
                if not decision.ok:
                    return self.quota_exceeded(decision.limit)
                try:
                    response = view(self.account_data(account), **kwargs)
                except SpApiError as exc:
                    response = _errors(exc.status, exc.code, exc.message, exc.details)
                response.headers["x-amzn-RateLimit-Limit"] = _rate_header(decision.limit)
                return response

            return handler

        return wrap

    def marketplaces_param(self, acct: _Account, name: str, at_most: int = 50) -> list[str]:
        raw = request.args.get(name, "")
        ids = [m for m in raw.split(",") if m]
        if not ids:
            raise _invalid(f"Missing required parameter {name}.")
        if len(ids) > at_most:
            raise _invalid(f"{name} accepts at most {at_most} values.")
        return self.check_marketplaces(acct, ids, name)

    def check_marketplaces(self, acct: _Account, ids: list[str], name: str) -> list[str]:
        foreign = [m for m in ids if m not in acct.marketplaces]
        if foreign:
            raise _invalid(
                "Invalid Input",
                f"{name}: {', '.join(foreign)} is not a marketplace "
                "of this selling partner in this region",
            )
        return ids

    def latest_before(self) -> datetime:
        return self.state.now() - BEFORE_LAG
