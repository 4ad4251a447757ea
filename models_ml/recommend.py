"""Product recommendations from implicit feedback (orders, cart adds, product views).

Input: one row per event (ids are read as strings, as the warehouse keys them), ``customer_id``, ``product_id``, ``event_type`` (a key of
``RecommendSettings.event_weights``: ``order`` > ``cart`` > ``view`` by default) and
``event_date``. Events of unknown types raise; rows with a null customer or product are
ignored (anonymous sessions carry no customer).

Models, all on the customer × product matrix of summed event weights (``log1p`` damped):

* ``item_item``: cosine similarity between product columns; a customer's affinity to a
  product is the sum of its similarities to what they interacted with.
* ``svd``: PureSVD, the matrix projected on its top ``factors`` right singular vectors (the
  eigenvectors of the product Gram matrix: deterministic, no random start); the product
  embeddings are these vectors scaled by their singular values.

  Both scale the affinity to [0, 1] per customer and multiply it by the decayed popularity
  (what a customer is drawn to, among what sells now): on the demo business this beat the
  plain similarity scores and the popularity list (DECISIONS.md).
* ``popularity``: orders with a time decay (``trend_half_life_days``), the same list for
  everyone; also the cold-start fallback (customers whose model scores are all zero, products
  nobody ordered), marked ``is_cold_start``.

Recommendations never repeat a product the customer ordered. ``evaluate`` trains on all
events before a split date and scores the orders of the ``eval_weeks`` after it (products the
customer had not ordered before): precision@k, recall@k, MAP@k, catalog coverage, per model
side by side. Nothing after the split is read when training, so changing later data leaves
the scores unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl
import scipy.sparse as sp

from models_ml.plots import markdown_png, pyplot
from models_ml.settings import RecommendSettings

__all__ = [
    "EVALUATION_SCHEMA",
    "MODELS",
    "RECOMMENDATIONS_SCHEMA",
    "SIMILAR_SCHEMA",
    "RecommendSettings",
    "Recommender",
    "choose_model",
    "evaluate",
    "fit",
    "similar_products",
]

MODELS = ("item_item", "svd", "popularity")
RECOMMENDATIONS_SCHEMA = {
    "customer_id": pl.String,
    "rank": pl.Int32,
    "product_id": pl.String,
    "score": pl.Float64,
    "model": pl.String,
    "is_cold_start": pl.Boolean,
}
SIMILAR_SCHEMA = {
    "product_id": pl.String,
    "rank": pl.Int32,
    "similar_product_id": pl.String,
    "score": pl.Float64,
    "co_purchase_customers": pl.Int64,
    "co_purchase_similarity": pl.Float64,
    "embedding_similarity": pl.Float64,
    "reason": pl.String,
    "is_cold_start": pl.Boolean,
}
EVALUATION_SCHEMA = {
    "model": pl.String,
    "k": pl.Int32,
    "split_date": pl.Date,
    "test_end": pl.Date,
    "customers_evaluated": pl.Int64,
    "precision_at_k": pl.Float64,
    "recall_at_k": pl.Float64,
    "map_at_k": pl.Float64,
    "coverage": pl.Float64,
    "precision_ceiling": pl.Float64,
    "lift_vs_popularity": pl.Float64,
    "is_chosen": pl.Boolean,
}
_BATCH = 4096  # customers scored at once (dense batch × products)


def _clean(events: pl.DataFrame, settings: RecommendSettings) -> pl.DataFrame:
    missing = {"customer_id", "product_id", "event_type", "event_date"} - set(events.columns)
    if missing:
        raise ValueError(f"events lack the columns {sorted(missing)}")
    unknown = set(events["event_type"].unique().drop_nulls()) - set(settings.event_weights)
    if unknown:
        raise ValueError(
            f"unknown event types {sorted(unknown)}; "
            f"event_weights has {sorted(settings.event_weights)}"
        )
    return events.select(
        pl.col("customer_id").cast(pl.String),
        pl.col("product_id").cast(pl.String),
        pl.col("event_type").cast(pl.String),
        pl.col("event_date").cast(pl.Date),
    ).drop_nulls()


def _catalog(products: np.ndarray) -> np.ndarray:
    """Product ids as the sorted unique strings the matrices are indexed by."""
    return np.unique(pl.Series(products).cast(pl.String).drop_nulls().to_numpy())


def _decay(dates: np.ndarray, as_of: date, half_life: float) -> np.ndarray:
    age = (np.datetime64(as_of, "D") - dates.astype("datetime64[D]")).astype(np.int64)
    return np.power(0.5, np.maximum(age, 0) / half_life)


@dataclass
class Recommender:
    """A fitted model: the customer and product indexes, the matrices and the product scores."""

    model: str
    customers: np.ndarray  # customer ids, row order
    products: np.ndarray  # product ids, column order
    matrix: sp.csr_matrix  # damped weights, customers × products
    ordered: sp.csr_matrix  # 1 where the customer ordered the product
    item_similarity: np.ndarray  # products × products (model's; zero diagonal)
    embeddings: np.ndarray  # products × factors
    popularity: np.ndarray  # decayed orders per product
    as_of: date

    def scores(self, rows: np.ndarray) -> np.ndarray:
        """Model scores of the customers at ``rows`` (dense, rows × products).

        The collaborative part (affinity of the customer to the product) is scaled to [0, 1]
        per customer and multiplied by the decayed popularity: among the products a customer
        is drawn to, the ones selling now come first (the offline evaluation's best variant).
        """
        pop = self.popularity / max(float(self.popularity.max(initial=0.0)), 1e-12)
        if self.model == "popularity":
            return np.broadcast_to(pop, (rows.size, self.products.size)).copy()
        x = self.matrix[rows]
        if self.model == "svd":
            unit = self.embeddings / np.maximum(np.linalg.norm(self.embeddings, axis=0), 1e-12)
            affinity = np.asarray(x @ unit) @ unit.T
        else:
            affinity = np.asarray(x @ self.item_similarity)
        affinity = np.maximum(affinity, 0.0)
        affinity /= np.maximum(affinity.max(axis=1, keepdims=True), 1e-12)
        return affinity * pop[None, :]

    def recommend(self, n: int) -> pl.DataFrame:
        """Top ``n`` products each customer has not ordered (RECOMMENDATIONS_SCHEMA)."""
        parts = [
            self._recommend_batch(np.arange(s, min(s + _BATCH, self.customers.size)), n)
            for s in range(0, self.customers.size, _BATCH)
        ]
        if not parts:
            return pl.DataFrame(schema=RECOMMENDATIONS_SCHEMA)
        return pl.concat(parts)

    def _recommend_batch(self, rows: np.ndarray, n: int) -> pl.DataFrame:
        model = self.scores(rows)
        cold = ~(model > 1e-12).any(axis=1)
        pop = self.popularity / max(float(self.popularity.max(initial=0.0)), 1e-12)
        # ties and zero scores fall back on popularity (a tiny tie-breaker for everyone)
        score = np.where(cold[:, None], pop[None, :], model + 1e-9 * pop[None, :])
        bought = self.ordered[rows].toarray() > 0
        score[bought] = -np.inf
        k = min(n, self.products.size)
        top = np.argpartition(-score, k - 1, axis=1)[:, :k] if k < score.shape[1] else None
        if top is None:
            top = np.tile(np.arange(score.shape[1]), (rows.size, 1))
        top_scores = np.take_along_axis(score, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        top_scores = np.take_along_axis(top_scores, order, axis=1)
        keep = np.isfinite(top_scores)
        rank = np.tile(np.arange(1, k + 1, dtype=np.int32), (rows.size, 1))
        is_cold = np.repeat(cold, k).reshape(rows.size, k)
        return pl.DataFrame(
            {
                "customer_id": np.repeat(self.customers[rows], k).reshape(rows.size, k)[keep],
                "rank": rank[keep],
                "product_id": self.products[top][keep],
                "score": top_scores[keep],
                "model": np.where(is_cold[keep], "popularity", self.model),
                "is_cold_start": is_cold[keep],
            },
            schema=RECOMMENDATIONS_SCHEMA,
        )


def _matrices(
    events: pl.DataFrame, settings: RecommendSettings, products: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix, sp.csr_matrix]:
    customers = np.unique(events["customer_id"].to_numpy())
    if products is None:
        products = np.unique(events["product_id"].to_numpy())
    events = events.filter(pl.col("product_id").is_in(pl.Series(products).implode()))
    rows = np.searchsorted(customers, events["customer_id"].to_numpy())
    cols = np.searchsorted(products, events["product_id"].to_numpy())
    weights = events["event_type"].replace_strict(settings.event_weights).to_numpy()
    shape = (customers.size, products.size)
    raw = sp.csr_matrix((weights.astype(float), (rows, cols)), shape=shape)
    raw.sum_duplicates()
    matrix = raw.copy()
    matrix.data = np.log1p(matrix.data)
    is_order = events["event_type"].to_numpy() == "order"
    ordered = sp.csr_matrix(
        (np.ones(int(is_order.sum())), (rows[is_order], cols[is_order])), shape=shape
    )
    ordered.sum_duplicates()
    ordered.data[:] = 1.0
    return customers, products, matrix, ordered


def fit(
    events: pl.DataFrame,
    settings: RecommendSettings,
    model: str,
    as_of: date | None = None,
    products: np.ndarray | None = None,
) -> Recommender:
    """Fit ``model`` on the events up to and including ``as_of`` (default: the last event day).

    ``products``: the catalog's product ids (default: the products with events); products
    without events can only be recommended as popularity fallbacks (they score zero).
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {MODELS}")
    events = _clean(events, settings)
    if as_of is not None:
        events = events.filter(pl.col("event_date") <= as_of)
    if events.is_empty():
        raise ValueError("no events to fit a recommender on")
    as_of = as_of or events["event_date"].max()
    customers, products, matrix, ordered = _matrices(
        events, settings, None if products is None else _catalog(products)
    )
    orders = events.filter(pl.col("event_type") == "order")
    popularity = np.zeros(products.size)
    if not orders.is_empty():
        cols = np.searchsorted(products, orders["product_id"].to_numpy())
        ok = (cols < products.size) & (
            products[np.minimum(cols, products.size - 1)] == orders["product_id"].to_numpy()
        )
        decay = _decay(orders["event_date"].to_numpy(), as_of, settings.trend_half_life_days)
        popularity = np.bincount(cols[ok], weights=decay[ok], minlength=products.size)
    gram = np.asarray((matrix.T @ matrix).todense(), dtype=float)
    norms = np.sqrt(np.diag(gram))
    cosine = gram / np.where(norms > 0, norms, 1.0)[:, None] / np.where(norms > 0, norms, 1.0)
    np.fill_diagonal(cosine, 0.0)
    eigenvalues, vectors = np.linalg.eigh(gram)
    k = min(settings.factors, products.size)
    top = np.argsort(-eigenvalues, kind="stable")[:k]
    singular = np.sqrt(np.maximum(eigenvalues[top], 0.0))
    vectors = vectors[:, top]
    vectors *= np.where(vectors.sum(axis=0) < 0, -1.0, 1.0)  # a fixed sign per factor
    return Recommender(
        model=model,
        customers=customers,
        products=products,
        matrix=matrix,
        ordered=ordered,
        item_similarity=cosine,
        embeddings=vectors * singular,
        popularity=popularity,
        as_of=as_of,
    )


def _metrics(
    recs: pl.DataFrame, truth: pl.DataFrame, k: int
) -> tuple[int, float, float, float, float]:
    """(customers, precision@k, recall@k, MAP@k, the best precision@k possible) of ``recs``
    against ``truth`` (the customers of ``truth``; a customer without recommendations scores 0).
    """
    relevant = truth.group_by("customer_id").agg(pl.col("product_id").alias("relevant"))
    hits = (
        recs.filter(pl.col("rank") <= k)
        .join(truth.with_columns(hit=pl.lit(True)), on=["customer_id", "product_id"], how="left")
        .with_columns(pl.col("hit").fill_null(False))
        .sort("customer_id", "rank")
        .with_columns(cum_hits=pl.col("hit").cast(pl.Int64).cum_sum().over("customer_id"))
        .group_by("customer_id")
        .agg(
            pl.col("hit").sum().alias("hits"),
            (pl.col("cum_hits") / pl.col("rank")).filter(pl.col("hit")).sum().alias("ap_sum"),
        )
        .join(relevant, on="customer_id", how="right")
        .with_columns(
            pl.col("hits").fill_null(0),
            pl.col("ap_sum").fill_null(0.0),
            n_rel=pl.col("relevant").list.len(),
        )
    )
    if hits.is_empty():
        return 0, 0.0, 0.0, 0.0, 0.0
    return (
        hits.height,
        float((hits["hits"] / k).mean()),
        float((hits["hits"] / hits["n_rel"]).mean()),
        float((hits["ap_sum"] / hits["n_rel"].clip(upper_bound=k)).mean()),
        float((hits["n_rel"].clip(upper_bound=k) / k).mean()),
    )


def evaluate(
    events: pl.DataFrame,
    settings: RecommendSettings,
    end: date | None = None,
    k: int = 10,
    products: np.ndarray | None = None,
) -> pl.DataFrame:
    """Time-split evaluation of every model (EVALUATION_SCHEMA), popularity as the baseline.

    Train: events before ``end - eval_weeks``; test: the orders from the split to ``end`` of
    customers seen in training, products they had not ordered before. ``precision_ceiling``
    is the precision@k of a perfect list (few customers buy k new products in a few weeks).
    """
    events = _clean(events, settings)
    if events.is_empty():
        raise ValueError("no events to evaluate on")
    end = end or events["event_date"].max()
    split = end - timedelta(weeks=settings.eval_weeks)
    train = events.filter(pl.col("event_date") < split)
    if train.filter(pl.col("event_type") == "order").is_empty():
        raise ValueError(f"no orders before the split date {split} to train on")
    test = events.filter(
        (pl.col("event_type") == "order") & pl.col("event_date").is_between(split, end)
    ).select("customer_id", "product_id")
    before = train.filter(pl.col("event_type") == "order").select("customer_id", "product_id")
    truth = (
        test.join(before, on=["customer_id", "product_id"], how="anti")
        .filter(pl.col("customer_id").is_in(train["customer_id"].implode()))
        .unique()
    )
    rows = []
    catalog = _catalog(products) if products is not None else None
    for model in MODELS:
        rec = fit(train, settings, model, as_of=split - timedelta(days=1), products=catalog)
        # np.isin on strings compares every pair; both sides are sorted and unique here
        evaluated = np.intersect1d(
            rec.customers, truth["customer_id"].unique().to_numpy(), assume_unique=True
        )
        sub = _subset(rec, evaluated).recommend(k)
        n, precision, recall, map_k, ceiling = _metrics(sub, truth, k)
        coverage = sub["product_id"].n_unique() / max(rec.products.size, 1)
        rows.append((model, n, precision, recall, map_k, coverage, ceiling))
    pop_precision = next(r[2] for r in rows if r[0] == "popularity")
    frame = pl.DataFrame(
        {
            "model": [r[0] for r in rows],
            "k": [k] * len(rows),
            "split_date": [split] * len(rows),
            "test_end": [end] * len(rows),
            "customers_evaluated": [r[1] for r in rows],
            "precision_at_k": [r[2] for r in rows],
            "recall_at_k": [r[3] for r in rows],
            "map_at_k": [r[4] for r in rows],
            "coverage": [r[5] for r in rows],
            "precision_ceiling": [r[6] for r in rows],
            "lift_vs_popularity": [r[2] / pop_precision if pop_precision else None for r in rows],
            "is_chosen": [False] * len(rows),
        },
        schema=EVALUATION_SCHEMA,
    )
    chosen = choose_model(frame, settings)
    return frame.with_columns(is_chosen=pl.col("model") == chosen)


def choose_model(evaluation: pl.DataFrame, settings: RecommendSettings) -> str:
    """The configured model, or (``auto``) the best MAP@k (ties: the simpler model first)."""
    if settings.model != "auto":
        return settings.model
    order = {m: i for i, m in enumerate(("popularity", "item_item", "svd"))}
    best = evaluation.with_columns(
        simplicity=pl.col("model").replace_strict(order, return_dtype=pl.Int64)
    ).sort(["map_at_k", "simplicity"], descending=[True, False])
    return str(best["model"][0])


def _subset(rec: Recommender, customers: np.ndarray) -> Recommender:
    rows = np.searchsorted(rec.customers, customers)
    return Recommender(
        model=rec.model,
        customers=rec.customers[rows],
        products=rec.products,
        matrix=rec.matrix[rows],
        ordered=rec.ordered[rows],
        item_similarity=rec.item_similarity,
        embeddings=rec.embeddings,
        popularity=rec.popularity,
        as_of=rec.as_of,
    )


def similar_products(rec: Recommender, n: int) -> pl.DataFrame:
    """Per product the ``n`` most similar others (SIMILAR_SCHEMA).

    score = mean of the co-purchase cosine (customers who ordered both) and the embedding
    cosine (clipped at 0); the reason names the stronger signal. Products nobody ordered get
    the most popular products, marked ``is_cold_start``.
    """
    ordered = rec.ordered
    co = np.asarray((ordered.T @ ordered).todense(), dtype=float)
    counts = np.diag(co).copy()
    np.fill_diagonal(co, 0.0)
    denom = np.sqrt(np.outer(counts, counts))
    co_cos = np.divide(co, denom, out=np.zeros_like(co), where=denom > 0)
    emb = rec.embeddings / np.maximum(np.linalg.norm(rec.embeddings, axis=1, keepdims=True), 1e-12)
    emb_cos = np.clip(emb @ emb.T, 0.0, 1.0)
    np.fill_diagonal(emb_cos, 0.0)
    score = 0.5 * co_cos + 0.5 * emb_cos
    cold = counts == 0
    pop = rec.popularity / max(float(rec.popularity.max(initial=0.0)), 1e-12)
    score[cold] = pop[None, :]
    np.fill_diagonal(score, -np.inf)
    m = rec.products.size
    k = min(n, m - 1)
    if k <= 0:
        return pl.DataFrame(schema=SIMILAR_SCHEMA)
    top = np.argsort(-score, axis=1, kind="stable")[:, :k]
    src = np.repeat(np.arange(m), k)
    dst = top.ravel()
    co_n = co[src, dst].astype(np.int64)
    e = emb_cos[src, dst]
    is_cold = cold[src]
    reason = np.where(
        is_cold,
        "popular (no orders of this product yet)",
        np.where(
            (co_n > 0) & (co_cos[src, dst] >= e),
            pl.Series(co_n).cast(pl.String).to_numpy().astype(object) + " customers bought both",
            "bought by similar customers",
        ),
    )
    return pl.DataFrame(
        {
            "product_id": rec.products[src],
            "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), m),
            "similar_product_id": rec.products[dst],
            "score": score[src, dst],
            "co_purchase_customers": co_n,
            "co_purchase_similarity": co_cos[src, dst],
            "embedding_similarity": e,
            "reason": reason.astype(str),
            "is_cold_start": is_cold,
        },
        schema=SIMILAR_SCHEMA,
    )


def plot_evaluation(evaluation: pl.DataFrame) -> str:
    """Precision, recall and MAP at k per model beside popularity, with the precision a perfect
    list could reach (a Markdown image)."""
    metrics = ("precision_at_k", "recall_at_k", "map_at_k")
    rows = evaluation.sort("model").to_dicts()
    fig, ax = pyplot().subplots(figsize=(6, 3.5))
    width = 0.8 / max(len(rows), 1)
    for i, row in enumerate(rows):
        label = row["model"] + (" (chosen)" if row["is_chosen"] else "")
        ax.bar(
            [m + i * width for m in range(len(metrics))],
            [row[m] or 0.0 for m in metrics],
            width,
            label=label,
        )
    if rows and rows[0]["precision_ceiling"] is not None:
        ax.axhline(rows[0]["precision_ceiling"], color="grey", lw=0.8, ls="--")
        ax.annotate("precision ceiling", (0, rows[0]["precision_ceiling"]), fontsize=7)
    ax.set_xticks([m + width * (len(rows) - 1) / 2 for m in range(len(metrics))])
    k = rows[0]["k"] if rows else 10
    ax.set_xticklabels([f"precision@{k}", f"recall@{k}", f"MAP@{k}"])
    ax.legend(fontsize=7)
    return markdown_png(fig, "recommendation evaluation")
