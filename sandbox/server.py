"""The sandbox: one local HTTP server emulating Amazon SP-API, Shopify Admin GraphQL and
Walmart Marketplace over a deterministic simulated business, plus the ECB's exchange-rate file.

Routes (one port, one prefix per API)::

    /amazon/...      SP-API (LWA token at /amazon/auth/o2/token, report documents under it)
    /shopify/<shop>/admin/api/<version>/graphql.json
    /walmart/v3/...
    /ecb/stats/eurofxref/eurofxref-hist.zip   ECB euro reference rates, full history
    /_sandbox/...    control plane: faults, late updates, ground truth, stats

The channel modules (``amazon_api``, ``shopify_api``, ``walmart_api``, ``ecb_api``) each build
a Flask blueprint over the shared ``SandboxState``: the business, a token store, rate-limit
buckets and the fault injector. Faults are applied here, before and after the channel's handler, in
the channel's own wire format (``ChannelWire``).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from cheroot import wsgi
from flask import Flask, Response, g, jsonify, request

if TYPE_CHECKING:
    from sandbox.business import Business

log = logging.getLogger("channelhouse.sandbox")

FAULT_KINDS = ("throttle", "server_error", "slow", "expire_tokens", "truncate")


@dataclass
class Fault:
    """One injected failure: fires on the next ``count`` matching requests of ``api``."""

    api: str  # amazon | shopify | walmart | ecb | *
    kind: str  # one of FAULT_KINDS
    count: int = 1
    path: str = ".*"  # regex searched in the request path
    status: int = 500  # for server_error
    delay_s: float = 2.0  # for slow

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

    def take(self, api: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.api in (api, "*") and re.search(fault.path, path):
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


def _api_of(path: str) -> str | None:
    head = path.strip("/").split("/", 1)[0]
    return head if head in ("amazon", "shopify", "walmart", "ecb") else None


def create_app(state: SandboxState) -> Flask:
    from sandbox import amazon_api, ecb_api, shopify_api, walmart_api

    app = Flask("channelhouse-sandbox")
    app.json.sort_keys = False
    app.json.compact = True
    for module in (amazon_api, shopify_api, walmart_api, ecb_api):
        blueprint, wire = module.create_blueprint(state)
        app.register_blueprint(blueprint)
        state.wires[blueprint.name] = wire

    @app.before_request
    def inject_fault():
        api = _api_of(request.path)
        if api is None:
            return None
        state.requests[api] += 1
        fault = state.faults.take(api, request.path)
        g.fault = fault
        if fault is None:
            return None
        if fault.kind == "throttle":
            return state.wires[api].throttled()
        if fault.kind == "server_error":
            return state.wires[api].server_error(fault.status)
        if fault.kind == "slow":
            time.sleep(fault.delay_s)
        if fault.kind == "expire_tokens":
            state.tokens.expire_all(api)
        return None

    @app.after_request
    def truncate(response: Response) -> Response:
        fault = getattr(g, "fault", None)
        if fault is not None and fault.kind == "truncate" and not response.direct_passthrough:
            body = response.get_data()
            response.set_data(body[: max(1, len(body) // 2)])
        return response

    @app.post("/_sandbox/faults")
    def add_fault():
        try:
            state.faults.add(Fault(**request.get_json(force=True)))
        except (TypeError, ValueError) as exc:
            return jsonify(error=str(exc)), 400
        return jsonify(pending=len(state.faults.pending)), 201

    @app.delete("/_sandbox/faults")
    def clear_faults():
        state.faults.clear()
        return jsonify(pending=0)

    @app.post("/_sandbox/late-updates")
    def late_updates():
        body = request.get_json(force=True)
        keys = state.business.apply_late_update(
            body["account"],
            int(body.get("n", 1)),
            state.now(),
            int(body.get("min_age_days", 60)),
        )
        return jsonify(order_keys=keys)

    @app.get("/_sandbox/truth")
    def truth():
        frame = state.business.ground_truth(state.now(), request.args.get("account"))
        return Response(
            json.dumps(frame.to_dicts(), default=_json_default), mimetype="application/json"
        )

    @app.get("/_sandbox/stats")
    def stats():
        return jsonify(
            requests=dict(state.requests),
            faults_fired=dict(state.faults.fired),
            faults_pending=len(state.faults.pending),
        )

    @app.get("/_sandbox/health")
    def health():
        return jsonify(ok=True)

    return app


def _json_default(value: object) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


RATE_MULTIPLIERS = {"realistic": 1.0, "fast": 1000.0}


class SandboxServer:
    """The sandbox in a background thread of this process (tests, ``python -m sandbox``)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 42,
        scale: float = 1.0,
        rate_limits: str = "fast",
        business: Business | None = None,
        end: date | None = None,
    ):
        from sandbox.business import Business

        self.state = SandboxState(
            # the business runs until tomorrow, so today's orders appear as the clock passes them
            business=business
            or Business(
                seed=seed, scale=scale, end=end or datetime.now(UTC).date() + timedelta(days=1)
            ),
            limits=RateLimits(RATE_MULTIPLIERS[rate_limits]),
        )
        self.app = create_app(self.state)
        # cheroot: keep-alive HTTP/1.1 and a thread pool; unlike werkzeug's dev server it
        # passes headers with underscores, which every Walmart header has (WM_SEC.…).
        self._server = wsgi.Server(
            (host, port), self.app, numthreads=16, server_name="channelhouse-sandbox"
        )
        self._server.prepare()
        self.port = self._server.bind_addr[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve, daemon=True, name="sandbox")

    def start(self) -> SandboxServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sandbox_environment() -> dict[str, str]:
    """Environment variables holding the sandbox accounts' credentials, as ``.env.example``
    names them (``<ACCOUNT>_<SECRET>``, e.g. ``AMAZON_NA_REFRESH_TOKEN``)."""
    return {
        f"{account.upper()}_{key.upper()}": value
        for account, creds in SANDBOX_CREDENTIALS.items()
        for key, value in creds.items()
    }
