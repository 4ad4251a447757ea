"""Customer preference structure: category and brand affinities, complementary products, and
the repeat buyer chosen for an order by taste.

Demand (which products sell on a day) stays the catalog's; taste decides *who* buys: a repeat
order goes to the past buyer, among a few recency-weighted candidates, whose favourite category
and brand match the order best, with a strong pull for the complement of what they bought last
(the customer who bought a chef's knife comes back for a cutting board). Complements also share
baskets: lines of complementary nouns sit next to each other when baskets are formed.
Everything is deterministic from the simulation's generators; the ground truth (each customer's
favourite category and brand, the complement pairs) is exposed by ``Business``. Customers also
have a buying life (exponential, mean 300 days from their first order): past it they are
passed over for repeat orders (unless every candidate is), so churn has a cause to find.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from sandbox.business.parameters import _BRANDS, _CATEGORIES, _RECENCY

# Complementary nouns per category: each pair is bought together or one after the other.
_COMPLEMENT_NOUNS: tuple[tuple[str, str], ...] = (
    ("Chef's Knife", "Cutting Board"),
    ("Coffee Grinder", "French Press"),
    ("Mixing Bowl Set", "Spatula Set"),
    ("Water Bottle", "Food Storage Containers"),
    ("Throw Pillow Cover", "Scented Candle"),
    ("Wall Clock", "Picture Frame Set"),
    ("Table Lamp", "Ceramic Vase"),
    ("Camping Lantern", "Folding Camp Chair"),
    ("Hammock", "Cooler Bag"),
    ("Hiking Daypack", "Hose Nozzle"),
    ("Dog Leash", "Grooming Brush"),
    ("Cat Scratching Post", "Chew Toy"),
    ("Pet Bed", "Slow Feeder Bowl"),
    ("Yoga Mat", "Foam Roller"),
    ("Resistance Bands", "Jump Rope"),
    ("Adjustable Dumbbell", "Gym Bag"),
    ("USB-C Cable", "Power Bank"),
    ("Wireless Charger", "Phone Stand"),
    ("Bluetooth Speaker", "Laptop Sleeve"),
    ("Cleansing Brush", "Jade Roller"),
    ("Hot Air Brush", "Bamboo Hairbrush"),
    ("Makeup Brush Set", "Nail Care Kit"),
    ("Building Blocks Set", "Magnetic Tiles"),
    ("Plush Bear", "Kids Art Kit"),
    ("Wooden Puzzle", "Remote Control Car"),
)
_NOUNS = tuple(noun for nouns, _, _ in _CATEGORIES.values() for noun in nouns)
_CANDIDATES = 6  # past buyers considered for a repeat order
_W_CATEGORY, _W_BRAND, _W_COMPLEMENT = 2.0, 1.0, 2.5  # taste scores (Gumbel noise, scale 1)
_P_FAVOURITE_CATEGORY = 0.85  # a new customer's favourite category is their first order's
_P_FAVOURITE_BRAND = 0.6
_MEAN_LIFETIME_DAYS = 300.0  # a customer stops buying after an exponential lifetime
_DEAD = 100.0  # score penalty of a candidate past their lifetime (buys only if all are)
_DAY_US = 86_400_000_000


def _pair_index() -> dict[str, tuple[int, str]]:
    index: dict[str, tuple[int, str]] = {}
    for i, (a, b) in enumerate(_COMPLEMENT_NOUNS):
        index[a], index[b] = (i, b), (i, a)
    missing = set(_NOUNS) - set(index)
    if missing:  # every noun of the vocabulary has a partner
        raise ValueError(f"nouns without a complement: {sorted(missing)}")
    return index


@dataclass(frozen=True)
class _Tastes:
    """Per product: category, brand, noun, and its complementary noun."""

    category: np.ndarray
    brand: np.ndarray
    noun: np.ndarray
    partner_noun: np.ndarray
    pair: np.ndarray  # complement pair id, shared by the two nouns

    @classmethod
    def of(cls, category: np.ndarray, brand: list[str], noun: list[str]) -> _Tastes:
        index = _pair_index()
        return cls(
            category=np.asarray(category, dtype=np.int64),
            brand=np.array([_BRANDS.index(b) for b in brand], dtype=np.int64),
            noun=np.array([_NOUNS.index(n) for n in noun], dtype=np.int64),
            partner_noun=np.array([_NOUNS.index(index[n][1]) for n in noun], dtype=np.int64),
            pair=np.array([index[n][0] for n in noun], dtype=np.int64),
        )

    def complements_frame(self, product_ids: np.ndarray) -> pl.DataFrame:
        """(product_id, complement_product_id, reason): same category, complementary nouns."""
        a, b = np.nonzero(
            (self.noun[:, None] == self.partner_noun[None, :])
            & (self.category[:, None] == self.category[None, :])
        )
        names = np.array(_NOUNS)
        return pl.DataFrame(
            {
                "product_id": product_ids[a].astype(np.int64),
                "complement_product_id": product_ids[b].astype(np.int64),
                "reason": np.char.add(
                    np.char.add(names[self.noun[a]].astype(str), " goes with "),
                    names[self.noun[b]].astype(str),
                ),
            }
        ).sort("product_id", "complement_product_id")


class _CustomerTastes:
    """Favourite category and brand, the last noun bought and the end of the customer's buying
    life (microseconds), per customer id (grown on demand)."""

    def __init__(self, tastes: _Tastes) -> None:
        self.tastes = tastes
        self.category = np.full(1024, -1, dtype=np.int64)
        self.brand = np.full(1024, -1, dtype=np.int64)
        self.last_noun = np.full(1024, -1, dtype=np.int64)
        self.lapse_us = np.full(1024, -1, dtype=np.int64)

    def _grow(self, max_id: int) -> None:
        if max_id < self.category.size:
            return
        size = 2 * (max_id + 1)
        for name in ("category", "brand", "last_noun", "lapse_us"):
            old = getattr(self, name)
            new = np.full(size, -1, dtype=np.int64)
            new[: old.size] = old
            setattr(self, name, new)

    def choose(
        self,
        rng: np.random.Generator,
        first_pick: np.ndarray,
        history: np.ndarray,
        sf: np.ndarray,
        prior: np.ndarray,
        product: np.ndarray,
        t_us: np.ndarray,
    ) -> np.ndarray:
        """The repeat buyer of each order whose first pick is ``first_pick`` (all > 0):
        customers past their buying life only when every candidate is."""
        m = first_pick.size
        if m == 0:
            return first_pick
        draws = rng.random((m, _CANDIDATES - 1)) ** _RECENCY
        past = np.minimum((prior[:, None] * draws).astype(np.int64), prior[:, None] - 1)
        candidates = np.column_stack([first_pick, history[sf[:, None], past]])
        t = self.tastes
        score = (
            _W_CATEGORY * (self.category[candidates] == t.category[product][:, None])
            + _W_BRAND * (self.brand[candidates] == t.brand[product][:, None])
            + _W_COMPLEMENT * (self.last_noun[candidates] == t.partner_noun[product][:, None])
            + rng.gumbel(size=candidates.shape)
            - _DEAD * (self.lapse_us[candidates] < t_us[:, None])
        )
        return candidates[np.arange(m), score.argmax(axis=1)]

    def remember(
        self,
        rng: np.random.Generator,
        new_ids: np.ndarray,
        new_product: np.ndarray,
        new_t_us: np.ndarray,
        customers: np.ndarray,
        product: np.ndarray,
    ) -> None:
        """New customers get their favourites and their buying life; every buyer's last noun is
        updated."""
        self._grow(int(customers.max(initial=0)))
        t = self.tastes
        n = new_ids.size
        n_categories, n_brands = len(_CATEGORIES), len(_BRANDS)
        keep_category = rng.random(n) < _P_FAVOURITE_CATEGORY
        keep_brand = rng.random(n) < _P_FAVOURITE_BRAND
        self.category[new_ids] = np.where(
            keep_category, t.category[new_product], rng.integers(0, n_categories, n)
        )
        self.brand[new_ids] = np.where(
            keep_brand, t.brand[new_product], rng.integers(0, n_brands, n)
        )
        self.last_noun[customers] = t.noun[product]
        life = rng.exponential(_MEAN_LIFETIME_DAYS, n) * _DAY_US
        self.lapse_us[new_ids] = new_t_us + life.astype(np.int64)

    def frame(self, customer_ids: np.ndarray) -> pl.DataFrame:
        """Ground truth: each customer's favourite category and brand."""
        names = list(_CATEGORIES)
        return pl.DataFrame(
            {
                "customer_id": customer_ids.astype(np.int64),
                "favourite_category": [names[c] for c in self.category[customer_ids]],
                "favourite_brand": [_BRANDS[b] for b in self.brand[customer_ids]],
                "buying_until": (self.lapse_us[customer_ids]).astype("datetime64[us]"),
            }
        )


def _basket_sort_keys(
    tastes: _Tastes, product: np.ndarray, group: np.ndarray, rand: np.ndarray
) -> np.ndarray:
    """Secondary sort key inside a (group, category) block: complements side by side.

    Lines are ordered by complement pair, and within a pair the two nouns alternate (the k-th
    line of each product next to each other), so a basket of two is often a complement pair
    rather than the same product twice.
    """
    key = product.astype(np.int64) * 1024 + group
    order = np.lexsort((rand, key))
    rank = np.empty(product.size, dtype=np.int64)
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    counts = np.diff(np.r_[starts, product.size])
    rank[order] = np.arange(product.size) - np.repeat(starts, counts)
    return tastes.pair[product] * (1 << 32) + rank
