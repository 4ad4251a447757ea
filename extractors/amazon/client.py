"""The SP-API HTTP client: Login with Amazon tokens shared by threads, per-operation token
buckets (``x-amzn-RateLimit-Limit``), one HTTP session per worker, report documents.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import requests

from extractors.base import CallStats, Window, iso_z
from extractors.http import ApiClient, ApiError, Redactor, RetrySettings, sleep

TOKEN_REFRESH_MARGIN_S = 60.0


# ---------------------------------------------------------------------------------------------
# HTTP: the LWA token and the SP-API client
# ---------------------------------------------------------------------------------------------
class LwaToken:
    """The connection's LWA access token, shared by every worker thread's client.

    Fetched on first use and again a minute before it expires; ``invalidate`` after a 403
    only drops the token that was refused, so when several workers see the same 403 just one
    of them fetches a new token.
    """

    def __init__(self, url: str, client_id: str, client_secret: str, refresh_token: str,
                 redact: Redactor):  # fmt: skip
        self.url = url
        self._form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": client_secret,
        }
        self._redact = redact
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def current(self, client: AmazonClient) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                self._fetch(client)
            assert self._token is not None
            return self._token

    def invalidate(self, refused: str | None) -> None:
        with self._lock:
            if refused is not None and refused == self._token:
                self._token = None

    def _fetch(self, client: AmazonClient) -> None:
        body = client.call(
            "POST", self.url, endpoint="LWA token", authenticated=False, data=self._form
        )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise ApiError(client.connection, "LWA token", "the response has no access_token")
        self._redact.add(token)
        expires_in = float(body.get("expires_in") or 3600)
        self._token = token
        self._renew_at = time.monotonic() + max(0.0, expires_in - TOKEN_REFRESH_MARGIN_S)


class Pacer:
    """Spaces the calls of an operation over all worker threads once Amazon throttled it.

    Until the first 429 nothing is held back (the bucket's burst is there to be used). After
    it, calls of that operation leave one per ``1 / x-amzn-RateLimit-Limit`` seconds, so the
    workers share the bucket's refill instead of each burning retry attempts on 429s.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._interval: dict[str, float] = {}
        self._next: dict[str, float] = {}

    def throttled(self, operation: str, rate: float) -> None:
        with self._lock:
            self._interval[operation] = 1.0 / rate
            self._next[operation] = max(
                self._next.get(operation, 0.0), time.monotonic() + 1.0 / rate
            )

    def hold(self, operation: str) -> float:
        """Wait for the operation's next slot; returns the seconds waited."""
        with self._lock:
            interval = self._interval.get(operation)
            if interval is None:
                return 0.0
            now = time.monotonic()
            slot = max(now, self._next[operation])
            self._next[operation] = slot + interval
        sleep(slot - now)
        return slot - now


class AmazonClient(ApiClient):
    """SP-API calls of one thread: the LWA token header, Amazon's throttle and error formats."""

    def __init__(self, connection: str, base_url: str, token: LwaToken, redact: Redactor,
                 pacer: Pacer, *, retry: RetrySettings, trust_env: bool = True):  # fmt: skip
        session = requests.Session()
        session.trust_env = trust_env
        super().__init__(connection, base_url, retry=retry, session=session)
        self.redact = redact  # shared: access tokens join it as they are issued
        self.token = token
        self.pacer = pacer
        self._sent: str | None = None
        self._operation = ""

    def call(self, method: str, path: str, *, endpoint: str, **kwargs: Any) -> Any:
        """ApiClient.call, remembering the operation for the pacer (the LWA token fetch can
        run inside another call, hence the restore)."""
        outer, self._operation = self._operation, endpoint
        try:
            return super().call(method, path, endpoint=endpoint, **kwargs)
        finally:
            self._operation = outer

    def auth_headers(self) -> dict[str, str]:
        """Runs right before every attempt: the pacer holds a throttled operation back here."""
        self.stats.wait_seconds += self.pacer.hold(self._operation)
        self._sent = self.token.current(self)
        return {
            "x-amz-access-token": self._sent,
            "x-amz-date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        }

    def refresh_token(self) -> None:
        self.token.invalidate(self._sent)

    def throttle_wait(self, response: requests.Response) -> float | None:
        """Amazon sends no Retry-After: the bucket's refill rate (``x-amzn-RateLimit-Limit``)
        says one token takes ``1 / rate`` seconds. The pacer waits that long before the retry
        (and spaces the other workers' calls), so only the jitter is left to wait here."""
        try:
            rate = float(response.headers.get("x-amzn-RateLimit-Limit", ""))
        except ValueError:
            return None
        if not rate > 0:
            return None
        if 1.0 / rate > self.retry.max_throttle_wait_s:
            return 1.0 / rate  # the base class refuses to wait that long
        self.pacer.throttled(self._operation, rate)
        return 0.0

    def error_detail(self, response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text[:300]
        if isinstance(body, dict) and isinstance(body.get("errors"), list):
            return "; ".join(
                f"{e.get('code')}: {e.get('message')}"
                + (f" ({e['details']})" if e.get("details") else "")
                for e in body["errors"]
                if isinstance(e, dict)
            )[:500]
        if isinstance(body, dict) and "error" in body:  # LWA
            return f"{body.get('error')}: {body.get('error_description', '')}"[:300]
        return response.text[:300]

    def get_page(self, path: str, endpoint: str, params: dict[str, Any] | None = None) -> dict:
        """One page of a paginated operation (counted in ``stats.pages``)."""
        body = self.call("GET", path, endpoint=endpoint, params=params, parse=_json_object)
        self.stats.pages += 1
        return body


def _json_object(response: requests.Response) -> dict:
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object, got {type(body).__name__}")
    return body


class _Clients:
    """One AmazonClient per thread (a requests.Session must not be shared between threads)."""

    def __init__(self, make: Callable[[], AmazonClient]):
        self._make = make
        self._local = threading.local()
        self._all: list[AmazonClient] = []
        self._lock = threading.Lock()

    def get(self) -> AmazonClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._make()
            with self._lock:
                self._all.append(client)
        return client

    def stats(self) -> CallStats:
        total = CallStats()
        with self._lock:
            for client in self._all:
                for name, value in client.stats.as_dict().items():
                    setattr(total, name, getattr(total, name) + value)
        return total

    def close(self) -> None:
        with self._lock:
            for client in self._all:
                client.session.close()


@dataclass
class _Report:
    """One report of an extraction, from createReport to its document."""

    report_type: str
    marketplace_id: str
    day: date | None = None
    window: Window | None = None
    report_id: str = ""
    status: str = ""
    document_id: str | None = None

    def describe(self) -> str:
        when = f", {self.day.isoformat()}" if self.day else ""
        if self.window:
            when = f", {iso_z(self.window.start)}..{iso_z(self.window.end)}"
        return (
            f"report {self.report_id or '(not created)'} ({self.report_type}, "
            f"{self.marketplace_id}{when})"
        )


# ---------------------------------------------------------------------------------------------
# Response helpers
# ---------------------------------------------------------------------------------------------
def _payload(body: dict, client: AmazonClient, endpoint: str) -> dict:
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise ApiError(client.connection, endpoint, "the response has no payload object")
    return payload


def _list_of_objects(value: object, client: AmazonClient, endpoint: str, name: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(client.connection, endpoint, f"{name} is not a list")
    return value


def _unpack(content: bytes, gzipped: bool) -> bytes:
    """The document's bytes; a cut-off gzip stream is a ValueError (so the download is
    retried like any other unreadable body)."""
    if not gzipped:
        return content
    try:
        return gzip.decompress(content)
    except (EOFError, OSError, zlib.error) as exc:
        raise ValueError(f"corrupt gzip document ({type(exc).__name__})") from None


def _json_document(data: bytes) -> dict:
    document = json.loads(data)
    if not isinstance(document, dict):
        raise ValueError("the report document is not a JSON object")
    return document


def _flat_file(data: bytes, required: str = "seller-sku") -> list[dict[str, str]]:
    """A tab-separated report with a header row (which must name the ``required`` column).
    UTF-8, else Amazon's Western default Cp1252. Columns the parser does not know are kept."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    if not reader.fieldnames or required not in reader.fieldnames:
        raise ValueError(f"the flat file has no {required} column (truncated?)")
    return [dict(row) for row in reader]
