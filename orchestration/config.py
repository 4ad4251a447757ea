"""The one typed configuration of a ChannelHouse deployment (``channelhouse.yml``).

Validated with pydantic; every error names the file and the field path, e.g.
``channelhouse.yml: connections[1] (amazon).marketplaces[0]: unknown marketplace id 'X'``.
Secrets are never in this file: a connection names the environment variables that hold
them, and ``resolve_secrets`` reads those only when a client is built.
"""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from alerting.settings import AlertingSettings, AudienceSettings

# The connection and FX models live next to their extractors; the names are re-exported here.
from extractors.amazon.marketplaces import AMAZON_HOSTS, AMAZON_MARKETPLACES  # noqa: F401
from extractors.amazon.settings import AmazonConnection
from extractors.fx_settings import ECB_FX_URL, SANDBOX_FX_PATH, FxConfig  # noqa: F401
from extractors.settings import (  # noqa: F401
    ENV_VAR_NAME,
    SANDBOX,
    MissingSecretError,
    RetryConfig,
    _Connection,
    _Strict,
    resolve_secrets,
)
from extractors.shopify.settings import ShopifyConnection
from extractors.walmart.settings import WalmartConnection
from models_ml.settings import (
    AnomalySettings,
    ChurnSettings,
    ExperimentSettings,
    ForecastSettings,
    LtvSettings,
    OrderRiskSettings,
    RecommendSettings,
    TrendingSettings,
)
from reports.settings import ReportsSettings
from serving.settings import ServingSettings

CONFIG_ENV = "CHANNELHOUSE_CONFIG"
DATA_DIR_ENV = "CHANNELHOUSE_DATA_DIR"
WAREHOUSE_ENV = "CHANNELHOUSE_WAREHOUSE"
DEFAULT_CONFIG = "channelhouse.yml"


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid; the message says where."""


Connection = Annotated[
    AmazonConnection | ShopifyConnection | WalmartConnection, Field(discriminator="channel")
]


class SandboxConfig(_Strict):
    """The embedded emulators of the three marketplace APIs."""

    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    seed: int = 42
    scale: float = Field(1.0, gt=0, le=50)
    rate_limits: Literal["realistic", "fast"] = Field(
        "fast", description="'fast' multiplies every documented rate limit by 1000"
    )
    fraud: bool = Field(
        False, description="inject fraud cases with ground truth (sandbox.business.fraud)"
    )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class SyncConfig(_Strict):
    history_start: date = Field(description="first day the initial sync (raw_history) loads")
    daily_days: int = Field(
        35,
        ge=1,
        le=366,
        description="the daily raw partitions cover today and this many days before it; "
        "older days load through the raw_history job",
    )
    lookback_days: int = Field(
        2, ge=0, le=60, description="scheduled runs re-extract this many past days too"
    )

    @model_validator(mode="after")
    def _lookback_inside_the_daily_window(self):
        if self.lookback_days > self.daily_days:
            raise ValueError(
                f"lookback_days: {self.lookback_days} reaches before the daily window "
                f"(daily_days {self.daily_days}); scheduled runs re-extract daily partitions only"
            )
        return self

    def daily_start(self, today: date) -> date:
        """The first daily partition: ``daily_days`` before ``today``, not before the history."""
        return max(self.history_start, today - timedelta(days=self.daily_days))

    def history_range(self, today: date) -> tuple[date, date]:
        """The initial sync's default days: history_start .. the day before the daily window
        (empty, start > end, when the whole history fits in the daily window)."""
        return self.history_start, self.daily_start(today) - timedelta(days=1)


class WarehouseConfig(_Strict):
    """How dbt builds the DuckDB warehouse (its file: ``$CHANNELHOUSE_WAREHOUSE``)."""

    lookback_days: int = Field(3, ge=0, le=365)  # incremental models re-merge this many days
    fx_max_staleness_days: int = Field(7, ge=0, le=31)  # carry an exchange rate this far
    # incremental builds reconcile the warehouse with the lake for this many recent days
    # (full rebuilds reconcile the whole history)
    reconcile_days: int = Field(35, ge=1)


class ExecutorConfig(_Strict):
    """Where a run's steps execute: Dagster's multiprocess executor on the run's machine
    (``default``), or Celery workers on any machine through a broker (``celery``, see
    orchestration/scaleout.py)."""

    kind: Literal["default", "celery"] = "default"
    broker_env: str = Field(
        "CHANNELHOUSE_CELERY_BROKER_URL",
        description="environment variable holding the broker URL (e.g. pyamqp://user:pw@host//)",
    )
    backend: str = Field("rpc://", description="Celery result backend (not a secret)")


class InventoryPolicy(_Strict):
    """Replenishment inputs of a product (or a category, or the default)."""

    lead_time_days: int = Field(28, ge=1, le=365, description="days from order to available stock")
    service_level: float = Field(
        0.95, ge=0.5, le=0.999, description="target probability of no stockout in a lead time"
    )
    review_period_days: int = Field(7, ge=1, le=90, description="days between two orders")


class InventoryOverride(_Strict):
    """A product's or a category's own values; what it leaves out comes from the default."""

    lead_time_days: int | None = Field(None, ge=1, le=365)
    service_level: float | None = Field(None, ge=0.5, le=0.999)
    review_period_days: int | None = Field(None, ge=1, le=90)


class FeeRate(_Strict):
    """Marketplace/payment fees of a channel without fee data in its API (Amazon reports its
    fees per line in the Finances events)."""

    percent_of_revenue: float = Field(0.0, ge=0, lt=1)
    fixed_per_order: float = Field(0.0, ge=0)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$", description="currency of fixed_per_order")


class HealthThresholds(_Strict):
    """A marketplace's published account-health limits (None: it publishes none)."""

    cancellation_rate: float | None = Field(None, ge=0, le=1)
    late_shipment_rate: float | None = Field(None, ge=0, le=1)
    refund_rate: float | None = Field(None, ge=0, le=1)


def _default_fees() -> dict[str, FeeRate]:
    return {
        # Shopify Payments' US online rate; Walmart's referral fee of most categories
        "shopify": FeeRate(percent_of_revenue=0.029, fixed_per_order=0.30),
        "walmart": FeeRate(percent_of_revenue=0.15),
    }


def _default_thresholds() -> dict[str, HealthThresholds]:
    return {
        # Seller Central account health: cancellation < 2.5%, late shipment < 4%
        "amazon": HealthThresholds(cancellation_rate=0.025, late_shipment_rate=0.04),
        # Walmart Seller Performance Standards: cancellations <= 2%, on-time shipment >= 99%,
        # refunds <= 6%
        "walmart": HealthThresholds(
            cancellation_rate=0.02, late_shipment_rate=0.01, refund_rate=0.06
        ),
        "shopify": HealthThresholds(),
    }


class AnalyticsConfig(_Strict):
    """Definitions behind the analytics marts (passed to dbt as variables)."""

    analysis_date: date | None = Field(
        None, description="'as of' day of RFM, cohorts, ABC/XYZ, inventory; None = latest order day"
    )
    session_timeout_minutes: int = Field(30, ge=1, le=24 * 60)
    cart_abandonment_hours: int = Field(24, ge=1, le=24 * 30)
    experiment_attribution_days: int = Field(
        14, ge=1, le=365, description="Days after a unit's first exposure its outcomes count."
    )
    experiment_pre_period_days: int = Field(
        28, ge=1, le=365, description="Days before the first exposure behind CUPED's covariate."
    )
    abc_cumulative_shares: tuple[float, float] = (0.80, 0.95)
    xyz_cv_thresholds: tuple[float, float] = (0.5, 1.0)
    xyz_weeks: int = Field(26, ge=4, le=156)
    affinity_min_support: float = Field(0.0005, ge=0, le=1)
    affinity_min_orders: int = Field(3, ge=1)
    demand_window_days: int = Field(56, ge=7, le=365)
    inventory: InventoryPolicy = InventoryPolicy()
    inventory_by_category: dict[str, InventoryOverride] = {}  # noqa: RUF012 (pydantic)
    inventory_by_product: dict[str, InventoryOverride] = {}  # noqa: RUF012 (pydantic)
    marketplace_fees: dict[str, FeeRate] = Field(default_factory=_default_fees)
    account_health_thresholds: dict[str, HealthThresholds] = Field(
        default_factory=_default_thresholds
    )

    @field_validator("abc_cumulative_shares", "xyz_cv_thresholds")
    @classmethod
    def _increasing(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] < value[1]:
            raise ValueError(f"must be two increasing positive numbers, got {list(value)}")
        return value

    @field_validator("abc_cumulative_shares")
    @classmethod
    def _shares(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[1] >= 1:
            raise ValueError(f"cumulative revenue shares must be below 1, got {list(value)}")
        return value

    def dbt_vars(self) -> dict:
        """The dbt variables of dbt_project.yml, with the same names."""
        values = self.model_dump(mode="json", exclude={"inventory"})
        values["inventory_defaults"] = self.inventory.model_dump()
        for key in ("inventory_by_category", "inventory_by_product"):
            values[key] = {
                name: override.model_dump(mode="json", exclude_none=True)
                for name, override in getattr(self, key).items()
            }
        return values


class ChannelHouseConfig(_Strict):
    data_dir: Path = Path("data")
    base_currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    reporting_timezone: str = "UTC"
    sync: SyncConfig
    sandbox: SandboxConfig = SandboxConfig()
    fx: FxConfig = FxConfig()
    warehouse: WarehouseConfig = WarehouseConfig()
    executor: ExecutorConfig = ExecutorConfig()
    analytics: AnalyticsConfig = AnalyticsConfig()
    anomalies: AnomalySettings = AnomalySettings()
    trending: TrendingSettings = TrendingSettings()
    forecast: ForecastSettings = ForecastSettings()
    ltv: LtvSettings = LtvSettings()
    recommend: RecommendSettings = RecommendSettings()
    churn: ChurnSettings = ChurnSettings()
    audiences: AudienceSettings = AudienceSettings()
    experiments: ExperimentSettings = ExperimentSettings()
    order_risk: OrderRiskSettings = OrderRiskSettings()
    alerting: AlertingSettings = AlertingSettings()
    serving: ServingSettings = ServingSettings()
    reports: ReportsSettings = ReportsSettings()
    # API connections; none at all is a seller who only drops files into the inbox
    connections: list[Connection] = []  # noqa: RUF012 (pydantic)

    @field_validator("reporting_timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. 'Europe/Berlin')") from None
        return value

    @model_validator(mode="after")
    def _unique_names(self):
        seen: set[str] = set()
        for i, conn in enumerate(self.connections):
            if conn.name in seen:
                raise ValueError(f"connections[{i}].name: duplicate connection name {conn.name!r}")
            seen.add(conn.name)
        return self

    @property
    def uses_sandbox(self) -> bool:
        """Whether anything (a connection, the exchange-rate feed) talks to the sandbox."""
        return any(c.uses_sandbox for c in self.connections) or self.fx.uses_sandbox

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB warehouse file: ``$CHANNELHOUSE_WAREHOUSE`` (the one variable dbt's
        profile reads too), else ``<data_dir>/warehouse.duckdb``."""
        override = os.environ.get(WAREHOUSE_ENV)
        return Path(override) if override else self.data_dir / "warehouse.duckdb"

    def fx_file_path(self) -> Path:
        """Where a user-supplied exchange-rate file is looked for (``fx.file`` under data_dir;
        an absolute ``fx.file`` is taken as is). It need not exist."""
        return self.data_dir / self.fx.file

    @property
    def inbox_dir(self) -> Path:
        """Where sellers drop files (orders, events, costs, FX rates, SKU mappings)."""
        return self.data_dir / "inbox"

    def connection(self, name: str) -> AmazonConnection | ShopifyConnection | WalmartConnection:
        for conn in self.connections:
            if conn.name == name:
                return conn
        raise KeyError(f"no connection named {name!r} in the configuration")


def _format_errors(source: str, exc: ValidationError, raw: dict) -> str:
    lines = []
    for err in exc.errors():
        parts: list[str] = []
        node: object = raw
        for loc in err["loc"]:
            if isinstance(loc, int):
                label = f"[{loc}]"
                node = node[loc] if isinstance(node, list) and loc < len(node) else None
                if isinstance(node, dict) and "name" in node:
                    label += f" ({node['name']})"
                parts.append(label)
            elif loc in ("amazon", "shopify", "walmart") and parts and parts[-1].startswith("["):
                continue  # discriminated-union tag: the name in brackets says enough
            else:
                parts.append(("." if parts else "") + str(loc))
                node = node.get(loc) if isinstance(node, dict) else None
        where = "".join(parts) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if re.match(r"^[\w.\[\]]+: ", msg):  # a model check that names its own field
            field_name, msg = msg.split(": ", 1)
            where = f"{where}.{field_name}" if parts else field_name
        lines.append(f"{source}: {where}: {msg}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def parse_config(raw: dict, source: str = DEFAULT_CONFIG) -> ChannelHouseConfig:
    """Validate an already-loaded mapping; raises ConfigError naming each bad field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of settings")
    try:
        config = ChannelHouseConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(source, exc, raw)) from None
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        config = config.model_copy(update={"data_dir": Path(override)})
    return config


def load_config(path: str | Path | None = None) -> ChannelHouseConfig:
    """Read and validate the configuration file.

    The path is ``path``, else ``$CHANNELHOUSE_CONFIG``, else ``channelhouse.yml``;
    ``$CHANNELHOUSE_DATA_DIR`` overrides ``data_dir`` (the one variable that says where the
    data lives, shared with dbt's profile).
    """
    path = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(
            f"configuration file {path} not found (set {CONFIG_ENV} or run from the checkout)"
        ) from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(raw, str(path))
