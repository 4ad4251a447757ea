"""Audiences (issue 15): membership with reasons, episodes, and delivery exactly once per member
and episode to a REAL local webhook receiver (http.server), across restarts and failures."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pytest

from alerting.audiences import (
    AUDIENCE_LOG_SCHEMA,
    build_audiences,
    deliver_audiences,
    merge_audience_state,
)
from alerting.settings import AudienceSettings, WebhookSettings

NOW = datetime(2025, 6, 30, 8, tzinfo=UTC)
ENV = "TEST_AUDIENCE_WEBHOOK"


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        server = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with server.lock:
            status = server.statuses.pop(0) if server.statuses else 200
            if status < 300:
                server.hits.append(json.loads(body))
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.hits, server.statuses, server.lock = [], [], threading.Lock()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _inputs() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    churn = pl.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "p_churn": [0.95, 0.97, 0.10, 0.85],
            "purchase_days": [5, 1, 8, 3],
            "horizon_days": [90] * 4,
            "model": ["bgnbd"] * 4,
            "days_since_last_purchase": [400, 500, 3, 200],
        }
    )
    ltv = pl.DataFrame(
        {
            "customer_id": ["a", "c", "d", "e"],
            "frequency": [4, 7, 2, 0],
            "monetary_value": [200.0, 50.0, 30.0, 0.0],
            "p_alive": [0.2, 0.95, 0.9, 1.0],
            "expected_value_365d": [10.0, 900.0, 40.0, 5.0],
        }
    )
    recs = pl.DataFrame(
        {"customer_id": ["c"] * 4, "rank": [1, 2, 3, 4], "product_id": ["P1", "P2", "P3", "P4"]}
    )
    return churn, ltv, recs


def test_members_and_their_reasons() -> None:
    settings = AudienceSettings(win_back_min_value_quantile=0.5, vip_top_share=0.1)
    ids = pl.DataFrame({"customer_id": ["a", "c"], "channel_customer_id": ["gid://A", "gid://C"]})
    members = build_audiences(*_inputs(), settings, channel_ids=ids)
    got = {(r["audience"], r["customer_id"]): r for r in members.iter_rows(named=True)}
    # churn risk: repeat customers only (b bought once), p_churn >= 0.8
    assert {k[1] for k in got if k[0] == "churn_risk"} == {"a", "d"}
    assert (
        got[("churn_risk", "a")]["reason"]
        == "P(no purchase in 90 days) 0.95 (bgnbd), 5 purchase days"
    )
    assert got[("churn_risk", "a")]["channel_customer_id"] == "gid://A"
    # win back: a spent the most and p_alive fell
    assert {k[1] for k in got if k[0] == "win_back"} == {"a"}
    assert {k[1] for k in got if k[0] == "vip"} == {"c"}
    assert got[("cross_sell", "c")]["reason"] == "bought 3 days ago; recommended: P1, P2, P3"
    with pytest.raises(ValueError, match="unknown audiences"):
        AudienceSettings(enabled=["lapsed"])


def test_abandoned_carts_of_known_customers_within_the_window_not_recovered() -> None:
    """As of 2025-06-30 (the churn scores' day), window 7 days: a's newest unrecovered cart is
    listed; b's cart is recovered; c ordered after abandoning; d's cart is 8 days old; e's
    cart is below the minimum value; an anonymous cart has no customer."""
    as_of = datetime(2025, 6, 30).date()
    churn = pl.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "as_of": [as_of] * 5,
            "days_since_last_purchase": [30, 30, 1, 30, 30],
        }
    )

    def cart(customer, days_ago, value, recovered=False, products=("SKU-1",)):
        at = datetime(2025, 6, 30, 12, tzinfo=UTC) - timedelta(days=days_ago)
        return {
            "customer_id": customer,
            "abandoned_at": at,
            "abandoned_date": at.date(),
            "item_count": len(products),
            "products": list(products),
            "cart_value_base": value,
            "is_recovered": recovered,
        }

    carts = pl.DataFrame(
        [
            cart("a", 5, 40.0, products=("SKU-1",)),
            cart("a", 2, 55.5, products=("SKU-2", "SKU-3")),  # the newest: listed
            cart("b", 1, 80.0, recovered=True),
            cart("c", 3, 80.0),  # ordered yesterday
            cart("d", 8, 80.0),  # outside the window
            cart("e", 1, 4.0),  # below the minimum value
            cart(None, 1, 90.0),  # anonymous
        ]
    )
    settings = AudienceSettings(enabled=["abandoned_cart"], abandoned_cart_min_value=5)
    members = build_audiences(churn, pl.DataFrame(), pl.DataFrame(), settings, carts=carts)
    assert members.select("audience", "customer_id", "reason").rows() == [
        (
            "abandoned_cart",
            "a",
            "abandoned a cart of 2 items (SKU-2, SKU-3) worth 55.5 on 2025-06-28, not recovered",
        )
    ]
    # without churn scores the carts' own last day is "today"
    alone = build_audiences(pl.DataFrame(), pl.DataFrame(), pl.DataFrame(), settings, carts=carts)
    assert set(alone["customer_id"]) == {"a", "c"}


def test_each_member_is_sent_once_per_episode_across_restarts(webhook, monkeypatch) -> None:
    url = f"http://127.0.0.1:{webhook.server_address[1]}/hook/secret-token"
    settings = AudienceSettings(
        webhook=WebhookSettings(url_env=ENV, timeout_seconds=5),
        batch_size=1,
        retry_wait_seconds=0,
        attempts_per_run=1,
        win_back_min_value_quantile=0.5,
    )
    env = {ENV: url}
    members = build_audiences(*_inputs(), settings)
    state = merge_audience_state(None, members, NOW)
    webhook.statuses = [200, 500]  # the second message fails
    log = deliver_audiences(state, None, settings, NOW, env)
    assert log.schema == pl.Schema(AUDIENCE_LOG_SCHEMA)
    assert log.filter(pl.col("status") == "failed").height == 1
    failed = log.filter(pl.col("status") == "failed").row(0, named=True)
    assert failed["last_error"] == "HTTP 500 from the audience webhook"
    first_hits = len(webhook.hits)
    assert first_hits == members.height - 1
    # a restart: the same state and the persisted log send only the failed member
    later = NOW + timedelta(hours=1)
    log = deliver_audiences(state, log, settings, later, env)
    assert len(webhook.hits) == members.height and (log["status"] == "sent").all()
    again = deliver_audiences(state, log, settings, later, env)
    assert len(webhook.hits) == members.height and again.equals(log)
    sent = {(h["audience"], m["customer_id"]) for h in webhook.hits for m in h["members"]}
    assert sent == {(r["audience"], r["customer_id"]) for r in members.iter_rows(named=True)}
    assert all("secret-token" not in str(v) for v in log.to_dicts())
    # d leaves churn_risk and comes back: a new episode, sent once more
    without_d = members.filter(
        ~((pl.col("audience") == "churn_risk") & (pl.col("customer_id") == "d"))
    )
    state = merge_audience_state(state, without_d, later)
    log = deliver_audiences(state, log, settings, later, env)
    assert len(webhook.hits) == members.height
    state = merge_audience_state(state, members, later + timedelta(days=1))
    d = state.filter((pl.col("audience") == "churn_risk") & (pl.col("customer_id") == "d"))
    assert d["episode"].to_list() == [2] and d["is_member"].all()
    log = deliver_audiences(state, log, settings, later + timedelta(days=1), env)
    assert len(webhook.hits) == members.height + 1
    last = webhook.hits[-1]
    assert last["audience"] == "churn_risk" and last["members"][0]["episode"] == 2


def test_batches_and_no_webhook(webhook) -> None:
    url = f"http://127.0.0.1:{webhook.server_address[1]}/hook"
    settings = AudienceSettings(
        webhook=WebhookSettings(url_env=ENV), batch_size=2, retry_wait_seconds=0
    )
    state = merge_audience_state(None, build_audiences(*_inputs(), settings), NOW)
    deliver_audiences(state, None, settings, NOW, {ENV: url})
    assert max(len(h["members"]) for h in webhook.hits) == 2
    assert len({h["audience"] for h in webhook.hits}) == state["audience"].n_unique()
    quiet = deliver_audiences(state, None, AudienceSettings(), NOW, {})
    assert quiet.is_empty()
    missing = deliver_audiences(state, None, settings, NOW, {})
    assert (missing["status"] == "failed").all()
    assert "TEST_AUDIENCE_WEBHOOK is not set" in missing["last_error"][0]
