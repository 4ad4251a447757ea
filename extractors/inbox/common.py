"""What every inbox reader shares: the refusal of a whole file, the parsed result, reading
CSV/TSV/Parquet into text columns, finding columns by header, and mapping.yml loading."""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from pydantic import BaseModel, ValidationError

from extractors.inbox.values import Cells

M = TypeVar("M", bound=BaseModel)


class FileRejected(ValueError):
    """The whole file cannot be imported; the message is shown to the user as is (in the
    ``.reason.txt`` next to the quarantined file), so it says what is wrong and what to do."""


@dataclass
class RawTable:
    """A file's data rows as columns of raw cells (text, or native values from Parquet/JSON).

    ``row_numbers[i]`` is the 1-based number users see for row ``i``: the data row for CSV and
    Parquet (the header does not count), the line for NDJSON.
    """

    names: list[str]
    columns: dict[str, list[Any]]
    row_numbers: list[int]
    originals: list[Any] | None = None  # the raw record of each row, when not just its cells

    @property
    def rows(self) -> int:
        return len(self.row_numbers)

    def record(self, i: int) -> dict[str, Any]:
        if self.originals is not None:
            return {"record": self.originals[i]}
        return {name: self.columns[name][i] for name in self.names}

    def cells(self) -> Cells:
        return Cells(self.rows, lambda i: f"row {self.row_numbers[i]}")


@dataclass
class Parsed:
    """One file, parsed: the entity's columns for the usable rows, their source row numbers,
    and the refused rows as (reason, raw record)."""

    entity: str
    source_format: str
    columns: dict[str, list[Any]]
    source_rows: list[int]
    rejected: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values()), []))


def select_rows(
    raw: RawTable,
    cells: Cells,
    columns: dict[str, list[Any]],
    where: str,
) -> tuple[dict[str, list[Any]], list[int], list[tuple[str, dict[str, Any]]]]:
    """Split converted ``columns`` into the good rows and the refused ones (with reasons)."""
    good = cells.good_rows()
    kept = {name: [values[i] for i in good] for name, values in columns.items()}
    rejected = [
        (cells.reason(i, where), {"file": where, "row": raw.row_numbers[i], **raw.record(i)})
        for i in sorted(cells.problems)
    ]
    return kept, [raw.row_numbers[i] for i in good], rejected


def gunzip_if_needed(path: Path, data: bytes) -> bytes:
    if path.name.lower().endswith(".gz"):
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise FileRejected(
                f"the file ends in .gz but is not a readable gzip file ({exc})"
            ) from None
    return data


def header_line(path: Path, data: bytes) -> str | None:
    """The first line of a delimited text file (gunzipped, BOM dropped) for recognising an
    export by its header; None for a Parquet or unreadable gzip file."""
    if path.name.lower().endswith(".parquet"):
        return None
    try:
        head = gunzip_if_needed(path, data)[: 1 << 16]
    except FileRejected:
        return None
    return head.decode("utf-8", errors="replace").lstrip("\ufeff").split("\n", 1)[0].strip("\r")


def decode(data: bytes, encoding: str) -> str:
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return data.decode(codec)
    except LookupError:
        raise FileRejected(f"unknown text encoding {encoding!r} in mapping.yml") from None
    except UnicodeDecodeError as exc:
        raise FileRejected(
            f"the file is not valid {encoding} text (byte {exc.start}: {data[exc.start : exc.start + 1]!r}); "
            "if it was saved by Excel or an older system, set `encoding: cp1252` (Western "
            "European) or the encoding it uses in mapping.yml"
        ) from None


def read_delimited(
    text: str, delimiter: str, header_row: int = 1, quote_char: str | None = '"'
) -> RawTable:
    """Text columns of a CSV/TSV; the header is on line ``header_row`` (lines above it are
    skipped). Empty cells are None."""
    try:
        frame = pl.read_csv(
            io.BytesIO(text.encode("utf-8")),
            separator=delimiter,
            has_header=True,
            skip_rows=header_row - 1,
            infer_schema=False,
            quote_char=quote_char,
        )
    except pl.exceptions.NoDataError:
        raise FileRejected("the file is empty (no header line)") from None
    except pl.exceptions.PolarsError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        shown_delimiter = "tab" if delimiter == "\t" else repr(delimiter)
        raise FileRejected(
            f"the file cannot be read as a table with the {shown_delimiter} delimiter ({first}); "
            "check the delimiter and that every row has as many cells as the header"
        ) from None
    names = [name.strip().lstrip("\ufeff") for name in frame.columns]
    frame.columns = names
    return RawTable(names, frame.to_dict(as_series=False), list(range(1, frame.height + 1)))


def read_parquet(data: bytes) -> RawTable:
    """Columns of a Parquet file as Python values (timestamps stay datetimes)."""
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError) as exc:
        raise FileRejected(f"the file is not a readable Parquet file ({exc})") from None
    columns = {}
    for name, values in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_nested(values.type):
            columns[name] = [None if v is None else str(v) for v in values.to_pylist()]
        else:
            columns[name] = values.to_pylist()
    return RawTable(list(table.column_names), columns, list(range(1, table.num_rows + 1)))


def _normal(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def find_column(names: list[str], wanted: str) -> str | None:
    """The file's column named ``wanted``: exact, else ignoring case, spaces, '_' and '-' when
    that is unambiguous."""
    if wanted in names:
        return wanted
    matches = [name for name in names if _normal(name) == _normal(wanted)]
    return matches[0] if len(matches) == 1 else None


def shown_names(names: list[str], limit: int = 12) -> str:
    listed = ", ".join(repr(n) for n in names[:limit])
    return listed + (f" and {len(names) - limit} more" if len(names) > limit else "")


def explain_validation(exc: ValidationError) -> str:
    """Pydantic's errors as one line per problem: ``columns.quantity: missing (required)``."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "mapping"
        message = error["msg"]
        if error["type"] == "missing":
            message = "missing (required)"
        elif error["type"] == "extra_forbidden":
            message = "unknown setting (check the spelling against the documentation)"
        message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        lines.append(f"  - {where}: {message}")
    return "\n".join(lines)


def load_mapping(path: Path | None, model: type[M], example: str) -> M:
    """The folder's mapping.yml validated by ``model``; FileRejected with readable reasons
    (and ``example``, a sample mapping) when it is missing or wrong."""
    if path is None:
        raise FileRejected(
            "there is no mapping.yml in this folder, and the file is not an export the importer "
            "recognises by its header. Add a mapping.yml next to the file that says which of "
            f"its columns hold what, for example:\n\n{example}"
        )
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise FileRejected(f"{path.name} is not valid YAML{where}: {exc}") from None
    except UnicodeDecodeError:
        raise FileRejected(f"{path.name} is not UTF-8 text") from None
    if not isinstance(content, dict):
        raise FileRejected(
            f"{path.name} must hold settings (`key: value` lines), for example:\n\n{example}"
        )
    try:
        return model.model_validate(content)
    except ValidationError as exc:
        raise FileRejected(
            f"{path.name} has problems:\n{explain_validation(exc)}\n\nFor example:\n\n{example}"
        ) from None


def mapped_columns(
    raw: RawTable, wanted: dict[str, str], mapping_name: str = "mapping.yml"
) -> dict[str, str]:
    """{setting: file column} for every mapped setting; FileRejected naming all the mapped
    columns the file lacks and listing the columns it has."""
    found, missing = {}, []
    for setting, column in wanted.items():
        name = find_column(raw.names, column)
        if name is None:
            missing.append(f"{setting} -> {column!r}")
        else:
            found[setting] = name
    if missing:
        raise FileRejected(
            f"{mapping_name} maps columns the file does not have: {', '.join(missing)}. "
            f"The file's columns are: {shown_names(raw.names)}. Fix the column names under "
            f"`columns:` in {mapping_name} (or the file's header)."
        )
    return found
