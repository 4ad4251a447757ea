"""One inbox file into the lake: parse, write the part (and its refused rows), then archive the
file; or quarantine the whole file with a reason the user can act on."""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from extractors import fx
from extractors.base import Window
from extractors.inbox.common import FileRejected, Parsed
from extractors.inbox.events import parse_events
from extractors.inbox.files import (
    FOLDER_KINDS,
    MIN_AGE_SECONDS,
    REASON_SUFFIX,
    PendingFile,
    archive_path,
    mapping_file,
    move,
    quarantine_path,
    scan,
    write_text_atomic,
)
from extractors.inbox.orders import parse_orders
from extractors.inbox.reference import parse_fx_rates, parse_product_costs, parse_sku_mappings
from extractors.inbox.reviews import parse_reviews
from extractors.inbox.schemas import ENTITIES, SOURCE_FIELDS
from extractors.lake import META_FIELDS, QUARANTINE_SCHEMA, Stamp, atomic_write, entity_path

FILES_CHANNEL = "files"
# a channel/source name in SQL and in the warehouse tests: a lowercase identifier
FOLDER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_REASONS_SHOWN = 5

Status = Literal["imported", "quarantined", "missing"]


@dataclass
class ImportResult:
    """What happened to one inbox file.

    ``imported``: ``rows_written`` rows are in the lake part ``lake_path`` and the file was moved
    to ``archive_path``; ``rows_quarantined`` rows were refused (in ``quarantine_rows_path``,
    each with its reason; ``reason`` then summarises them). ``quarantined``: nothing was
    imported, the file is at ``quarantine_path`` with ``reason`` (also in the ``.reason.txt``
    next to it). ``missing``: the file was gone when the import started.
    """

    file: PendingFile
    status: Status
    entity: str | None = None
    channel: str | None = None
    connection: str | None = None
    source_format: str | None = None
    rows_written: int = 0
    rows_quarantined: int = 0
    lake_path: Path | None = None
    quarantine_rows_path: Path | None = None
    archive_path: Path | None = None
    quarantine_path: Path | None = None
    reason: str | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "imported"

    def as_metadata(self) -> dict[str, Any]:
        """Plain values (str/int/float) describing the import, e.g. for Dagster metadata."""
        values: dict[str, Any] = {
            "file": self.file.relative,
            "sha256": self.file.sha256,
            "status": self.status,
            "entity": self.entity,
            "connection": self.connection,
            "source_format": self.source_format,
            "rows_written": self.rows_written,
            "rows_quarantined": self.rows_quarantined,
            "lake_path": self.lake_path,
            "quarantine_rows_path": self.quarantine_rows_path,
            "archive_path": self.archive_path,
            "quarantine_path": self.quarantine_path,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
        }
        return {k: str(v) if isinstance(v, Path) else v for k, v in values.items() if v is not None}


class FolderRejected(FileRejected):
    """The file is fine, but it is in the wrong folder."""


def _check_folder(pending: PendingFile, config_connections: set[str]) -> None:
    if pending.kind in FOLDER_KINDS and pending.folder is None:
        what = {"orders": "channel", "reviews": "storefront"}.get(pending.kind, "source")
        raise FolderRejected(
            f"files in {pending.kind}/ go into a sub-folder named after their {what}, e.g. "
            f"{pending.kind}/etsy/{pending.name}; the folder name becomes the "
            f"{what}'s name in the warehouse"
        )
    folder = pending.folder
    if folder is None:
        return
    if not FOLDER_NAME.match(folder):
        suggestion = re.sub(r"[^a-z0-9_]+", "_", folder.lower()).strip("_")
        suggestion = suggestion if suggestion[:1].isalpha() else f"shop_{suggestion}".rstrip("_")
        raise FolderRejected(
            f"the folder name {folder!r} cannot be used as a {pending.kind} name: use lower-case "
            f"letters, digits and '_', starting with a letter (e.g. rename it to {suggestion!r})"
        )
    if pending.kind == "orders" and folder in config_connections:
        raise FolderRejected(
            f"the folder orders/{folder}/ has the name of the API connection {folder!r} in "
            "channelhouse.yml. Files and API data of one name would be mixed up in the "
            f"warehouse: put the files into a folder with another name (e.g. orders/{folder}_files/)"
        )


SPREADSHEETS = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")


def _parse(pending: PendingFile, data: bytes) -> Parsed:
    where = pending.relative
    path = pending.path
    if path.name.lower().endswith(SPREADSHEETS):
        raise FileRejected(
            "spreadsheet workbooks are not read: open it and save (or export) the sheet as CSV "
            "(UTF-8), then put the .csv into the folder"
        )
    if pending.kind == "orders":
        mapping = mapping_file(path.parent)
        return parse_orders(path, data, mapping, pending.folder or "", where)
    if pending.kind == "events":
        mapping = mapping_file(path.parent)
        return parse_events(path, data, mapping, pending.folder or "", where)
    if pending.kind == "reviews":
        mapping = mapping_file(path.parent)
        return parse_reviews(path, data, mapping, pending.folder or "", where)
    if pending.kind == "product_costs":
        return parse_product_costs(path, data, where)
    if pending.kind == "sku_mappings":
        return parse_sku_mappings(path, data, where)
    if pending.kind == "fx_rates":
        return parse_fx_rates(path, data, where)
    raise FileRejected(f"the inbox has no folder kind {pending.kind!r}")


def _existing_part(entity_dir: Path, name: str) -> Path | None:
    """The part of an earlier import of the same content (any import day), if any."""
    found = sorted(entity_dir.glob(f"date=*/{name}"))
    return found[0] if found else None


def _table(parsed: Parsed, source_file: str, stamp: Stamp) -> pa.Table:
    if parsed.entity == fx.ENTITY:
        schema = pa.schema([*fx.FX_RATES.schema, *META_FIELDS])
        spec_schema, key = fx.FX_RATES.schema, fx.FX_RATES.key
        columns = {f.name: pa.array(parsed.columns[f.name], f.type) for f in spec_schema}
    else:
        spec = ENTITIES[parsed.entity]
        schema = pa.schema([*spec.schema, *SOURCE_FIELDS, *META_FIELDS])
        key = spec.key
        columns = {f.name: pa.array(parsed.columns[f.name], f.type) for f in spec.schema}
        columns["_source_file"] = pa.array([source_file] * parsed.rows, pa.string())
        columns["_source_row"] = pa.array(parsed.source_rows, pa.int64())
    n = len(next(iter(columns.values())))
    columns.update(stamp.columns(n))
    table = pa.table(columns, schema=schema)
    order = [(k, "ascending") for k in key]
    if "_source_row" in columns:
        order.append(("_source_row", "ascending"))
    return table.sort_by(order)


def _quarantine_table(parsed: Parsed, stamp: Stamp) -> pa.Table:
    n = len(parsed.rejected)
    return pa.table(
        {
            "entity": pa.array([parsed.entity] * n, pa.string()),
            "reason": pa.array([reason for reason, _ in parsed.rejected], pa.string()),
            "record": pa.array(
                [json.dumps(record, default=str, sort_keys=True) for _, record in parsed.rejected],
                pa.string(),
            ),
            **stamp.columns(n),
        },
        schema=QUARANTINE_SCHEMA,
    )


def _reason_text(
    pending: PendingFile, where_now: str, problem: str, now: datetime, wrong_folder: bool
) -> str:
    target = "/".join([pending.kind, *([pending.folder] if pending.folder else [])]) + "/"
    retry = (
        "To retry: put the file into a folder as described above."
        if wrong_folder
        else f"To retry: fix the file (or the folder's mapping.yml) and put the file back into "
        f"{target}."
    )
    return (
        "This file was not imported.\n\n"
        f"File:     {pending.relative}\n"
        f"Now at:   {where_now}\n"
        f"SHA-256:  {pending.sha256}\n"
        f"Checked:  {now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC\n\n"
        f"What is wrong:\n{problem}\n\n"
        f"{retry} Nothing of it is in the warehouse.\n"
    )


def _quarantine_file(
    inbox: Path, pending: PendingFile, error: FileRejected, now: datetime, started: float
) -> ImportResult:
    problem = str(error)
    wrong_folder = isinstance(error, FolderRejected)
    target = quarantine_path(inbox, pending)
    move(pending.path, target)
    relative = target.relative_to(inbox).as_posix()
    write_text_atomic(
        target.with_name(target.name + REASON_SUFFIX),
        _reason_text(pending, relative, problem, now, wrong_folder),
    )
    return ImportResult(
        pending,
        "quarantined",
        connection=pending.connection,
        quarantine_path=target,
        reason=problem,
        seconds=time.perf_counter() - started,
    )


def import_file(
    pending: PendingFile,
    data_dir: Path,
    config_connections: Iterable[str] = (),
    now: datetime | None = None,
) -> ImportResult:
    """Import one file found by :func:`extractors.inbox.scan` (see the package docstring).

    ``data_dir`` holds ``inbox/``, ``raw/`` and ``quarantine/``; ``config_connections`` are the
    API connection names of channelhouse.yml (an orders folder must not be named like one).
    ``now`` (default: the current time) stamps the rows and names the archived file.
    """
    started = time.perf_counter()
    data_dir = Path(data_dir)
    inbox = data_dir / "inbox"
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if not pending.path.is_file():
        return ImportResult(
            pending, "missing", reason=f"{pending.relative} is no longer in the inbox"
        )
    data = pending.path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if sha != pending.sha256:  # rewritten since the scan: import what is there now
        pending = replace(pending, size=len(data), sha256=sha)
    try:
        _check_folder(pending, set(config_connections))
        if not data.strip():
            raise FileRejected("the file is empty")
        parsed = _parse(pending, data)
        if parsed.rows == 0:
            shown = "\n".join(f"  - {reason}" for reason, _ in parsed.rejected[:MAX_REASONS_SHOWN])
            more = len(parsed.rejected) - MAX_REASONS_SHOWN
            raise FileRejected(
                f"no row of the file can be imported ({len(parsed.rejected)} rows refused):\n"
                f"{shown}" + (f"\n  - ... and {more} more" if more > 0 else "")
            )
    except FileRejected as exc:
        return _quarantine_file(inbox, pending, exc, now, started)

    is_fx = parsed.entity == fx.ENTITY
    channel = fx.CHANNEL if is_fx else FILES_CHANNEL
    connection = pending.connection
    digest = pending.digest
    stamp = Stamp(
        channel,
        connection,
        f"inbox:{parsed.source_format}:sha256:{digest}",
        Window.for_days(now.date(), now.date()),
        now,
        uuid.uuid4().hex,
    )
    archived = archive_path(inbox, pending, now)
    source_file = archived.relative_to(inbox).as_posix()
    part = f"part-{digest}.parquet"
    entity_dir = entity_path(data_dir, channel, connection, parsed.entity)
    lake_path = _existing_part(entity_dir, part) or entity_dir / f"date={now.date()}" / part
    atomic_write(_table(parsed, source_file, stamp), lake_path)

    day_dir = lake_path.parent.name
    q_dir = entity_path(data_dir, channel, connection, parsed.entity, area="quarantine")
    for old in q_dir.glob(f"date=*/{part}"):
        old.unlink()
    q_path = None
    if parsed.rejected:
        q_path = q_dir / day_dir / part
        atomic_write(_quarantine_table(parsed, stamp), q_path)
    move(pending.path, archived)

    result = ImportResult(
        pending,
        "imported",
        entity=parsed.entity,
        channel=channel,
        connection=connection,
        source_format=parsed.source_format,
        rows_written=parsed.rows,
        rows_quarantined=len(parsed.rejected),
        lake_path=lake_path,
        quarantine_rows_path=q_path,
        archive_path=archived,
        notes=list(parsed.notes),
    )
    if parsed.rejected:
        examples = "; ".join(reason for reason, _ in parsed.rejected[:3])
        result.reason = f"{len(parsed.rejected)} rows quarantined, e.g. {examples}"
    result.seconds = time.perf_counter() - started
    return result


def import_all(
    data_dir: Path,
    config_connections: Iterable[str] = (),
    now: datetime | None = None,
    min_age_seconds: float = MIN_AGE_SECONDS,
    pending: Iterable[PendingFile] | None = None,
) -> list[ImportResult]:
    """Import every file waiting in ``<data_dir>/inbox`` (or the ``pending`` files of an
    earlier :func:`scan`), in inbox-path order; one file's refusal does not stop the others."""
    connections = set(config_connections)
    if pending is None:
        pending = scan(Path(data_dir) / "inbox", min_age_seconds=min_age_seconds)
    ordered = sorted(pending, key=lambda p: p.relative)
    return [import_file(p, data_dir, connections, now) for p in ordered]
