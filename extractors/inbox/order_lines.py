"""What every reader of order-line files shares: money rounding and allocation over lines,
line positions and duplicate lines, unit prices, and the finished ``order_lines`` columns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from extractors.inbox.common import Parsed, RawTable, select_rows
from extractors.inbox.schemas import ORDER_LINES
from extractors.inbox.values import MONEY_STEP, CellError, Cells, shown

ZERO = Decimal("0.0000")
CENT = Decimal("0.01")


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------
def money(value: Decimal) -> Decimal:
    return value.quantize(MONEY_STEP, rounding=ROUND_HALF_EVEN)


def allocate(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """``total`` shared over lines in proportion to ``weights`` (equal shares when they are all
    0): every line but the first gets its share rounded to the cent, the first line gets the
    remainder, so the shares add up to ``total`` exactly."""
    n = len(weights)
    if n == 0:
        return []
    whole = sum(weights, Decimal(0))
    shares = [total / n] * n if whole == 0 else [total * w / whole for w in weights]
    others = [s.quantize(CENT, rounding=ROUND_HALF_EVEN) for s in shares[1:]]
    return [money(total - sum(others, Decimal(0))), *(money(o) for o in others)]


def positions(keys: Sequence[str | None]) -> list[int | None]:
    """1-based position of each row among the rows with the same key (file order)."""
    seen: dict[str, int] = defaultdict(int)
    out: list[int | None] = []
    for key in keys:
        if key is None:
            out.append(None)
            continue
        seen[key] += 1
        out.append(seen[key])
    return out


def flag_duplicate_lines(cells: Cells, raw: RawTable, order_ids: list, line_ids: list) -> None:
    first: dict[tuple[str, str], int] = {}
    for i, key in enumerate(zip(order_ids, line_ids, strict=True)):
        if key[0] is None or key[1] is None:
            continue
        if key in first:
            cells.add(
                i,
                f"order {key[0]!r} line {key[1]!r} already appears on row "
                f"{raw.row_numbers[first[key]]}; the repeat is not imported",
            )
        else:
            first[key] = i


def unit_prices(gross: list, quantity: list) -> list[Decimal | None]:
    return [
        money(g / q) if g is not None and q not in (None, 0) else None
        for g, q in zip(gross, quantity, strict=True)
    ]


def non_negative(parse):
    def check(value: object):
        result = parse(value)
        if result is not None and result < 0:
            raise CellError(f"must not be negative: {shown(value)}")
        return result

    return check


def finish(
    raw: RawTable,
    cells: Cells,
    columns: dict[str, list[Any]],
    where: str,
    source_format: str,
) -> Parsed:
    """The entity's columns (in schema order) for the good rows, and the refused rows."""
    n = raw.rows
    full = {f.name: columns.get(f.name, [None] * n) for f in ORDER_LINES.schema}
    full["source_format"] = [source_format] * n
    kept, rows, rejected = select_rows(raw, cells, full, where)
    return Parsed(ORDER_LINES.name, source_format, kept, rows, rejected)
