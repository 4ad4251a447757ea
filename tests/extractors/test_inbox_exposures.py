"""A/B-test exposures in storefront events files (issue 16): mapped, checked, quarantined."""

from __future__ import annotations

import json
from pathlib import Path

from tests.extractors.inbox_helpers import drop, import_one, lake_rows, quarantine_reasons

MAPPING = (
    "format: ndjson\nchannel: shopify\nstorefront_id: web_eu\n"
    "columns: {anonymous_id: anonymousId, user_id: userId, event_name: event,\n"
    "  occurred_at: timestamp, experiment_id: properties.experiment_id,\n"
    "  variant: properties.variant%s}\n"
)


def _line(i: int, **props) -> str:
    record = {
        "anonymousId": f"a{i}",
        "event": "experiment_viewed",
        "timestamp": "2026-03-02T10:00:00Z",
    }
    if "userId" in props:
        record["userId"] = props.pop("userId")
    record["properties"] = props
    return json.dumps(record)


def test_exposures_mapped_and_bad_rows_refused_with_reasons(data_dir: Path):
    drop(data_dir, "events/web/mapping.yml", MAPPING % ", experiment_unit: properties.unit")
    lines = [
        _line(1, experiment_id="checkout_button", variant="treatment"),
        _line(2, experiment_id="free_shipping", variant="control", unit="Customer", userId="c2"),
        _line(3),  # no exposure: a plain event
        _line(4, experiment_id="checkout_button"),  # no variant
        _line(5, experiment_id="free_shipping", variant="control", unit="customer"),  # no user
        _line(6, experiment_id="free_shipping", variant="control", unit="household"),
    ]
    drop(data_dir, "events/web/exposures.ndjson", "\n".join(lines) + "\n")
    result = import_one(data_dir, "events/web/exposures.ndjson")
    assert (result.status, result.rows_written, result.rows_quarantined) == ("imported", 3, 3)
    rows = [
        (r["anonymous_id"], r["experiment_id"], r["variant"], r["experiment_unit"])
        for r in lake_rows(result)
    ]
    assert rows == [
        ("a1", "checkout_button", "treatment", "visitor"),  # the mapping's default unit
        ("a2", "free_shipping", "control", "customer"),
        ("a3", None, None, None),
    ]
    assert quarantine_reasons(result) == [
        "events/web/exposures.ndjson, line 4: an experiment exposure without a variant "
        "(experiment 'checkout_button', variant None)",
        "events/web/exposures.ndjson, line 5: a customer-unit exposure to 'free_shipping' "
        "without a user id",
        "events/web/exposures.ndjson, line 6: experiment unit 'household' is not one of "
        "visitor, customer",
    ]


def test_exposure_file_with_half_a_mapping_is_quarantined(data_dir: Path):
    drop(
        data_dir,
        "events/web/mapping.yml",
        "format: ndjson\ncolumns: {anonymous_id: anonymousId, event_name: event,\n"
        "  occurred_at: timestamp, experiment_id: properties.experiment_id}\n",
    )
    drop(data_dir, "events/web/exposures.ndjson", _line(1, experiment_id="x", variant="a") + "\n")
    result = import_one(data_dir, "events/web/exposures.ndjson")
    assert result.status == "quarantined"
    assert "experiment_id is mapped but variant is not" in result.reason
    reason_file = data_dir / "inbox/quarantine/events/web/exposures.ndjson.reason.txt"
    assert (
        "an experiment exposure needs both the experiment and the variant"
        in reason_file.read_text()
    )
