"""alerting: delivery to a REAL local webhook receiver (http.server) and a REAL local SMTP
server (aiosmtpd): once per state, retries and restarts, redacted secrets, severity filter,
one digest per run, STARTTLS and AUTH LOGIN."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pytest
from aiosmtpd.controller import Controller

from alerting import (
    DELIVERY_LOG_SCHEMA,
    DeliverySettings,
    deliver_alerts,
    merge_alerts,
)
from alerting.rules import alert_id
from alerting.settings import EmailSettings, WebhookSettings
from tests.alerting.alerting_helpers import (
    NOW,
    _cand,
    _cands,
)
from tests.conftest import Mailbox, free_port

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
    text = _texts(webhook.hits[0]).splitlines()
    # each alert's line, then its summary (indented)
    lines = [line for line in text if not line.startswith("    ")]
    summaries = [line.strip() for line in text if line.startswith("    ")]
    assert lines[0] == "ChannelHouse: 35 alert update(s), 5 critical"
    detail = [line.split("NEW ")[1].split(":")[1].strip() for line in lines[1:9]]
    assert sorted(detail[:5]) == ["C0", "C1", "C2", "C3", "C4"]  # equal impact: by alert id
    assert detail[5:] == ["W29", "W28", "W27"]
    assert lines[9] == "... and 27 more (27 reorder_now warning): see the table alerts.alerts"
    assert len(lines) == 10 and len(summaries) == 8
    assert all(f"Open since {NOW:%Y-%m-%d %H:%M} UTC." in s for s in summaries)
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
