"""What the Walmart route families share: the sandbox state, the blueprint, the views, the
gateway checks (headers, token, rate limits) and Walmart's answers to the faults."""

from __future__ import annotations

import time

from flask import Blueprint, Response, g, request

from sandbox.walmart.common import (
    API,
    RATES,
    _error_object,
    _errors,
    _unauthorized,
)
from sandbox.walmart.views import _Views
from sandbox.wire import SandboxState


class Gateway:
    """The blueprint's shared parts; each route family registers its views on ``blueprint``."""

    def __init__(self, state: SandboxState, blueprint: Blueprint):
        self.state, self.blueprint = state, blueprint
        self.views = _Views(state)
        self.operation_of_view = {
            "token": "token",
            "orders": "getAllOrders",
            "items": "getAllItems",
            "inventories": "inventories",
        }

        @blueprint.after_request
        def limit_headers(response: Response) -> Response:
            limits = g.pop("walmart_limits", None)
            if limits is not None:
                response.headers["x-current-token-count"] = str(int(limits[0]))
                response.headers["x-next-replenishment-time"] = str(int(limits[1] * 1000))
            return response

    def rate_of(self, operation: str) -> tuple[float, float]:
        return RATES[operation]

    def throttled_response(self, replenish_in_s: float, remaining: float = 0.0) -> Response:
        response = _errors(
            429,
            _error_object(
                "REQUEST_THRESHOLD_VIOLATED.GMP_GATEWAY_API",
                "REQUEST_THRESHOLD_VIOLATED",
                "Request threshold violated",
                "REQUEST",
                info="The number of requests exceeded the allowed limit.",
            ),
        )
        g.walmart_limits = (remaining, time.time() + replenish_in_s)
        return response

    def throttled(self) -> Response:
        """A forced throttle: empty bucket, refilled after one token's time at its rate."""
        view = (request.endpoint or "").rsplit(".", 1)[-1]
        rate = (
            self.rate_of(self.operation_of_view.get(view, "getAllOrders"))[0]
            * self.state.limits.multiplier
        )
        return self.throttled_response(1.0 / rate)

    def server_error(self, status: int) -> Response:
        return _errors(
            status,
            _error_object(
                "SYSTEM_ERROR.GMP_GATEWAY_API", "SYSTEM_ERROR", "Internal server error", "SYSTEM"
            ),
        )

    def required_headers(self) -> Response | None:
        for name in ("WM_SVC.NAME", "WM_QOS.CORRELATION_ID"):
            if not request.headers.get(name):
                return _errors(
                    400,
                    _error_object(
                        "INVALID_REQUEST_HEADER.GMP_GATEWAY_API",
                        name,
                        f"Missing or invalid request header {name}",
                        "REQUEST",
                    ),
                )
        if "application/json" not in request.headers.get("Accept", ""):
            return _errors(
                406,
                _error_object(
                    "INVALID_REQUEST_HEADER.GMP_GATEWAY_API",
                    "Accept",
                    "This sandbox answers JSON only: send Accept: application/json (the real API "
                    "may answer XML)",
                    "REQUEST",
                ),
            )
        return None

    def take(self, account: str, operation: str) -> Response | None:
        rate, burst = self.rate_of(operation)
        decision = self.state.limits.take(API, account, operation, rate, burst)
        if not decision.ok:
            return self.throttled_response(decision.retry_after_s, decision.remaining)
        full = decision.remaining >= decision.capacity - 1e-9
        next_token = 0.0 if full else (1.0 - decision.remaining % 1.0) / decision.limit
        g.walmart_limits = (decision.remaining, time.time() + next_token)
        return None

    def gateway(self, operation: str) -> tuple[str | None, Response | None]:
        """The caller's account after the header, token and rate checks, or the refusal."""
        refusal = self.required_headers()
        if refusal is not None:
            return None, refusal
        account = self.state.tokens.account_for(API, request.headers.get("WM_SEC.ACCESS_TOKEN"))
        if account is None:
            return None, _unauthorized()
        return account, self.take(account, operation)
