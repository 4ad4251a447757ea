"""Emulator of the ECB euro foreign exchange reference rates feed (the full-history file).

Route (the real file is https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist.zip)::

    GET /ecb/stats/eurofxref/eurofxref-hist.zip

The zip holds one member, ``eurofxref-hist.csv``, in the ECB's layout: a header
``Date,USD,JPY,BGN,...,`` (one column per currency), then one row per TARGET business day,
newest first, dates ``YYYY-MM-DD``, rates in units of the currency per 1 EUR printed with the
ECB's fixed decimals per currency (``1.0856``, ``161.32``, ``0.85913``), ``N/A`` where a
currency has no rate that day, and a trailing comma on every line.

Emulator definitions (documented so tests can rely on them):

* Rates exist for every TARGET business day from ``SIM_EPOCH`` up to the day before the
  business's ``end``: weekdays except 1 January, Good Friday, Easter Monday, 1 May, 25 and 26
  December. A day's rates are published at 16:00 Europe/Berlin (the ECB's publication time);
  before that the file ends with the previous business day.
* Each currency follows a mean-reverting random walk in log space around its level (USD, GBP
  and CAD around the business's ``FX_PER_USD`` levels seen from the euro), a few per cent over
  two years; BGN is pegged (1.9558, as in reality). A day's shocks come from
  ``default_rng([seed, day.toordinal(), ECB_STREAM])``, so a day's rates never change when the
  business's ``end`` moves later.
* RUB is ``N/A`` throughout (the ECB stopped publishing it in March 2022) and ISK is ``N/A``
  from :data:`ISK_GAP` (inclusive) for a stretch, so parsers meet both cases.
* Faults: ``server_error`` answers a plain-text 5xx, ``throttle`` a 429 with ``Retry-After``,
  ``truncate`` cuts the zip in half (a bad zip, worth a retry).
"""

from __future__ import annotations

import io
import threading
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime
from http import HTTPStatus
from zoneinfo import ZoneInfo

import numpy as np
from dateutil.easter import easter
from flask import Blueprint, Response

from sandbox.business import FX_PER_USD, SIM_EPOCH
from sandbox.wire import ChannelWire, SandboxState

API = "ecb"
CSV_NAME = "eurofxref-hist.csv"
ZIP_PATH = "/stats/eurofxref/eurofxref-hist.zip"
PUBLISHED_AT = time(16, 0)  # Europe/Berlin
ECB_TZ = ZoneInfo("Europe/Berlin")
ECB_STREAM = 0xECB  # the rng stream of the rates, apart from the business's streams 1-5
ISK_GAP = (date(2024, 10, 7), date(2024, 11, 8))  # ISK is N/A on these days (inclusive)


@dataclass(frozen=True)
class _Currency:
    code: str
    per_eur: float | None  # the level the walk reverts to; None: N/A throughout
    decimals: int  # as the ECB prints this currency
    daily_vol: float  # standard deviation of a day's log shock


def _per_eur(code: str) -> float:
    """The business's FX_PER_USD level of ``code`` seen from the euro (units per 1 EUR)."""
    return FX_PER_USD[code] / FX_PER_USD["EUR"]


# In the ECB's column order (a subset of its currencies).
CURRENCIES: tuple[_Currency, ...] = (
    _Currency("USD", _per_eur("USD"), 4, 0.0025),
    _Currency("JPY", 161.0, 2, 0.0035),
    _Currency("BGN", 1.9558, 4, 0.0),  # pegged
    _Currency("CZK", 25.05, 3, 0.002),
    _Currency("DKK", 7.4585, 4, 0.0001),  # ERM II, hardly moves
    _Currency("GBP", _per_eur("GBP"), 5, 0.002),
    _Currency("HUF", 395.0, 2, 0.003),
    _Currency("PLN", 4.30, 4, 0.0025),
    _Currency("RON", 4.975, 4, 0.0005),
    _Currency("SEK", 11.40, 4, 0.003),
    _Currency("CHF", 0.945, 4, 0.0025),
    _Currency("ISK", 150.2, 2, 0.002),
    _Currency("NOK", 11.65, 4, 0.003),
    _Currency("RUB", None, 4, 0.0),
    _Currency("AUD", 1.64, 4, 0.003),
    _Currency("CAD", _per_eur("CAD"), 4, 0.0025),
    _Currency("CNY", 7.80, 4, 0.0025),
    _Currency("INR", 90.5, 4, 0.0025),
    _Currency("MXN", 19.2, 4, 0.004),
)
REVERSION = 0.01  # per day: the walk's pull back to its level (stationary sd ≈ vol / 0.14)


def target_holidays(year: int) -> set[date]:
    """The TARGET closing days of ``year``: the ECB publishes no rates on them."""
    good_friday = easter(year) - timedelta(days=2)
    return {
        date(year, 1, 1),
        good_friday,
        good_friday + timedelta(days=3),  # Easter Monday
        date(year, 5, 1),
        date(year, 12, 25),
        date(year, 12, 26),
    }


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in target_holidays(day.year)


def last_published_day(now: datetime) -> date:
    """The newest day whose rates are out at ``now`` (aware), ignoring business days."""
    local = now.astimezone(ECB_TZ)
    return local.date() if local.time() >= PUBLISHED_AT else local.date() - timedelta(days=1)


def simulate_rates(seed: int, end: date) -> list[tuple[date, list[float | None]]]:
    """Rates per 1 EUR of :data:`CURRENCIES` for each business day from SIM_EPOCH to ``end``
    (exclusive), oldest first; None where a currency has no rate that day."""
    vols = np.array([c.daily_vol for c in CURRENCIES])
    levels = np.log([c.per_eur or 1.0 for c in CURRENCIES])
    deviation = np.zeros(len(CURRENCIES))
    out: list[tuple[date, list[float | None]]] = []
    day = SIM_EPOCH
    while day < end:
        if day > SIM_EPOCH:  # the walk moves every calendar day; day one sits at the level
            shock = np.random.default_rng([seed, day.toordinal(), ECB_STREAM]).standard_normal(
                len(CURRENCIES)
            )
            deviation = (1 - REVERSION) * deviation + vols * shock
        if is_business_day(day):
            rates = np.exp(levels + deviation)
            row: list[float | None] = []
            for cur, rate in zip(CURRENCIES, rates, strict=True):
                missing = cur.per_eur is None or (
                    cur.code == "ISK" and ISK_GAP[0] <= day <= ISK_GAP[1]
                )
                row.append(None if missing else round(float(rate), cur.decimals))
            out.append((day, row))
        day += timedelta(days=1)
    return out


def render_csv(rows: list[tuple[date, list[float | None]]]) -> str:
    """The ECB's CSV text of ``rows`` (given oldest first; the file lists newest first)."""
    lines = ["Date," + ",".join(c.code for c in CURRENCIES) + ","]
    for day, rates in reversed(rows):
        cells = [
            "N/A" if rate is None else f"{rate:.{cur.decimals}f}"
            for cur, rate in zip(CURRENCIES, rates, strict=True)
        ]
        lines.append(f"{day.isoformat()}," + ",".join(cells) + ",")
    return "\n".join(lines) + "\n"


def render_zip(csv_text: str, last_day: date) -> bytes:
    """``csv_text`` as the zip the ECB serves; byte-identical for the same input."""
    buffer = io.BytesIO()
    info = zipfile.ZipInfo(
        CSV_NAME, date_time=(last_day.year, last_day.month, last_day.day, 16, 0, 0)
    )
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(info, csv_text)
    return buffer.getvalue()


class _Feed:
    """The business's rates, simulated once, and the zip per publication day, cached."""

    def __init__(self, state: SandboxState):
        self.state = state
        self._rows: list[tuple[date, list[float | None]]] | None = None
        self._zips: dict[date, bytes] = {}
        self._lock = threading.Lock()

    def zip_for(self, now: datetime) -> tuple[bytes, date | None]:
        """The file as published at ``now`` and the newest day it holds (None: no day yet)."""
        business = self.state.business
        cutoff = min(last_published_day(now), business.end - timedelta(days=1))
        with self._lock:
            if self._rows is None:
                self._rows = simulate_rates(business.seed, business.end)
            rows = [r for r in self._rows if r[0] <= cutoff]
            last_day = rows[-1][0] if rows else None
            if cutoff not in self._zips:
                self._zips[cutoff] = render_zip(render_csv(rows), last_day or SIM_EPOCH)
            return self._zips[cutoff], last_day


def _plain(status: int, text: str, **headers: str) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain", headers=headers)


def create_blueprint(state: SandboxState) -> tuple[Blueprint, ChannelWire]:
    """The ECB file route over ``state``, and how the ECB's web server answers faults."""
    blueprint = Blueprint(API, __name__, url_prefix=f"/{API}")
    feed = _Feed(state)

    def throttled() -> Response:
        wait = "1" if state.limits.multiplier <= 1 else "0"
        return _plain(429, "Too Many Requests", **{"Retry-After": wait})

    def server_error(status: int) -> Response:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Server Error"
        return _plain(status, f"{status} {phrase}")

    @blueprint.get(ZIP_PATH)
    def eurofxref_hist() -> Response:
        body, last_day = feed.zip_for(state.now())
        headers = {"Content-Disposition": "attachment; filename=eurofxref-hist.zip"}
        if last_day is not None:
            published = datetime.combine(last_day, PUBLISHED_AT, ECB_TZ).astimezone(UTC)
            headers["Last-Modified"] = format_datetime(published, usegmt=True)
        return Response(body, mimetype="application/zip", headers=headers)

    return blueprint, ChannelWire(throttled=throttled, server_error=server_error)
