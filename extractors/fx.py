"""Exchange rates into the raw lake: the ECB's euro reference rates, and a user file that wins.

Two sources land side by side as the snapshot entity ``fx_rates`` of channel ``reference``::

    raw/channel=reference/connection=ecb/entity=fx_rates/date=<fetch day>/part-0.parquet
    raw/channel=reference/connection=file/entity=fx_rates/date=<fetch day>/part-0.parquet

Columns: ``rate_date`` (date), ``currency`` (ISO 4217 code), ``rate_per_eur`` (decimal(18, 6):
units of the currency per 1 EUR), ``source`` (``ecb`` or ``file``), plus the lake's stamps.
Key: (rate_date, currency). Each snapshot holds the whole file as it was that day, so a
reader takes the latest ``date=`` partition of each connection. The warehouse converts with
these rates and lets ``file`` win over ``ecb`` for the same (rate_date, currency); EUR itself
has no row (its rate is 1 by definition).

**The feed** is the ECB's full-history file, ``eurofxref-hist.zip`` (config ``fx.endpoint``:
``sandbox``, a URL, or empty for https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist.zip),
downloaded with the same retries and backoff as the marketplace APIs.

**The user file** (config ``fx.file``, default ``<data_dir>/reference/eurofxref-hist.csv``; a
``.zip`` holding one ``.csv`` is read too) uses the ECB's own layout, so a downloaded ECB file
works as is and a hand-made one looks like this::

    Date,USD,GBP,CAD,
    2025-03-14,1.0877,0.84050,1.5650,
    2025-03-13,1.0862,0.83800,N/A,

* a header row with a ``Date`` column and one column per currency, each a 3-letter upper-case
  ISO 4217 code (``USD``), rates in units of that currency per 1 EUR;
* one row per day, ``YYYY-MM-DD``, in any order, each date once;
* a rate is a positive decimal number with a ``.`` (at most 6 decimals are kept);
  ``N/A`` or an empty cell means "no rate that day" and is skipped;
* a trailing comma, blank lines, spaces around cells and a UTF-8 byte-order mark are fine.

A file without a ``Date`` column or without rows, or from which no rate at all can be read,
is an error (:class:`FxFileError`). Anything else that cannot be read — a bad date, a value
that is not a positive number, a date given twice with different rates, a column whose header
is not a currency code — is quarantined with a reason naming the line and column, never
dropped silently; the rest of the file loads.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import requests

from extractors.base import (
    EntitySpec,
    ExtractResult,
    Quarantined,
    RecordError,
    Stream,
    Window,
    column,
)
from extractors.fx_settings import FxConfig
from extractors.http import ApiClient, RetrySettings
from extractors.runner import StreamRun, run_stream

CHANNEL = "reference"
ENTITY = "fx_rates"
RATE = pa.decimal128(18, 6)
_RATE_STEP = Decimal("0.000001")
_RATE_LIMIT = Decimal(10) ** 12  # what decimal128(18, 6) can hold
_CODE = re.compile(r"^[A-Z]{3}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NO_RATE = frozenset({"", "N/A"})

FX_RATES = EntitySpec(
    ENTITY,
    pa.schema(
        [
            column("rate_date", pa.date32(), nullable=False),
            column("currency", pa.string(), nullable=False),
            column("rate_per_eur", RATE, nullable=False),
            column("source", pa.string()),
        ]
    ),
    key=("rate_date", "currency"),
    partition_by=None,
)
STREAMS: dict[str, Stream] = {
    ENTITY: Stream(
        ENTITY,
        (FX_RATES,),
        incremental=False,
        cadence="daily",
        description="ECB euro foreign exchange reference rates, full history",
    )
}


class FxFileError(ValueError):
    """A rates file (downloaded or user-supplied) that cannot be used at all."""


def to_rate(value: str, name: str) -> Decimal:
    """A rate cell as an exact Decimal with 6 places; anything but a positive number that fits
    the column is a RecordError naming ``name``."""
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise RecordError(f"{name}: not a number: {value!r}") from None
    if not number.is_finite():
        raise RecordError(f"{name}: not a number: {value!r}")
    if number <= 0:
        raise RecordError(f"{name}: a rate must be positive, got {value!r}")
    if number >= _RATE_LIMIT:
        raise RecordError(f"{name}: rate too large: {value!r}")
    rate = number.quantize(_RATE_STEP, rounding=ROUND_HALF_EVEN)
    if rate == 0:
        raise RecordError(f"{name}: rate rounds to 0 at 6 decimals: {value!r}")
    return rate


def _records(text: str) -> list[tuple[int, list[str]]]:
    """The CSV's non-blank records as (line number, stripped cells)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), strict=True)
    out = []
    try:
        for cells in reader:
            stripped = [c.strip() for c in cells]
            if any(stripped):
                out.append((reader.line_num, stripped))
    except csv.Error as exc:
        raise FxFileError(f"line {reader.line_num}: not readable as CSV: {exc}") from None
    return out


def parse_ecb_csv(text: str, source: str = "ecb") -> tuple[pa.Table, list[Quarantined]]:
    """Rates of an ECB-layout CSV (see the module docstring) in long format.

    Returns the rows for :data:`FX_RATES` (sorted by date and currency, ``source`` set) and the
    quarantined records. ``N/A`` and empty cells are skipped. Raises :class:`FxFileError` when
    there is no ``Date`` column or no row after the header.
    """
    records = _records(text)
    if not records:
        raise FxFileError("the file is empty: expected a header 'Date,USD,JPY,...' and rows")
    header_line, header = records[0]
    date_cols = [i for i, name in enumerate(header) if name.lower() == "date"]
    if len(date_cols) != 1:
        shown = ",".join(header[:8]) + (",..." if len(header) > 8 else "")
        problem = "no 'Date' column" if not date_cols else "more than one 'Date' column"
        hint = " separated by commas" if ";" in shown or "\t" in shown else ""
        raise FxFileError(
            f"line {header_line}: {problem} in the header {shown!r}; expected the ECB layout "
            f"'Date,USD,JPY,...' with one column per currency{hint}"
        )
    date_col = date_cols[0]
    rows = records[1:]
    if not rows:
        raise FxFileError(f"no rows after the header on line {header_line}")

    quarantine: list[Quarantined] = []

    def reject(reason: str, record: object) -> None:
        quarantine.append(Quarantined.of(ENTITY, reason, record))

    def cell(cells: list[str], i: int) -> str:
        return cells[i] if i < len(cells) else ""

    def as_record(line: int, cells: list[str]) -> dict:
        names = [h if h else f"column {i + 1}" for i, h in enumerate(header)]
        names += [f"column {i + 1}" for i in range(len(header), len(cells))]
        return {"line": line, "values": dict(zip(names, cells, strict=False))}

    # Columns: currency codes, each once; anything else is quarantined with its values.
    seen: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(header):
        if i != date_col and name:
            seen[name].append(i)
    currencies: list[tuple[int, str]] = []
    bad_columns: dict[int, str] = {}
    for name, positions in seen.items():
        if not _CODE.match(name):
            for i in positions:
                bad_columns[i] = f"header {name!r} is not a 3-letter upper-case currency code"
        elif len(positions) > 1:
            for i in positions:
                bad_columns[i] = f"currency {name} has {len(positions)} columns"
        else:
            currencies.append((positions[0], name))
    for i, name in enumerate(header):
        if i != date_col and not name:
            bad_columns[i] = "has no header"
    for i in sorted(bad_columns):
        values = [
            {"line": line, "date": cell(cells, date_col), "value": cell(cells, i)}
            for line, cells in rows
            if cell(cells, i).upper() not in NO_RATE
        ]
        if values or header[i]:  # an empty trailing column (the ECB's trailing comma) is fine
            reject(
                f"column {i + 1} {bad_columns[i]}; its {len(values)} values are not loaded",
                {"column": i + 1, "header": header[i], "values": values},
            )

    # Rows: a valid date, each date once (identical repeats are harmless).
    by_date: dict[date, list[tuple[int, list[str]]]] = defaultdict(list)
    for line, cells in rows:
        if len(cells) > len(header) and any(cells[len(header) :]):
            reject(
                f"line {line}: {len(cells)} values but the header has {len(header)} columns; "
                "row not loaded",
                as_record(line, cells),
            )
            continue
        day_text = cell(cells, date_col)
        try:
            if not _DATE.match(day_text):
                raise ValueError
            day = date.fromisoformat(day_text)
        except ValueError:
            reject(
                f"line {line}, column Date: not a YYYY-MM-DD date: {day_text!r}; row not loaded",
                as_record(line, cells),
            )
            continue
        by_date[day].append((line, cells))

    out_dates: list[date] = []
    out_codes: list[str] = []
    out_rates: list[Decimal] = []
    for day in sorted(by_date):
        found = by_date[day]
        if len(found) > 1:
            lines = [line for line, _ in found]
            if all(cells == found[0][1] for _, cells in found):
                for line, cells in found[1:]:
                    reject(
                        f"line {line}: repeats the row of {day} on line {lines[0]}; "
                        "the repeat is not loaded",
                        as_record(line, cells),
                    )
            else:
                for line, cells in found:
                    reject(
                        f"line {line}: date {day} appears on lines {', '.join(map(str, lines))} "
                        "with different values; none of them is loaded",
                        as_record(line, cells),
                    )
                continue
        line, cells = found[0]
        for i, code in currencies:
            value = cell(cells, i)
            if value.upper() in NO_RATE:
                continue
            try:
                rate = to_rate(value, f"line {line}, column {code} ({day})")
            except RecordError as exc:
                reject(str(exc), {"line": line, "date": str(day), "currency": code, "value": value})
                continue
            out_dates.append(day)
            out_codes.append(code)
            out_rates.append(rate)

    order = sorted(range(len(out_dates)), key=lambda k: (out_dates[k], out_codes[k]))
    table = pa.table(
        {
            "rate_date": pa.array([out_dates[k] for k in order], pa.date32()),
            "currency": pa.array([out_codes[k] for k in order], pa.string()),
            "rate_per_eur": pa.array([out_rates[k] for k in order], RATE),
            "source": pa.array([source] * len(order), pa.string()),
        },
        schema=FX_RATES.schema,
    )
    return table, quarantine


def unzip_csv(data: bytes) -> str:
    """The CSV text inside an ECB-style zip (``eurofxref-hist.csv``, else its only .csv).

    A ValueError for anything else, so a truncated download counts as transient.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
            name = "eurofxref-hist.csv" if "eurofxref-hist.csv" in names else None
            if name is None and len(names) == 1:
                name = names[0]
            if name is None:
                raise ValueError(f"expected one .csv in the zip, found {names or 'none'}")
            return archive.read(name).decode("utf-8-sig")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a readable zip of a UTF-8 CSV ({exc})") from None


def find_user_file(configured: Path) -> Path | None:
    """The user's rates file: ``configured`` or, if it is missing, the same name with the
    other suffix (``.csv`` <-> ``.zip``); None when there is neither."""
    other = configured.with_suffix(".zip" if configured.suffix.lower() == ".csv" else ".csv")
    for path in (configured, other):
        if path.is_file():
            return path
    return None


def read_user_file(path: Path, data: bytes | None = None) -> str:
    """The CSV text of a user rates file (.csv or .zip; ``data``: its bytes if already read);
    FxFileError naming the file."""
    data = path.read_bytes() if data is None else data
    try:
        if path.suffix.lower() == ".zip":
            return unzip_csv(data)
        return data.decode("utf-8-sig")
    except (ValueError, UnicodeDecodeError) as exc:
        raise FxFileError(f"{path}: {exc}") from None


def _no_rates_error(where: str, quarantine: list[Quarantined]) -> FxFileError:
    examples = "; ".join(q.reason for q in quarantine[:3])
    return FxFileError(
        f"{where}: no usable rate in the file ({len(quarantine)} problems, e.g. {examples})"
    )


def _result(table: pa.Table, quarantine: list[Quarantined], api_version: str) -> ExtractResult:
    result = ExtractResult(api_version=api_version)
    result.rows[ENTITY] = table.to_pylist()
    result.quarantine = quarantine
    return result


class EcbFeedClient(ApiClient):
    """Downloads the ECB's full-history zip (no credentials), with the shared retries."""

    def fetch_csv(self) -> str:
        return self.call(
            "GET",
            self.base_url,
            endpoint="eurofxref-hist",
            parse=lambda response: unzip_csv(response.content),
            authenticated=False,
        )


class EcbFeedExtractor:
    """The ``ecb`` connection of channel ``reference``: the feed at ``url``."""

    channel = CHANNEL
    connection = "ecb"
    streams = STREAMS

    def __init__(
        self,
        url: str,
        retry: RetrySettings | None = None,
        session: requests.Session | None = None,
    ):
        self.url = url
        self.client = EcbFeedClient(self.connection, url, retry=retry, session=session)

    def extract(self, stream: str, window: Window | None = None) -> ExtractResult:
        if stream != ENTITY:
            raise KeyError(f"unknown stream {stream!r}; the reference channel has {ENTITY!r}")
        text = self.client.fetch_csv()
        try:
            table, quarantine = parse_ecb_csv(text, source="ecb")
        except FxFileError as exc:
            raise FxFileError(f"{self.url}: {exc}") from None
        if table.num_rows == 0:
            raise _no_rates_error(self.url, quarantine)
        result = _result(table, quarantine, "eurofxref-hist")
        result.stats = self.client.stats
        return result


class FxFileExtractor:
    """The ``file`` connection of channel ``reference``: the user's rates file.

    Without a file the snapshot is empty (so the latest ``file`` snapshot always says which
    user rates are in force), unless ``required``, which makes a missing file an error.
    """

    channel = CHANNEL
    connection = "file"
    streams = STREAMS

    def __init__(self, configured: Path, required: bool = False):
        self.configured = Path(configured)
        self.required = required

    def extract(self, stream: str, window: Window | None = None) -> ExtractResult:
        if stream != ENTITY:
            raise KeyError(f"unknown stream {stream!r}; the reference channel has {ENTITY!r}")
        path = find_user_file(self.configured)
        if path is None:
            if self.required:
                raise FxFileError(
                    f"fx.source is 'file' but there is no rates file at {self.configured} "
                    f"(or {self.configured.with_suffix('.zip').name}); see README 'Exchange rates'"
                )
            result = ExtractResult(api_version="file:none")
            result.notes.append(f"no user rates file at {self.configured}")
            return result
        data = path.read_bytes()
        text = read_user_file(path, data)
        try:
            table, quarantine = parse_ecb_csv(text, source="file")
        except FxFileError as exc:
            raise FxFileError(f"{path}: {exc}") from None
        if table.num_rows == 0:
            raise _no_rates_error(str(path), quarantine)
        digest = hashlib.sha256(data).hexdigest()[:16]
        result = _result(table, quarantine, f"file:{path.name}:sha256:{digest}")
        result.stats.bytes_received = len(data)
        result.notes.append(f"user rates from {path}: they win over the feed's")
        return result


class _Sandbox(Protocol):
    @property
    def url(self) -> str: ...


class FxDeployment(Protocol):
    """What the exchange-rate extractors need of a deployment's configuration (the
    deployment's config model has these three; this module does not import it)."""

    @property
    def fx(self) -> FxConfig: ...

    @property
    def sandbox(self) -> _Sandbox: ...

    def fx_file_path(self) -> Path: ...


def extractors_for(
    settings: FxConfig,
    sandbox_url: str,
    user_file: Path,
    session: requests.Session | None = None,
) -> list[EcbFeedExtractor | FxFileExtractor]:
    """The extractors ``settings`` asks for: the feed (source 'ecb'), then the file
    ``user_file`` (required with source 'file', optional otherwise)."""
    out: list[EcbFeedExtractor | FxFileExtractor] = []
    if settings.source == "ecb":
        retry = RetrySettings(**settings.retry.model_dump())
        out.append(EcbFeedExtractor(settings.feed_url(sandbox_url), retry, session))
    out.append(FxFileExtractor(user_file, required=settings.source == "file"))
    return out


def fx_extractors(
    config: FxDeployment, session: requests.Session | None = None
) -> list[EcbFeedExtractor | FxFileExtractor]:
    """The extractors ``config.fx`` asks for (see :func:`extractors_for`)."""
    return extractors_for(config.fx, config.sandbox.url, config.fx_file_path(), session)


def run_fx(
    config: FxDeployment,
    lake_root: Path,
    now: datetime | None = None,
    session: requests.Session | None = None,
) -> list[StreamRun]:
    """Land today's exchange-rate snapshots (feed, then file) in the lake; one run each."""
    return [
        run_stream(extractor, ENTITY, Path(lake_root), now=now)
        for extractor in fx_extractors(config, session)
    ]


@dataclass
class FxSummary:
    """What a set of written fx_rates partitions holds; materialization metadata."""

    rows: int
    rows_by_source: dict[str, int]
    currencies: list[str]
    first_rate_date: date | None
    last_rate_date: date | None


def summarize(files: list[Path]) -> FxSummary:
    """Rows, currencies and date range of the fx_rates partitions ``files``."""
    tables = [pq.read_table(f, columns=["rate_date", "currency", "source"]) for f in files]
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return FxSummary(0, {}, [], None, None)
    table = pa.concat_tables(tables)
    by_source: dict[str, int] = defaultdict(int)
    for value in table.column("source").to_pylist():
        by_source[value] += 1
    dates = table.column("rate_date")
    return FxSummary(
        rows=table.num_rows,
        rows_by_source=dict(sorted(by_source.items())),
        currencies=sorted(set(table.column("currency").to_pylist())),
        first_rate_date=pc.min(dates).as_py(),
        last_rate_date=pc.max(dates).as_py(),
    )
