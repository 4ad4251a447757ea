"""The sandbox: one local HTTP server emulating Amazon SP-API, Shopify Admin GraphQL and
Walmart Marketplace over a deterministic simulated business, plus the ECB's exchange-rate file.

Routes (one port, one prefix per API)::

    /amazon/...      SP-API (LWA token at /amazon/auth/o2/token, report documents under it)
    /shopify/<shop>/admin/api/<version>/graphql.json
    /walmart/v3/...
    /ecb/stats/eurofxref/eurofxref-hist.zip   ECB euro reference rates, full history
    /_sandbox/...    control plane: faults, late updates, ground truth, stats

The channel modules (``amazon_api``, ``shopify_api``, ``walmart_api``, ``ecb_api``) each build
a Flask blueprint over the shared ``SandboxState`` of ``sandbox.wire``: the business, a token
store, rate-limit buckets and the fault injector. They import ``wire``, never this module. Faults
are applied here, before and after the channel's handler, in the channel's own wire format
(``ChannelWire``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, date, datetime, timedelta

from cheroot import wsgi
from flask import Flask, Response, g, jsonify, request

from sandbox import amazon_api, ecb_api, shopify_api, walmart_api
from sandbox.business import Business
from sandbox.wire import (
    FAULT_KINDS,
    SANDBOX_CREDENTIALS,
    SHOPIFY_SHOPS,
    ChannelWire,
    Decision,
    Fault,
    FaultInjector,
    RateLimits,
    SandboxState,
    TokenBucket,
    TokenStore,
)

__all__ = [
    "FAULT_KINDS",
    "RATE_MULTIPLIERS",
    "SANDBOX_CREDENTIALS",
    "SHOPIFY_SHOPS",
    "ChannelWire",
    "Decision",
    "Fault",
    "FaultInjector",
    "RateLimits",
    "SandboxServer",
    "SandboxState",
    "TokenBucket",
    "TokenStore",
    "create_app",
    "sandbox_environment",
]

log = logging.getLogger("channelhouse.sandbox")


def _api_of(path: str) -> str | None:
    head = path.strip("/").split("/", 1)[0]
    return head if head in ("amazon", "shopify", "walmart", "ecb") else None


def create_app(state: SandboxState) -> Flask:
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
        fraud: bool = False,
    ):
        self.state = SandboxState(
            # the business runs until tomorrow, so today's orders appear as the clock passes them
            business=business
            or Business(
                seed=seed,
                scale=scale,
                end=end or datetime.now(UTC).date() + timedelta(days=1),
                fraud=fraud,
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
