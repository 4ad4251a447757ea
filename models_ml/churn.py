"""Churn: the probability that a customer makes no purchase in the next ``horizon_days``.

Two models, evaluated side by side on a time split, the better one used:

* ``bgnbd``: from the BG/NBD fit of ``models_ml.ltv_fit`` at the cutoff,
  ``P(churn) = (1 - p_alive) + p_alive * ((alpha + T) / (alpha + T + h)) ** (r + x)``: dead, or
  alive and no purchase in ``h`` days (the posterior purchase rate of an alive customer is
  Gamma(r + x, alpha + T), and a Poisson process with a gamma rate has that chance of no
  event in ``h`` days).
* ``gradient_boosting``: scikit-learn's ``HistGradientBoostingClassifier`` on features as of the
  cutoff: RFM (purchase days, days since the last one, age, mean and total spend), cadence
  (mean gap between purchase days, days since last / mean gap, purchase days in the last 90 and
  365 days), refunds (share of the spend refunded), channel (main channel, number of channels)
  and, when given, product views and cart adds in the last 90 days.

Time split (``evaluate``): the classifier learns from the features at ``end - 2h`` and what
happened in the ``h`` days after; both models are then scored on the customers at ``end - h``
against the last ``h`` days: AUC, Brier score, calibration per decile of predicted churn, and
the lift of the top decile (its churn rate over the overall rate). ``churn_scores`` refits the
chosen model on the most recent complete window and scores every customer as of ``end``.
Nothing after a cutoff is read to build its features.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import brier_score_loss, roc_auc_score
from threadpoolctl import threadpool_limits

from models_ml.ltv import rfm_summary
from models_ml.ltv_fit import InsufficientDataError, bgnbd_p_alive, fit_bgnbd
from models_ml.plots import markdown_png, pyplot
from models_ml.settings import ChurnSettings

__all__ = [
    "CHURN_SCHEMA",
    "EVALUATION_SCHEMA",
    "MODELS",
    "ChurnResult",
    "ChurnSettings",
    "InsufficientDataError",
    "churn_features",
    "churn_scores",
    "evaluate",
    "plot_calibration",
]

MODELS = ("bgnbd", "gradient_boosting")
CHURN_SCHEMA = {
    "customer_id": pl.String,
    "as_of": pl.Date,
    "horizon_days": pl.Int32,
    "p_churn": pl.Float64,
    "model": pl.String,
    "p_churn_bgnbd": pl.Float64,
    "p_churn_gradient_boosting": pl.Float64,
    "p_alive": pl.Float64,
    "risk_decile": pl.Int32,
    "days_since_last_purchase": pl.Int64,
    "purchase_days": pl.Int64,
}
EVALUATION_SCHEMA = {
    "model": pl.String,
    "bucket": pl.String,
    "cutoff": pl.Date,
    "horizon_days": pl.Int32,
    "customers": pl.Int64,
    "predicted_churn": pl.Float64,
    "actual_churn": pl.Float64,
    "auc": pl.Float64,
    "brier": pl.Float64,
    "top_decile_lift": pl.Float64,
    "is_chosen": pl.Boolean,
}
FEATURES = (
    "purchase_days",
    "days_since_last",
    "age_days",
    "mean_spend",
    "total_spend",
    "mean_gap",
    "gap_ratio",
    "purchase_days_90",
    "purchase_days_365",
    "refund_share",
    "main_channel",
    "channels",
    "views_90",
    "cart_adds_90",
)


def _orders(orders: pl.DataFrame) -> pl.DataFrame:
    missing = {"customer_id", "order_date", "amount"} - set(orders.columns)
    if missing:
        raise ValueError(f"orders lack the columns {sorted(missing)}")
    extra = [
        pl.col("refunded_amount").cast(pl.Float64).fill_null(0.0)
        if "refunded_amount" in orders.columns
        else pl.lit(0.0).alias("refunded_amount"),
        pl.col("channel").cast(pl.String).fill_null("unknown")
        if "channel" in orders.columns
        else pl.lit("unknown").alias("channel"),
    ]
    return orders.select(
        pl.col("customer_id").cast(pl.String),
        pl.col("order_date").cast(pl.Date),
        pl.col("amount").cast(pl.Float64),
        *extra,
    ).filter(pl.col("customer_id").is_not_null() & pl.col("order_date").is_not_null())


def churn_features(
    orders: pl.DataFrame,
    as_of: date,
    activity: pl.DataFrame | None = None,
    channels: list[str] | None = None,
) -> pl.DataFrame:
    """One row per customer with an order on or before ``as_of``: ``FEATURES``.

    ``orders``: customer_id, order_date, amount [, refunded_amount, channel]. ``activity``
    (optional): customer_id, activity_date, views, cart_adds. ``channels``: the channel
    vocabulary (codes of ``main_channel``), so training and scoring share it.
    """
    past = _orders(orders).filter(pl.col("order_date") <= as_of)
    days = past.group_by("customer_id", "order_date").agg(
        pl.col("amount").sum(), pl.col("refunded_amount").sum()
    )
    vocabulary = channels or sorted(past["channel"].unique().to_list())
    main = (
        past.group_by("customer_id", "channel")
        .agg(pl.col("amount").sum().alias("spend"))
        .sort(["customer_id", "spend", "channel"], descending=[False, True, False])
        .group_by("customer_id", maintain_order=True)
        .agg(
            pl.col("channel").first().alias("main"),
            pl.col("channel").n_unique().alias("channels"),
        )
        .with_columns(
            main_channel=pl.col("main")
            .replace_strict({c: i for i, c in enumerate(vocabulary)}, default=len(vocabulary))
            .cast(pl.Float64)
        )
        .drop("main")
    )
    end = pl.lit(as_of)
    frame = (
        days.group_by("customer_id")
        .agg(
            pl.len().alias("purchase_days"),
            (end - pl.col("order_date").max()).dt.total_days().alias("days_since_last"),
            (end - pl.col("order_date").min()).dt.total_days().alias("age_days"),
            pl.col("amount").mean().alias("mean_spend"),
            pl.col("amount").sum().alias("total_spend"),
            ((pl.col("order_date").max() - pl.col("order_date").min()).dt.total_days()).alias(
                "span"
            ),
            (pl.col("order_date") > as_of - timedelta(days=90)).sum().alias("purchase_days_90"),
            (pl.col("order_date") > as_of - timedelta(days=365)).sum().alias("purchase_days_365"),
            (pl.col("refunded_amount").sum() / pl.col("amount").sum().clip(lower_bound=1e-9))
            .clip(0.0, 1.0)
            .alias("refund_share"),
        )
        .with_columns(
            mean_gap=pl.when(pl.col("purchase_days") > 1)
            .then(pl.col("span") / (pl.col("purchase_days") - 1))
            .otherwise(None)
        )
        .with_columns(gap_ratio=pl.col("days_since_last") / pl.col("mean_gap").clip(lower_bound=1))
        .join(main, on="customer_id", how="left")
    )
    if activity is not None and not activity.is_empty():
        recent = (
            activity.filter(pl.col("activity_date").is_between(as_of - timedelta(days=89), as_of))
            .group_by(pl.col("customer_id").cast(pl.String))
            .agg(
                pl.col("views").sum().cast(pl.Float64).alias("views_90"),
                pl.col("cart_adds").sum().cast(pl.Float64).alias("cart_adds_90"),
            )
        )
        frame = frame.join(recent, on="customer_id", how="left").with_columns(
            pl.col("views_90", "cart_adds_90").fill_null(0.0)
        )
    else:
        frame = frame.with_columns(
            views_90=pl.lit(None, pl.Float64), cart_adds_90=pl.lit(None, pl.Float64)
        )
    return (
        frame.select("customer_id", *FEATURES)
        .cast({f: pl.Float64 for f in FEATURES})
        .sort("customer_id")
    )


def _labels(orders: pl.DataFrame, cutoff: date, horizon: int) -> pl.DataFrame:
    """customer_id, churned: no order in (cutoff, cutoff + horizon]."""
    later = (
        _orders(orders)
        .filter(
            pl.col("order_date").is_between(
                cutoff + timedelta(days=1), cutoff + timedelta(days=horizon)
            )
        )
        .select("customer_id")
        .unique()
        .with_columns(bought=pl.lit(True))
    )
    return later


def _with_labels(features: pl.DataFrame, orders: pl.DataFrame, cutoff: date, h: int) -> np.ndarray:
    bought = features.join(_labels(orders, cutoff, h), on="customer_id", how="left")
    return bought["bought"].is_null().to_numpy()


def _bgnbd_churn(orders: pl.DataFrame, cutoff: date, horizon: int) -> pl.DataFrame:
    """customer_id, p_alive, p_churn_bgnbd as of ``cutoff`` (fit on the orders up to it)."""
    summary = rfm_summary(_orders(orders).select("customer_id", "order_date", "amount"), cutoff)
    c = summary.customers
    freq, rec, t = (
        c[col].to_numpy().astype(float) for col in ("frequency", "recency_days", "t_days")
    )
    if int((freq > 0).sum()) < 10:
        raise InsufficientDataError(f"{int((freq > 0).sum())} repeat customers by {cutoff}")
    fit = fit_bgnbd(freq, rec, t)
    p_alive = bgnbd_p_alive(freq, rec, t, fit)
    silent = ((fit.alpha + t) / (fit.alpha + t + horizon)) ** (fit.r + freq)
    return pl.DataFrame(
        {
            "customer_id": c["customer_id"].cast(pl.String),
            "p_alive": p_alive,
            "p_churn_bgnbd": (1.0 - p_alive) + p_alive * silent,
        }
    )


@dataclass(frozen=True)
class _Classifier:
    """The fitted classifier and the feature columns it uses (columns without two distinct
    values in training, e.g. views when there are no storefront events, are left out)."""

    model: HistGradientBoostingClassifier
    columns: tuple[str, ...]

    @classmethod
    def fit(cls, features: pl.DataFrame, y: np.ndarray) -> _Classifier:
        columns = tuple(f for f in FEATURES if features[f].drop_nulls().n_unique() >= 2)
        model = HistGradientBoostingClassifier(
            max_iter=200,
            learning_rate=0.05,
            max_leaf_nodes=15,
            min_samples_leaf=20,
            l2_regularization=1.0,
            categorical_features=[columns.index("main_channel")]
            if "main_channel" in columns
            else None,
            early_stopping=False,
            random_state=0,
        )
        return cls(model.fit(_matrix(features, columns), y), columns)

    def predict(self, features: pl.DataFrame) -> np.ndarray:
        return self.model.predict_proba(_matrix(features, self.columns))[:, 1]


def _matrix(features: pl.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    return features.select(columns).to_numpy().astype(float)


def _check_span(orders: pl.DataFrame, end: date, settings: ChurnSettings) -> None:
    first = _orders(orders)["order_date"].min()
    need = 2 * settings.horizon_days + 30
    if first is None or (end - first).days < need:
        span = 0 if first is None else (end - first).days
        raise InsufficientDataError(
            f"{span} days of orders; churn over {settings.horizon_days} days needs {need} "
            "(two windows and a month of history before them)"
        )


def _fit_classifier(
    orders: pl.DataFrame,
    activity: pl.DataFrame | None,
    cutoff: date,
    settings: ChurnSettings,
    channels: list[str],
) -> _Classifier | None:
    features = churn_features(orders, cutoff, activity, channels)
    y = _with_labels(features, orders, cutoff, settings.horizon_days)
    if features.height < settings.min_customers or y.all() or not y.any():
        return None
    return _Classifier.fit(features, y)


def _buckets(model: str, p: np.ndarray, y: np.ndarray) -> list[dict[str, object]]:
    order = np.argsort(-p, kind="stable")
    deciles = np.empty(p.size, dtype=np.int64)
    deciles[order] = np.arange(p.size) * 10 // max(p.size, 1) + 1
    rows = []
    for d in range(1, 11):
        mask = deciles == d
        if mask.any():
            rows.append(
                {"model": model, "bucket": f"decile_{d:02d}", "customers": int(mask.sum()),
                 "predicted_churn": float(p[mask].mean()), "actual_churn": float(y[mask].mean())}
            )  # fmt: skip
    top = deciles == 1
    rows.append(
        {
            "model": model,
            "bucket": "total",
            "customers": int(p.size),
            "predicted_churn": float(p.mean()),
            "actual_churn": float(y.mean()),
            "auc": float(roc_auc_score(y, p)) if 0 < y.sum() < y.size else None,
            "brier": float(brier_score_loss(y, p)),
            "top_decile_lift": float(y[top].mean() / y.mean()) if y.mean() > 0 else None,
        }
    )
    return rows


def evaluate(
    orders: pl.DataFrame,
    end: date,
    settings: ChurnSettings,
    activity: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Both models on the time split (EVALUATION_SCHEMA): per decile of predicted churn and a
    ``total`` row with AUC, Brier score and top-decile lift; ``is_chosen`` marks the model used."""
    with threadpool_limits(limits=settings.threads, user_api="openmp"):
        return _evaluate(orders, end, settings, activity)


def _evaluate(
    orders: pl.DataFrame,
    end: date,
    settings: ChurnSettings,
    activity: pl.DataFrame | None,
) -> pl.DataFrame:
    _check_span(orders, end, settings)
    h = settings.horizon_days
    train_cut, test_cut = end - timedelta(days=2 * h), end - timedelta(days=h)
    channels = sorted(_orders(orders)["channel"].unique().to_list())
    test = churn_features(orders, test_cut, activity, channels)
    if test.height < settings.min_customers:
        raise InsufficientDataError(f"{test.height} customers by {test_cut} < min_customers")
    y = _with_labels(test, orders, test_cut, h)
    rows = []
    bg = test.join(_bgnbd_churn(orders, test_cut, h), on="customer_id", how="left")
    rows += _buckets("bgnbd", bg["p_churn_bgnbd"].fill_null(1.0).to_numpy(), y)
    clf = _fit_classifier(orders, activity, train_cut, settings, channels)
    if clf is not None:
        rows += _buckets("gradient_boosting", clf.predict(test), y)
    frame = pl.DataFrame(rows, infer_schema_length=None)
    frame = (
        frame.with_columns(
            cutoff=pl.lit(test_cut), horizon_days=pl.lit(h, pl.Int32), is_chosen=pl.lit(False)
        )
        .select(list(EVALUATION_SCHEMA))
        .cast(EVALUATION_SCHEMA)
    )
    chosen = _choose(frame, settings)
    return frame.with_columns(is_chosen=pl.col("model") == chosen)


def _choose(evaluation: pl.DataFrame, settings: ChurnSettings) -> str:
    totals = evaluation.filter(pl.col("bucket") == "total")
    if settings.model != "auto":
        if settings.model not in totals["model"].to_list():
            raise InsufficientDataError(f"model {settings.model!r} could not be trained")
        return settings.model
    best = totals.with_columns(pl.col("auc").fill_null(0.0)).sort(
        ["auc", "model"], descending=[True, False]
    )
    return str(best["model"][0])


@dataclass(frozen=True)
class ChurnResult:
    customer_churn: pl.DataFrame  # CHURN_SCHEMA
    evaluation: pl.DataFrame  # EVALUATION_SCHEMA
    model: str


def churn_scores(
    orders: pl.DataFrame,
    settings: ChurnSettings,
    end: date | None = None,
    activity: pl.DataFrame | None = None,
) -> ChurnResult:
    """Evaluate both models, then score every customer as of ``end`` (default: the last order
    date) with the chosen one; both models' probabilities are kept in the table."""
    with threadpool_limits(limits=settings.threads, user_api="openmp"):
        return _churn_scores(orders, settings, end, activity)


def _churn_scores(
    orders: pl.DataFrame,
    settings: ChurnSettings,
    end: date | None,
    activity: pl.DataFrame | None,
) -> ChurnResult:
    clean = _orders(orders)
    if clean.is_empty():
        raise InsufficientDataError("no orders")
    end = end or clean["order_date"].max()
    evaluation = evaluate(clean, end, settings, activity)
    chosen = str(evaluation.filter("is_chosen")["model"][0])
    h = settings.horizon_days
    channels = sorted(clean["channel"].unique().to_list())
    now = churn_features(clean, end, activity, channels)
    bg = _bgnbd_churn(clean, end, h)
    frame = now.join(bg, on="customer_id", how="left")
    clf = _fit_classifier(clean, activity, end - timedelta(days=h), settings, channels)
    gb = clf.predict(now) if clf is not None else np.full(now.height, None)
    frame = frame.with_columns(p_churn_gradient_boosting=pl.Series(gb, dtype=pl.Float64))
    frame = frame.with_columns(p_churn=pl.col(f"p_churn_{chosen}"))
    p = frame["p_churn"].fill_null(1.0).to_numpy()
    order = np.argsort(-p, kind="stable")
    decile = np.empty(p.size, dtype=np.int64)
    decile[order] = np.arange(p.size) * 10 // max(p.size, 1) + 1
    table = (
        frame.with_columns(
            as_of=pl.lit(end),
            horizon_days=pl.lit(h, pl.Int32),
            model=pl.lit(chosen),
            risk_decile=pl.Series(decile, dtype=pl.Int32),
            days_since_last_purchase=pl.col("days_since_last").cast(pl.Int64),
            purchase_days=pl.col("purchase_days").cast(pl.Int64),
        )
        .select(list(CHURN_SCHEMA))
        .cast(CHURN_SCHEMA)
    )
    return ChurnResult(customer_churn=table, evaluation=evaluation, model=chosen)


def plot_calibration(evaluation: pl.DataFrame) -> str:
    """Predicted vs actual churn per decile of predicted churn, per model (a Markdown image)."""
    fig, ax = pyplot().subplots(figsize=(5, 4))
    deciles = evaluation.filter(pl.col("bucket") != "total")
    for model in sorted(deciles["model"].unique().to_list()):
        rows = deciles.filter(pl.col("model") == model)
        ax.plot(rows["predicted_churn"], rows["actual_churn"], "o-", label=model, ms=4)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="perfect calibration")
    ax.set_xlabel("predicted churn (decile mean)")
    ax.set_ylabel("actual churn")
    ax.legend(fontsize=8)
    return markdown_png(fig, "calibration")
