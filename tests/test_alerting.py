"""alerting: rules on hand-made frames, state transitions, delivery to a REAL local webhook
receiver (http.server) and a REAL local SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pytest
from aiosmtpd.controller import Controller

from alerting import (
    ALERTS_SCHEMA,
    CANDIDATE_SCHEMA,
    DELIVERY_LOG_SCHEMA,
    AlertRuleSettings,
    DeliverySettings,
    build_candidates,
    deliver_alerts,
    merge_alerts,
)
from alerting.rules import (
    account_health_alerts,
    alert_id,
    inventory_alerts,
    price_change_alerts,
    sales_anomaly_alerts,
    stale_data_alerts,
    trending_alerts,
)
from alerting.settings import EmailSettings, WebhookSettings
from models_ml.anomaly import score_anomalies
from tests.conftest import Mailbox, free_port

NOW = datetime(2024, 3, 11, 12, 0, tzinfo=UTC)
RULES = AlertRuleSettings()


# ---------------------------------------------------------------- rules


def _inventory() -> tuple[pl.DataFrame, pl.DataFrame]:
    base = {
        "channel": "amazon",
        "connection_name": "amazon_eu",
        "location_type": "FBA",
    }
    health = pl.DataFrame(
        [
            # 20 available / 5 a day = 4 days, lead time 28: stockout imminent, critical
            {
                **base,
                "inventory_health_id": "amazon_eu:A1PA6795UKMFR9:CH-00042",
                "product_id": "CH-00042",
                "location_id": "A1PA6795UKMFR9",
                "location_name": "Amazon.de FBA",
                "available_quantity": 20,
                "daily_demand": 5.0,
                "days_of_cover": 4.0,
                "lead_time_days": 28,
            },
            # 10 days of cover, lead time 5: low stock (info: not below 7 days)
            {
                **base,
                "inventory_health_id": "amazon_eu:M:CH-2",
                "product_id": "CH-2",
                "location_id": "M",
                "location_name": "Amazon.fr",
                "available_quantity": 10,
                "daily_demand": 1.0,
                "days_of_cover": 10.0,
                "lead_time_days": 5,
            },
            # plenty of cover but at the reorder point (high variability): reorder_now
            {
                **base,
                "inventory_health_id": "amazon_eu:M:CH-3",
                "product_id": "CH-3",
                "location_id": "M",
                "location_name": "Amazon.fr",
                "available_quantity": 30,
                "daily_demand": 1.0,
                "days_of_cover": 30.0,
                "lead_time_days": 20,
            },
            # no demand: nothing
            {
                **base,
                "inventory_health_id": "amazon_eu:M:CH-4",
                "product_id": "CH-4",
                "location_id": "M",
                "location_name": "Amazon.fr",
                "available_quantity": 0,
                "daily_demand": 0.0,
                "days_of_cover": None,
                "lead_time_days": 20,
            },
        ]
    )
    plan = health.select(
        pl.col("inventory_health_id").alias("replenishment_plan_id"),
        "product_id",
        "channel",
        "connection_name",
        "location_id",
        "location_name",
        "location_type",
        "available_quantity",
        "days_of_cover",
        "lead_time_days",
    ).with_columns(
        pl.Series("replenishment_status", ["order_now", "ok", "order_now", "no_demand"]),
        pl.Series("suggested_order_quantity", [120, 0, 15, 0]),
        pl.Series("reorder_by_date", [date(2024, 3, 11)] * 4),
    )
    return health, plan


def test_inventory_rules():
    health, plan = _inventory()
    out = inventory_alerts(health, plan, RULES, NOW)
    assert out.schema == pl.Schema(CANDIDATE_SCHEMA)
    got = {r["entity_id"]: r for r in out.to_dicts()}
    assert set(got) == {"CH-00042", "CH-2", "CH-3"}
    assert set(out["entity_type"]) == {"product_stock"}
    a = got["CH-00042"]
    assert (a["alert_type"], a["severity"]) == ("stockout_imminent", "critical")
    assert a["message"] == (
        "CH-00042 runs out before the next delivery at Amazon.de FBA: 4.0 days of stock left,"
        " next delivery needs 28 days — reorder 120 units now"
    )
    assert json.loads(a["metrics"])["suggested_order_quantity"] == 120
    assert (a["channel"], a["connection_name"]) == ("amazon", "amazon_eu")
    assert a["detected_at"] == NOW
    assert (got["CH-2"]["alert_type"], got["CH-2"]["severity"]) == ("low_stock", "info")
    assert got["CH-3"]["alert_type"] == "reorder_now"
    assert "reorder 15 units by 2024-03-11" in got["CH-3"]["message"]
    # low stock below 7 days is a warning; with the stricter setting CH-2 is no alert at all
    assert inventory_alerts(health, plan, AlertRuleSettings(low_stock_days=8), NOW).height == 2
    warn = AlertRuleSettings(low_stock_warning_days=11)
    assert "warning" in inventory_alerts(health, None, warn, NOW)["severity"].to_list()


def test_stock_alerts_are_one_per_product_across_locations():
    """A product short at three locations is ONE alert: the most urgent kind wins, the worst
    location is named, the others counted, quantities and revenue at risk summed; a location
    whose inbound stock covers the lead time is not pushed (info)."""
    loc = {"channel": "shopify", "connection_name": "shopify_us", "location_type": "warehouse"}
    rows = [  # (location, available, demand, cover, lead, status, qty, revenue at risk)
        ("NJ", 6, 2.0, 3.0, 14, "order_now", 40, 300.0),
        ("NY", 10, 2.0, 5.0, 14, "order_now", 25, 200.0),
        ("LA", 50, 1.0, 50.0, 14, "order_now", 10, 0.0),  # at its reorder point only
    ]
    health = pl.DataFrame(
        [
            {
                **loc,
                "inventory_health_id": f"shopify_us:{name}:SKU-1",
                "product_id": "SKU-1",
                "location_id": name,
                "location_name": f"Warehouse {name}",
                "available_quantity": avail,
                "daily_demand": demand,
                "days_of_cover": cover,
                "lead_time_days": lead,
                "revenue_at_risk_base": risk,
            }
            for name, avail, demand, cover, lead, _, _, risk in rows
        ]
    )
    plan = health.select(
        pl.col("inventory_health_id").alias("replenishment_plan_id"),
        *(c for c in health.columns if c not in ("inventory_health_id", "revenue_at_risk_base")),
    ).with_columns(
        pl.Series("replenishment_status", [r[5] for r in rows]),
        pl.Series("suggested_order_quantity", [r[6] for r in rows]),
        pl.Series("reorder_by_date", [date(2024, 3, 11)] * 3),
    )
    out = inventory_alerts(health, plan, RULES, NOW)
    assert out.height == 1
    a = out.row(0, named=True)
    assert (a["alert_type"], a["severity"], a["entity_id"]) == (
        "stockout_imminent",
        "critical",  # NJ: 3 days <= stockout_critical_days
        "SKU-1",
    )
    assert a["message"].startswith(
        "SKU-1 runs out before the next delivery at Shopify Warehouse NJ and 1 other location: "
        "3.0 days of stock left"
    )
    assert a["message"].endswith("reorder 65 units now")  # NJ + NY, not LA (reorder point only)
    metrics = json.loads(a["metrics"])
    assert (metrics["locations"], metrics["suggested_order_quantity"]) == (2, 65)
    assert a["impact_base"] == pytest.approx(500.0)
    assert a["alert_id"] == alert_id("stockout_imminent", "product_stock", "SKU-1")
    # inbound stock covers NJ and NY: nothing to order, the alert stays in the table as info
    covered = plan.with_columns(pl.Series("suggested_order_quantity", [0, 0, 10]))
    b = inventory_alerts(health, covered, RULES, NOW).row(0, named=True)
    assert (b["alert_type"], b["severity"]) == ("stockout_imminent", "info")
    assert "inbound stock covers it" in b["message"]


def test_alert_ids_are_stable_and_ignore_numbers():
    health, plan = _inventory()
    first = inventory_alerts(health, plan, RULES, NOW)
    moved = health.with_columns(
        (pl.col("days_of_cover") * 0.5).alias("days_of_cover"),
        (pl.col("available_quantity") // 2).alias("available_quantity"),
    )
    second = inventory_alerts(moved, plan, RULES, NOW + timedelta(days=1))
    key = ["alert_type", "entity_id"]
    same = first.select(*key, "alert_id").join(second.select(*key, "alert_id"), on=key)
    assert same.height == 2  # CH-00042 still imminent, CH-2 still low (CH-3 changed type)
    assert same["alert_id"].to_list() == same["alert_id_right"].to_list()
    assert first["metrics"].to_list() != second["metrics"].to_list()
    assert alert_id("low_stock", "stock_location", "x") == alert_id(
        "low_stock", "stock_location", "x"
    )
    assert alert_id("low_stock", "stock_location", "x") != alert_id(
        "low_stock", "stock_location", "y"
    )
    assert alert_id("low_stock", "stock_location", "x") != alert_id(
        "stockout_imminent", "stock_location", "x"
    )


def test_sales_anomaly_and_trending_rules():
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(70)]
    y = [100.0 + (i % 7) for i in range(70)]
    y[-1] = 400.0
    hist = pl.DataFrame(
        {
            "unique_id": "revenue|channel|amazon",
            "metric": "revenue",
            "entity_type": "channel",
            "entity_id": "amazon",
            "ds": days,
            "y": y,
        }
    )
    scored = score_anomalies(hist)
    out = sales_anomaly_alerts(scored, RULES, NOW)
    assert out.height == 1
    r = out.row(0, named=True)
    assert (r["alert_type"], r["severity"], r["channel"]) == ("sales_anomaly", "critical", "amazon")
    assert r["entity_id"] == "revenue|channel|amazon|spike"
    assert r["message"].startswith("Amazon revenue spiked on 2024-03-10: 400 vs usual")
    # an anomaly that is not among the last days is not current
    assert sales_anomaly_alerts(scored.filter(pl.col("ds") < days[-1]), RULES, NOW).height == 0
    trending = pl.DataFrame(
        {
            "unique_id": ["units|product|CH-1", "units|product|CH-2"],
            "metric": "units",
            "entity_type": "product",
            "entity_id": ["CH-1", "CH-2"],
            "window_end_date": date(2024, 3, 10),
            "recent_total": [60.0, 3.0],
            "previous_total": [20.0, 1.0],
            "growth_pct": [200.0, 200.0],
            "p_value": [1e-6, 0.3],
            "is_trending_up": [True, False],
        }
    )
    t = trending_alerts(trending, RULES, NOW)
    assert t["entity_id"].to_list() == ["units|product|CH-1"]
    assert t["severity"].item() == "warning" and "up 200%" in t["message"].item()


def test_price_change_rule():
    prices = pl.DataFrame(
        {
            "listing_id": ["L1", "L1", "L2", "L2", "L3"],
            "product_id": ["CH-1", "CH-1", "CH-2", "CH-2", "CH-3"],
            "channel": "shopify",
            "connection_name": "shop",
            "version_number": [1, 2, 1, 2, 1],
            "price": [10.0, 12.5, 5.0, 4.0, 7.0],
            "currency": "EUR",
            "valid_from": [
                date(2024, 1, 1),
                date(2024, 3, 9),
                date(2024, 1, 1),
                date(2024, 2, 1),
                date(2024, 3, 10),
            ],
        }
    )
    out = price_change_alerts(prices, RULES, NOW)
    assert out["entity_id"].to_list() == ["L1:2"]  # L2 changed long ago, L3 never changed
    r = out.row(0, named=True)
    m = json.loads(r["metrics"])
    assert (m["old_price"], m["new_price"], m["change_pct"]) == (10.0, 12.5, 25.0)
    assert r["severity"] == "warning"  # |25%| >= 20%
    assert "from 10.00 to 12.50 EUR (+25.0%)" in r["message"]
    assert price_change_alerts(prices, RULES, NOW + timedelta(days=10)).height == 0


def test_stale_data_rule():
    fresh = pl.DataFrame(
        {
            "connection_name": ["a", "b", "c", "d"],
            "entity": ["orders", "inventory", "orders", "listings"],
            "last_partition_date": [None, date(2024, 3, 8), None, date(2024, 3, 1)],
            "last_extracted_at": [NOW - timedelta(hours=2), None, None, None],
            "expected_cadence_hours": [24.0, 24.0, 24.0, 24.0],
        }
    )
    out = stale_data_alerts(fresh, RULES, NOW)
    got = {r["entity_id"]: r for r in out.to_dicts()}
    assert set(got) == {"b:inventory", "c:orders", "d:listings"}
    # b: data up to the end of 03-08 = 60 h old > 24 + 6 h: warning (critical beyond 90 h)
    assert got["b:inventory"]["severity"] == "warning"
    assert json.loads(got["b:inventory"]["metrics"])["age_hours"] == 60.0
    assert got["c:orders"]["severity"] == "critical"  # never arrived
    assert got["d:listings"]["severity"] == "critical"  # 228 h > 3 x 30 h


def test_account_health_rule_uses_latest_complete_week():
    rows = []
    for week, start, partial, canc, late in (
        ("2024-W09", date(2024, 2, 26), False, False, True),
        ("2024-W10", date(2024, 3, 4), False, True, False),
        ("2024-W11", date(2024, 3, 11), True, False, True),
    ):
        rows.append(
            {
                "channel": "amazon",
                "connection_name": "amazon_eu",
                "iso_week": week,
                "week_start_date": start,
                "is_partial_week": partial,
                "orders": 60,
                "cancellation_rate": 0.1667 if canc else 0.01,
                "cancellation_rate_threshold": 0.1,
                "late_shipment_rate": 0.3 if late else 0.0,
                "late_shipment_rate_threshold": 0.25,
                "refund_rate": 0.02,
                "refund_rate_threshold": None,
                "is_cancellation_breach": canc,
                "is_late_shipment_breach": late,
                "is_refund_breach": False,
            }
        )
    out = account_health_alerts(pl.DataFrame(rows), RULES, NOW)
    assert out["entity_id"].to_list() == ["amazon_eu:cancellation_rate"]
    assert out["severity"].item() == "critical"
    assert out["message"].item() == (
        "amazon_eu (Amazon): cancellation rate 16.7% in 2024-W10 is above the marketplace limit"
        " of 10.0%"
    )


def test_build_candidates_combines_rules():
    health, plan = _inventory()
    out = build_candidates(NOW, inventory_health=health, replenishment_plan=plan)
    assert out.height == 3 and out["alert_id"].is_unique().all()
    assert build_candidates(NOW).height == 0


# ---------------------------------------------------------------- state


def _cand(
    aid_key: str,
    severity: str,
    value: int,
    alert_type: str = "low_stock",
    impact: float | None = None,
) -> dict:
    return {
        "alert_id": alert_id(alert_type, "stock_location", aid_key),
        "alert_type": alert_type,
        "severity": severity,
        "entity_type": "stock_location",
        "entity_id": aid_key,
        "channel": "amazon",
        "connection_name": "amazon_eu",
        "metrics": json.dumps({"days_of_cover": value}),
        "message": f"{aid_key}: {value} days of cover",
        "detected_at": NOW,
        "impact_base": impact,
    }


def _cands(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=CANDIDATE_SCHEMA, orient="row")


def test_state_transitions_open_update_resolve_reopen():
    t = [NOW + timedelta(hours=h) for h in range(6)]
    s1 = merge_alerts(None, _cands(_cand("A", "info", 10)), t[0])
    assert s1.schema == pl.Schema(ALERTS_SCHEMA)
    a = s1.row(0, named=True)
    assert (a["status"], a["episode"], a["severity_rank"]) == ("open", 1, 1)
    assert a["first_seen_at"] == a["last_seen_at"] == a["episode_started_at"] == t[0]

    # the same candidates again: only last_seen_at moves
    s1b = merge_alerts(s1, _cands(_cand("A", "info", 10)), t[1])
    assert s1b.drop("last_seen_at").equals(s1.drop("last_seen_at"))
    assert s1b["last_seen_at"].item() == t[1]
    assert merge_alerts(s1b, _cands(_cand("A", "info", 10)), t[1]).equals(s1b)

    # numbers and severity follow the candidate; the change is tracked
    s2 = merge_alerts(s1b, _cands(_cand("A", "warning", 5)), t[2])
    a = s2.row(0, named=True)
    assert (a["severity"], a["severity_rank"], a["previous_severity"]) == ("warning", 2, "info")
    assert a["severity_changed_at"] == t[2] and a["message"] == "A: 5 days of cover"
    assert a["first_seen_at"] == t[0]

    # absent -> resolved (another alert B opens meanwhile)
    s3 = merge_alerts(s2, _cands(_cand("B", "critical", 1)), t[3])
    a = s3.filter(pl.col("entity_id") == "A").row(0, named=True)
    assert (a["status"], a["resolved_at"], a["last_seen_at"]) == ("resolved", t[3], t[2])
    assert s3.filter(pl.col("entity_id") == "B")["status"].item() == "open"
    # resolved and still absent: unchanged
    s3b = merge_alerts(s3, _cands(_cand("B", "critical", 1)), t[4])
    assert s3b.filter(pl.col("entity_id") == "A").equals(s3.filter(pl.col("entity_id") == "A"))

    # back again: same id, a new episode
    s4 = merge_alerts(s3b, _cands(_cand("A", "info", 9), _cand("B", "critical", 1)), t[5])
    a = s4.filter(pl.col("entity_id") == "A").row(0, named=True)
    assert a["alert_id"] == s1["alert_id"].item()
    assert (a["status"], a["episode"], a["resolved_at"], a["previous_severity"]) == (
        "open",
        2,
        None,
        None,
    )
    assert (a["first_seen_at"], a["episode_started_at"]) == (t[0], t[5])

    # a partial run (only other rule types evaluated) resolves nothing of this type
    s5 = merge_alerts(s4, _cands(), t[5], evaluated_types=["price_change"])
    assert s5["status"].to_list() == ["open", "open"]
    with pytest.raises(ValueError):
        merge_alerts(s4, _cands(_cand("A", "info", 1), _cand("A", "info", 2)), t[5])


# ---------------------------------------------------------------- delivery


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        server = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with server.lock:
            server.hits.append((self.path, json.loads(body)))
            status = server.statuses.pop(0) if server.statuses else 200
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"ok")

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


SECRET_PATH = "/services/T0001/B0002/XyZsEcReTtOkEn"


def _settings(webhook_port: int, smtp_port: int, **email) -> DeliverySettings:
    return DeliverySettings(
        webhook=WebhookSettings(url_env="TEST_ALERT_HOOK", timeout_seconds=5),
        email=EmailSettings(
            host="127.0.0.1",
            port=smtp_port,
            starttls=False,
            sender="alerts@example.com",
            recipients=["ops@example.com"],
            **email,
        ),
        attempts_per_run=2,
        retry_wait_seconds=0,
        min_severity="info",  # every state of every alert (the default pushes warning and up)
    )


def _texts(hit) -> str:
    return hit[1]["text"]


def test_delivery_once_per_state_retry_and_restart(webhook, smtp, tmp_path):
    box, smtp_port = smtp
    env = {"TEST_ALERT_HOOK": f"http://127.0.0.1:{webhook.server_port}{SECRET_PATH}"}
    settings = _settings(webhook.server_port, smtp_port)
    t = iter(NOW + timedelta(hours=h) for h in range(100))
    alerts, log = None, None

    def run(*cands: dict) -> None:
        nonlocal alerts, log
        now = next(t)
        alerts = merge_alerts(alerts, _cands(*cands), now)
        log = deliver_alerts(alerts, log, settings, now, environ=env)

    # open: A and B batched into one webhook message and one e-mail
    run(_cand("A", "warning", 5), _cand("B", "info", 10))
    assert len(webhook.hits) == 1 and len(box.messages) == 1
    path, payload = webhook.hits[0]
    assert path == SECRET_PATH
    assert len(payload["blocks"]) == 3 and payload["blocks"][0]["type"] == "header"
    assert "[WARNING] NEW low_stock: A: 5 days of cover" in payload["text"]
    assert "B: 10 days of cover" in box.messages[0].get_payload()
    assert log.schema == pl.Schema(DELIVERY_LOG_SCHEMA)
    assert log.height == 4 and set(log["status"]) == {"sent"}

    # unchanged re-run, and a severity fall: nothing
    run(_cand("A", "warning", 5), _cand("B", "info", 10))
    run(_cand("A", "warning", 4), _cand("B", "info", 10))
    assert len(webhook.hits) == 1 and len(box.messages) == 1

    # severity rise: A only, once
    run(_cand("A", "critical", 1), _cand("B", "info", 10))
    assert len(webhook.hits) == 2 and len(box.messages) == 2
    assert "[CRITICAL] ESCALATED low_stock: A: 1 days of cover" in _texts(webhook.hits[1])
    assert "B:" not in _texts(webhook.hits[1])
    run(_cand("A", "warning", 3), _cand("B", "info", 10))  # down again: nothing
    run(_cand("A", "critical", 1), _cand("B", "info", 10))  # back up to critical: already sent
    assert len(webhook.hits) == 2

    # restart: state rebuilt from the persisted frames sends nothing new
    alerts.write_parquet(tmp_path / "alerts.parquet")
    log.write_parquet(tmp_path / "deliveries.parquet")
    alerts = pl.read_parquet(tmp_path / "alerts.parquet")
    log = pl.read_parquet(tmp_path / "deliveries.parquet")
    log = deliver_alerts(alerts, log, settings, next(t), environ=env)
    run(_cand("A", "critical", 1), _cand("B", "info", 10))
    assert len(webhook.hits) == 2 and len(box.messages) == 2

    # resolve A: once
    run(_cand("B", "info", 10))
    run(_cand("B", "info", 10))
    assert len(webhook.hits) == 3 and len(box.messages) == 3
    assert "RESOLVED low_stock: A" in _texts(webhook.hits[2])

    # reopen A: a new episode is announced again
    run(_cand("A", "warning", 6), _cand("B", "info", 10))
    assert len(webhook.hits) == 4 and "[WARNING] NEW low_stock: A" in _texts(webhook.hits[3])
    assert log.filter(pl.col("alert_id") == alerts["alert_id"][0])["episode"].max() == 2

    # webhook returns 500 (both tries of the run): recorded failed, the e-mail goes out
    webhook.statuses[:] = [500, 500]
    run(_cand("A", "warning", 6), _cand("B", "info", 10), _cand("C", "warning", 2))
    assert len(webhook.hits) == 6 and len(box.messages) == 5
    c_id = alert_id("low_stock", "stock_location", "C")
    c_hook = log.filter((pl.col("alert_id") == c_id) & (pl.col("channel") == "webhook")).row(
        0, named=True
    )
    assert (c_hook["status"], c_hook["attempts"], c_hook["sent_at"]) == ("failed", 2, None)
    assert c_hook["last_error"] == "HTTP 500 from the webhook"
    c_mail = log.filter((pl.col("alert_id") == c_id) & (pl.col("channel") == "email"))
    assert c_mail["status"].item() == "sent"

    # recovered: delivered exactly once on the next run, e-mail not repeated
    run(_cand("A", "warning", 6), _cand("B", "info", 10), _cand("C", "warning", 2))
    run(_cand("A", "warning", 6), _cand("B", "info", 10), _cand("C", "warning", 2))
    assert len(webhook.hits) == 7 and len(box.messages) == 5
    assert "C: 2 days of cover" in _texts(webhook.hits[6]) and "A:" not in _texts(webhook.hits[6])
    c_hook = log.filter((pl.col("alert_id") == c_id) & (pl.col("channel") == "webhook")).row(
        0, named=True
    )
    assert (c_hook["status"], c_hook["attempts"]) == ("sent", 3)
    assert log.select("alert_id", "state_key", "channel").is_duplicated().sum() == 0


def test_delivery_errors_redact_secrets(smtp):
    box, smtp_port = smtp
    dead_port = free_port()  # nothing listens there: connection refused
    env = {
        "TEST_ALERT_HOOK": f"http://127.0.0.1:{dead_port}{SECRET_PATH}?token=QuErYsEcReT",
        "SMTP_USER": "mailer-user",
        "SMTP_PASS": "pA55-w0rd-secret",
    }
    settings = _settings(dead_port, smtp_port, username_env="SMTP_USER", password_env="SMTP_PASS")
    alerts = merge_alerts(None, _cands(_cand("A", "warning", 5)), NOW)
    log = deliver_alerts(alerts, None, settings, NOW, environ=env)
    assert set(log["status"]) == {"failed"} and log["attempts"].to_list() == [2, 2]
    errors = " ".join(log["last_error"].to_list())
    assert "ConnectionError" in errors and "SMTP" in errors  # the local server offers no AUTH
    for secret in ("XyZsEcReTtOkEn", "QuErYsEcReT", SECRET_PATH, "pA55-w0rd-secret", "mailer-user"):
        assert secret not in errors
    assert box.messages == []
    # a missing variable names the variable, fails, and is retried later
    log2 = deliver_alerts(alerts, log, settings, NOW, environ={})
    assert "TEST_ALERT_HOOK is not set" in " ".join(log2["last_error"].to_list())
    assert log2["attempts"].to_list() == [4, 4]


def test_no_channels_and_min_severity(webhook, smtp):
    alerts = merge_alerts(None, _cands(_cand("A", "info", 5)), NOW)
    assert deliver_alerts(alerts, None, DeliverySettings(), NOW).height == 0
    box, smtp_port = smtp
    settings = _settings(webhook.server_port, smtp_port).model_copy(
        update={"min_severity": "warning"}
    )
    env = {"TEST_ALERT_HOOK": f"http://127.0.0.1:{webhook.server_port}{SECRET_PATH}"}
    assert deliver_alerts(alerts, None, settings, NOW, environ=env).height == 0
    assert webhook.hits == [] and box.messages == []


def test_one_digest_per_run_most_important_first(webhook, smtp):
    """40 new alerts are ONE webhook message and ONE e-mail: critical first, then the largest
    revenue at risk; the first max_alerts_per_message in detail, the rest as counts per type;
    info alerts are not pushed by default (they stay in the table)."""
    box, smtp_port = smtp
    env = {"TEST_ALERT_HOOK": f"http://127.0.0.1:{webhook.server_port}{SECRET_PATH}"}
    cands = [_cand(f"W{i:02d}", "warning", 9, "reorder_now", impact=float(i)) for i in range(30)]
    cands += [_cand(f"C{i}", "critical", 1, "stockout_imminent", impact=1.0) for i in range(5)]
    cands += [_cand(f"I{i}", "info", 20, "low_stock", impact=1e6) for i in range(5)]
    alerts = merge_alerts(None, _cands(*cands), NOW)
    settings = _settings(webhook.server_port, smtp_port).model_copy(
        update={"min_severity": DeliverySettings().min_severity, "max_alerts_per_message": 8}
    )
    log = deliver_alerts(alerts, None, settings, NOW, environ=env)
    assert len(webhook.hits) == 1 and len(box.messages) == 1
    assert log.height == 2 * 35 and set(log["status"]) == {"sent"}  # no info alert pushed
    lines = _texts(webhook.hits[0]).splitlines()
    assert lines[0] == "ChannelHouse: 35 alert update(s), 5 critical"
    detail = [line.split("NEW ")[1].split(":")[1].strip() for line in lines[1:9]]
    assert sorted(detail[:5]) == ["C0", "C1", "C2", "C3", "C4"]  # equal impact: by alert id
    assert detail[5:] == ["W29", "W28", "W27"]
    assert lines[9] == "... and 27 more (27 reorder_now warning): see the table alerts.alerts"
    assert len(lines) == 10
    body = box.messages[0].get_payload()
    assert "W27: 9 days of cover" in body and "W26" not in body and "27 more" in body
    # nothing new: nothing sent
    deliver_alerts(alerts, log, settings, NOW, environ=env)
    assert len(webhook.hits) == 1 and len(box.messages) == 1


def test_email_starttls_and_auth_login_against_a_tls_server(tmp_path):
    """A real aiosmtpd server with STARTTLS (a self-signed certificate made here, trusted via
    EmailSettings.ca_file) that requires TLS before AUTH and offers only AUTH LOGIN."""
    import ipaddress
    import ssl

    from aiosmtpd.smtp import AuthResult, LoginPassword
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # valid whatever the tests' clock says (CHANNELHOUSE_TEST_NOW): OpenSSL checks the
        # validity against the real clock
        .not_valid_before(datetime(2000, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2100, 1, 1, tzinfo=UTC))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_file, key_file)

    logins: list[tuple[str, bytes, bool]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        ok = auth_data.login == b"mailer-user" and auth_data.password == b"pA55-w0rd-tls"
        logins.append((mechanism, auth_data.login, ok))
        return AuthResult(success=ok)

    box, port = Mailbox(), free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_tls,
        require_starttls=True,
        auth_require_tls=True,
        authenticator=authenticator,
        auth_exclude_mechanism=["PLAIN"],
    )
    controller.start()
    try:
        settings = DeliverySettings(
            email=EmailSettings(
                host="127.0.0.1",
                port=port,
                starttls=True,
                ca_file=str(cert_file),
                sender="alerts@example.com",
                recipients=["ops@example.com"],
                username_env="SMTP_USER",
                password_env="SMTP_PASS",
                timeout_seconds=5,
            ),
            attempts_per_run=1,
            retry_wait_seconds=0,
        )
        alerts = merge_alerts(None, _cands(_cand("A", "warning", 5)), NOW)
        env = {"SMTP_USER": "mailer-user", "SMTP_PASS": "pA55-w0rd-tls"}
        log = deliver_alerts(alerts, None, settings, NOW, environ=env)
        assert log["status"].to_list() == ["sent"] and log["channel"].to_list() == ["email"]
        assert logins == [("LOGIN", b"mailer-user", True)]
        assert len(box.messages) == 1
        assert "A: 5 days of cover" in box.messages[0].get_payload()

        # a wrong password: the delivery fails, is logged, and the password appears nowhere
        bad_env = {"SMTP_USER": "mailer-user", "SMTP_PASS": "wr0ng-pA55-tls"}
        alerts_b = merge_alerts(None, _cands(_cand("B", "warning", 5)), NOW)
        # (aiosmtpd 1.4 rejects the login, yet here smtplib sees a read timeout rather than
        # the 535 reply; a short timeout keeps the test fast)
        quick = settings.model_copy(
            update={"email": settings.email.model_copy(update={"timeout_seconds": 1.5})}
        )
        bad = deliver_alerts(alerts_b, None, quick, NOW, environ=bad_env)
        assert bad["status"].to_list() == ["failed"] and bad["last_error"][0]
        assert logins[-1] == ("LOGIN", b"mailer-user", False)
        assert len(box.messages) == 1
        for frame, secret in ((log, "pA55-w0rd-tls"), (bad, "wr0ng-pA55-tls")):
            stored = " ".join(str(v) for row in frame.iter_rows() for v in row)
            assert secret not in stored
    finally:
        controller.stop()
