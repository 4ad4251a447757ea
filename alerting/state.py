"""Alert state: merge this run's candidates into the persisted alerts table (frame in, frame out).

ALERTS_SCHEMA, one row per alert_id (ever seen):

    alert_id, alert_type, severity, entity_type, entity_id, channel, connection_name,
    metrics, message,
    impact_base                 as in the latest candidate of the alert
    summary                     plain-language summary of an open alert (alerting.summaries),
                                rewritten every run while open, kept as last written once resolved
    severity_rank               info 1, warning 2, critical 3
    previous_severity           severity before the latest change in this episode (NULL if none)
    severity_changed_at         when that change was seen (NULL if none)
    status                      open | resolved
    episode                     1 for the first opening, +1 per reopening
    first_seen_at               first time the alert was ever seen
    episode_started_at          when the current episode opened
    last_seen_at                last run that produced the candidate
    resolved_at                 when the current episode resolved (NULL while open)

Transitions (``now`` is the run time, UTC):

* new id -> open, episode 1, first_seen_at = episode_started_at = last_seen_at = now;
* open and present -> last_seen_at = now; severity, metrics, message (and channel/connection)
  follow the candidate; a different severity sets previous_severity and severity_changed_at;
* open and absent -> resolved, resolved_at = now (last_seen_at keeps the last sighting);
* resolved and present again -> REOPENED under the SAME alert_id (the condition's identity) as a
  new episode: episode + 1, episode_started_at = now, resolved_at, previous_severity and
  severity_changed_at cleared. (episode - 1) is the reopen count; delivery keys its messages by
  (alert_id, episode), so a reopened alert is announced again;
* resolved and absent -> unchanged.

Merging the same candidates twice changes nothing but last_seen_at (idempotent); the output is
sorted by alert_id (deterministic). Pass ``evaluated_types`` when a run evaluated only some rules
(e.g. no anomaly input this time): alerts of other types are then neither resolved nor touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import polars as pl

from alerting.rules import CANDIDATE_SCHEMA, SEVERITY_RANK
from alerting.summaries import summarize

__all__ = ["ALERTS_SCHEMA", "empty_alerts", "merge_alerts"]

_TS = pl.Datetime("us", "UTC")
ALERTS_SCHEMA: dict[str, pl.DataType] = {
    "alert_id": pl.String(),
    "alert_type": pl.String(),
    "severity": pl.String(),
    "severity_rank": pl.Int64(),
    "previous_severity": pl.String(),
    "severity_changed_at": _TS,
    "entity_type": pl.String(),
    "entity_id": pl.String(),
    "channel": pl.String(),
    "connection_name": pl.String(),
    "metrics": pl.String(),
    "message": pl.String(),
    "summary": pl.String(),
    "status": pl.String(),
    "episode": pl.Int64(),
    "first_seen_at": _TS,
    "episode_started_at": _TS,
    "last_seen_at": _TS,
    "resolved_at": _TS,
    "impact_base": pl.Float64(),
}

_FOLLOW = (
    "alert_type",
    "entity_type",
    "entity_id",
    "channel",
    "connection_name",
    "metrics",
    "message",
    "impact_base",
)


def empty_alerts() -> pl.DataFrame:
    return pl.DataFrame(schema=ALERTS_SCHEMA)


def merge_alerts(
    existing: pl.DataFrame | None,
    candidates: pl.DataFrame,
    now: datetime,
    evaluated_types: Iterable[str] | None = None,
) -> pl.DataFrame:
    """The alerts table after this run (see module docstring)."""
    before = existing if existing is not None else empty_alerts()
    before = before.with_columns(  # a table persisted before a column existed
        pl.lit(None, dtype).alias(name)
        for name, dtype in ALERTS_SCHEMA.items()
        if name not in before.columns
    )
    old = {r["alert_id"]: r for r in before.select(list(ALERTS_SCHEMA)).to_dicts()}
    cand_frame = candidates.select(list(CANDIDATE_SCHEMA))
    if cand_frame["alert_id"].is_duplicated().any():
        raise ValueError("candidates hold the same alert_id more than once")
    cands = {r["alert_id"]: r for r in cand_frame.to_dicts()}
    types = set(evaluated_types) if evaluated_types is not None else None
    out: list[dict[str, Any]] = []
    for aid in sorted(set(old) | set(cands)):
        prev, cand = old.get(aid), cands.get(aid)
        if cand is None:
            row = dict(prev)
            if row["status"] == "open" and (types is None or row["alert_type"] in types):
                row["status"], row["resolved_at"] = "resolved", now
            out.append(row)
            continue
        if prev is None or prev["status"] == "resolved":
            row = {
                **{k: cand[k] for k in _FOLLOW},
                "alert_id": aid,
                "severity": cand["severity"],
                "severity_rank": SEVERITY_RANK[cand["severity"]],
                "previous_severity": None,
                "severity_changed_at": None,
                "status": "open",
                "episode": 1 if prev is None else prev["episode"] + 1,
                "first_seen_at": now if prev is None else prev["first_seen_at"],
                "episode_started_at": now,
                "last_seen_at": now,
                "resolved_at": None,
                "summary": None,
            }
            out.append(row)
            continue
        row = dict(prev)
        row.update({k: cand[k] for k in _FOLLOW})
        row["last_seen_at"] = now
        if cand["severity"] != prev["severity"]:
            row["previous_severity"] = prev["severity"]
            row["severity_changed_at"] = now
            row["severity"] = cand["severity"]
            row["severity_rank"] = SEVERITY_RANK[cand["severity"]]
        out.append(row)
    for row in out:
        if row["status"] == "open":
            row["summary"] = summarize(row)
    return pl.DataFrame(out, schema=ALERTS_SCHEMA, orient="row")
