"""Cell parsers shared by every inbox file kind: numbers, integers, timestamps, dates, codes.

Each parser turns one cell (text as read from a CSV/JSON file, or a native value from
Parquet/JSON) into a typed value or raises :class:`CellError` with a plain-language message.
:class:`Cells` applies a parser to a whole column and collects the problems per row, so that a
row with a bad cell is quarantined with a reason naming the row and the column while the other
rows are imported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONEY_STEP = Decimal("0.0001")
_MONEY_LIMIT = Decimal(10) ** 14  # what decimal(18, 4) holds
_INT64_LIMIT = 2**63
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_SYMBOLS = str.maketrans("", "", "$€£¥ \u00a0\u202f\t")
TIMESTAMP_KEYWORDS = ("iso", "epoch_s", "epoch_ms")


class CellError(ValueError):
    """One cell that cannot be read; the message says what was expected."""


def shown(value: object, limit: int = 60) -> str:
    """A cell value quoted for a message, shortened when long."""
    quoted = repr(value)
    return quoted if len(quoted) <= limit else quoted[: limit - 4] + "...'"


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


@dataclass(frozen=True)
class NumberFormat:
    """How numbers are written: ``1234.56`` by default; ``1.234,56`` with
    ``decimal_comma=True, thousands_separator='.'``; ``1,234.56`` with
    ``thousands_separator=','``."""

    decimal_comma: bool = False
    thousands_separator: str | None = None

    def describe(self) -> str:
        point = "a decimal comma" if self.decimal_comma else "a decimal point"
        sep = (
            f" and {self.thousands_separator!r} between thousands"
            if self.thousands_separator
            else ""
        )
        return point + sep

    def decimal(self, value: object) -> Decimal | None:
        """The exact number in a cell (None when empty); currency symbols and spaces are
        ignored, ``(12.50)`` is negative."""
        if is_blank(value):
            return None
        if isinstance(value, bool):
            raise CellError(f"not a number: {shown(value)}")
        if isinstance(value, int | Decimal):
            number = Decimal(value)
        elif isinstance(value, float):
            number = Decimal(repr(value))
        else:
            text = str(value).strip()
            negative = text.startswith("(") and text.endswith(")")
            if negative:
                text = text[1:-1]
            text = text.translate(_SYMBOLS)
            if self.thousands_separator:
                text = text.replace(self.thousands_separator, "")
            if self.decimal_comma:
                if "." in text and self.thousands_separator != ".":
                    raise CellError(f"not a number written with {self.describe()}: {shown(value)}")
                text = text.replace(",", ".")
            elif "," in text:
                raise CellError(
                    f"not a number: {shown(value)} contains ','; if ',' is the decimal mark set "
                    "`decimal_comma: true`, if it separates thousands set "
                    '`thousands_separator: ","` in mapping.yml'
                )
            try:
                number = Decimal(text)
            except InvalidOperation:
                raise CellError(f"not a number: {shown(value)}") from None
            if negative:
                number = -number
        if not number.is_finite():
            raise CellError(f"not a number: {shown(value)}")
        return number

    def money(self, value: object) -> Decimal | None:
        number = self.decimal(value)
        if number is None:
            return None
        if abs(number) >= _MONEY_LIMIT:
            raise CellError(f"amount too large: {shown(value)}")
        return number.quantize(MONEY_STEP, rounding=ROUND_HALF_EVEN)

    def integer(self, value: object) -> int | None:
        number = self.decimal(value)
        if number is None:
            return None
        if number != number.to_integral_value():
            raise CellError(f"not a whole number: {shown(value)}")
        result = int(number)
        if abs(result) >= _INT64_LIMIT:
            raise CellError(f"number too large: {shown(value)}")
        return result


def zone(name: str) -> ZoneInfo:
    """An IANA time zone (``Europe/Berlin``); ValueError with a hint when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as 'UTC', 'Europe/Berlin' "
            "or 'America/New_York'"
        ) from None


def check_timestamp_format(fmt: str) -> str:
    """``iso``, ``epoch_s``, ``epoch_ms`` or a strftime pattern with at least one ``%`` code."""
    if fmt in TIMESTAMP_KEYWORDS:
        return fmt
    if "%" not in fmt:
        raise ValueError(
            f"timestamp_format {fmt!r} is neither 'iso', 'epoch_s', 'epoch_ms' nor a strftime "
            "pattern such as '%d.%m.%Y %H:%M'"
        )
    try:
        datetime(2024, 1, 31, 13, 45, 30).strftime(fmt)
    except ValueError as exc:
        raise ValueError(
            f"timestamp_format {fmt!r} is not a valid strftime pattern: {exc}"
        ) from None
    return fmt


@dataclass
class TimestampFormat:
    """How a file writes its times: ``iso`` (ISO 8601, with or without an offset),
    ``epoch_s``/``epoch_ms`` (Unix time) or a strftime pattern; naive times are in ``timezone``.
    Parsed values are cached, since exports repeat the same time on every line of an order."""

    fmt: str = "iso"
    timezone: str = "UTC"
    _zone: ZoneInfo = field(init=False, repr=False)
    _cache: dict[object, datetime] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        check_timestamp_format(self.fmt)
        self._zone = zone(self.timezone)

    def describe(self) -> str:
        if self.fmt == "iso":
            return "an ISO 8601 date/time such as 2026-01-05T14:03:11Z"
        if self.fmt == "epoch_s":
            return "Unix time in seconds"
        if self.fmt == "epoch_ms":
            return "Unix time in milliseconds"
        return f"a date/time in the format {self.fmt!r}"

    def _aware(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self._zone)
        return moment.astimezone(UTC)

    def parse(self, value: object) -> datetime | None:
        if is_blank(value):
            return None
        key = value.strip() if isinstance(value, str) else value
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        result = self._parse(key)
        self._cache[key] = result
        return result

    def _parse(self, value: object) -> datetime:
        if isinstance(value, datetime):
            return self._aware(value)
        if isinstance(value, date):
            return self._aware(datetime(value.year, value.month, value.day))
        if self.fmt in ("epoch_s", "epoch_ms"):
            try:
                number = Decimal(str(value))
                if not number.is_finite():
                    raise InvalidOperation
                seconds = number / 1000 if self.fmt == "epoch_ms" else number
                return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
                    microseconds=int(seconds * 1_000_000)
                )
            except (InvalidOperation, OverflowError, ValueError):
                raise CellError(f"not {self.describe()}: {shown(value)}") from None
        text = str(value)
        try:
            if self.fmt == "iso":
                moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            else:
                moment = datetime.strptime(text, self.fmt)
        except ValueError:
            raise CellError(f"not {self.describe()}: {shown(value)}") from None
        return self._aware(moment)


def parse_date(value: object) -> date | None:
    """A ``YYYY-MM-DD`` day."""
    if is_blank(value):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise CellError(f"not a YYYY-MM-DD date: {shown(value)}") from None


def parse_currency(value: object) -> str | None:
    """An ISO 4217 code (upper-cased)."""
    if is_blank(value):
        return None
    code = str(value).strip().upper()
    if not _CURRENCY.match(code):
        raise CellError(f"not a 3-letter ISO 4217 currency code: {shown(value)}")
    return code


def as_text(value: object) -> str | None:
    """A cell as trimmed text; empty is None. Whole floats from JSON lose their '.0'."""
    if is_blank(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        raise CellError("expected a single value, found a JSON object or list")
    return str(value).strip()


class Cells:
    """Converts the columns of one file and remembers each row's problems.

    ``rows`` is the number of data rows; ``label(row)`` names a row in messages (e.g.
    ``row 12``). A parsed column is a list with one value per row (None where the cell is empty
    or bad); ``problems[i]`` lists what is wrong with row ``i``.
    """

    def __init__(self, rows: int, label: Callable[[int], str]):
        self.rows = rows
        self.label = label
        self.problems: dict[int, list[str]] = {}

    def add(self, row: int, message: str) -> None:
        self.problems.setdefault(row, []).append(message)

    def convert(
        self,
        values: Sequence[object],
        parse: Callable[[object], object],
        column: str,
        required: bool = False,
    ) -> list:
        """``parse`` applied to every cell of ``column``; an empty required cell or a cell
        ``parse`` refuses is a problem of its row."""
        out: list = []
        for i, value in enumerate(values):
            try:
                parsed = parse(value)
            except CellError as exc:
                self.add(i, f"column {column}: {exc}")
                out.append(None)
                continue
            if parsed is None and required:
                self.add(i, f"column {column}: empty, but a value is required")
            out.append(parsed)
        return out

    def good_rows(self) -> list[int]:
        return [i for i in range(self.rows) if i not in self.problems]

    def reason(self, row: int, where: str) -> str:
        return f"{where}, {self.label(row)}: " + "; ".join(self.problems[row])
