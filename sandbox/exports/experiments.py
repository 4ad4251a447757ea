"""A/B tests in the storefront events (issue 16): three experiments with known true effects.

Every visitor of a storefront who comes during an experiment's period gets one exposure event
(``experiment_viewed``, with ``experiment_id`` and ``variant`` in its properties) one
millisecond before their first event of the period. The unit is the visitor as the warehouse
sees it (``int_events_sessionized``): the event's user id, else the one user id its anonymous id
was seen with, else the anonymous id.

The business's orders do not depend on the storefront's variants, so the effect is made by the
assignment, with the same outcome a real effect would have: the units that buy within the
attribution window after their exposure go to treatment with share ``q = (1+L)/(2+L)``,
the others with the share that keeps the split at 50/50 (exact counts per stratum, so the
sample's realised lift is the true one); then the treatment's conversion rate is ``(1 + L)``
times the control's and nothing else differs.

* ``checkout_button`` — a real lift: conversion +30% (``L = 0.3``).
* ``product_gallery`` — no effect (a plain 50/50 hash split).
* ``shipping_banner`` — a sample-ratio bug: the treatment's exposure logging drops 20% of the
  units that do not buy, so treatment shows fewer units and a spurious conversion lift; the
  product must flag it invalid rather than report the lift.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import polars as pl

from sandbox.exports.common import _hex32

_EXPERIMENTS_STREAM = 0xE16
ATTRIBUTION_DAYS = 14  # the warehouse's default experiment_attribution_days


@dataclass(frozen=True)
class SimulatedExperiment:
    experiment_id: str
    true_relative_lift: float  # on the conversion rate
    srm_drop_share: float  # share of the treatment's non-buying units whose exposure is lost
    first_day: int  # days after the events' period start
    days: int


EXPERIMENTS = (
    SimulatedExperiment("checkout_button", 0.30, 0.0, 0, 90),
    SimulatedExperiment("product_gallery", 0.0, 0.0, 10, 60),
    SimulatedExperiment("shipping_banner", 0.0, 0.20, 20, 60),
)


def experiment_truth() -> pl.DataFrame:
    """The ground truth of the simulated experiments."""
    return pl.DataFrame(
        [
            {
                "experiment_id": e.experiment_id,
                "true_relative_lift": e.true_relative_lift,
                "has_srm_bug": e.srm_drop_share > 0,
                "expected_decision": "invalid"
                if e.srm_drop_share > 0
                else "ship"
                if e.true_relative_lift > 0
                else "not ship",
                "planned_weights": "control 0.5, treatment 0.5",
            }
            for e in EXPERIMENTS
        ]
    )


def _units(events: pl.DataFrame) -> pl.DataFrame:
    """Each event's unit key, as int_events_sessionized's visitor_id (per storefront)."""
    links = (
        events.filter(pl.col("anonymous_id").is_not_null() & pl.col("user_id").is_not_null())
        .group_by("storefront", "anonymous_id")
        .agg(pl.col("user_id").unique())
        .filter(pl.col("user_id").list.len() == 1)
        .select("storefront", "anonymous_id", pl.col("user_id").list.first().alias("linked"))
    )
    return events.join(links, on=["storefront", "anonymous_id"], how="left").with_columns(
        pl.coalesce("user_id", "linked", "anonymous_id").alias("unit")
    )


def _exposures_of(events: pl.DataFrame, number: int, start: date, seed: int) -> pl.DataFrame:
    exp = EXPERIMENTS[number]
    begin = datetime.combine(start + timedelta(days=exp.first_day), time(), UTC)
    end = begin + timedelta(days=exp.days)
    period = events.filter((pl.col("occurred_at") >= begin) & (pl.col("occurred_at") < end))
    first = period.sort("occurred_at", "event_id").unique(
        ["storefront", "unit"], keep="first", maintain_order=True
    )
    purchases = events.filter(pl.col("event") == "checkout_completed").select(
        "storefront", "unit", pl.col("occurred_at").alias("bought_at")
    )
    window = pl.duration(days=ATTRIBUTION_DAYS)
    buyers = (
        first.select("storefront", "unit", "occurred_at")
        .join(purchases, on=["storefront", "unit"])
        .filter(
            (pl.col("bought_at") >= pl.col("occurred_at"))
            & (pl.col("bought_at") < pl.col("occurred_at") + window)
        )
        .select("storefront", "unit")
        .unique()
        .with_columns(pl.lit(True).alias("buys"))
    )
    first = first.join(buyers, on=["storefront", "unit"], how="left").with_columns(
        pl.col("buys").fill_null(False)
    )
    rng = np.random.default_rng([seed, _EXPERIMENTS_STREAM, number])
    buys = first["buys"].to_numpy()
    u = rng.random(first.height)
    lift = exp.true_relative_lift
    c = buys.mean() if buys.size else 0.0
    q = (1 + lift) / (2 + lift)
    r = (0.5 - c * q) / (1 - c) if c < 1 else 0.5
    if lift > 0:  # exact counts per stratum: the sample's realised lift is the true one
        treatment = np.zeros(first.height, dtype=bool)
        for stratum, share in ((buys, q), (~buys, r)):
            index = np.flatnonzero(stratum)
            chosen = rng.permutation(index)[: round(share * index.size)]
            treatment[chosen] = True
    else:
        treatment = np.where(buys, u < q, u < r)
    keep = ~(treatment & ~buys & (rng.random(first.height) < exp.srm_drop_share))
    ms = pl.duration(milliseconds=1)
    return first.filter(keep).select(
        "storefront",
        _hex32(seed, _EXPERIMENTS_STREAM, number, np.flatnonzero(keep)).alias("event_id"),
        pl.lit("experiment_viewed").alias("event"),
        (pl.col("occurred_at") - ms).alias("occurred_at"),
        "anonymous_id",
        "user_id",
        "currency",
        pl.lit(exp.experiment_id).alias("experiment_id"),
        pl.Series(np.where(treatment[keep], "treatment", "control")).alias("variant"),
        "page_url",
    )


def experiment_exposures(events: pl.DataFrame, start: date, seed: int) -> pl.DataFrame:
    """The exposure events of :data:`EXPERIMENTS` for storefront ``events`` starting on ``start``
    (the frame of ``storefront_events``); deterministic from the events and the seed."""
    units = _units(events)
    frames = [_exposures_of(units, i, start, seed) for i in range(len(EXPERIMENTS))]
    return pl.concat(frames, how="vertical").sort("storefront", "occurred_at", "event_id")
