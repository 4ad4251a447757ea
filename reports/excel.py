"""The Excel workbook (XlsxWriter in ``constant_memory`` mode: rows are streamed to disk as
they are written, so memory stays flat however large the extract).

One sheet per extract (header format, frozen header row, autofilter, number and date formats)
plus an ``About`` sheet. A sheet holds at most 1,048,576 rows: a longer extract continues on
``<name> (2)``, ``<name> (3)``... and the About sheet says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import xlsxwriter

EXCEL_MAX_ROWS = 1_048_576  # including the header row
BATCH = 10_000
_BAD = re.compile(r"[\[\]:*?/\\]")


def sheet_name(name: str, part: int = 1) -> str:
    """A valid sheet name (<= 31 chars, none of []:*?/\\), with ' (n)' for continuations."""
    suffix = "" if part == 1 else f" ({part})"
    return _BAD.sub("_", name)[: 31 - len(suffix)] + suffix


def _excel_select(con, sql: str, timezone: str) -> str:
    """Excel has no time zones: timestamps with a zone become local (reporting tz) ones;
    lists/structs become text."""
    described = con.execute(f"describe ({sql})").fetchall()
    columns = []
    for name, dtype, *_ in described:
        quoted = '"' + name.replace('"', '""') + '"'
        if dtype == "TIMESTAMP WITH TIME ZONE":
            columns.append(f"timezone('{timezone}', {quoted}) as {quoted}")
        elif dtype.endswith("[]") or dtype.startswith(("STRUCT", "MAP", "UNION")):
            columns.append(f"cast({quoted} as varchar) as {quoted}")
        elif dtype.startswith("DECIMAL") or dtype == "HUGEINT":
            columns.append(f"cast({quoted} as double) as {quoted}")
        else:
            columns.append(quoted)
    return f"select {', '.join(columns)} from ({sql}) as extract"


def write_workbook(
    path: Path,
    con,
    extracts: Sequence[tuple[str, str, str]],
    *,
    title: str,
    period,
    timezone: str = "UTC",
    max_rows: int = EXCEL_MAX_ROWS,
) -> dict[str, int]:
    """Write ``extracts`` ((name, description, sql), ...) into one workbook; returns the data
    rows per extract. ``max_rows`` (header included) exists so tests can exercise the limit."""
    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    # Fixed document date: re-running the report writes the same workbook.
    workbook.set_properties(
        {
            "title": f"{title} {period.label}",
            "author": "ChannelHouse",
            "created": datetime.combine(period.end, time(23, 59, 59), tzinfo=UTC).replace(
                tzinfo=None
            ),
        }
    )
    header = workbook.add_format({"bold": True, "bg_color": "#DDE4F0", "border": 1})
    formats = {
        "date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
        "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        "float": workbook.add_format({"num_format": "#,##0.00"}),
        "int": workbook.add_format({"num_format": "#,##0"}),
    }
    about = workbook.add_worksheet("About")
    about.write(0, 0, title, workbook.add_format({"bold": True, "font_size": 14}))
    about.write(1, 0, f"Period: {period.description}")
    about.write_row(3, 0, ["Extract", "Sheets", "Rows", "Description / note"], header)
    counts: dict[str, int] = {}
    for index, (name, description, sql) in enumerate(extracts):
        rows, sheets = _write_extract(
            workbook, con, name, _excel_select(con, sql, timezone), header, formats, max_rows
        )
        counts[name] = rows
        note = description
        if len(sheets) > 1:
            note += (
                f" More than {max_rows - 1:,} rows (the Excel sheet limit): continued on"
                f" {', '.join(sheets[1:])}."
            )
        about.write_row(4 + index, 0, [name, ", ".join(sheets), rows, note])
    about.set_column(0, 0, 22)
    about.set_column(1, 1, 30)
    about.set_column(3, 3, 90)
    workbook.close()
    return counts


def _write_extract(workbook, con, name, sql, header, formats, max_rows):
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    sheets: list[str] = []
    sheet = None
    row_in_sheet = max_rows  # forces a new sheet on the first row
    total = 0

    def new_sheet():
        sheets.append(sheet_name(name, len(sheets) + 1))
        ws = workbook.add_worksheet(sheets[-1])
        ws.write_row(0, 0, names, header)
        ws.freeze_panes(1, 0)
        ws.set_column(0, max(len(names) - 1, 0), 14)
        return ws

    while batch := cursor.fetchmany(BATCH):
        for record in batch:
            if row_in_sheet >= max_rows:
                if sheet is not None:
                    sheet.autofilter(0, 0, row_in_sheet - 1, len(names) - 1)
                sheet, row_in_sheet = new_sheet(), 1
            for col, value in enumerate(record):
                _write_cell(sheet, row_in_sheet, col, value, formats)
            row_in_sheet += 1
            total += 1
    if sheet is None:
        sheet, row_in_sheet = new_sheet(), 1
    sheet.autofilter(0, 0, row_in_sheet - 1, max(len(names) - 1, 0))
    return total, sheets


def _write_cell(sheet, row, col, value, formats):
    if value is None:
        return
    if isinstance(value, bool):
        sheet.write_boolean(row, col, value)
    elif isinstance(value, datetime):
        sheet.write_datetime(row, col, value.replace(tzinfo=None), formats["datetime"])
    elif isinstance(value, date):
        sheet.write_datetime(row, col, datetime.combine(value, time()), formats["date"])
    elif isinstance(value, int):
        sheet.write_number(row, col, value, formats["int"])
    elif isinstance(value, float | Decimal):
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            sheet.write_string(row, col, str(number))
        else:
            sheet.write_number(row, col, number, formats["float"])
    else:
        sheet.write_string(row, col, str(value)[:32767])
