"""Demand rates and the day-by-day simulation: customers, orders, fulfilment, refunds, stock,
replenishment and traffic."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from sandbox.business.catalog import (
    _Catalog,
    _Listings,
)
from sandbox.business.numeric import (
    _day_index,
    _rank_within,
    _round_99,
)
from sandbox.business.parameters import (
    _AFN,
    _AMAZON,
    _BASKET_PROBS,
    _BASKET_SIZES,
    _BUSINESS_GROWTH,
    _CANCEL_RATE,
    _CASE_PACK,
    _DAY_US,
    _DELIVERY_DAYS,
    _DEMAND_GAMMA_SHAPE,
    _ELASTICITY,
    _EPOCH_US,
    _FREE_SHIPPING_USD,
    _FULFILLMENTS,
    _HOURLY_LOCAL,
    _LEAD_DAYS,
    _LEAD_PLAN_DAYS,
    _LINES_PER_ORDER,
    _MEAN_QTY,
    _N_SF,
    _NA,
    _PROMO_LIFT,
    _QTY_PROBS,
    _QTY_VALUES,
    _RECENCY,
    _REFUND_RATE,
    _REFUND_REASONS,
    _REPEAT_BY_CHANNEL,
    _REPEAT_RAMP_ORDERS,
    _SF_CHANNEL,
    _SF_DAILY_ORDERS,
    _SF_FX,
    _SF_TAXED,
    _SF_UTC_OFFSET,
    _SHARE_CLAIM,
    _SHARE_FLAG,
    _SHIP_HOURS,
    _SHIPPING_FEE_USD,
    _SHOPIFY_US,
    _WALMART_US,
    _WEEKLY,
    SIM_EPOCH,
)
from sandbox.business.preferences import _basket_sort_keys, _CustomerTastes, _Tastes


# ---------------------------------------------------------------------------------------------
# Demand rates
# ---------------------------------------------------------------------------------------------
def _nth_weekday(year: int, month: int, weekday: int, n: int) -> int:
    first = date(year, month, 1)
    return _day_index(first) + (weekday - first.weekday()) % 7 + 7 * (n - 1)


def _seasonality(n_days: int) -> np.ndarray:
    """Demand multiplier per (day, storefront): yearly, weekly and retail events."""
    days = np.arange(n_days)
    dates = np.datetime64(SIM_EPOCH) + days
    day_of_year = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
    weekday = (days + SIM_EPOCH.weekday()) % 7
    weekly = _WEEKLY / _WEEKLY.mean(axis=1, keepdims=True)
    season = (1 + 0.22 * np.cos(2 * np.pi * (day_of_year - 350) / 365.25))[:, None]
    season = season * weekly[_SF_CHANNEL][:, weekday].T
    last_year = (SIM_EPOCH + timedelta(days=n_days)).year
    for year in range(SIM_EPOCH.year, last_year + 1):
        thanksgiving = _nth_weekday(year, 11, 3, 4)
        for offset, lift in enumerate((1.2, 2.2, 1.5, 1.4, 1.9)):  # Thu .. Cyber Monday
            if 0 <= thanksgiving + offset < n_days:
                season[thanksgiving + offset] *= lift
        prime_day = _nth_weekday(year, 7, 1, 3)
        for offset in (0, 1):
            if 0 <= prime_day + offset < n_days:
                season[prime_day + offset, _SF_CHANNEL == _AMAZON] *= 2.0
        december = slice(
            max(_day_index(date(year, 12, 1)), 0), max(_day_index(date(year, 12, 21)), 0)
        )
        season[december] *= 1.15
    return season


def _rate_matrix(
    cat: _Catalog, lst: _Listings, prices: np.ndarray, promos: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Expected order lines per (day, listing), and each listing's steady daily lines.

    The catalog's structural weights (base weight, trend, launch ramp, listed or not) are
    normalised per storefront and day, so launches and trends move market share while the
    storefront's volume follows its target, business growth and seasonality; price changes and
    promotions then move demand up or down.
    """
    n_days = prices.shape[0]
    days = np.arange(n_days)[:, None]
    reference = 365  # trends are centred on 2025-01-01
    base = cat.weight[lst.product] * lst.affinity
    trend = np.exp(np.clip((days - reference) / 365.25 * cat.growth[lst.product], -1.5, 1.5))
    age = np.maximum(days - cat.launch_day[lst.product], 0)
    ramp = 1 - 0.7 * np.exp(-age / 30)
    live = (days >= lst.listed_day) & (days < lst.delisted_day)
    structural = base * trend * ramp * live
    one_hot = (lst.sf[:, None] == np.arange(_N_SF)).astype(float)
    growth = np.exp(_BUSINESS_GROWTH * (days - reference) / 365.25)
    target = _SF_DAILY_ORDERS * _LINES_PER_ORDER * scale * growth
    norm = (target / np.maximum(structural @ one_hot, 1e-12))[:, lst.sf]
    price_effect = (prices / lst.ref_price) ** -_ELASTICITY
    promo_effect = 1 + _PROMO_LIFT * promos
    season = _seasonality(n_days)[:, lst.sf]
    first_day = np.minimum(np.maximum(lst.listed_day, 0), n_days - 1)
    columns = np.arange(lst.size)
    steady = (norm * base * trend)[first_day, columns]
    return season * norm * structural * price_effect * promo_effect, steady


# ---------------------------------------------------------------------------------------------
# Day-by-day simulation
# ---------------------------------------------------------------------------------------------
class _Chunks:
    """Per-day arrays collected by name, concatenated at the end."""

    def __init__(self) -> None:
        self._parts: dict[str, list[np.ndarray]] = defaultdict(list)

    def add(self, **columns: np.ndarray) -> None:
        for name, values in columns.items():
            self._parts[name].append(values)

    def __getitem__(self, name: str) -> np.ndarray:
        return np.concatenate(self._parts[name])

    def names(self) -> list[str]:
        return list(self._parts)


class _CustomerBook:
    """Customer pool per storefront: new buyers, repeat buyers, Shopify/Walmart shared people."""

    def __init__(self, scale: float, tastes: _Tastes) -> None:
        self.tastes = _CustomerTastes(tastes)
        self.history = np.zeros((_N_SF, 1024), dtype=np.int64)  # customer of each past order
        self.n_history = np.zeros(_N_SF, dtype=np.int64)
        self.shared_queue: list[int] = []  # Shopify US customers who will also buy on Walmart
        self.queue_head = 0
        self.next_id = 1
        self.ramp = _REPEAT_RAMP_ORDERS * scale
        self.new = _Chunks()
        # the injected fraud's address overrides (sandbox/business/fraud.py): customer_id,
        # address_of (whose shipping address the customer uses), billing (a country code)
        self.addresses: dict[str, np.ndarray] = {}

    def assign(
        self, rng: np.random.Generator, sf: np.ndarray, t_us: np.ndarray, product: np.ndarray
    ) -> np.ndarray:
        """Customer id per order (orders in time order; ``product``: each order's first line).

        Whether an order is a repeat, and the new customers, follow the pool; the repeat buyer
        is then chosen by taste among recency-weighted past buyers (see ``preferences``).
        """
        n = sf.size
        prior = self.n_history[sf]
        p_repeat = _REPEAT_BY_CHANNEL[_SF_CHANNEL[sf]] * prior / (prior + self.ramp)
        repeat = rng.random(n) < p_repeat
        past = np.minimum((prior * rng.random(n) ** _RECENCY).astype(np.int64), prior - 1)
        customers = np.where(repeat, self.history[sf, np.maximum(past, 0)], 0)
        new = np.flatnonzero(~repeat)
        ids = self.next_id + np.arange(new.size, dtype=np.int64)
        self.next_id += new.size
        customers[new] = ids
        link = self._link_shared(rng, sf[new], ids)
        old = np.flatnonzero(repeat)
        customers[old] = self.tastes.choose(
            rng, customers[old], self.history, sf[old], prior[old], product[old], t_us[old]
        )
        self.tastes.remember(rng, ids, product[new], t_us[new], customers, product)
        self.new.add(customer_id=ids, sf=sf[new], created_us=t_us[new], link=link)
        self._remember(sf, customers)
        return customers

    def _link_shared(self, rng: np.random.Generator, sf: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """For new customers: the Shopify US customer a new Walmart customer is (0: nobody)."""
        u = rng.random(ids.size)
        self.shared_queue += ids[(sf == _SHOPIFY_US) & (u < _SHARE_FLAG)].tolist()
        link = np.zeros(ids.size, dtype=np.int64)
        wanted = np.flatnonzero((sf == _WALMART_US) & (u < _SHARE_CLAIM))
        take = min(wanted.size, len(self.shared_queue) - self.queue_head)
        link[wanted[:take]] = self.shared_queue[self.queue_head : self.queue_head + take]
        self.queue_head += take
        return link

    def _remember(self, sf: np.ndarray, customers: np.ndarray) -> None:
        slot = self.n_history[sf] + _rank_within(sf)
        if slot.max(initial=0) >= self.history.shape[1]:
            grown = np.zeros((_N_SF, 2 * (int(slot.max()) + 1)), dtype=np.int64)
            grown[:, : self.history.shape[1]] = self.history
            self.history = grown
        self.history[sf, slot] = customers
        self.n_history += np.bincount(sf, minlength=_N_SF)


def _group_into_orders(
    rng: np.random.Generator,
    group: np.ndarray,
    category: np.ndarray,
    product: np.ndarray,
    tastes: _Tastes,
) -> tuple[np.ndarray, np.ndarray]:
    """Baskets of one to three lines from the same (storefront, fulfilment) group, usually the
    same category, complementary products side by side.

    Returns a permutation of the lines and the basket of each permuted line.
    """
    n = group.size
    rand = rng.random(n)
    order = np.lexsort((rand, _basket_sort_keys(tastes, product, group, rand), category, group))
    group = group[order]
    starts = np.zeros(n, dtype=bool)
    boundaries = np.cumsum(rng.choice(_BASKET_SIZES, size=n, p=_BASKET_PROBS))
    starts[np.r_[0, boundaries[boundaries < n]]] = True
    starts[1:] |= group[1:] != group[:-1]
    basket = np.cumsum(starts) - 1
    # The same product twice in a basket: move the extra line into its own order.
    prod = product[order]
    by_product = np.lexsort((prod, basket))
    same = (basket[by_product[1:]] == basket[by_product[:-1]]) & (
        prod[by_product[1:]] == prod[by_product[:-1]]
    )
    duplicates = by_product[1:][same]
    basket[duplicates] = basket[-1] + 1 + np.arange(duplicates.size)
    return order, basket


def _serve_in_time_order(
    listing: np.ndarray, qty: np.ndarray, t: np.ndarray, available: np.ndarray
) -> np.ndarray:
    """Mask of lines served from stock; lines are served in time order until stock runs out."""
    order = np.lexsort((t, listing))
    lst, q = listing[order], qty[order]
    cumulative = np.cumsum(q)
    first = np.flatnonzero(np.r_[True, lst[1:] != lst[:-1]])
    before_group = (cumulative - q)[first]
    within = cumulative - np.repeat(before_group, np.diff(np.r_[first, lst.size]))
    served = np.empty(listing.size, dtype=bool)
    served[order] = within <= available[lst]
    return served


@dataclass
class _DayOrders:
    """The orders of one day after stock censoring, in time order."""

    sf: np.ndarray
    fulfillment: np.ndarray
    t_us: np.ndarray
    line_order: np.ndarray  # order index (within the day) of each line, lines sorted by it
    line_number: np.ndarray
    listing: np.ndarray
    qty: np.ndarray

    @property
    def n(self) -> int:
        return int(self.sf.size)

    @classmethod
    def empty(cls) -> _DayOrders:
        i64, i32 = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        return cls(i64, i64, i64, i64, i32, i64, i32)


class _Simulation:
    """Runs the business day by day; state is stock per listing and the customer pool."""

    def __init__(
        self,
        seed: int,
        scale: float,
        cat: _Catalog,
        lst: _Listings,
        prices: np.ndarray,
        promos: np.ndarray,
    ) -> None:
        self.seed, self.lst, self.prices, self.promos = seed, lst, prices, promos
        self.rates, steady_lines = _rate_matrix(cat, lst, prices, promos, scale)
        self.n_days = prices.shape[0]
        n = lst.size
        self.category = cat.category[lst.product]
        self.order_group = lst.sf * len(_FULFILLMENTS) + lst.fulfillment
        self.hour_cdf = np.cumsum(
            [np.roll(_HOURLY_LOCAL, -o) / _HOURLY_LOCAL.sum() for o in _SF_UTC_OFFSET], axis=1
        )
        self.hour_cdf[:, -1] = 1.0
        self.amazon = np.flatnonzero(_SF_CHANNEL[lst.sf] == _AMAZON)
        # Stock
        initial = np.ceil(steady_lines * _MEAN_QTY * lst.cover_days / _CASE_PACK) * _CASE_PACK
        initial = np.maximum(initial, _CASE_PACK)
        starts_before = lst.listed_day <= 0
        self.available = np.where(starts_before, initial, 0).astype(np.int64)
        self.reserved = np.zeros(n, dtype=np.int64)
        self.po_qty = np.where(starts_before, 0, initial).astype(np.int64)
        self.po_day = np.where(starts_before, -1, lst.listed_day)
        self.ship_release = np.zeros((self.n_days + 8, n), dtype=np.int64)
        self.cancel_release = np.zeros((self.n_days + 8, n), dtype=np.int64)
        # Opening stock per day: available, reserved, inbound.
        self.snapshot = np.zeros((3, self.n_days, n), dtype=np.int32)
        # Orders
        self.tastes = _Tastes.of(cat.category, cat.brand, cat.noun)
        self.customers = _CustomerBook(scale, self.tastes)
        self.shopify_number = np.full(_N_SF, 1001, dtype=np.int64)
        self.next_order = 0
        self.orders, self.lines, self.refunds = _Chunks(), _Chunks(), _Chunks()
        self.traffic = _Chunks()

    def run(self) -> _Simulation:
        for d in range(self.n_days):
            self._day(d)
        return self

    def _day(self, d: int) -> None:
        ordinal = (SIM_EPOCH + timedelta(days=d)).toordinal()
        demand, people, life, stock, traffic = (
            np.random.default_rng([self.seed, ordinal, stream]) for stream in range(1, 6)
        )
        self._receive(d)
        self.snapshot[:, d] = (self.available, self.reserved, self.po_qty)
        noise = demand.gamma(_DEMAND_GAMMA_SHAPE, 1 / _DEMAND_GAMMA_SHAPE, self.lst.size)
        day = self._orders_of_day(demand, d, noise)
        self._record(d, day, people, life)
        self._replenish(stock, d)
        self._traffic(traffic, d, noise)

    def _receive(self, d: int) -> None:
        arriving = self.po_day == d
        self.available[arriving] += self.po_qty[arriving]
        self.po_qty[arriving] = 0
        self.po_day[arriving] = -1

    def _orders_of_day(self, rng: np.random.Generator, d: int, noise: np.ndarray) -> _DayOrders:
        counts = rng.poisson(self.rates[d] * noise)
        if not counts.any():
            return _DayOrders.empty()
        listing = np.repeat(np.arange(self.lst.size), counts)
        qty = rng.choice(_QTY_VALUES, size=listing.size, p=_QTY_PROBS)
        order, basket = _group_into_orders(
            rng,
            self.order_group[listing],
            self.category[listing],
            self.lst.product[listing],
            self.tastes,
        )
        listing, qty = listing[order], qty[order]
        n_baskets = int(basket.max(initial=-1)) + 1
        group = np.zeros(n_baskets, dtype=np.int64)
        group[basket] = self.order_group[listing]
        sf = group // len(_FULFILLMENTS)
        hour = (rng.random(n_baskets)[:, None] > self.hour_cdf[sf]).sum(axis=1)
        second = hour * 3600 + rng.integers(0, 3600, n_baskets)
        served = _serve_in_time_order(listing, qty, second[basket], self.available)
        kept = np.unique(basket[served])
        kept = kept[np.lexsort((kept, second[kept]))]
        new_index = np.full(n_baskets, -1)
        new_index[kept] = np.arange(kept.size)
        line_order = new_index[basket[served]]
        by_order = np.argsort(line_order, kind="stable")
        line_order = line_order[by_order]
        return _DayOrders(
            sf=sf[kept],
            fulfillment=group[kept] % len(_FULFILLMENTS),
            t_us=_EPOCH_US + d * _DAY_US + second[kept] * 1_000_000,
            line_order=line_order,
            line_number=(_rank_within(line_order) + 1).astype(np.int32),
            listing=listing[served][by_order],
            qty=qty[served][by_order].astype(np.int32),
        )

    def _record(
        self, d: int, day: _DayOrders, people: np.random.Generator, life: np.random.Generator
    ) -> None:
        keys = self.next_order + 1 + np.arange(day.n, dtype=np.int64)
        self.next_order += day.n
        shop_number = self.shopify_number[day.sf] + _rank_within(day.sf)
        self.shopify_number += np.bincount(day.sf, minlength=_N_SF)
        first_line = np.searchsorted(day.line_order, np.arange(day.n))
        customer = self.customers.assign(
            people, day.sf, day.t_us, self.lst.product[day.listing[first_line]]
        )

        gross = (self.prices[d, day.listing] * day.qty).round(2)
        discount = (gross * self.promos[d, day.listing]).round(2)
        net = gross - discount
        tax_rate = np.where(_SF_TAXED[day.sf], life.uniform(0.06, 0.10, day.n).round(4), 0.0)
        tax_rate[life.random(day.n) < 0.05] = 0.0
        subtotal = np.bincount(day.line_order, weights=net, minlength=day.n)
        channel = _SF_CHANNEL[day.sf]
        fee = _round_99(_SHIPPING_FEE_USD[channel] * _SF_FX[day.sf])
        charged = (subtotal < _FREE_SHIPPING_USD[channel] * _SF_FX[day.sf]) & (
            day.fulfillment != _AFN
        )
        shipping = np.where(charged, fee, 0.0)

        shipped, delivered, cancelled = _life_cycle(life, day.t_us, day.fulfillment)
        self.orders.add(
            order_key=keys,
            sf=day.sf,
            fulfillment=day.fulfillment,
            customer_id=customer,
            purchased_us=day.t_us,
            shipped_us=shipped,
            delivered_us=delivered,
            cancelled_us=cancelled,
            shipping_price=shipping,
            shipping_tax=(shipping * tax_rate).round(2),
            shopify_number=shop_number,
        )
        self.lines.add(
            order_key=keys[day.line_order],
            line_number=day.line_number,
            listing=day.listing,
            quantity=day.qty,
            unit_price=self.prices[d, day.listing],
            discount=discount,
            tax=(net * tax_rate[day.line_order]).round(2),
        )
        self._refund(life, keys, day, delivered, cancelled, gross - discount)
        self._book_stock(d, day, shipped, cancelled)

    def _refund(
        self,
        rng: np.random.Generator,
        keys: np.ndarray,
        day: _DayOrders,
        delivered: np.ndarray,
        cancelled: np.ndarray,
        net: np.ndarray,
    ) -> None:
        """Full refunds, one-line refunds and part-quantity refunds of delivered orders."""
        n_lines = np.bincount(day.line_order, minlength=day.n)
        refunded = (cancelled == _NA) & (rng.random(day.n) < _REFUND_RATE)
        mode = rng.choice(3, size=day.n, p=[0.55, 0.25, 0.2])  # full, one line, part quantity
        target = (rng.random(day.n) * n_lines).astype(np.int64) + 1
        at = day.t_us + (rng.uniform(5, 40, day.n) * _DAY_US).astype(np.int64)
        at = np.maximum(
            at, np.where(refunded, delivered, 0) + rng.integers(1, 48, day.n) * 3_600_000_000
        )
        o = day.line_order
        line_hit = refunded[o] & ((mode[o] == 0) | (day.line_number == target[o]))
        part = (mode[o] == 2) & (day.qty > 1)
        qty = np.where(part, (rng.random(o.size) * (day.qty - 1)).astype(np.int32) + 1, day.qty)
        amount = np.where(qty == day.qty, net, (net / day.qty * qty).round(2))
        hit = np.flatnonzero(line_hit)
        self.refunds.add(
            order_key=keys[o[hit]],
            line_number=day.line_number[hit],
            refunded_us=at[o[hit]],
            quantity=qty[hit].astype(np.int32),
            amount=amount[hit].round(2),
            reason=rng.integers(0, len(_REFUND_REASONS), hit.size),
        )

    def _book_stock(
        self, d: int, day: _DayOrders, shipped: np.ndarray, cancelled: np.ndarray
    ) -> None:
        sold = np.bincount(day.listing, weights=day.qty, minlength=self.lst.size).astype(np.int64)
        self.available -= sold
        self.reserved += sold
        line_cancelled = cancelled[day.line_order]
        is_cancelled = line_cancelled != _NA
        release_at = np.where(is_cancelled, line_cancelled, shipped[day.line_order])
        release_day = (release_at - _EPOCH_US) // _DAY_US
        np.add.at(
            self.ship_release,
            (release_day[~is_cancelled], day.listing[~is_cancelled]),
            day.qty[~is_cancelled],
        )
        np.add.at(
            self.cancel_release,
            (release_day[is_cancelled], day.listing[is_cancelled]),
            day.qty[is_cancelled],
        )
        self.reserved -= self.ship_release[d] + self.cancel_release[d]
        self.available += self.cancel_release[d]

    def _replenish(self, rng: np.random.Generator, d: int) -> None:
        lst = self.lst
        daily_units = self.rates[d] * _MEAN_QTY
        live = (d >= lst.listed_day) & (d < lst.delisted_day)
        reorder_point = np.maximum(1.0, daily_units * _LEAD_PLAN_DAYS * lst.safety)
        due = np.flatnonzero(live & (self.po_day < 0) & (self.available <= reorder_point))
        lead = rng.integers(_LEAD_DAYS[0], _LEAD_DAYS[1] + 1, due.size)
        cover = daily_units[due] * lst.cover_days[due]
        self.po_qty[due] = np.maximum(1, np.ceil(cover / _CASE_PACK)) * _CASE_PACK
        self.po_day[due] = d + lead

    def _traffic(self, rng: np.random.Generator, d: int, noise: np.ndarray) -> None:
        amazon = self.amazon
        sessions = rng.poisson(self.rates[d, amazon] * noise[amazon] / self.lst.conversion[amazon])
        seen = sessions > 0
        listing, sessions = amazon[seen], sessions[seen]
        buy_box = np.where(
            self.snapshot[0, d, listing] == 0,
            rng.uniform(0, 15, listing.size),
            self.lst.buy_box[listing] - rng.uniform(0, 3, listing.size),
        )
        self.traffic.add(
            day=np.full(listing.size, d),
            listing=listing,
            sessions=sessions,
            page_views=sessions + rng.poisson(0.45 * sessions),
            mobile_sessions=rng.binomial(sessions, 0.62),
            buy_box_pct=np.clip(buy_box, 0, 100).round(1),
        )


def _life_cycle(
    rng: np.random.Generator, t_us: np.ndarray, fulfillment: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(shipped, delivered, cancelled) microseconds per order, ``_NA`` when it never happens."""
    n = t_us.size
    hours = rng.uniform(*_SHIP_HOURS[fulfillment].T)
    ship_delay = (hours * 3_600_000_000).astype(np.int64)
    days = rng.uniform(*_DELIVERY_DAYS[fulfillment].T)
    deliver_delay = (days * _DAY_US).astype(np.int64)
    cancelled = rng.random(n) < _CANCEL_RATE
    cancel_delay = (rng.uniform(0.05, 0.9, n) * np.minimum(ship_delay, _DAY_US)).astype(np.int64)
    shipped = np.where(cancelled, _NA, t_us + ship_delay)
    delivered = np.where(cancelled, _NA, t_us + ship_delay + deliver_delay)
    return shipped, delivered, np.where(cancelled, t_us + cancel_delay, _NA)
