"""Settings every mapping.yml shares: how the file is written (delimiter, encoding, header row,
numbers, timestamps). Validated with pydantic; errors are explained per setting."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from extractors.inbox.common import FileRejected
from extractors.inbox.values import (
    CellError,
    NumberFormat,
    TimestampFormat,
    check_timestamp_format,
    parse_currency,
    zone,
)

THOUSANDS_SEPARATORS = (",", ".", " ", "'", "\u00a0", "\u202f")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSettings(Strict):
    """How the file writes its cells (shared by the orders and events mappings)."""

    delimiter: str | None = Field(
        None, description="cell separator of csv/tsv files: ',' ';' '|' or 'tab'"
    )
    encoding: str = Field("utf-8", description="text encoding, e.g. utf-8 or cp1252")
    header_row: int = Field(1, ge=1, description="line number of the header row")
    decimal_comma: bool = Field(False, description="numbers are written 12,50")
    thousands_separator: str | None = Field(None, description="e.g. ',' in 1,234.56")
    timestamp_format: str = Field("iso", description="iso, epoch_s, epoch_ms or strftime")
    timezone: str = Field("UTC", description="IANA zone of times written without an offset")
    currency: str | None = Field(
        None, description="ISO 4217 currency of the amounts of rows that name none"
    )

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        try:
            return parse_currency(value)
        except CellError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.lower() in ("tab", "\\t"):
            return "\t"
        if len(value) != 1:
            raise ValueError(f"must be a single character (or 'tab'), got {value!r}")
        return value

    @field_validator("thousands_separator")
    @classmethod
    def _thousands(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if value not in THOUSANDS_SEPARATORS:
            raise ValueError(f"must be one of {', '.join(map(repr, THOUSANDS_SEPARATORS))}")
        return value

    @field_validator("timestamp_format")
    @classmethod
    def _timestamp_format(cls, value: str) -> str:
        return check_timestamp_format(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        try:
            "".encode(value)
        except LookupError:
            raise ValueError(
                f"unknown text encoding {value!r} (e.g. utf-8, cp1252, latin-1)"
            ) from None
        return value

    @model_validator(mode="after")
    def _numbers(self) -> FileSettings:
        if self.decimal_comma and self.thousands_separator == ",":
            raise ValueError("decimal_comma and thousands_separator ',' cannot both be set")
        if not self.decimal_comma and self.thousands_separator == ".":
            raise ValueError(
                "thousands_separator '.' needs `decimal_comma: true` (numbers like 1.234,56)"
            )
        return self

    def numbers(self) -> NumberFormat:
        return NumberFormat(self.decimal_comma, self.thousands_separator)

    def timestamps(self) -> TimestampFormat:
        return TimestampFormat(self.timestamp_format, self.timezone)


def file_format(path: Path, configured: str | None, known: dict[str, str]) -> str:
    """The mapping's ``format``, else the one the extension (``.gz`` ignored) says; ``known``
    maps extensions to formats."""
    if configured:
        return configured
    name = path.name.lower().removesuffix(".gz")
    for extension, fmt in known.items():
        if name.endswith(extension):
            return fmt
    raise FileRejected(
        f"cannot tell the file's format from its name {path.name!r}; name it "
        f"{' or '.join(sorted(set(known)))} or set `format:` in mapping.yml "
        f"({', '.join(sorted(set(known.values())))})"
    )
