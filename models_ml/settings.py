"""Settings of the models_ml library (pydantic only), embedded in channelhouse.yml.

Kept apart from the modelling code so that loading the configuration (every extractor and
Dagster step does) does not import scipy, pandas or statsforecast. Each module re-exports the
settings it uses (``models_ml.forecast.ForecastSettings`` …).
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CONTINUOUS = ("smooth", "erratic")
INTERMITTENT = ("intermittent", "lumpy")
CONTINUOUS_MODELS = ("SeasonalNaive", "AutoTheta", "AutoETS", "AutoARIMA", "Prophet")
INTERMITTENT_MODELS = ("SeasonalNaive", "CrostonOptimized", "ADIDA", "IMAPA", "TSB", "Prophet")


class DemandSettings(BaseModel):
    """How series are prepared and classified (defaults suit daily e-commerce units)."""

    model_config = ConfigDict(extra="forbid")

    adi_threshold: float = Field(1.32, description="ADI cut between frequent and intermittent.")
    cv2_threshold: float = Field(0.49, description="CV² cut between regular and variable sizes.")
    new_days: int = Field(28, ge=1, description="Fewer days of history than this: 'new'.")
    inactive_days: int = Field(
        90, ge=1, description="No demand in this many last days: 'inactive'."
    )
    impute_window: int = Field(28, ge=1, description="In-stock days averaged to fill a stockout.")
    weekday_shrink: float = Field(
        8.0, ge=0, description="Pseudo-observations pulling a weekday factor towards 1."
    )


class BacktestSettings(BaseModel):
    """Rolling-origin windows (defaults: 3 windows of 90 days, cutoffs 30 days apart)."""

    model_config = ConfigDict(extra="forbid")

    n_windows: int = Field(3, ge=1, description="Number of forecast origins.")
    step: int = Field(30, ge=1, description="Days between consecutive origins.")
    horizon: int = Field(90, ge=1, description="Days forecast from each origin.")
    season_length: int = Field(7, ge=1, description="Seasonal-naive lag for the MASE scale.")

    def span(self) -> int:
        """Days at the end of a series covered by the test windows."""
        return self.horizon + (self.n_windows - 1) * self.step


class ForecastSettings(BaseModel):
    """Forecast settings; defaults are the ones measured in the module report."""

    model_config = ConfigDict(extra="forbid")

    horizon: int = Field(90, ge=1, description="Days forecast.")
    levels: tuple[int, int] = Field((80, 95), description="Prediction-interval levels (%).")
    season_length: int = Field(7, ge=1, description="Weekly season on daily data.")
    n_jobs: int = Field(2, ge=1, description="statsforecast worker processes.")
    backtest: BacktestSettings = Field(default_factory=BacktestSettings)
    demand: DemandSettings = Field(default_factory=DemandSettings)
    selection_metric: str = Field("mase", pattern="^(mase|wape)$")
    tie_tolerance: float = Field(0.005, ge=0, description="Relative gap counted as a tie.")
    min_train_days: int = Field(56, ge=14, description="Training days before the first origin.")
    conformal_windows: int = Field(3, ge=2, description="Windows calibrating conformal intervals.")
    tsb_alpha_d: float = Field(0.1, gt=0, le=1)
    tsb_alpha_p: float = Field(0.1, gt=0, le=1)
    intermittent_baseline_selectable: bool = Field(
        False,
        description="Let SeasonalNaive be chosen for intermittent/lumpy series (it is always "
        "backtested as the baseline; MAE-type scores favour its many zeros).",
    )
    refit_continuous_backtest: bool = Field(
        False,
        description="Refit SeasonalNaive/Theta/ETS at every backtest origin (False: fit at "
        "the first origin, then statsforecast's forward; ~3x cheaper).",
    )
    ets_top_n: int | None = Field(
        150,
        ge=0,
        description="AutoETS is a candidate only for this many smooth/erratic series with the "
        "highest mean demand (None = all); the rest try SeasonalNaive and AutoTheta.",
    )
    use_arima: bool = Field(False, description="Add AutoARIMA for smooth/erratic (slow).")
    max_train_days: int | None = Field(
        None, ge=60, description="Fit on at most this many last days (None = all history)."
    )
    prophet_top_n: int = Field(10, ge=0, description="Series by revenue that also try Prophet.")
    prophet_country: str = Field("US", description="Country for Prophet's holidays.")
    prophet_samples: int = Field(200, ge=50, description="Prophet predictive samples.")
    fallback_shrink_days: float = Field(
        7.0,
        gt=0,
        description="Pseudo-days of peer demand in a young series' level: w = n / (n + this). "
        "Chosen by the fallback backtest (demo: 28 -> 7 cut WAPE 0.921 -> 0.849).",
    )
    fallback_window: int = Field(90, ge=7)
    fallback_backtest: BacktestSettings = Field(
        default_factory=lambda: BacktestSettings(n_windows=2, step=14, horizon=28),
        description="Shorter rolling origins scoring the top-down fallback of young series "
        "(beside seasonal naive), so their accuracy is measured too.",
    )
    fallback_min_train_days: int = Field(
        28, ge=7, description="Days of own history a young series needs before an origin."
    )
    default_models: dict[str, str] = Field(
        default_factory=lambda: {
            "smooth": "AutoTheta",
            "erratic": "AutoTheta",
            "intermittent": "TSB",
            "lumpy": "TSB",
        },
        description="Model per demand class for series a scoring run (``selection=``) cannot "
        "take from the previous selection; no backtest decides them.",
    )

    @model_validator(mode="after")
    def _check_default_models(self) -> ForecastSettings:
        for cls in CONTINUOUS + INTERMITTENT:
            pool = INTERMITTENT_MODELS if cls in INTERMITTENT else CONTINUOUS_MODELS
            name = self.default_models.get(cls)
            if name not in pool:
                raise ValueError(f"default_models[{cls!r}] = {name!r}; choose one of {pool}")
        return self

    def min_model_days(self) -> int:
        return max(2 * self.horizon + 1, self.backtest.span() + self.min_train_days)


class LtvSettings(BaseModel):
    """Settings of the CLV models (to be embedded in channelhouse.yml).

    * ``calibration_end``: last order date used for fitting; ``None`` = the last order date in
      the data.
    * ``horizons_days``: prediction horizons; each gives ``expected_purchases_<h>d`` and
      ``expected_value_<h>d`` columns. Default ``(90, 365)``.
    * ``annual_discount_rate``: 0 (default) = no discounting; e.g. 0.1 = 10 % a year, applied
      per 30-day step (see module docstring).
    * ``min_customers``: fewer customers than this (for BG/NBD), or fewer repeat customers
      (for Gamma-Gamma), raises :class:`InsufficientDataError`. Default 100.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    calibration_end: date | None = None
    horizons_days: tuple[int, ...] = (90, 365)
    annual_discount_rate: float = Field(default=0.0, ge=0.0, lt=1.0)
    min_customers: int = Field(default=100, ge=2)

    @field_validator("horizons_days")
    @classmethod
    def _positive_unique(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value:
            raise ValueError("horizons_days must name at least one horizon")
        if any(h <= 0 for h in value):
            raise ValueError(f"horizons_days must be positive, got {value}")
        if len(set(value)) != len(value):
            raise ValueError(f"horizons_days must be unique, got {value}")
        return value


class AnomalySettings(BaseModel):
    """Anomaly scoring settings (defaults in brackets are the documented defaults)."""

    model_config = ConfigDict(extra="forbid")

    baseline_weeks: int = Field(8, ge=2, description="Same-weekday history used for the baseline.")
    min_baseline_weeks: int = Field(4, ge=2, description="Fewer same-weekday points: no baseline.")
    z_threshold: float = Field(3.5, gt=0, description="|robust_z| at or above this is unusual.")
    mad_floor_fraction: float = Field(
        0.1, ge=0, description="Scale floor as a fraction of |baseline| (guards MAD = 0)."
    )
    mad_floor_abs: float = Field(1.0, gt=0, description="Absolute scale floor (guards MAD = 0).")
    min_abs_deviation: float = Field(
        0.0, ge=0, description="Ignore deviations smaller than this (in the series' unit)."
    )
    interval_level: int = Field(95, description="Forecast interval columns yhat_lo_/hi_<level>.")
    require_interval_agreement: bool = Field(
        True, description="With a forecast interval for the day, y must also be outside it."
    )
    score_last_days: int | None = Field(
        None, ge=1, description="Only return the last N days of each series (None = all days)."
    )
    count_metrics: list[str] = Field(
        ["units"], description="Metrics (column metric) that are counts: Poisson scale floor."
    )
    fill_missing_days: bool = Field(
        True, description="Days missing inside a series count as 0 (no sales that day)."
    )


class TrendingSettings(BaseModel):
    """Trending-product settings."""

    model_config = ConfigDict(extra="forbid")

    recent_days: int = Field(14, ge=1, description="Length of the recent and previous windows.")
    min_growth: float = Field(0.5, ge=0, description="recent/previous - 1 at least this (+50%).")
    alpha: float = Field(0.01, gt=0, lt=1, description="One-sided significance level.")
    min_recent_volume: float = Field(20, ge=0, description="Recent-window units at least this.")
    half_life_days: float = Field(
        7.0, gt=0, description="Half-life of the time decay of decayed_units / trend_rank."
    )


class RecommendSettings(BaseModel):
    """Product recommendations (``models_ml.recommend``) _(issue 15)_."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top_n: int = Field(10, ge=1, le=100, description="Recommendations per customer.")
    similar_n: int = Field(10, ge=1, le=100, description="Similar products per product.")
    event_weights: dict[str, float] = Field(
        default_factory=lambda: {"order": 4.0, "cart": 2.0, "view": 1.0},
        description="Implicit-feedback weight per event type (orders > cart adds > views).",
    )
    model: str = Field(
        "auto",
        pattern="^(auto|item_item|svd|popularity)$",
        description="'auto': the model with the best MAP@10 in the offline evaluation.",
    )
    factors: int = Field(8, ge=2, le=512, description="Latent factors of the svd model.")
    eval_weeks: int = Field(8, ge=1, le=52, description="Weeks held out by the evaluation.")
    trend_half_life_days: float = Field(
        14.0, gt=0, description="Half-life of the time decay of the popularity scores."
    )

    @field_validator("event_weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        if "order" not in value:
            raise ValueError("event_weights needs an 'order' weight")
        if any(w < 0 for w in value.values()):
            raise ValueError(f"event_weights must not be negative, got {value}")
        return value


class ChurnSettings(BaseModel):
    """Churn prediction (``models_ml.churn``) _(issue 15)_."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    horizon_days: int = Field(90, ge=7, le=730, description="Churn: no purchase in this window.")
    model: str = Field(
        "auto",
        pattern="^(auto|bgnbd|gradient_boosting)$",
        description="'auto': the model with the best AUC in the time-split evaluation.",
    )
    min_customers: int = Field(200, ge=20, description="Fewer labelled customers: no model.")
    threads: int = Field(
        1,
        ge=1,
        le=64,
        description="OpenMP threads of the classifier. 1 by default: on a shared 2-core machine "
        "two spinning threads made a 4 s fit take 29 s (bench/results/customers.md).",
    )


EXPERIMENT_METRICS = (
    "conversion_rate",
    "add_to_cart_rate",
    "revenue_per_unit",
    "orders_per_unit",
    "aov",
)


class ExperimentSettings(BaseModel):
    """How ``analytics.experiment_results`` tests experiments and decides (issue 16).

    The decision, per treatment variant against control on ``primary_metric``:
    ``invalid`` when the sample-ratio check fails (p < ``srm_alpha``) or more than
    ``max_mixed_share`` of the units saw two variants; ``keep_running`` while a variant has fewer
    than ``min_units_per_variant`` units or the test is not significant before ``max_days``;
    ``ship`` when significant (always-valid mSPRT p-value when ``sequential``, else the fixed
    one, below ``alpha``) with a positive lift whose relative CI lower bound is at least
    ``min_relative_lift``; ``dont_ship`` when significantly negative, or not significant after
    ``max_days``.
    """

    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(0.05, gt=0, lt=0.5, description="Significance level (two-sided).")
    srm_alpha: float = Field(0.001, gt=0, lt=0.5, description="Sample-ratio-mismatch threshold.")
    control_variant: str = Field("control", min_length=1, description="Name of the control arm.")
    primary_metric: str = Field("conversion_rate", description="Metric the decision reads.")
    min_units_per_variant: int = Field(200, ge=2, description="Fewer units: keep running.")
    max_days: int = Field(28, ge=1, description="Not significant after this many days: stop.")
    min_relative_lift: float = Field(
        0.0, ge=0, description="Ship only if the relative lift's CI lower bound reaches this."
    )
    sequential: bool = Field(True, description="Decide on always-valid (mSPRT) p-values.")
    msprt_tau_relative: float = Field(
        0.1, gt=0, description="mSPRT mixture sd as a share of the control value (10% lift)."
    )
    cuped: bool = Field(True, description="CUPED on revenue/orders per unit with pre-period data.")
    max_mixed_share: float = Field(
        0.01, ge=0, le=1, description="Share of units exposed to two variants that is tolerated."
    )
    weights: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Planned traffic split per experiment (variant -> weight); default even.",
    )
    thompson_draws: int = Field(20_000, ge=100, description="Posterior draws for the bandit.")

    @field_validator("primary_metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in EXPERIMENT_METRICS:
            raise ValueError(f"primary_metric must be one of {EXPERIMENT_METRICS}, got {value!r}")
        return value


# The order risk rules (models_ml.order_risk): rule name -> the feature of
# analytics.order_risk_features it reads. A rule fires when the feature is at or above its
# threshold; its weight is the points (of 100) it adds to the rule score.
ORDER_RISK_RULES: dict[str, str] = {
    "email_velocity_1h": "email_orders_1h",
    "email_velocity_24h": "email_orders_24h",
    "new_identities_24h": "email_new_identities_24h",
    "value_vs_customer": "value_to_customer_avg",
    "value_vs_product": "product_quantity_ratio",
    "big_first_order": "first_order_value_ratio",
    "prior_refunds": "prior_refunded_orders",
    "refund_share": "prior_refund_share",
    "prior_cancellations": "prior_cancelled_orders",
    "shared_address_24h": "address_other_customers_24h",
    "country_mismatch": "is_country_mismatch",
}


class RiskRule(BaseModel):
    """One rule: fires when its feature >= ``threshold``; adds ``weight`` points (0-100)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(gt=0, description="The feature at or above this fires the rule.")
    weight: float = Field(ge=0, le=100, description="Points (of 100) the rule adds.")


def _default_rules() -> dict[str, RiskRule]:
    return {
        "email_velocity_1h": RiskRule(threshold=1, weight=35),
        "email_velocity_24h": RiskRule(threshold=3, weight=20),
        "new_identities_24h": RiskRule(threshold=1, weight=35),
        "value_vs_customer": RiskRule(threshold=5, weight=30),
        "value_vs_product": RiskRule(threshold=4.5, weight=30),
        "big_first_order": RiskRule(threshold=5, weight=30),
        "prior_refunds": RiskRule(threshold=2, weight=30),
        "refund_share": RiskRule(threshold=0.6, weight=30),
        "prior_cancellations": RiskRule(threshold=2, weight=60),
        "shared_address_24h": RiskRule(threshold=1, weight=40),
        # alone it never reaches the threshold: one honest Shopify buyer in forty pays abroad
        "country_mismatch": RiskRule(threshold=1, weight=30),
    }


class OrderRiskSettings(BaseModel):
    """Order risk scores (``analytics.order_risk``, issue 17).

    ``risk_score`` (0-100) = (1 - ``anomaly_weight``) x the rule score (the fired rules'
    weights, capped at 100) + ``anomaly_weight`` x the anomaly score (the order's percentile of
    an isolation forest's outlier score over the features); an order is high risk at
    ``threshold`` or above. ``rules`` overrides the default rules by name (a rule left out keeps
    its default; weight 0 switches a rule off).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(50, gt=0, le=100, description="High risk at this score or above.")
    anomaly_weight: float = Field(
        0.25, ge=0, le=1, description="Share of the score from the isolation forest."
    )
    rules: dict[str, RiskRule] = Field(
        default_factory=dict, description="Per-rule overrides of threshold and weight."
    )
    n_estimators: int = Field(200, ge=10, le=2000, description="Trees of the isolation forest.")
    random_state: int = Field(0, description="Seed of the isolation forest (fixed: same scores).")

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, value: dict[str, RiskRule]) -> dict[str, RiskRule]:
        unknown = sorted(set(value) - set(ORDER_RISK_RULES))
        if unknown:
            raise ValueError(
                f"unknown order risk rule(s) {unknown}; known: {sorted(ORDER_RISK_RULES)}"
            )
        return value

    def effective_rules(self) -> dict[str, RiskRule]:
        return {**_default_rules(), **self.rules}
