"""Injected fraud with ground truth: extra orders merged into the simulated business.

Five patterns, each a "case" of a few orders by customers who exist only for it:

- ``velocity_burst``: four to seven orders within an hour on Shopify US, each from a new
  customer id, all under one e-mail address (a card-testing or reseller ring);
- ``big_first_order``: a new customer's first order of six to twelve units of one of the
  storefront's dearest listings;
- ``refund_abuse``: a customer whose orders are nearly all fully refunded, each next order
  placed after the previous refund;
- ``cancel_abuse``: a customer with a run of orders cancelled within the hour;
- ``address_ring``: three to five new customers, each with an e-mail address of their own,
  ordering one of the dearest listings on Shopify US within a day, all shipped to one address
  (a reshipping drop) and paid with cards billed abroad (stolen cards of one country).

The cases come from their own random stream (``default_rng([seed, _FRAUD_STREAM])``) and the
injected orders use neither stock nor the honest customers' random draws, so the honest
business (its orders, lines, refunds, stock and customers) is the same with or without fraud;
only the order keys (and the ids derived from them) make room for the injected orders, which
are merged in time order. The ground truth is one row per injected order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sandbox.business.numeric import _rank_within, _round_99
from sandbox.business.parameters import (
    _AFN,
    _DAY_US,
    _DELIVERY_DAYS,
    _EPOCH_US,
    _FREE_SHIPPING_USD,
    _NA,
    _SF_CHANNEL,
    _SF_FX,
    _SHIP_HOURS,
    _SHIPPING_FEE_USD,
    _SHOPIFY_US,
)
from sandbox.business.simulation import _Chunks, _Simulation

PATTERNS = ("velocity_burst", "big_first_order", "refund_abuse", "cancel_abuse", "address_ring")
# where the address ring's cards are billed
RING_BILLING_COUNTRIES = ("GB", "DE", "FR", "NL", "BR", "NG")
_FRAUD_STREAM = 9_001
_CASE_EVERY_DAYS = 30  # one case of each pattern per this many simulated days
_WARM_UP_DAYS = 45  # no case before this day: the honest history comes first
_HOUR_US = 3_600_000_000
# Shopify US and Walmart US: every order their APIs serve names the buyer; Amazon's history
# older than bulk_history_days comes from the flat-file reports, which carry no buyer e-mail,
# so a customer's history is not seen there
_BUYER_STOREFRONTS = (_SHOPIFY_US, 7)


@dataclass
class _Injected:
    """Orders, lines and refunds of the injected cases (order keys are negative placeholders)."""

    orders: _Chunks = field(default_factory=_Chunks)
    lines: _Chunks = field(default_factory=_Chunks)
    refunds: _Chunks = field(default_factory=_Chunks)
    customers: _Chunks = field(default_factory=_Chunks)
    addresses: _Chunks = field(default_factory=_Chunks)
    truth: _Chunks = field(default_factory=_Chunks)
    n_orders: int = 0


class _Injector:
    def __init__(self, sim: _Simulation) -> None:
        self.sim = sim
        self.rng = np.random.default_rng([sim.seed, _FRAUD_STREAM])
        self.out = _Injected()
        self.next_customer = sim.customers.next_id
        self.case = 0

    def run(self) -> _Injected:
        days = np.arange(_WARM_UP_DAYS, self.sim.n_days - 2, _CASE_EVERY_DAYS)
        for start in days:
            for pattern in PATTERNS:
                d = int(start + self.rng.integers(0, _CASE_EVERY_DAYS // 2))
                if d < self.sim.n_days - 2:
                    getattr(self, f"_{pattern}")(d)
        return self.out

    # -- patterns ---------------------------------------------------------------------------
    def _velocity_burst(self, d: int) -> None:
        n = int(self.rng.integers(4, 8))
        t0 = self._time_of(d)
        times = t0 + np.sort(self.rng.integers(0, _HOUR_US, n))
        leader = self.next_customer
        for i, t in enumerate(times):
            customer = self._customer(_SHOPIFY_US, int(t), link=leader if i else 0)
            listing = self._listing(_SHOPIFY_US, d, dear=False)
            self._order("velocity_burst", customer, listing, int(t), int(self.rng.integers(1, 3)))
        self.case += 1

    def _big_first_order(self, d: int) -> None:
        sf = int(self.rng.choice(_BUYER_STOREFRONTS))
        t = self._time_of(d)
        customer = self._customer(sf, t)
        listing = self._listing(sf, d, dear=True)
        self._order("big_first_order", customer, listing, t, int(self.rng.integers(6, 13)))
        self.case += 1

    def _refund_abuse(self, d: int) -> None:
        sf = int(self.rng.choice(_BUYER_STOREFRONTS))
        t = self._time_of(d)
        customer = self._customer(sf, t)
        for _ in range(int(self.rng.integers(4, 7))):
            if self._day_of(t) >= self.sim.n_days:
                break
            listing = self._listing(sf, self._day_of(t), dear=False)
            refunded_at = self._order("refund_abuse", customer, listing, t, 1, refund=True)
            t = refunded_at + int(self.rng.uniform(0.5, 3.0) * _DAY_US)
        self.case += 1

    def _cancel_abuse(self, d: int) -> None:
        sf = int(self.rng.choice(_BUYER_STOREFRONTS))
        t = self._time_of(d)
        customer = self._customer(sf, t)
        for _ in range(int(self.rng.integers(4, 7))):
            if self._day_of(t) >= self.sim.n_days:
                break
            listing = self._listing(sf, self._day_of(t), dear=False)
            self._order("cancel_abuse", customer, listing, t, 1, cancel=True)
            t += int(self.rng.uniform(1, 10) * _HOUR_US)
        self.case += 1

    def _address_ring(self, d: int) -> None:
        n = int(self.rng.integers(3, 6))
        times = self._time_of(d) + np.sort(self.rng.integers(0, 20 * _HOUR_US, n))
        billing = int(self.rng.integers(0, len(RING_BILLING_COUNTRIES)))
        drop = self.next_customer  # the drop: the first ring customer's shipping address
        for t in times:
            customer = self._customer(_SHOPIFY_US, int(t))
            self.out.addresses.add(
                customer_id=np.array([customer]),
                address_of=np.array([drop]),
                billing=np.array([billing]),
            )
            listing = self._listing(_SHOPIFY_US, d, dear=True)
            self._order("address_ring", customer, listing, int(t), 1)
        self.case += 1

    # -- building blocks --------------------------------------------------------------------
    @staticmethod
    def _day_of(t: int) -> int:
        return int((t - _EPOCH_US) // _DAY_US)

    def _time_of(self, d: int) -> int:
        hour = self.rng.integers(2, 20) * _HOUR_US + self.rng.integers(0, _HOUR_US)
        return int(_EPOCH_US + d * _DAY_US + hour)

    def _customer(self, sf: int, t: int, link: int = 0) -> int:
        customer = self.next_customer
        self.next_customer += 1
        self.out.customers.add(
            customer_id=np.array([customer]),
            sf=np.array([sf]),
            created_us=np.array([t]),
            link=np.array([link]),
        )
        return customer

    def _listing(self, sf: int, d: int, *, dear: bool) -> int:
        lst = self.sim.lst
        live = np.flatnonzero((lst.sf == sf) & (lst.listed_day <= d) & (d < lst.delisted_day))
        if dear:
            prices = self.sim.prices[d, live]
            live = live[prices >= np.quantile(prices, 0.8)]
        return int(self.rng.choice(live))

    def _order(
        self,
        pattern: str,
        customer: int,
        listing: int,
        t: int,
        qty: int,
        *,
        refund: bool = False,
        cancel: bool = False,
    ) -> int:
        """Add a one-line order; returns the refund time (``_NA`` without refund)."""
        sim, rng = self.sim, self.rng
        d = self._day_of(t)
        sf, fulfillment = int(sim.lst.sf[listing]), int(sim.lst.fulfillment[listing])
        key = -(self.out.n_orders + 1)
        self.out.n_orders += 1
        price = float(sim.prices[d, listing])
        gross = round(price * qty, 2)
        discount = round(gross * float(sim.promos[d, listing]), 2)
        channel = _SF_CHANNEL[sf]
        free_above = _FREE_SHIPPING_USD[channel] * _SF_FX[sf]
        charged = gross - discount < free_above and fulfillment != _AFN
        fee = float(_round_99(np.array([_SHIPPING_FEE_USD[channel] * _SF_FX[sf]]))[0])
        shipping = fee if charged else 0.0
        ship = t + int(rng.uniform(*_SHIP_HOURS[fulfillment]) * _HOUR_US)
        delivered = ship + int(rng.uniform(*_DELIVERY_DAYS[fulfillment]) * _DAY_US)
        cancelled = t + int(rng.uniform(0.1, 0.9) * _HOUR_US) if cancel else _NA
        self.out.orders.add(
            order_key=np.array([key]),
            sf=np.array([sf]),
            fulfillment=np.array([fulfillment]),
            customer_id=np.array([customer]),
            purchased_us=np.array([t]),
            shipped_us=np.array([_NA if cancel else ship]),
            delivered_us=np.array([_NA if cancel else delivered]),
            cancelled_us=np.array([cancelled]),
            shipping_price=np.array([shipping]),
            shipping_tax=np.array([0.0]),
            shopify_number=np.array([0]),
        )
        self.out.lines.add(
            order_key=np.array([key]),
            line_number=np.array([1], dtype=np.int32),
            listing=np.array([listing]),
            quantity=np.array([qty], dtype=np.int32),
            unit_price=np.array([price]),
            discount=np.array([discount]),
            tax=np.array([0.0]),
        )
        self.out.truth.add(
            order_key=np.array([key]),
            pattern=np.array([PATTERNS.index(pattern)]),
            case=np.array([self.case]),
        )
        if not refund:
            return _NA
        refunded = delivered + int(rng.uniform(1, 4) * _DAY_US)
        self.out.refunds.add(
            order_key=np.array([key]),
            line_number=np.array([1], dtype=np.int32),
            refunded_us=np.array([refunded]),
            quantity=np.array([qty], dtype=np.int32),
            amount=np.array([round(gross - discount, 2)]),
            reason=np.array([3]),  # "No longer needed"
        )
        return refunded


def inject_fraud(sim: _Simulation) -> dict[str, np.ndarray]:
    """Merge the injected cases into ``sim`` (orders re-keyed in time order).

    Returns the ground truth: ``order_key`` (the new key), ``pattern`` (index into
    :data:`PATTERNS`) and ``case`` per injected order.
    """
    out = _Injector(sim).run()
    if out.n_orders == 0:
        return {
            "order_key": np.zeros(0, np.int64),
            "pattern": np.zeros(0, np.int64),
            "case": np.zeros(0, np.int64),
        }
    names = ("order_key", "sf", "fulfillment", "customer_id", "purchased_us", "shipped_us")
    names += ("delivered_us", "cancelled_us", "shipping_price", "shipping_tax", "shopify_number")
    orders = {n: np.r_[sim.orders[n], out.orders[n]] for n in names}
    n_honest = sim.next_order
    injected = np.r_[np.zeros(n_honest, bool), np.ones(out.n_orders, bool)]
    order = np.lexsort((injected, orders["purchased_us"]))
    new_key = np.empty(order.size, dtype=np.int64)
    new_key[order] = np.arange(1, order.size + 1)

    def remap(keys: np.ndarray) -> np.ndarray:
        # honest keys 1..n sit at rows 0..n-1, injected -1..-m at rows n..n+m-1
        return new_key[np.where(keys > 0, keys - 1, n_honest - keys - 1)]

    columns = {n: v[order] for n, v in orders.items()}
    columns["order_key"] = new_key[order]
    # Shopify order numbers count up per store in time order, as the simulation numbers them
    columns["shopify_number"] = 1001 + _rank_within(columns["sf"])
    sim.orders = _Chunks()
    sim.orders.add(**columns)
    sim.lines = _resorted(sim.lines, out.lines, remap, ("order_key", "line_number"))
    sim.refunds = _resorted(sim.refunds, out.refunds, remap, ("order_key", "line_number"))
    for name in ("customer_id", "sf", "created_us", "link"):
        sim.customers.new.add(**{name: out.customers[name]})
    if out.addresses.names():
        sim.customers.addresses = {n: out.addresses[n] for n in out.addresses.names()}
    sim.next_order += out.n_orders
    return {
        "order_key": remap(out.truth["order_key"]),
        "pattern": out.truth["pattern"],
        "case": out.truth["case"],
    }


def _resorted(
    honest: _Chunks,
    injected: _Chunks,
    remap: Callable[[np.ndarray], np.ndarray],
    keys: tuple[str, str],
) -> _Chunks:
    names = honest.names()
    merged = {n: np.r_[honest[n], injected[n]] for n in names}
    merged[keys[0]] = remap(merged[keys[0]])
    order = np.lexsort((merged[keys[1]], merged[keys[0]]))
    out = _Chunks()
    out.add(**{n: v[order] for n, v in merged.items()})
    return out
