"""Small vectorised helpers of the simulation: rounding, codes, ranks, hashes, timestamps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from sandbox.business.parameters import (
    _EPOCH_DAYS,
    _NA,
    SIM_EPOCH,
)


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------
def _round_99(x: np.ndarray) -> np.ndarray:
    """Round prices to the nearest ``.99`` ending (23.40 -> 22.99, 23.60 -> 23.99)."""
    return np.maximum(np.round(x) - 0.01, 0.99).round(2)


def _check_digit(body: str) -> str:
    """GS1 mod-10 check digit (UPC, EAN, GTIN) for the digits before it."""
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def _unique_codes(
    rng: np.random.Generator, n: int, alphabet: str, length: int, prefix: str = ""
) -> list[str]:
    """``n`` distinct random codes ``prefix + length chars of alphabet``."""
    letters = np.array(list(alphabet))
    codes: dict[str, None] = {}
    while len(codes) < n:
        for row in letters[rng.integers(0, len(alphabet), size=(n - len(codes), length))]:
            codes.setdefault(prefix + "".join(row), None)
    return list(codes)


def _rank_within(groups: np.ndarray) -> np.ndarray:
    """0-based rank of each element among the elements of its group, in array order."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    counts = np.diff(np.r_[starts, groups.size])
    ranks = np.empty(groups.size, dtype=np.int64)
    ranks[order] = np.arange(groups.size) - np.repeat(starts, counts)
    return ranks


def _feistel(values: np.ndarray, half: int, salt: int) -> np.ndarray:
    """A bijection of ``[0, half**2)`` (four Feistel rounds): keys to random-looking unique ids."""
    left, right = np.divmod(values.astype(np.int64), half)
    for round_ in range(4):
        mixed = (_mix64(right, salt * 8 + round_) % np.uint64(half)).astype(np.int64)
        left, right = right, (left + mixed) % half
    return left * half + right


def _mix64(values: np.ndarray, salt: int) -> np.ndarray:
    """A bijection of uint64 (odd multiply + xorshift), for hex tokens derived from ids."""
    with np.errstate(over="ignore"):
        x = values.astype(np.uint64) + np.uint64(salt & 0xFFFFFFFFFFFF)
        x = x * np.uint64(0x9E3779B97F4A7C15)
        x ^= x >> np.uint64(31)
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(29)
    return x


def _hex(values: np.ndarray, upper: bool) -> np.ndarray:
    """16-digit hex strings of uint64 values."""
    table = np.frombuffer(b"0123456789ABCDEF" if upper else b"0123456789abcdef", np.uint8)
    shifts = np.arange(60, -4, -4, dtype=np.uint64)
    nibbles = (values[:, None] >> shifts) & np.uint64(15)
    return table[nibbles.astype(np.intp)].view("S16").ravel().astype("U16")


def _to_us(now: datetime) -> int:
    """Microseconds since 1970 of a UTC (or naive, taken as UTC) datetime."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return (now - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _null_where(series: pl.Series, missing: np.ndarray) -> pl.Series:
    if not missing.any():
        return series
    return pl.select(pl.when(pl.Series(~missing)).then(series)).to_series().alias(series.name)


def _ts(name: str, us: np.ndarray) -> pl.Series:
    """Datetime[us, UTC] series from microseconds since 1970, ``_NA`` becoming null."""
    series = pl.Series(name, us, dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))
    return _null_where(series, us == _NA)


def _dates(name: str, day_index: np.ndarray, valid: np.ndarray | None = None) -> pl.Series:
    """Date series from day indexes relative to SIM_EPOCH (null where not ``valid``)."""
    valid = np.ones(day_index.size, dtype=bool) if valid is None else valid
    days = (np.where(valid, day_index, 0) + _EPOCH_DAYS).astype(np.int32)
    return _null_where(pl.Series(name, days).cast(pl.Date), ~valid)


def _day_index(d: date) -> int:
    return (d - SIM_EPOCH).days


def _pick(names: tuple[str, ...] | list[str], index: np.ndarray) -> pl.Series:
    """Strings by index (vectorised lookup)."""
    return pl.Series(list(names), dtype=pl.Utf8).gather(index)
