"""The inbox's other kinds into the lake: storefront events (NDJSON/gzip, CSV, a JSON array),
product costs, SKU mappings and exchange rates."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from extractors import fx
from extractors.lake import META_FIELDS
from tests.extractors.inbox_helpers import (
    FIXTURES,
    STAMP,
    D,
    drop,
    drop_mapping,
    event,
    import_one,
    lake_rows,
    quarantine_reasons,
    utc,
)


# ---------------------------------------------------------------------------------------------
# Events, product costs, SKU mappings, exchange rates
# ---------------------------------------------------------------------------------------------
def test_events_ndjson_gz_with_nested_keys_funnel_steps_and_refused_lines(data_dir: Path):
    drop_mapping(data_dir, "events/web")
    text = (FIXTURES / "events/web/events.ndjson").read_text()
    drop(data_dir, "events/web/events.ndjson.gz", gzip.compress(text.encode()))
    result = import_one(data_dir, "events/web/events.ndjson.gz")
    assert (result.status, result.rows_written, result.rows_quarantined) == ("imported", 6, 3)
    lines = text.splitlines()
    assert lake_rows(result) == [
        event(
            1,
            lines[0],
            anonymous_id="a1",
            event_name="page_viewed",
            funnel_step="page_view",
            occurred_at=utc(2026, 1, 5, 10),
            referrer="https://www.google.com/",
            page_url="https://shop.example/?utm_source=google&utm_medium=cpc",
            traffic_source="google",
        ),
        event(
            2,
            lines[1],
            anonymous_id="a1",
            event_name="product_viewed",
            funnel_step="product_view",
            occurred_at=utc(2026, 1, 5, 10, 1),
            sku="CH-00010",
            page_url="https://shop.example/products/mug",
        ),
        event(  # a time without offset is Europe/Berlin (the mapping's timezone)
            3,
            lines[2],
            anonymous_id="a1",
            user_id="gid://shopify/Customer/1",
            event_name="product_added_to_cart",
            funnel_step="add_to_cart",
            occurred_at=utc(2026, 1, 5, 10, 2),
            sku="CH-00010",
            quantity=2,
            value=D("40"),
            currency="USD",
        ),
        event(
            4,
            lines[3],
            anonymous_id="a1",
            user_id="gid://shopify/Customer/1",
            event_name="checkout_completed",
            funnel_step="purchase",
            occurred_at=datetime(2026, 1, 5, 10, 5, 0, 250000, tzinfo=UTC),
            value=D("80.61"),
            currency="USD",
            order_id="#1001",
        ),
        event(  # not a funnel event: kept, without a step
            5,
            lines[4],
            anonymous_id="a2",
            event_name="search_submitted",
            occurred_at=utc(2026, 1, 5, 12),
        ),
        event(  # already a step name; +01:00 converted to UTC
            10,
            lines[9],
            anonymous_id="a4",
            event_name="purchase",
            funnel_step="purchase",
            occurred_at=utc(2026, 1, 5, 12),
        ),
    ]
    assert quarantine_reasons(result) == [
        "events/web/events.ndjson.gz, line 8: not valid JSON (Expecting property name enclosed "
        "in double quotes at character 25)",
        "events/web/events.ndjson.gz, line 6: neither an anonymous id nor a user id: the "
        "visitor is unknown",
        "events/web/events.ndjson.gz, line 7: column 'timestamp' (occurred_at): not an ISO 8601 "
        "date/time such as 2026-01-05T14:03:11Z: 'yesterday'",
    ]


def test_events_csv_with_epoch_times_and_mapped_session_and_source(data_dir: Path):
    drop(
        data_dir,
        "events/pos_kiosk/mapping.yml",
        "format: csv\ntimestamp_format: epoch_ms\ncurrency: EUR\ndecimal_comma: true\n"
        "columns: {event_id: id, user_id: member, session_id: visit, event_name: what,\n"
        "  occurred_at: ms, value: amount, traffic_source: campaign}\n"
        "funnel_steps: {Scan: product_view, Pay: purchase}\n",
    )
    drop(
        data_dir,
        "events/pos_kiosk/kiosk.csv",
        "id,member,visit,what,ms,amount,campaign\n"
        "e1,m1,v1,Scan,1767607200000,,flyer\n"
        'e2,m1,v1,pay,1767607260500,"12,50",flyer\n'
        "e3,m2,v2,Scan,soon,,\n",
    )
    result = import_one(data_dir, "events/pos_kiosk/kiosk.csv")
    assert (result.rows_written, result.rows_quarantined) == (2, 1)
    common = dict(
        channel="pos_kiosk",
        storefront_id="pos_kiosk",
        user_id="m1",
        session_id="v1",
        traffic_source="flyer",
        currency="EUR",
    )
    rows = [{k: v for k, v in r.items() if v is not None} for r in lake_rows(result)]
    assert rows == [
        dict(
            event_id="e1",
            event_name="Scan",
            funnel_step="product_view",
            occurred_at=utc(2026, 1, 5, 10),
            _source_row=1,
            **common,
        ),
        dict(
            event_id="e2",
            event_name="pay",
            funnel_step="purchase",
            occurred_at=datetime(2026, 1, 5, 10, 1, 0, 500000, tzinfo=UTC),
            value=D("12.5"),
            _source_row=2,
            **common,
        ),
    ]
    assert quarantine_reasons(result) == [
        "events/pos_kiosk/kiosk.csv, row 3: column 'ms' (occurred_at): not Unix time in "
        "milliseconds: 'soon'"
    ]


def test_events_json_array_without_optional_keys(data_dir: Path):
    drop_mapping(data_dir, "events/web")  # maps userId, properties..., context... too
    drop(
        data_dir,
        "events/web/batch.json",
        '[{"event": "page_viewed", "anonymousId": "a", "timestamp": "2026-01-01T00:00:00Z"},'
        ' {"event": "page_viewed", "anonymousId": "b"}]',
    )
    result = import_one(data_dir, "events/web/batch.json")
    assert (result.rows_written, result.rows_quarantined) == (1, 1)
    assert quarantine_reasons(result) == [
        "events/web/batch.json, item 2: column 'timestamp' (occurred_at): empty, but a value "
        "is required"
    ]


def test_product_costs(data_dir: Path):
    drop(data_dir, "product_costs/costs.csv")
    result = import_one(data_dir, "product_costs/costs.csv")
    assert (result.status, result.connection, result.rows_written) == ("imported", "inbox", 3)
    assert "connection=inbox/entity=product_costs" in result.lake_path.as_posix()
    assert result.archive_path == data_dir / f"inbox/archive/product_costs/{STAMP}__costs.csv"
    assert lake_rows(result) == [
        dict(
            sku="CH-00001",
            unit_cost=D("9.08"),
            currency="USD",
            effective_from=date(2026, 1, 1),
            shipping_cost_per_unit=None,
            _source_row=1,
        ),
        dict(
            sku="CH-00001",
            unit_cost=D("9.50"),
            currency="USD",
            effective_from=date(2026, 6, 1),
            shipping_cost_per_unit=D("1.25"),
            _source_row=2,
        ),
        dict(
            sku="CH-00002",
            unit_cost=D("11.25"),
            currency="EUR",
            effective_from=date(2026, 1, 1),
            shipping_cost_per_unit=None,
            _source_row=3,
        ),
    ]
    conflict = (
        "sku 'CH-00005', effective_from '2026-01-01' is given on rows 6, 7 with different "
        "values; none of them is imported"
    )
    assert quarantine_reasons(result) == [
        "product_costs/costs.csv, row 4: column 'Unit Cost': not a number such as 12.50: 'abc'",
        "product_costs/costs.csv, row 5: column 'Effective From': not a YYYY-MM-DD date: "
        "'01/02/2026'",
        f"product_costs/costs.csv, row 6: {conflict}",
        f"product_costs/costs.csv, row 7: {conflict}",
    ]


def test_sku_mappings(data_dir: Path):
    drop(data_dir, "sku_mappings/mappings.csv")
    result = import_one(data_dir, "sku_mappings/mappings.csv")
    assert lake_rows(result) == [
        dict(
            channel="etsy",
            connection_name="etsy",
            listing_sku="ETSY-KNIFE-1",
            product_sku="CH-00001",
            note="matched by hand",
            _source_row=1,
        ),
        dict(
            channel=None,
            connection_name=None,
            listing_sku="OLD-SKU-9",
            product_sku="CH-00002",
            note=None,
            _source_row=2,
        ),
    ]
    assert quarantine_reasons(result) == [
        "sku_mappings/mappings.csv, row 3: column 'listing_sku': empty, but a value is required"
    ]


def test_fx_rates_land_in_the_reference_channel(data_dir: Path):
    drop(data_dir, "fx_rates/rates.csv")
    result = import_one(data_dir, "fx_rates/rates.csv")
    assert result.status == "imported", result.reason
    assert result.lake_path == (
        data_dir
        / "raw/channel=reference/connection=inbox/entity=fx_rates/date=2026-01-10"
        / f"part-{result.file.digest}.parquet"
    )
    table = pq.read_table(result.lake_path)
    assert table.schema.equals(pa.schema([*fx.FX_RATES.schema, *META_FIELDS]))
    assert table.select(["rate_date", "currency", "rate_per_eur", "source"]).to_pylist() == [
        dict(rate_date=date(2026, 1, 2), currency="USD", rate_per_eur=D("1.0862"), source="inbox"),
        dict(rate_date=date(2026, 1, 5), currency="GBP", rate_per_eur=D("0.8405"), source="inbox"),
        dict(rate_date=date(2026, 1, 5), currency="USD", rate_per_eur=D("1.0877"), source="inbox"),
    ]
    assert set(table.column("_channel").to_pylist()) == {"reference"}
    assert quarantine_reasons(result) == [
        "fx_rates/rates.csv: column 4 header 'XX1' is not a 3-letter upper-case currency code; "
        "its 1 values are not loaded",
        "fx_rates/rates.csv: line 4, column Date: not a YYYY-MM-DD date: '2026-13-01'; row not "
        "loaded",
    ]


def test_a_mapped_scroll_depth_lands_as_a_percentage_and_a_bad_one_is_quarantined(data_dir: Path):
    drop(
        data_dir,
        "events/blog/mapping.yml",
        "format: csv\n"
        "columns: {event_id: id, anonymous_id: visitor, event_name: what, occurred_at: at,\n"
        "  page_url: url, scroll_depth: scrolled}\n",
    )
    drop(
        data_dir,
        "events/blog/views.csv",
        "id,visitor,what,at,url,scrolled\n"
        "e1,v1,page_view,2026-01-05T10:00:00Z,/post,75\n"
        "e2,v1,page_view,2026-01-05T10:01:00Z,/other,40%\n"
        "e3,v1,page_view,2026-01-05T10:02:00Z,/third,\n"
        "e4,v2,page_view,2026-01-05T10:03:00Z,/post,150\n",
    )
    result = import_one(data_dir, "events/blog/views.csv")
    assert (result.rows_written, result.rows_quarantined) == (3, 1)
    assert [r["scroll_depth"] for r in lake_rows(result)] == [75.0, 40.0, None]
    assert quarantine_reasons(result) == [
        "events/blog/views.csv, row 4: column 'scrolled' (scroll_depth): scroll depth 150 is "
        "not a percentage between 0 and 100"
    ]
