"""alerting: state transitions of the alerts table (open, update, resolve, reopen as a new
episode)."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from alerting import (
    ALERTS_SCHEMA,
    merge_alerts,
)
from tests.alerting.alerting_helpers import (
    NOW,
    _cand,
    _cands,
)

# ---------------------------------------------------------------- state


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
