"""The Walmart Marketplace HTTP client: client-credentials tokens, the WM_* service
headers, throttling (``x-next-replenish-time`` / Retry-After), error bodies.
"""

from __future__ import annotations

import base64
import time
import uuid
from decimal import Decimal
from typing import Any

import requests

from extractors.http import ApiClient, ApiError, RetrySettings, retry_after_seconds

SERVICE_NAME = "Walmart Marketplace"
TOKEN_REFRESH_MARGIN_S = 60.0  # tokens live 900 s; renew a minute early


# -- the HTTP client -----------------------------------------------------------------------


class WalmartClient(ApiClient):
    """Walmart's client-credentials token, WM_* headers, throttle waits and error envelopes."""

    def __init__(
        self,
        connection: str,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        retry: RetrySettings | None = None,
    ):
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        super().__init__(
            connection, base_url, secrets=(client_id, client_secret, basic), retry=retry
        )
        self._basic = basic
        self._token: str | None = None
        self._token_expires = 0.0  # time.monotonic() deadline

    @staticmethod
    def _service_headers() -> dict[str, str]:
        """Headers every Walmart call needs; a fresh correlation id per attempt."""
        return {
            "WM_SVC.NAME": SERVICE_NAME,
            "WM_QOS.CORRELATION_ID": str(uuid.uuid4()),
            "Accept": "application/json",
        }

    def auth_headers(self) -> dict[str, str]:
        if self._token is None or time.monotonic() >= self._token_expires:
            self.refresh_token()
        return {**self._service_headers(), "WM_SEC.ACCESS_TOKEN": self._token or ""}

    def refresh_token(self) -> None:
        """POST /v3/token with Basic auth; wrong credentials end in an ApiError (401)."""
        body = self.call(
            "POST",
            "/v3/token",
            endpoint="token",
            authenticated=False,
            headers={
                **self._service_headers(),
                "Authorization": f"Basic {self._basic}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            data={"grant_type": "client_credentials"},
        )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise ApiError(self.connection, "token", "the token response has no access_token")
        self.redact.add(token)
        self._token = token
        ttl = float(body.get("expires_in") or 900)
        self._token_expires = time.monotonic() + max(0.0, ttl - TOKEN_REFRESH_MARGIN_S)

    def throttle_wait(self, response: requests.Response) -> float | None:
        """Retry-After if given, else until ``x-next-replenishment-time`` (epoch ms)."""
        hint = retry_after_seconds(response)
        if hint is not None:
            return hint
        value = response.headers.get("x-next-replenishment-time") or response.headers.get(
            "x-next-replenish-time"
        )
        try:
            return max(0.0, float(value) / 1000.0 - time.time()) if value else None
        except ValueError:
            return None

    def error_detail(self, response: requests.Response) -> str:
        """``CODE (field): description`` from either error envelope Walmart uses."""
        try:
            errors = response.json().get("errors")
        except (ValueError, AttributeError):
            return response.text[:300]
        if isinstance(errors, dict):  # {"errors": {"error": [...]}} (orders)
            errors = errors.get("error")
        if not isinstance(errors, list) or not errors:
            return response.text[:300]
        return "; ".join(
            f"{e.get('code')} ({e.get('field')}): {e.get('description')}"
            for e in errors
            if isinstance(e, dict)
        )[:300]

    def get_json(self, path: str, endpoint: str, params: dict[str, Any] | None = None) -> Any:
        """One GET page as JSON, numbers with a fraction as Decimal (money never via float)."""
        body = self.call(
            "GET",
            path,
            endpoint=endpoint,
            params=params,
            parse=lambda r: r.json(parse_float=Decimal),
        )
        self.stats.pages += 1
        return body
