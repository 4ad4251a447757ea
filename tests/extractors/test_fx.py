"""Exchange rates: the sandbox's ECB feed over real HTTP, the ECB CSV parser and its quarantine,
the user file that wins, retries, the config section, and the Dagster asset with its check."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import requests
from dateutil.easter import easter

from extractors import fx
from extractors.http import ApiError, RetrySettings
from extractors.lake import partition_path
from orchestration.config import ECB_FX_URL, ConfigError, load_config, parse_config
from orchestration.definitions import build_definitions
from orchestration.defs.ingest import FX_RATES_KEY
from orchestration.lib import quality
from sandbox import ecb_api
from sandbox.business import FX_PER_USD, SIM_EPOCH
from sandbox.server import Fault
from tests.conftest import sandbox_config_dict

FAST = RetrySettings(max_attempts=4, backoff_base_s=0.01, backoff_max_s=0.05)


def _feed_url(sandbox) -> str:
    return f"{sandbox.url}/ecb/stats/eurofxref/eurofxref-hist.zip"


@pytest.fixture(scope="module")
def feed_csv(sandbox) -> str:
    response = requests.get(_feed_url(sandbox), timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.namelist() == ["eurofxref-hist.csv"]
        return archive.read("eurofxref-hist.csv").decode()


@pytest.fixture(scope="module")
def feed(feed_csv):
    table, quarantine = fx.parse_ecb_csv(feed_csv)
    return table, quarantine


def _rates(table, currency: str) -> dict[date, Decimal]:
    rows = table.filter(pc.equal(table["currency"], currency))
    return dict(zip(rows["rate_date"].to_pylist(), rows["rate_per_eur"].to_pylist(), strict=True))


def _target_days(first: date, last: date) -> set[date]:
    """TARGET business days, written out independently of the sandbox's code."""
    out = set()
    day = first
    while day <= last:
        gf = easter(day.year) - timedelta(days=2)
        closed = {(1, 1), (5, 1), (12, 25), (12, 26)}
        if (
            day.weekday() < 5
            and (day.month, day.day) not in closed
            and day not in (gf, gf + timedelta(days=3))
        ):
            out.add(day)
        day += timedelta(days=1)
    return out


# -- the sandbox feed over HTTP --------------------------------------------------------------


def test_feed_is_the_ecb_layout(feed_csv):
    lines = feed_csv.splitlines()
    header = lines[0].split(",")
    assert header[0] == "Date" and header[-1] == ""  # the ECB's trailing comma
    assert {"USD", "GBP", "CAD", "JPY", "CHF", "SEK", "PLN", "RUB", "ISK"} <= set(header)
    assert all(line.endswith(",") for line in lines)
    dates = [line.split(",", 1)[0] for line in lines[1:]]
    assert dates == sorted(dates, reverse=True)  # newest first
    first = dict(zip(header, lines[-1].split(","), strict=True))
    assert first["Date"] == "2024-01-02"  # 1 January is a TARGET holiday
    assert first["BGN"] == "1.9558" and first["RUB"] == "N/A"
    assert len(first["USD"].split(".")[1]) == 4 and len(first["GBP"].split(".")[1]) == 5
    assert len(first["JPY"].split(".")[1]) == 2


@pytest.mark.calendar
def test_feed_has_every_target_business_day_and_nothing_else(feed):
    table, quarantine = feed
    assert quarantine == []
    days = set(table["rate_date"].to_pylist())
    berlin = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin"))
    published = berlin.date() if berlin.time() >= time(16) else berlin.date() - timedelta(days=1)
    assert days == _target_days(SIM_EPOCH, published)  # the sandbox's business runs to tomorrow
    assert (
        date(2024, 3, 29) not in days and date(2024, 4, 1) not in days
    )  # Good Friday, Easter Monday
    assert date(2025, 4, 18) not in days and date(2025, 12, 26) not in days
    assert date(2024, 5, 1) not in days and date(2025, 5, 2) in days
    assert all(d.weekday() < 5 for d in days)


def test_feed_levels_sit_around_the_business_fx(feed):
    table, _ = feed
    for code in ("USD", "GBP", "CAD"):
        level = FX_PER_USD[code] / FX_PER_USD["EUR"]
        rates = [float(r) for r in _rates(table, code).values()]
        assert all(abs(r / level - 1) < 0.10 for r in rates), (code, min(rates), max(rates))
        assert abs(sum(rates) / len(rates) / level - 1) < 0.05, code
        assert max(rates) / min(rates) > 1.01, f"{code} never moves"  # a walk, not a constant
    assert set(_rates(table, "BGN").values()) == {Decimal("1.9558")}  # the peg


def test_na_means_no_rate_not_an_error(feed, feed_csv):
    table, quarantine = feed
    assert quarantine == []
    assert _rates(table, "RUB") == {}
    isk = _rates(table, "ISK")
    first, last = ecb_api.ISK_GAP
    assert not [d for d in isk if first <= d <= last]
    assert first - timedelta(days=3) <= max(d for d in isk if d < first)
    assert feed_csv.count(",N/A,") >= len(isk)  # RUB every day, plus ISK's gap


def test_feed_is_deterministic_from_the_seed(sandbox):
    end = date(2024, 7, 1)
    same = ecb_api.simulate_rates(42, end)
    assert same == ecb_api.simulate_rates(42, end)
    assert same != ecb_api.simulate_rates(7, end)
    later = ecb_api.simulate_rates(42, end + timedelta(days=30))
    assert later[: len(same)] == same  # a day's rates do not depend on the business's end
    one = requests.get(_feed_url(sandbox), timeout=30).content
    assert requests.get(_feed_url(sandbox), timeout=30).content == one  # byte-identical zip


# -- parsing ---------------------------------------------------------------------------------

BAD_CSV = """\ufeffDate, USD ,GBP,usd2,EURO,CAD,,
2024-03-05,1.0850,0.85400,1,2,1.4700,,
2024-03-04,abc,0.85300,1,2,N/A,,
2024-03-01,0,-0.8,1,2,,,
2024-02-30,1.0800,0.85000,1,2,1.4600,,
2024-02-29,1.0810,0.85100,1,2,1.4610,,
2024-02-29,1.0810,0.85100,1,2,1.4610,,
2024-02-28,1.0820,0.85200,1,2,1.4620,,
2024-02-28,1.0821,0.85200,1,2,1.4620,,
2024-02-27,1.0830,0.85250,1,2,1.4630,,,9.99

2024-02-26,1.0840,0.85260,1,2,1.4640,7,
"""


def test_problems_are_quarantined_with_reasons_and_the_rest_loads():
    table, quarantine = fx.parse_ecb_csv(BAD_CSV, source="file")
    reasons = sorted(q.reason for q in quarantine)
    assert all(q.entity == "fx_rates" for q in quarantine)

    def has(*parts: str) -> bool:
        return any(all(p in r for p in parts) for r in reasons)

    assert has("line 3, column USD (2024-03-04): not a number: 'abc'")
    assert has("line 4, column USD (2024-03-01): a rate must be positive, got '0'")
    assert has("line 4, column GBP (2024-03-01): a rate must be positive, got '-0.8'")
    assert has("line 5, column Date: not a YYYY-MM-DD date: '2024-02-30'")
    assert has("line 7: repeats the row of 2024-02-29 on line 6")
    assert has("line 8: date 2024-02-28 appears on lines 8, 9 with different values")
    assert has("line 9: date 2024-02-28 appears on lines 8, 9 with different values")
    assert has("line 10: 9 values but the header has 8 columns")
    assert has("column 4 header 'usd2' is not a 3-letter upper-case currency code", "10 values")
    assert has("column 5 header 'EURO' is not a 3-letter upper-case currency code")
    assert has("column 7 has no header", "1 values")  # 7 on line 12; line 10's row is refused
    assert len(quarantine) == 11
    record = json.loads(next(q.record for q in quarantine if "'abc'" in q.reason))
    assert record == {"line": 3, "date": "2024-03-04", "currency": "USD", "value": "abc"}

    rows = {(r["rate_date"], r["currency"]): r for r in table.to_pylist()}
    assert set(table["currency"].to_pylist()) == {"USD", "GBP", "CAD"}
    assert rows[(date(2024, 3, 5), "USD")]["rate_per_eur"] == Decimal("1.085000")
    assert rows[(date(2024, 3, 4), "GBP")]["rate_per_eur"] == Decimal("0.853000")
    assert (date(2024, 3, 4), "CAD") not in rows  # N/A: no rate, no quarantine
    assert (date(2024, 3, 1), "CAD") not in rows  # empty: the same
    assert (date(2024, 2, 29), "USD") in rows  # an identical repeat keeps one row
    assert not [k for k in rows if k[0] == date(2024, 2, 28)]  # conflicting: none
    assert not [k for k in rows if k[0] == date(2024, 2, 27)]  # too many values: none
    assert rows[(date(2024, 2, 26), "CAD")]["rate_per_eur"] == Decimal("1.464000")
    assert set(table["source"].to_pylist()) == {"file"}
    assert table.schema == fx.FX_RATES.schema
    keys = list(zip(table["rate_date"].to_pylist(), table["currency"].to_pylist(), strict=True))
    assert keys == sorted(keys)


def test_rates_keep_six_decimals():
    table, _ = fx.parse_ecb_csv("Date,IDR,XAU\n2024-01-02,17065.12,0.0005123449\n")
    rates = dict(zip(table["currency"].to_pylist(), table["rate_per_eur"].to_pylist(), strict=True))
    assert rates == {"IDR": Decimal("17065.120000"), "XAU": Decimal("0.000512")}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
        ("Day,USD,\n2024-01-02,1.1,\n", "line 1: no 'Date' column in the header 'Day,USD,'"),
        ("Date,USD,date\n2024-01-02,1.1,x\n", "more than one 'Date' column"),
        ("Date,USD,GBP,\n", "no rows after the header on line 1"),
        ("Date;USD\n2024-01-02;1.1\n", "one column per currency separated by commas"),
        ('Date,USD\n2024-01-02,"1.1\n', "line 2: not readable as CSV: unexpected end of data"),
    ],
)
def test_a_broken_file_is_a_clear_error(text, message):
    with pytest.raises(fx.FxFileError, match=message) as err:
        fx.parse_ecb_csv(text)
    assert isinstance(err.value, ValueError)


def test_a_file_without_any_usable_rate_fails_naming_the_file(tmp_path):
    path = tmp_path / "eurofxref-hist.csv"
    path.write_text("Date,USD,\n2024-01-02,x,\n2024-13-01,1.1,\n")
    with pytest.raises(fx.FxFileError) as err:
        fx.FxFileExtractor(path).extract("fx_rates")
    assert str(path) in str(err.value) and "no usable rate" in str(err.value)
    assert "line 2, column USD (2024-01-02): not a number: 'x'" in str(err.value)
    bad_zip = tmp_path / "rates.zip"
    bad_zip.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(fx.FxFileError, match=r"rates\.zip: not a readable zip"):
        fx.FxFileExtractor(bad_zip).extract("fx_rates")


# -- the extractors and the lake -------------------------------------------------------------


def test_user_file_lands_as_file_source_next_to_the_feed(config, tmp_path):
    user = config.fx_file_path()
    assert user == Path(config.data_dir) / "reference" / "eurofxref-hist.csv"
    user.parent.mkdir(parents=True)
    user.write_text("Date,USD,GBP,\n2024-06-04,1.2000,0.90000,\n2024-06-03,1.1990,oops,\n")
    root = Path(config.data_dir)
    runs = fx.run_fx(config, root)
    today = datetime.now(UTC).date()
    ecb = pq.read_table(partition_path(root, "reference", "ecb", "fx_rates", today))
    mine = pq.read_table(partition_path(root, "reference", "file", "fx_rates", today))
    assert set(ecb["source"].to_pylist()) == {"ecb"} and ecb.num_rows > 5000
    assert mine.drop_columns([c for c in mine.column_names if c.startswith("_")]).to_pylist() == [
        {"rate_date": date(2024, 6, 3), "currency": "USD", "rate_per_eur": Decimal("1.199"), "source": "file"},
        {"rate_date": date(2024, 6, 4), "currency": "GBP", "rate_per_eur": Decimal("0.9"), "source": "file"},
        {"rate_date": date(2024, 6, 4), "currency": "USD", "rate_per_eur": Decimal("1.2"), "source": "file"},
    ]  # fmt: skip
    assert set(mine["_channel"].to_pylist()) == {"reference"}
    assert set(mine["_connection"].to_pylist()) == {"file"}
    assert mine["_api_version"][0].as_py().startswith("file:eurofxref-hist.csv:sha256:")
    assert [r.quarantined for r in runs] == [0, 1]
    quarantined = pq.read_table(
        partition_path(root, "reference", "file", "fx_rates", today, area="quarantine")
    )
    assert quarantined["reason"].to_pylist() == [
        "line 3, column GBP (2024-06-03): not a number: 'oops'"
    ]
    # the same file as a .zip is found too; the snapshot is identical but for the run stamps
    user.unlink()
    with zipfile.ZipFile(user.with_suffix(".zip"), "w") as archive:
        archive.writestr("eurofxref-hist.csv", "Date,USD,\n2024-06-04,1.2000,\n")
    fx.run_fx(config, root)
    mine = pq.read_table(partition_path(root, "reference", "file", "fx_rates", today))
    assert mine["rate_per_eur"].to_pylist() == [Decimal("1.2")]


def test_without_a_user_file_the_file_snapshot_is_empty(config):
    root = Path(config.data_dir)
    runs = fx.run_fx(config, root)
    today = datetime.now(UTC).date()
    assert pq.read_table(partition_path(root, "reference", "file", "fx_rates", today)).num_rows == 0
    assert any("no user rates file" in note for note in runs[1].notes)
    only_file = config.model_copy(update={"fx": config.fx.model_copy(update={"source": "file"})})
    with pytest.raises(fx.FxFileError, match=r"fx\.source is 'file' but there is no rates file"):
        fx.run_fx(only_file, root)


def test_a_5xx_and_a_truncated_zip_are_retried(sandbox):
    sandbox.state.faults.add(Fault(api="ecb", kind="server_error", count=2, status=503))
    sandbox.state.faults.add(Fault(api="ecb", kind="truncate", count=1))
    extractor = fx.EcbFeedExtractor(_feed_url(sandbox), retry=FAST)
    result = extractor.extract("fx_rates")
    assert result.stats.retries == 3 and result.stats.requests == 4
    assert len(result.rows["fx_rates"]) > 5000 and result.quarantine == []
    assert sandbox.state.faults.fired["ecb:server_error"] >= 2
    assert sandbox.state.faults.fired["ecb:truncate"] >= 1


def test_a_feed_that_stays_down_fails_naming_the_connection(sandbox):
    sandbox.state.faults.add(Fault(api="ecb", kind="server_error", count=4, status=502))
    with pytest.raises(ApiError, match=r"\[ecb\] eurofxref-hist failed: gave up after 4 attempts"):
        fx.EcbFeedExtractor(_feed_url(sandbox), retry=FAST).extract("fx_rates")
    with pytest.raises(ApiError, match="HTTP 404"):
        fx.EcbFeedExtractor(f"{sandbox.url}/ecb/stats/nope.zip", retry=FAST).extract("fx_rates")


# -- configuration ---------------------------------------------------------------------------


def test_source_none_fetches_no_feed_and_needs_no_file(tmp_path):
    """A seller whose every amount is in the base currency: no feed, an empty file snapshot."""
    raw = sandbox_config_dict(str(tmp_path / "data"))
    raw["fx"] = {"source": "none"}
    config = parse_config(raw, "test")
    (extractor,) = fx.fx_extractors(config)
    assert isinstance(extractor, fx.FxFileExtractor) and not extractor.required
    (run,) = fx.run_fx(config, tmp_path / "data")
    assert [w.rows for w in run.writes] == [0]  # the snapshot says: no user rates


def test_fx_config_defaults_and_errors():
    demo = load_config(Path(__file__).resolve().parents[2] / "channelhouse.yml")
    assert demo.fx.source == "ecb" and demo.fx.endpoint == "sandbox"
    assert demo.fx_file_path() == demo.data_dir / "reference" / "eurofxref-hist.csv"
    config = parse_config(sandbox_config_dict("data"))
    assert config.fx.source == "ecb"
    assert config.fx.feed_url("http://h:1") == "http://h:1/ecb/stats/eurofxref/eurofxref-hist.zip"
    assert config.fx_file_path() == Path("data/reference/eurofxref-hist.csv")
    raw = sandbox_config_dict("data")
    raw["fx"] = {"endpoint": None, "file": "/srv/rates.zip"}
    config = parse_config(raw)
    assert config.fx.feed_url("http://h:1") == ECB_FX_URL
    assert config.fx_file_path() == Path("/srv/rates.zip")
    for bad, expected in [
        ({"endpoint": "ftp://x"}, "fx.endpoint: must be 'sandbox' or an http(s) URL"),
        ({"file": "rates.xlsx"}, "fx.file: must name a .csv or .zip file"),
        ({"source": "oanda"}, "fx.source: Input should be 'ecb', 'file' or 'none'"),
        ({"colour": "blue"}, "fx.colour: Extra inputs are not permitted"),
    ]:
        raw = sandbox_config_dict("data")
        raw["fx"] = bad
        with pytest.raises(ConfigError) as err:
            parse_config(raw, "channelhouse.yml")
        assert f"channelhouse.yml: {expected}" in str(err.value)


# -- Dagster ---------------------------------------------------------------------------------


def _materialize_fx(config):
    defs = build_definitions(config, retry_policy=None)
    assets = [a for a in defs.assets if FX_RATES_KEY in getattr(a, "keys", set())]
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        assets, resources={"lake": defs.resources["lake"]}, instance=instance, raise_on_error=False
    )
    checks = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    return defs, instance, result, checks


def test_the_asset_materializes_with_metadata_and_a_passing_check(config):
    defs, instance, result, checks = _materialize_fx(config)
    assert result.success
    assert [(c.asset_key, c.passed) for c in checks] == [(FX_RATES_KEY, True)]
    meta = instance.get_latest_materialization_event(FX_RATES_KEY).asset_materialization.metadata
    assert meta["rows"].value > 5000 and meta["quarantined_records"].value == 0
    assert {"USD", "GBP", "CAD", "JPY"} <= set(meta["currencies"].value)
    assert meta["first_rate_date"].value == "2024-01-02"
    assert date.fromisoformat(meta["last_rate_date"].value) >= datetime.now(UTC).date() - timedelta(
        days=5
    )
    assert {"rows", "bytes", "window", "pages", "retries", "throttled"} <= set(meta)
    # wired into the daily snapshot job and the demo's snapshot run
    for job in ("raw_snapshots", "sync_daily_snapshots"):
        assert "reference__fx_rates" in {n.name for n in defs.resolve_job_def(job).nodes}
    assert defs.resolve_schedule_def("sync_daily_snapshots_schedule").cron_schedule == "30 5 * * *"
    assert defs.resolve_assets_def(FX_RATES_KEY).group_names_by_key[FX_RATES_KEY] == "raw_reference"


def test_the_check_fails_on_an_implausible_user_file(config):
    user = config.fx_file_path()
    user.parent.mkdir(parents=True)
    user.write_text("Date,USD,JPY,\n2024-06-04,1.0850,1650000000,\n")  # JPY off by 10^7
    _, _, result, checks = _materialize_fx(config)
    assert not result.success  # the blocking check fails the step
    assert [(c.asset_key, c.passed) for c in checks] == [(FX_RATES_KEY, False)]
    summary = checks[0].metadata["summary"].value
    assert "expect_column_values_to_be_between(rate_per_eur)" in summary and "1650000000" in summary


def test_a_broken_user_file_fails_the_run_with_the_reason(config):
    user = config.fx_file_path()
    user.parent.mkdir(parents=True)
    user.write_text("Datum;USD\n2024-06-04;1.08\n")
    _, _, result, _ = _materialize_fx(config)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "no 'Date' column" in failure.step_failure_data.error.to_string()


def test_the_suite_has_the_schema_basics_and_value_rules():
    suite = json.loads(quality.suite_path("reference", "fx_rates").read_text())
    have = [(e["type"], e["kwargs"]) for e in suite["expectations"]]
    for needed in quality.base_expectations(fx.FX_RATES):
        assert (needed["type"], needed["kwargs"]) in have
    assert (
        "expect_column_values_to_match_regex",
        {"column": "currency", "regex": "^[A-Z]{3}$"},
    ) in have
    ranges = [k for t, k in have if t == "expect_column_values_to_be_between"]
    assert ranges and ranges[0]["column"] == "rate_per_eur" and ranges[0]["strict_min"] is True
