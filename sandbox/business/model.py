"""``Business``: the simulated business and the views an API shows of it at a wall-clock time."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from sandbox.business.catalog import (
    _build_catalog,
    _build_listings,
    _build_schedule,
    _price_matrix,
    _promo_matrix,
)
from sandbox.business.frames import (
    _customers_frame,
    _fees_frame,
    _inventory_frame,
    _lines_frame,
    _listings_frame,
    _orders_frame,
    _prices_frame,
    _refunds_frame,
    _traffic_frame,
)
from sandbox.business.fraud import PATTERNS, inject_fraud
from sandbox.business.numeric import (
    _day_index,
    _pick,
    _rank_within,
    _to_us,
    _ts,
)
from sandbox.business.parameters import (
    _DAY_US,
    _EPOCH_US,
    _LATE_REFUND_REASON,
    _NA,
    _REFUND_STATES,
    _STATUSES,
    ACCOUNTS,
    LOCATIONS,
    PENDING_FOR,
    SIM_EPOCH,
)
from sandbox.business.simulation import _Simulation


# ---------------------------------------------------------------------------------------------
# The business
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Refunds:
    """The refunds frame and its arrays (order row, line row, time, amount, quantity).

    Replaced as a whole by late updates, so a view always sees one consistent state.
    """

    frame: pl.DataFrame
    order: np.ndarray
    line: np.ndarray
    at_us: np.ndarray
    amount: np.ndarray
    qty: np.ndarray

    def visible(self, now_us: int) -> np.ndarray:
        return self.at_us <= now_us

    def extended(
        self,
        rows: pl.DataFrame,
        order: np.ndarray,
        line: np.ndarray,
        at_us: np.ndarray,
        amount: np.ndarray,
        qty: np.ndarray,
    ) -> _Refunds:
        return _Refunds(
            frame=pl.concat([self.frame, rows]),
            order=np.r_[self.order, order],
            line=np.r_[self.line, line],
            at_us=np.r_[self.at_us, at_us],
            amount=np.r_[self.amount, amount],
            qty=np.r_[self.qty, qty],
        )


class Business:
    """The simulated business from SIM_EPOCH to ``end`` (exclusive, default: today UTC).

    Frames (polars): ``storefronts``, ``products``, ``listings``, ``prices``, ``locations``,
    ``customers``, ``orders``, ``order_lines``, ``refunds``, ``inventory_daily``,
    ``traffic_daily``, ``fees``; the ground truth of the customers' tastes:
    ``customer_preferences`` (favourite category and brand per customer) and ``complements``
    (product pairs bought together or one after the other, with the reason). Views (``orders_view`` ...) show what an API would show at a
    given time; ``apply_late_update`` refunds old orders to test incremental extraction.
    """

    def __init__(
        self,
        seed: int = 42,
        scale: float = 1.0,
        end: date | None = None,
        n_products: int = 300,
        *,
        fraud: bool = False,
    ) -> None:
        end = end or datetime.now(UTC).date()
        n_days = _day_index(end)
        if n_days <= 0:
            raise ValueError(f"end must be after {SIM_EPOCH}, got {end}")
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.seed, self.scale, self.end, self.n_days = seed, scale, end, n_days
        catalog_rng = np.random.default_rng([seed, 0])
        cat = _build_catalog(catalog_rng, n_products)
        lst = _build_listings(catalog_rng, cat)
        sch = _build_schedule(catalog_rng, lst)
        sim = _Simulation(
            seed, scale, cat, lst, _price_matrix(lst, sch, n_days), _promo_matrix(lst, sch, n_days)
        ).run()
        n_honest_customers = sim.customers.next_id - 1
        truth = inject_fraud(sim) if fraud else None

        self.storefronts = pl.DataFrame([s._asdict() for s in ACCOUNTS])
        self.locations = pl.DataFrame(
            LOCATIONS, schema=["account", "location_id", "location_name"], orient="row"
        )
        self.products = cat.frame.filter(pl.col("launch_date") < end)
        self.listings = _listings_frame(lst, n_days).filter(pl.col("listed_from") < end)
        self.prices = _prices_frame(lst, sch, n_days)
        self.customers = _customers_frame(sim)
        self.orders = _orders_frame(sim)
        self.order_lines = _lines_frame(sim, sim.orders["sf"])
        self.inventory_daily = _inventory_frame(sim)
        self.traffic_daily = _traffic_frame(sim)
        self.fees = _fees_frame(sim, cat.fba_fee_usd)
        # Ground truth of the preference structure (see ``sandbox.business.preferences``).
        self.customer_preferences = sim.customers.tastes.frame(
            np.arange(1, n_honest_customers + 1, dtype=np.int64)
        )
        self.complements = sim.tastes.complements_frame(np.arange(cat.category.size) + 1).filter(
            pl.col("product_id").is_in(self.products["product_id"].implode())
            & pl.col("complement_product_id").is_in(self.products["product_id"].implode())
        )
        self._fraud = truth
        self._index_for_views(sim)

    def fraud_truth(self) -> pl.DataFrame:
        """Ground truth of the injected fraud: one row per injected order.

        Columns: order_key, account, marketplace_id, channel_order_id, customer_id,
        purchased_at, pattern (see ``sandbox.business.fraud.PATTERNS``) and case (the orders
        of one case share it). Raises ``ValueError`` when the business was built without fraud.
        """
        if self._fraud is None:
            raise ValueError("this business has no injected fraud: build it with fraud=True")
        truth = pl.DataFrame(
            {
                "order_key": self._fraud["order_key"],
                "pattern": _pick(PATTERNS, self._fraud["pattern"]).alias("pattern"),
                "case": self._fraud["case"],
            }
        )
        return (
            self.orders.select(
                "order_key",
                "account",
                "marketplace_id",
                "channel_order_id",
                "customer_id",
                "purchased_at",
            )
            .join(truth, on="order_key", how="inner")
            .sort("order_key")
        )

    # -- view indexes ---------------------------------------------------------------------------
    def _index_for_views(self, sim: _Simulation) -> None:
        o, ln, r = sim.orders, sim.lines, sim.refunds
        self._lst = sim.lst
        self._o_sf = o["sf"]
        self._o_events = {
            "purchased": o["purchased_us"],
            "shipped": o["shipped_us"],
            "delivered": o["delivered_us"],
            "cancelled": o["cancelled_us"],
        }
        line_order = ln["order_key"] - 1
        gross = (ln["unit_price"] * ln["quantity"]).round(2)
        self._l_order = line_order
        self._l_net = (gross - ln["discount"]).round(2)
        self._l_qty = ln["quantity"]
        n_orders = self._o_sf.size
        self._line_start = np.searchsorted(line_order, np.arange(n_orders + 1))
        self._o_net = np.bincount(line_order, weights=self._l_net, minlength=n_orders).round(2)
        self._o_totals = pl.DataFrame(
            {
                "lines": np.bincount(line_order, minlength=n_orders),
                "units": np.bincount(line_order, weights=ln["quantity"], minlength=n_orders),
                "gross": np.bincount(line_order, weights=gross, minlength=n_orders),
                "discount": np.bincount(line_order, weights=ln["discount"], minlength=n_orders),
            },
            schema={
                "lines": pl.Int64,
                "units": pl.Int64,
                "gross": pl.Float64,
                "discount": pl.Float64,
            },
        )
        r_order = r["order_key"] - 1
        self._refunds = _Refunds(
            frame=_refunds_frame(sim),
            order=r_order,
            line=self._line_start[r_order] + r["line_number"] - 1,
            at_us=r["refunded_us"],
            amount=r["amount"],
            qty=r["quantity"],
        )
        self._inventory = sim.snapshot
        self._inventory_changed = _last_change_day(sim.snapshot, sim.lst.listed_day)
        self._late_updates = 0
        self._lock = threading.Lock()
        self._cache: dict[int, pl.DataFrame] = {}

    @property
    def refunds(self) -> pl.DataFrame:
        """refund_id, order_key, line_number, refunded_at, quantity, amount, reason."""
        return self._refunds.frame

    def _visible_orders(self, now_us: int) -> int:
        return int(np.searchsorted(self._o_events["purchased"], now_us, side="right"))

    # -- views ----------------------------------------------------------------------------------
    def orders_view(self, now: datetime) -> pl.DataFrame:
        """Orders placed at or before ``now`` as an API shows them then (later events hidden).

        Adds ``status``, ``last_updated_at``, ``refunded_amount`` and ``is_refunded``.
        """
        now_us = _to_us(now)
        with self._lock:
            cached = self._cache.get(now_us)
            refunds = self._refunds
        if cached is not None:
            return cached
        k = self._visible_orders(now_us)
        ev = {name: times[:k] for name, times in self._o_events.items()}
        happened = {name: times <= now_us for name, times in ev.items()}
        updated = ev["purchased"].copy()
        for name in ("shipped", "delivered", "cancelled"):
            np.maximum(updated, np.where(happened[name], ev[name], 0), out=updated)
        visible = refunds.visible(now_us)
        np.maximum.at(updated, refunds.order[visible], refunds.at_us[visible])
        refunded = np.bincount(
            refunds.order[visible], weights=refunds.amount[visible], minlength=k
        ).round(2)
        status = np.select(
            [
                happened["cancelled"],
                happened["delivered"],
                happened["shipped"],
                now_us - ev["purchased"] < PENDING_FOR // timedelta(microseconds=1),
            ],
            [4, 3, 2, 0],
            1,
        )
        refund_state = np.select([refunded >= self._o_net[:k] - 0.005, refunded > 0], [2, 1], 0)
        view = self.orders.head(k).with_columns(
            *(
                _ts(f"{name}_at", np.where(happened[name], ev[name], _NA))
                for name in ("shipped", "delivered", "cancelled")
            ),
            _pick(_STATUSES, status).alias("status"),
            _ts("last_updated_at", updated),
            pl.Series("refunded_amount", refunded, dtype=pl.Float64),
            _pick(_REFUND_STATES, refund_state).alias("is_refunded"),
        )
        with self._lock:
            if refunds is self._refunds:  # no late update meanwhile
                if len(self._cache) >= 16:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[now_us] = view
        return view

    def lines_view(self, now: datetime) -> pl.DataFrame:
        """Order lines of the orders visible at ``now``, with refunds visible at ``now``."""
        now_us = _to_us(now)
        n_lines = int(self._line_start[self._visible_orders(now_us)])
        refunds = self._refunds
        visible = refunds.visible(now_us)
        line = refunds.line[visible]
        return self.order_lines.head(n_lines).with_columns(
            pl.Series(
                "refunded_quantity",
                np.bincount(line, weights=refunds.qty[visible], minlength=n_lines),
                dtype=pl.Int32,
            ),
            pl.Series(
                "refunded_amount",
                np.bincount(line, weights=refunds.amount[visible], minlength=n_lines).round(2),
            ),
        )

    def refunds_view(self, now: datetime) -> pl.DataFrame:
        """Refunds issued at or before ``now``, oldest first."""
        refunds = self._refunds
        visible = refunds.visible(_to_us(now))
        return refunds.frame.filter(pl.Series(visible)).sort("refunded_at", "refund_id")

    def inventory_at(self, now: datetime) -> pl.DataFrame:
        """Stock per (account, location_id, product_id) on the latest simulated day <= ``now``.

        The daily snapshot is the opening stock of the day (after that morning's receipts).
        """
        if now.tzinfo is not None:
            now = now.astimezone(UTC)
        day = min(_day_index(now.date()), self.n_days - 1)
        stocked = np.flatnonzero((self._lst.listed_day <= day) & (day >= 0))
        day = max(day, 0)  # nothing is stocked before SIM_EPOCH
        available, reserved, inbound = (
            self._inventory[i, day, stocked].astype(np.int64) for i in range(3)
        )
        changed_day = self._inventory_changed[day, stocked].astype(np.int64)
        return pl.DataFrame(
            [
                _pick([ACCOUNTS[s].account for s in self._lst.sf], stocked).alias("account"),
                _pick(self._lst.location, stocked).alias("location_id"),
                pl.Series("product_id", self._lst.product[stocked] + 1, dtype=pl.Int64),
                pl.Series("available", available),
                pl.Series("reserved", reserved),
                pl.Series("inbound", inbound),
                pl.Series("on_hand", available + reserved),
                _ts("last_updated_at", _EPOCH_US + changed_day * _DAY_US),
                _pick([ACCOUNTS[s].marketplace_id for s in self._lst.sf], stocked).alias(
                    "marketplace_id"
                ),
                _pick(self._lst.channel_sku, stocked).alias("channel_sku"),
            ]
        )

    def current_prices(self, now: datetime) -> pl.DataFrame:
        """Listings live on ``now``'s date with the price in force (``price``, ``currency``)."""
        if now.tzinfo is not None:
            now = now.astimezone(UTC)
        today = now.date()
        keys = ["account", "marketplace_id", "product_id"]
        in_force = (
            self.prices.filter(pl.col("valid_from") <= today)
            .group_by(keys)
            .agg(pl.col("price").sort_by("valid_from").last())
        )
        return (
            self.listings.filter(pl.col("listed_from") <= today)
            .with_columns(
                is_active=pl.col("listed_until").is_null() | (pl.col("listed_until") > today)
            )
            .join(in_force, on=keys, how="inner")
            .join(
                self.storefronts.select("account", "marketplace_id", "currency"),
                on=["account", "marketplace_id"],
            )
            .sort(keys)
        )

    def ground_truth(self, now: datetime, account: str | None = None) -> pl.DataFrame:
        """Totals per (account, marketplace_id, currency, purchase_date) of orders visible at now.

        ``refunded`` sums the refunds visible at ``now`` on the purchase date of their order.
        """
        view = self.orders_view(now)
        frame = view.select(
            "account",
            "marketplace_id",
            "currency",
            pl.col("purchased_at").dt.date().alias("purchase_date"),
            "refunded_amount",
        ).hstack(self._o_totals.head(view.height))
        if account is not None:
            frame = frame.filter(pl.col("account") == account)
        return (
            frame.group_by("account", "marketplace_id", "currency", "purchase_date")
            .agg(
                pl.len().cast(pl.Int64).alias("orders"),
                pl.col("lines").sum(),
                pl.col("units").sum(),
                pl.col("gross").sum().round(2),
                pl.col("discount").sum().round(2),
                pl.col("refunded_amount").sum().round(2).alias("refunded"),
            )
            .sort("account", "marketplace_id", "purchase_date")
        )

    # -- late updates ---------------------------------------------------------------------------
    def apply_late_update(
        self, account: str, n: int, now: datetime, min_age_days: int = 60
    ) -> list[int]:
        """Fully refund, at ``now``, ``n`` delivered and never refunded orders of ``account``
        placed more than ``min_age_days`` before ``now``. Returns their order keys (sorted).
        """
        stores = [i for i, s in enumerate(ACCOUNTS) if s.account == account]
        if not stores:
            raise ValueError(f"unknown account {account!r}")
        now_us = _to_us(now)
        k = self._visible_orders(now_us)
        with self._lock:
            ever_refunded = np.zeros(k, dtype=bool)
            ever_refunded[self._refunds.order[self._refunds.order < k]] = True
            candidates = np.flatnonzero(
                np.isin(self._o_sf[:k], stores)
                & (self._o_events["purchased"][:k] < now_us - min_age_days * _DAY_US)
                & (self._o_events["delivered"][:k] <= now_us)
                & ~ever_refunded
            )
            rng = np.random.default_rng([self.seed, now_us, self._late_updates, stores[0]])
            chosen = np.sort(rng.choice(candidates, size=min(n, candidates.size), replace=False))
            self._late_updates += 1
            self._refunds = self._with_full_refunds(chosen, now_us)
            self._cache.clear()
        return [int(i) + 1 for i in chosen]

    def _with_full_refunds(self, orders: np.ndarray, at_us: int) -> _Refunds:
        starts, ends = self._line_start[orders], self._line_start[orders + 1]
        lines = np.repeat(starts, ends - starts) + _rank_within(np.repeat(orders, ends - starts))
        keys = self._l_order[lines] + 1
        numbers = (lines - self._line_start[self._l_order[lines]] + 1).astype(np.int32)
        rows = pl.DataFrame(
            {
                "order_key": keys,
                "line_number": numbers,
                "quantity": self._l_qty[lines].astype(np.int32),
                "amount": self._l_net[lines],
            },
        ).select(
            pl.format("RL-{}-{}", "order_key", "line_number").alias("refund_id"),
            "order_key",
            "line_number",
            _ts("refunded_at", np.full(lines.size, at_us, dtype=np.int64)),
            "quantity",
            "amount",
            pl.lit(_LATE_REFUND_REASON).alias("reason"),
        )
        return self._refunds.extended(
            rows,
            order=self._l_order[lines],
            line=lines,
            at_us=np.full(lines.size, at_us, dtype=np.int64),
            amount=self._l_net[lines],
            qty=self._l_qty[lines],
        )


def _last_change_day(snapshot: np.ndarray, listed_day: np.ndarray) -> np.ndarray:
    """Per (day, listing): the latest day <= day on which the listing's stock changed."""
    n_days = snapshot.shape[1]
    days = np.arange(n_days)[:, None]
    changed = np.zeros(snapshot.shape[1:], dtype=bool)
    changed[0] = True
    changed[1:] = (snapshot[:, 1:] != snapshot[:, :-1]).any(axis=0)
    changed |= days == listed_day[None, :]
    last = np.where(changed, days, 0).astype(np.int32)
    return np.maximum.accumulate(last, axis=0)
