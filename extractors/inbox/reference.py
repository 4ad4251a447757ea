"""Reference files with fixed columns: product costs, SKU mappings, exchange rates."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from extractors import fx
from extractors.inbox.common import (
    FileRejected,
    Parsed,
    RawTable,
    decode,
    find_column,
    gunzip_if_needed,
    read_delimited,
    select_rows,
    shown_names,
)
from extractors.inbox.schemas import PRODUCT_COSTS, SKU_MAPPINGS
from extractors.inbox.values import (
    CellError,
    Cells,
    NumberFormat,
    as_text,
    parse_currency,
    parse_date,
    shown,
)

_POINT = NumberFormat()
_COMMA = NumberFormat(decimal_comma=True)


def plain_money(value: object) -> Decimal | None:
    """``12.50`` or ``12,50`` (no thousands separators), not negative."""
    try:
        amount = _POINT.money(value)
    except CellError:
        if not (isinstance(value, str) and value.count(",") == 1 and "." not in value):
            raise CellError(f"not a number such as 12.50: {shown(value)}") from None
        amount = _COMMA.money(value)
    if amount is not None and amount < 0:
        raise CellError(f"must not be negative: {shown(value)}")
    return amount


def read_fixed_csv(
    path: Path, data: bytes, required: Sequence[str], optional: Sequence[str], what: str
) -> tuple[RawTable, dict[str, str]]:
    """A CSV with known headers (case, spaces, '_' and '-' do not matter; ',' or ';' between
    cells); FileRejected when a required header is missing."""
    data = gunzip_if_needed(path, data)
    try:
        text = decode(data, "utf-8")
    except FileRejected:
        text = decode(data, "cp1252")
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    raw = read_delimited(text, delimiter)
    found = {}
    missing = []
    for name in (*required, *optional):
        column = find_column(raw.names, name)
        if column is not None:
            found[name] = column
        elif name in required:
            missing.append(name)
    if missing:
        raise FileRejected(
            f"a {what} file needs the columns {', '.join(required)}"
            f"{' (optional: ' + ', '.join(optional) + ')' if optional else ''}; "
            f"missing: {', '.join(missing)}. The file's columns are: {shown_names(raw.names)}"
        )
    if raw.rows == 0:
        raise FileRejected("the file has a header but no data rows")
    return raw, found


def _conflicts(
    cells: Cells, raw: RawTable, keys: list[tuple], values: list[tuple], names: Sequence[str]
) -> None:
    """Rows with the same key: an identical repeat is refused as such; different values for one
    key refuse all its rows (which one is right is the user's call)."""
    rows: dict[tuple, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        if i not in cells.problems:
            rows[key].append(i)
    for key, found in rows.items():
        if len(found) < 2:
            continue
        what = ", ".join(
            f"{name} {'(empty)' if v is None else repr(str(v))}"
            for name, v in zip(names, key, strict=True)
        )
        numbers = ", ".join(str(raw.row_numbers[i]) for i in found)
        if len({values[i] for i in found}) == 1:
            for i in found[1:]:
                cells.add(i, f"repeats row {raw.row_numbers[found[0]]} ({what})")
        else:
            for i in found:
                cells.add(
                    i,
                    f"{what} is given on rows {numbers} with different values; "
                    "none of them is imported",
                )


def parse_product_costs(path: Path, data: bytes, where: str) -> Parsed:
    raw, found = read_fixed_csv(
        path,
        data,
        ("sku", "unit_cost", "currency", "effective_from"),
        ("shipping_cost_per_unit",),
        "product costs",
    )
    cells = raw.cells()
    n = raw.rows

    def convert(name: str, parse, required: bool = False) -> list:
        if name not in found:
            return [None] * n
        return cells.convert(raw.columns[found[name]], parse, repr(found[name]), required)

    out: dict[str, list[Any]] = {
        "sku": convert("sku", as_text, required=True),
        "unit_cost": convert("unit_cost", plain_money, required=True),
        "currency": convert("currency", parse_currency, required=True),
        "effective_from": convert("effective_from", parse_date, required=True),
        "shipping_cost_per_unit": convert("shipping_cost_per_unit", plain_money),
    }
    keys = list(zip(out["sku"], out["effective_from"], strict=True))
    values = list(
        zip(out["unit_cost"], out["currency"], out["shipping_cost_per_unit"], strict=True)
    )
    _conflicts(cells, raw, keys, values, ("sku", "effective_from"))
    kept, rows, rejected = select_rows(raw, cells, out, where)
    return Parsed(PRODUCT_COSTS.name, "csv", kept, rows, rejected)


def parse_sku_mappings(path: Path, data: bytes, where: str) -> Parsed:
    raw, found = read_fixed_csv(
        path,
        data,
        ("listing_sku", "product_sku"),
        ("channel", "connection_name", "note"),
        "SKU mappings",
    )
    cells = raw.cells()
    n = raw.rows

    def convert(name: str, required: bool = False) -> list:
        if name not in found:
            return [None] * n
        return cells.convert(raw.columns[found[name]], as_text, repr(found[name]), required)

    out: dict[str, list[Any]] = {
        "channel": [None if c is None else c.lower() for c in convert("channel")],
        "connection_name": convert("connection_name"),
        "listing_sku": convert("listing_sku", required=True),
        "product_sku": convert("product_sku", required=True),
        "note": convert("note"),
    }
    keys = list(zip(out["channel"], out["connection_name"], out["listing_sku"], strict=True))
    values = [(p,) for p in out["product_sku"]]
    _conflicts(cells, raw, keys, values, ("channel", "connection_name", "listing_sku"))
    kept, rows, rejected = select_rows(raw, cells, out, where)
    return Parsed(SKU_MAPPINGS.name, "csv", kept, rows, rejected)


def parse_fx_rates(path: Path, data: bytes, where: str) -> Parsed:
    """An ECB-layout rates file (extractors.fx.parse_ecb_csv), ``source`` = ``inbox``."""
    try:
        text = fx.read_user_file(path, gunzip_if_needed(path, data))
        table, quarantined = fx.parse_ecb_csv(text, source="inbox")
    except fx.FxFileError as exc:
        raise FileRejected(
            f"{exc}. Rates files use the ECB layout: a header 'Date,USD,GBP,...' and one row "
            "per day (YYYY-MM-DD, rates per 1 EUR)"
        ) from None
    if table.num_rows == 0:
        examples = "; ".join(q.reason for q in quarantined[:3])
        raise FileRejected(
            f"no usable rate in the file ({len(quarantined)} problems, e.g. {examples})"
        )
    rejected = [(f"{where}: {q.reason}", json.loads(q.record)) for q in quarantined]
    return Parsed(fx.ENTITY, "ecb_csv", table.to_pydict(), [], rejected)
