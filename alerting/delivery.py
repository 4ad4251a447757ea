"""Delivery: decide what to send from the alerts table and a persisted deliveries log, send it.

**What is sent.** Per configured channel (webhook, email), for each alert's CURRENT episode:

* ``opened``    once, when the episode has no sent opened/escalated message yet (the severity
                at sending time is in the key);
* ``escalated`` when the alert is open and its severity rank is above every severity already
                sent for the episode (a fall in severity is not announced);
* ``resolved``  once, when the alert is resolved.

An alert below ``min_severity`` is not announced (nor its resolution). Earlier episodes are not
retried once a newer one exists (the newer one is announced instead).

**Exactly once, across restarts.** The deliveries log (DELIVERY_LOG_SCHEMA) holds one row per
(alert_id, state_key, channel) with state_key = ``<episode>|<event>|<severity>``; a row with
status ``sent`` is never sent again; a ``failed`` row is retried on every later run (attempts
counts all tries) until sent. The wiring persists the log; the decision depends only on the
alerts table and the log, so a restarted process sends nothing new.

**One digest per run and channel.** All pending events of a run go out in ONE message per channel:
new and escalated first, most severe first, then the largest ``impact_base`` (revenue at risk);
the first ``max_alerts_per_message`` are listed in detail (a new or escalated alert with its
plain-language summary, ``alerting.summaries``), the rest as one line of counts per
type (the alerts table has them all). A message is tried up to ``attempts_per_run`` times with
exponential backoff (tenacity); if it still fails, its events are logged ``failed`` with a
redacted last_error and tried again next run.

**Secrets.** The webhook URL, the SMTP user and password are read from the environment variables
NAMED in the settings, at send time only. They are never logged: errors carry the exception type
and text with the URL (and its path), user and password replaced by ``***``; HTTP errors are
reported as ``HTTP <status>`` only.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import polars as pl
import requests
from tenacity import Retrying, stop_after_attempt, wait_exponential

from alerting.rules import SEVERITY_RANK
from alerting.settings import DeliverySettings, EmailSettings, WebhookSettings
from alerting.state import ALERTS_SCHEMA

__all__ = [
    "DELIVERY_LOG_SCHEMA",
    "PENDING_SCHEMA",
    "DeliveryError",
    "build_webhook_payload",
    "deliver_alerts",
    "empty_deliveries",
    "plan_deliveries",
    "send_email_message",
]

_TS = pl.Datetime("us", "UTC")
DELIVERY_LOG_SCHEMA: dict[str, pl.DataType] = {
    "alert_id": pl.String(),
    "state_key": pl.String(),
    "channel": pl.String(),  # webhook | email
    "episode": pl.Int64(),
    "event": pl.String(),  # opened | escalated | resolved
    "severity": pl.String(),
    "status": pl.String(),  # sent | failed
    "attempts": pl.Int64(),
    "last_error": pl.String(),
    "first_attempt_at": _TS,
    "last_attempt_at": _TS,
    "sent_at": _TS,
}

PENDING_SCHEMA: dict[str, pl.DataType] = {
    "alert_id": pl.String(),
    "state_key": pl.String(),
    "channel": pl.String(),
    "episode": pl.Int64(),
    "event": pl.String(),
    "severity": pl.String(),
    "alert_type": pl.String(),
    "message": pl.String(),
    "summary": pl.String(),
    "impact_base": pl.Float64(),
}

_KEY = ["alert_id", "state_key", "channel"]


class DeliveryError(RuntimeError):
    """A send failed; the text is already redacted."""


def empty_deliveries() -> pl.DataFrame:
    return pl.DataFrame(schema=DELIVERY_LOG_SCHEMA)


def _channels(settings: DeliverySettings) -> list[str]:
    return [name for name, cfg in (("webhook", settings.webhook), ("email", settings.email)) if cfg]


def plan_deliveries(
    alerts: pl.DataFrame,
    deliveries: pl.DataFrame | None,
    channels: Sequence[str],
    min_severity: str = "info",
) -> pl.DataFrame:
    """Pending events (PENDING_SCHEMA) not yet sent per channel (rules in the module docstring)."""
    log = deliveries if deliveries is not None else empty_deliveries()
    sent: dict[tuple[str, str], list[tuple[int, str, str]]] = {}
    for r in log.filter(pl.col("status") == "sent").to_dicts():
        sent.setdefault((r["alert_id"], r["channel"]), []).append(
            (r["episode"], r["event"], r["severity"])
        )
    floor = SEVERITY_RANK[min_severity]
    rows: list[dict[str, Any]] = []
    for a in alerts.select(list(ALERTS_SCHEMA)).sort("alert_id").to_dicts():
        if a["severity_rank"] < floor:
            continue
        ep = a["episode"]
        for channel in channels:
            done = [(ev, sev) for e, ev, sev in sent.get((a["alert_id"], channel), []) if e == ep]
            announced = [SEVERITY_RANK[sev] for ev, sev in done if ev in ("opened", "escalated")]
            events = []
            if not announced:
                events.append("opened")
            elif a["status"] == "open" and a["severity_rank"] > max(announced):
                events.append("escalated")
            if a["status"] == "resolved" and not any(ev == "resolved" for ev, _ in done):
                events.append("resolved")
            for event in events:
                rows.append(
                    {
                        "alert_id": a["alert_id"],
                        "state_key": f"{ep}|{event}|{a['severity']}",
                        "channel": channel,
                        "episode": ep,
                        "event": event,
                        "severity": a["severity"],
                        "alert_type": a["alert_type"],
                        "message": a["message"],
                        "summary": a["summary"],
                        "impact_base": a["impact_base"],
                    }
                )
    return pl.DataFrame(rows, schema=PENDING_SCHEMA, orient="row")


_ICON = {
    "critical": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":information_source:",
}


def _line(e: Mapping[str, Any]) -> str:
    """The event's line; a new or escalated alert's summary follows on the next line."""
    tag = {"opened": "NEW", "escalated": "ESCALATED", "resolved": "RESOLVED"}[e["event"]]
    line = f"[{e['severity'].upper()}] {tag} {e['alert_type']}: {e['message']}"
    if e["event"] != "resolved" and e.get("summary"):
        line += f"\n    {e['summary']}"
    return line


def _title(events: Sequence[Mapping[str, Any]]) -> str:
    crit = sum(1 for e in events if e["severity"] == "critical" and e["event"] != "resolved")
    return f"ChannelHouse: {len(events)} alert update(s)" + (f", {crit} critical" if crit else "")


def _rest(events: Sequence[Mapping[str, Any]]) -> str | None:
    """One line for the events not listed in detail: counts per event and type."""
    if not events:
        return None
    counts: dict[str, int] = {}
    for e in events:
        label = f"{e['alert_type']} {'resolved' if e['event'] == 'resolved' else e['severity']}"
        counts[label] = counts.get(label, 0) + 1
    parts = ", ".join(f"{n} {label}" for label, n in sorted(counts.items(), key=lambda x: -x[1]))
    return f"... and {len(events)} more ({parts}): see the table alerts.alerts"


def build_webhook_payload(
    events: Sequence[Mapping[str, Any]], detailed: int | None = None
) -> dict[str, Any]:
    """Slack incoming-webhook JSON: ``text`` (fallback) and ``blocks``: a header, one section per
    event for the first ``detailed`` events (all when None; events come most important first),
    then one line counting the rest."""
    title = _title(events)
    shown = list(events if detailed is None else events[:detailed])
    rest = _rest(events[len(shown) :])
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}}
    ]
    for e in shown:
        icon = ":white_check_mark:" if e["event"] == "resolved" else _ICON[e["severity"]]
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} {_line(e)}"[:3000]}}
        )
    if rest:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": rest}]})
    lines = [title, *(_line(e) for e in shown), *([rest] if rest else [])]
    return {"text": "\n".join(lines), "blocks": blocks}


def _redact(text: str, secrets: Sequence[str | None]) -> str:
    for secret in sorted((s for s in secrets if s and len(s) >= 3), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _env(environ: Mapping[str, str], name: str | None) -> str | None:
    if name is None:
        return None
    value = environ.get(name)
    if not value:
        raise DeliveryError(f"environment variable {name} is not set")
    return value


def _send_webhook(
    cfg: WebhookSettings,
    events: Sequence[Mapping[str, Any]],
    environ: Mapping[str, str],
    detailed: int | None = None,
) -> None:
    url = _env(environ, cfg.url_env)
    assert url is not None
    parts = urlsplit(url)
    secrets = [
        url,
        parts.path + (f"?{parts.query}" if parts.query else ""),
        parts.path,
        parts.query,
        parts.password,
    ]
    try:
        response = requests.post(
            url, json=build_webhook_payload(events, detailed), timeout=cfg.timeout_seconds
        )
    except requests.RequestException as exc:
        raise DeliveryError(_redact(f"{type(exc).__name__}: {exc}", secrets)) from None
    if response.status_code >= 300:
        raise DeliveryError(f"HTTP {response.status_code} from the webhook")


def send_email_message(
    msg: EmailMessage, cfg: EmailSettings, environ: Mapping[str, str] | None = None
) -> None:
    """Send ``msg`` through the SMTP server in ``cfg`` (STARTTLS, optional private CA in
    ``cfg.ca_file``, login with the user/password from the environment variables NAMED in
    ``cfg``). ``From``/``To`` default to ``cfg.sender``/``cfg.recipients`` when the message has
    none. Failures raise DeliveryError with the user and password redacted."""
    environ = os.environ if environ is None else environ
    user, password = _env(environ, cfg.username_env), _env(environ, cfg.password_env)
    if msg["From"] is None:
        msg["From"] = cfg.sender
    if msg["To"] is None:
        msg["To"] = ", ".join(cfg.recipients)
    try:
        with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_seconds) as smtp:
            if cfg.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=cfg.ca_file))
            if user is not None and password is not None:
                smtp.login(user, password)
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(_redact(f"{type(exc).__name__}: {exc}", [user, password])) from None


def _send_email(
    cfg: EmailSettings,
    events: Sequence[Mapping[str, Any]],
    environ: Mapping[str, str],
    detailed: int | None = None,
) -> None:
    shown = list(events if detailed is None else events[:detailed])
    rest = _rest(events[len(shown) :])
    msg = EmailMessage()
    msg["Subject"] = _title(events)
    msg["From"] = cfg.sender
    msg["To"] = ", ".join(cfg.recipients)
    msg.set_content("\n".join([*(_line(e) for e in shown), *([rest] if rest else [])]) + "\n")
    send_email_message(msg, cfg, environ)


Sender = Callable[[Sequence[Mapping[str, Any]]], None]


def deliver_alerts(
    alerts: pl.DataFrame,
    deliveries: pl.DataFrame | None,
    settings: DeliverySettings,
    now: datetime,
    environ: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Send what is pending, return the updated deliveries log (DELIVERY_LOG_SCHEMA).

    ``environ`` defaults to os.environ (read now, never at import). Nothing raises for a failed
    send: failures are rows with status failed, retried next run.
    """
    env = os.environ if environ is None else environ
    log = (deliveries if deliveries is not None else empty_deliveries()).select(
        list(DELIVERY_LOG_SCHEMA)
    )
    pending = plan_deliveries(alerts, log, _channels(settings), settings.min_severity)
    if pending.is_empty():
        return log.sort(_KEY)
    detailed = settings.max_alerts_per_message
    senders: dict[str, Sender] = {}
    if settings.webhook is not None:
        wh = settings.webhook
        senders["webhook"] = lambda ev: _send_webhook(wh, ev, env, detailed)
    if settings.email is not None:
        em = settings.email
        senders["email"] = lambda ev: _send_email(em, ev, env, detailed)

    previous = {tuple(r[k] for k in _KEY): r for r in log.to_dicts()}
    results: list[dict[str, Any]] = []
    # the digest: new and escalated before resolved, most severe first, then most money at stake
    ordered = pending.with_columns(
        (pl.col("event") == "resolved").alias("_resolved"),
        pl.col("severity").replace_strict(SEVERITY_RANK, return_dtype=pl.Int64).alias("_rank"),
    ).sort(
        ["channel", "_resolved", "_rank", "impact_base", "alert_id", "state_key"],
        descending=[False, False, True, True, False, False],
        nulls_last=True,
    )
    for channel in _channels(settings):
        batch = ordered.filter(pl.col("channel") == channel).to_dicts()
        if batch:
            tries, error = send_with_retry(senders[channel], batch, settings)
            for e in batch:
                key = (e["alert_id"], e["state_key"], channel)
                prev = previous.pop(key, None)
                results.append(
                    {
                        "alert_id": e["alert_id"],
                        "state_key": e["state_key"],
                        "channel": channel,
                        "episode": e["episode"],
                        "event": e["event"],
                        "severity": e["severity"],
                        **attempt_outcome(prev, tries, error, now),
                    }
                )
    kept = list(previous.values())
    return pl.DataFrame(kept + results, schema=DELIVERY_LOG_SCHEMA, orient="row").sort(_KEY)


def attempt_outcome(
    previous: Mapping[str, Any] | None, tries: int, error: str | None, now: datetime
) -> dict[str, Any]:
    """The delivery-log columns of one send: status, attempts so far, the error, the first and
    last attempt and when it was sent (the alert deliveries' and the audiences' logs)."""
    return {
        "status": "failed" if error else "sent",
        "attempts": (previous["attempts"] if previous else 0) + tries,
        "last_error": error,
        "first_attempt_at": previous["first_attempt_at"] if previous else now,
        "last_attempt_at": now,
        "sent_at": None if error else now,
    }


def send_with_retry(send: Callable[[Any], None], batch: Any, settings) -> tuple[int, str | None]:
    """(tries, None) on success, (tries, redacted error) after the last failed try, with
    ``settings.attempts_per_run`` tries ``settings.retry_wait_seconds`` apart (doubling);
    the alert deliveries and the audiences (alerting/audiences.py) both send this way."""
    tries = 0
    try:
        for attempt in Retrying(
            stop=stop_after_attempt(settings.attempts_per_run),
            wait=wait_exponential(multiplier=settings.retry_wait_seconds, max=30),
            reraise=True,
        ):
            with attempt:
                tries += 1
                send(batch)
    except DeliveryError as exc:
        return tries, str(exc)
    except Exception as exc:  # an unexpected bug in a sender must not drop the alerts
        return tries, f"{type(exc).__name__}"
    return tries, None
