"""The HTTP layer every channel client shares: timeouts, retries, throttling, token refresh,
secret redaction and call statistics.

Retries use tenacity (exponential backoff with full jitter); a server's own hint always wins:
``Retry-After``, Walmart's replenish time, Shopify's query-cost arithmetic or Amazon's
``x-amzn-RateLimit-Limit`` are turned into a wait by the channel client's ``throttle_wait``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from extractors import usage
from extractors.base import CallStats

log = logging.getLogger("channelhouse.extractors")

REDACTED = "***"


@dataclass(frozen=True)
class RetrySettings:
    """How hard a client tries before it gives up on one call."""

    max_attempts: int = 8
    backoff_base_s: float = 0.5  # first backoff is random in [0, base]; doubles each attempt
    backoff_max_s: float = 30.0
    max_throttle_wait_s: float = 120.0  # a server asking for longer than this is an error
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0


class ApiError(RuntimeError):
    """A call that finally failed: names the connection, the endpoint and the cause.

    The message never contains a credential: every configured secret is redacted from it.
    """

    def __init__(self, connection: str, endpoint: str, cause: str, status: int | None = None):
        self.connection = connection
        self.endpoint = endpoint
        self.cause = cause
        self.status = status
        super().__init__(f"[{connection}] {endpoint} failed: {cause}")


class TransientError(Exception):
    """A failure worth retrying (5xx, timeout, throttle, truncated body)."""

    def __init__(self, cause: str, status: int | None = None, wait_s: float | None = None):
        super().__init__(cause)
        self.cause = cause
        self.status = status
        self.wait_s = wait_s  # a server-given wait, when there is one


class Redactor:
    """Replaces every known secret value in a text with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *values: str | None) -> None:
        self._secrets.update(v for v in values if v and len(v) >= 4)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return text


class ApiClient:
    """Base class of the channel clients.

    Subclasses provide ``auth_headers()`` and ``refresh_token()`` and may refine
    ``classify(response)``, which turns a response into a result, a ``TransientError``
    (retried) or an ``ApiError`` (final).
    """

    def __init__(
        self,
        connection: str,
        base_url: str,
        *,
        secrets: Iterable[str] = (),
        retry: RetrySettings | None = None,
        session: requests.Session | None = None,
        user_agent: str = "ChannelHouse/0.1 (Language=Python)",
    ):
        self.connection = connection
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetrySettings()
        self.redact = Redactor(secrets)
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self.stats = CallStats()

    # -- hooks for subclasses -------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        return {}

    def refresh_token(self) -> None:
        """Get a new access token (called after an auth failure mid-run)."""

    def throttle_wait(self, response: requests.Response) -> float | None:
        """Seconds to wait before retrying a throttled response, if the server says."""
        return retry_after_seconds(response)

    def is_throttled(self, response: requests.Response) -> bool:
        return response.status_code == 429

    def is_auth_failure(self, response: requests.Response) -> bool:
        return response.status_code in (401, 403)

    def error_detail(self, response: requests.Response) -> str:
        return response.text[:300]

    # -- the call ---------------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        parse: Callable[[requests.Response], Any] = lambda r: r.json(),
        authenticated: bool = True,
        **kwargs: Any,
    ) -> Any:
        """One logical API call, retried until it succeeds or the attempts run out.

        ``path`` is relative to ``base_url`` unless it is a full URL. ``endpoint`` is the
        operation's name used in messages and logs. ``parse`` turns the response into the
        result; a ValueError from it (a truncated JSON body, say) counts as transient.
        """
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        kwargs.setdefault("timeout", (self.retry.connect_timeout_s, self.retry.read_timeout_s))
        extra_headers = kwargs.pop("headers", None) or {}
        refreshed = False

        def attempt() -> Any:
            nonlocal refreshed
            headers = {**extra_headers, **(self.auth_headers() if authenticated else {})}
            usage.take_request(self.connection)  # a connection's requests_per_day limit
            self.stats.requests += 1
            try:
                response = self.session.request(method, url, headers=headers, **kwargs)
            except requests.Timeout as exc:
                raise TransientError(f"timed out ({type(exc).__name__})") from None
            except requests.ConnectionError as exc:
                raise TransientError(f"connection error ({type(exc).__name__})") from None
            self.stats.bytes_received += len(response.content)
            if self.is_throttled(response):
                self.stats.throttled += 1
                wait = self.throttle_wait(response)
                if wait is not None and wait > self.retry.max_throttle_wait_s:
                    raise ApiError(
                        self.connection,
                        endpoint,
                        f"throttled; the server asks to wait {wait:.0f}s",
                        response.status_code,
                    )
                raise TransientError(
                    f"throttled (HTTP {response.status_code})", response.status_code, wait
                )
            if authenticated and self.is_auth_failure(response):
                if refreshed:
                    raise ApiError(
                        self.connection,
                        endpoint,
                        f"HTTP {response.status_code}: credentials refused after a token "
                        f"refresh: {self.redact(self.error_detail(response))}",
                        response.status_code,
                    )
                refreshed = True
                self.stats.token_refreshes += 1
                self.refresh_token()
                # the token was refused: retry at once with the refreshed one
                raise TransientError(
                    f"HTTP {response.status_code}: access token refused", response.status_code, 0.0
                )
            if response.status_code >= 500:
                raise TransientError(
                    f"HTTP {response.status_code}",
                    response.status_code,
                    retry_after_seconds(response),
                )
            if response.status_code >= 400:
                raise ApiError(
                    self.connection,
                    endpoint,
                    f"HTTP {response.status_code}: {self.redact(self.error_detail(response))}",
                    response.status_code,
                )
            try:
                return parse(response)
            except ValueError as exc:
                raise TransientError(
                    f"unreadable response body ({exc.__class__.__name__}: {str(exc)[:120]})"
                ) from None

        retrying = Retrying(
            stop=stop_after_attempt(self.retry.max_attempts),
            retry=retry_if_exception_type(TransientError),
            wait=self._wait,
            before_sleep=lambda state: self._before_sleep(state, endpoint),
            reraise=True,
        )
        try:
            return retrying(attempt)
        except TransientError as exc:
            raise ApiError(
                self.connection,
                endpoint,
                f"gave up after {self.retry.max_attempts} attempts; last error: "
                f"{self.redact(exc.cause)}",
                exc.status,
            ) from None

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientError) and exc.wait_s is not None:
            # the server's hint plus a little jitter so parallel clients spread out
            wait = exc.wait_s + random.uniform(0, min(1.0, exc.wait_s * 0.1 + 0.05))
        else:
            wait = wait_random_exponential(
                multiplier=self.retry.backoff_base_s, max=self.retry.backoff_max_s
            )(state)
        self.stats.wait_seconds += wait
        return wait

    def _before_sleep(self, state: RetryCallState, endpoint: str) -> None:
        self.stats.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        log.info(
            "[%s] %s: attempt %d failed (%s); retrying in %.2fs",
            self.connection,
            endpoint,
            state.attempt_number,
            self.redact(getattr(exc, "cause", type(exc).__name__)),
            state.next_action.sleep if state.next_action else 0.0,
        )


def retry_after_seconds(response: requests.Response) -> float | None:
    """The ``Retry-After`` header in seconds (delta-seconds form), if present."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def sleep(seconds: float) -> None:
    """Proactive pacing (e.g. Shopify's cost bucket); one place so tests can see it."""
    if seconds > 0:
        time.sleep(seconds)
