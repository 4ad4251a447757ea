"""The sandbox's shared wire primitives: what every channel emulator (``amazon_api``,
``shopify_api``, ``walmart_api``, ``ecb_api``) builds on and ``server`` wires together.

Injected faults, token buckets and the per-operation rate limits, the access-token store,
each channel's answer to the generic faults (``ChannelWire``), the shared ``SandboxState`` and
the demo credentials of the sandbox's seller accounts. Nothing here imports a channel module or
the server, so the channel modules never import ``server``.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from flask import Response

if TYPE_CHECKING:
    from sandbox.business import Business

FAULT_KINDS = (
    "throttle",
    "server_error",
    "slow",
    "expire_tokens",
    "truncate",
    "bulk_failed",
    "bulk_canceled",
    "expire_url",
    # Amazon Reports (sandbox/amazon/reports.py): a createReport request the fault matches
    # makes its report end FATAL / CANCELLED; a getReportDocument request it matches is
    # given a document URL that has already expired.
    "report_fatal",
    "report_cancelled",
    "expire_document_url",
)
# Faults the Shopify bulk emulator takes itself, where they apply (a bulk operation's start,
# its result download), so that no other request of the API uses them up.
BULK_FAULT_KINDS = ("bulk_failed", "bulk_canceled", "expire_url")


@dataclass
class Fault:
    """One injected failure: fires on the next ``count`` matching requests of ``api``."""

    api: str  # amazon | shopify | walmart | ecb | *
    kind: str  # one of FAULT_KINDS
    count: int = 1
    path: str = ".*"  # regex searched in the request path
    status: int = 500  # for server_error
    delay_s: float = 2.0  # for slow
    error_code: str = "INTERNAL_SERVER_ERROR"  # for bulk_failed (Shopify's BulkOperation.errorCode)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {FAULT_KINDS}")


class FaultInjector:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.fired: Counter[str] = Counter()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, api: str, path: str, kinds: tuple[str, ...] | None = None) -> Fault | None:
        """The next pending fault for this request; ``kinds`` None means the generic ones
        (every kind but ``BULK_FAULT_KINDS``, which their emulator takes by name)."""
        with self._lock:
            for fault in self._faults:
                wanted = fault.kind in kinds if kinds else fault.kind not in BULK_FAULT_KINDS
                if wanted and fault.api in (api, "*") and re.search(fault.path, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    self.fired[f"{api}:{fault.kind}"] += 1
                    return fault
        return None

    @property
    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)


@dataclass
class Decision:
    ok: bool
    remaining: float
    limit: float  # the bucket's refill rate per second
    capacity: float
    retry_after_s: float


class TokenBucket:
    """Refills ``rate`` tokens per second up to ``capacity``; thread-safe."""

    def __init__(self, rate: float, capacity: float):
        self.rate, self.capacity = rate, capacity
        self.tokens = capacity
        self.updated = time.monotonic()
        self._lock = threading.Lock()

    def take(self, cost: float = 1.0) -> Decision:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if cost <= self.tokens:
                self.tokens -= cost
                return Decision(True, self.tokens, self.rate, self.capacity, 0.0)
            return Decision(
                False, self.tokens, self.rate, self.capacity, (cost - self.tokens) / self.rate
            )

    def refund(self, amount: float) -> None:
        with self._lock:
            self.tokens = min(self.capacity, self.tokens + amount)


class RateLimits:
    """Buckets keyed by (api, account, operation); rates scaled by the sandbox profile."""

    def __init__(self, multiplier: float = 1.0):
        self.multiplier = multiplier
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(
        self, api: str, account: str, operation: str, rate: float, burst: float
    ) -> TokenBucket:
        key = (api, account, operation)
        with self._lock:
            if key not in self._buckets:
                m = self.multiplier
                self._buckets[key] = TokenBucket(rate * m, burst * (m if m > 1 else 1))
            return self._buckets[key]

    def take(
        self, api: str, account: str, operation: str, rate: float, burst: float, cost: float = 1.0
    ) -> Decision:
        return self.bucket(api, account, operation, rate, burst).take(cost)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()


class TokenStore:
    """Access tokens the emulated auth endpoints issued, with their expiry."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, str, float]] = {}  # token -> (api, account, expiry)
        self._lock = threading.Lock()

    def issue(self, api: str, account: str, ttl_s: float, prefix: str = "") -> str:
        token = prefix + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (api, account, time.time() + ttl_s)
        return token

    def account_for(self, api: str, token: str | None) -> str | None:
        """The account a still-valid token belongs to, else None."""
        if not token:
            return None
        with self._lock:
            entry = self._tokens.get(token)
        if entry is None or entry[0] != api or entry[2] < time.time():
            return None
        return entry[1]

    def expire_all(self, api: str) -> None:
        with self._lock:
            for token, (owner, account, _) in list(self._tokens.items()):
                if owner == api or api == "*":
                    self._tokens[token] = (owner, account, 0.0)


@dataclass
class ChannelWire:
    """How one API answers the generic faults, in its own wire format."""

    throttled: Callable[[], Response]
    server_error: Callable[[int], Response]


@dataclass
class SandboxState:
    business: Business
    limits: RateLimits
    tokens: TokenStore = field(default_factory=TokenStore)
    faults: FaultInjector = field(default_factory=FaultInjector)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    requests: Counter[str] = field(default_factory=Counter)
    wires: dict[str, ChannelWire] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock()


# Demo credentials of the sandbox's seller accounts. They are not secrets (anyone with the
# code has them) but travel exactly like real ones: through environment variables.
SANDBOX_CREDENTIALS: dict[str, dict[str, str]] = {
    "amazon_na": {
        "client_id": "amzn1.application-oa2-client.sandboxna",
        "client_secret": "sandbox-na-client-secret-5d1f0c",
        "refresh_token": "Atzr|sandbox-na-refresh-token-8b2e41",
    },
    "amazon_eu": {
        "client_id": "amzn1.application-oa2-client.sandboxeu",
        "client_secret": "sandbox-eu-client-secret-a94c17",
        "refresh_token": "Atzr|sandbox-eu-refresh-token-33d9f0",
    },
    "shopify_us": {"access_token": "shpat_sandbox_us_1f7c9e2d4b6a8c0e"},
    "shopify_eu": {"access_token": "shpat_sandbox_eu_9a2b4c6d8e0f1a3b"},
    "walmart_us": {
        "client_id": "sandbox-walmart-client-id-6e21",
        "client_secret": "sandbox-walmart-client-secret-0b7d93",
    },
}
SHOPIFY_SHOPS = {"channelhouse-demo": "shopify_us", "channelhouse-eu": "shopify_eu"}
