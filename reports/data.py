"""Queries: the report's numbers, chart series and the extracts, all from the warehouse marts.

Every function takes a DuckDB connection (read-only is enough) and a Period; a missing table
(a young shop without forecasts or alerts yet) yields empty results, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from extractors.amazon.marketplaces import MARKETPLACE_BY_NAME


@dataclass(frozen=True)
class Extract:
    """A mart extract: ``sql`` may use $start/$end (the period, inclusive dates)."""

    description: str
    sql: str
    deps: tuple[str, ...]  # "schema.table" marts it reads


# Period-filtered extracts follow the period; snapshot marts (replenishment plan, inventory
# health, RFM, ABC/XYZ, open alerts, forecast) give their latest state, i.e. the state when
# the report runs (the marts keep no history of those snapshots).
EXTRACTS: dict[str, Extract] = {
    "daily_sales": Extract(
        "Net sales per day, storefront and product (analytics.daily_sales).",
        "select * from analytics.daily_sales where sales_date between $start and $end"
        " order by sales_date, channel, connection_name, storefront_id, product_id",
        ("analytics.daily_sales",),
    ),
    "daily_margin": Extract(
        "Contribution margin per day, connection and product (analytics.daily_margin).",
        "select * from analytics.daily_margin where margin_date between $start and $end"
        " order by margin_date, daily_margin_id",
        ("analytics.daily_margin",),
    ),
    "order_line_margin": Extract(
        "Order lines with fees, COGS and margin (analytics.order_line_margin).",
        "select * from analytics.order_line_margin where ordered_date between $start and $end"
        " order by ordered_date, order_line_id",
        ("analytics.order_line_margin",),
    ),
    "orders": Extract(
        "Orders (core.fct_orders).",
        "select * from core.fct_orders where ordered_date between $start and $end"
        " order by ordered_date, order_id",
        ("core.fct_orders",),
    ),
    "replenishment_plan": Extract(
        "Latest replenishment plan (analytics.replenishment_plan).",
        "select * from analytics.replenishment_plan where analysis_date ="
        " (select max(analysis_date) from analytics.replenishment_plan)"
        " order by revenue_at_risk_base desc, replenishment_plan_id",
        ("analytics.replenishment_plan",),
    ),
    "inventory_health": Extract(
        "Latest inventory health (analytics.inventory_health).",
        "select * from analytics.inventory_health where analysis_date ="
        " (select max(analysis_date) from analytics.inventory_health)"
        " order by revenue_at_risk_base desc, inventory_health_id",
        ("analytics.inventory_health",),
    ),
    "cohort_retention": Extract(
        "Monthly cohort retention (analytics.cohort_retention).",
        "select * from analytics.cohort_retention order by cohort_month, months_since_first_order",
        ("analytics.cohort_retention",),
    ),
    "account_health": Extract(
        "Weekly account health per connection (analytics.account_health).",
        "select * from analytics.account_health where week_start_date <= $end"
        " order by week_start_date, account_health_id",
        ("analytics.account_health",),
    ),
    "abc_xyz": Extract(
        "ABC/XYZ product classes (analytics.abc_xyz).",
        "select * from analytics.abc_xyz order by revenue_rank, product_id",
        ("analytics.abc_xyz",),
    ),
    "customer_rfm": Extract(
        "Customer RFM segments (analytics.customer_rfm).",
        "select * from analytics.customer_rfm order by customer_id",
        ("analytics.customer_rfm",),
    ),
    "open_alerts": Extract(
        "Open alerts (alerts.alerts).",
        "select * from alerts.alerts where status = 'open'"
        " order by severity_rank desc, alert_type, alert_id",
        ("alerts.alerts",),
    ),
    "demand_forecast": Extract(
        "Latest demand forecast (ml.demand_forecast).",
        "select * from ml.demand_forecast where forecast_date ="
        " (select max(forecast_date) from ml.demand_forecast) order by unique_id, ds",
        ("ml.demand_forecast",),
    ),
}

# Marts the summary and the charts read (besides the extracts).
SUMMARY_DEPS: tuple[str, ...] = (
    "analytics.daily_sales",
    "analytics.daily_margin",
    "core.fct_orders",
    "core.dim_products",
    "analytics.cohort_retention",
    "analytics.replenishment_plan",
    "alerts.alerts",
    "ml.forecast_history",
    "ml.demand_forecast",
)


def extract_sql(name: str, start: date, end: date) -> str:
    """The extract's SQL with the period dates inlined as DATE literals."""
    return (
        EXTRACTS[name]
        .sql.replace("$start", f"DATE '{start.isoformat()}'")
        .replace("$end", f"DATE '{end.isoformat()}'")
    )


def table_exists(con, qualified: str) -> bool:
    schema, table = qualified.split(".")
    query = "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?"
    return con.execute(query, [schema, table]).fetchall()[0][0] > 0


def _rows(con, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _num(value: Any) -> float:
    if value is None:
        return 0.0
    return float(value)


def storefront_label(channel: str, connection: str, storefront: str) -> str:
    """A readable name: 'Amazon.de (amazon_eu)', 'shopify_us'."""
    market = {mid: name for name, mid in MARKETPLACE_BY_NAME.items()}.get(storefront)
    if market:
        return f"{market} ({connection})"
    if storefront and storefront != connection:
        return f"{connection} / {storefront}"
    return connection


@dataclass
class Summary:
    """The numbers of one report period (amounts in the base currency)."""

    base_currency: str
    net_revenue: float = 0.0
    previous_net_revenue: float = 0.0
    orders: int = 0
    previous_orders: int = 0
    units: int = 0
    previous_units: int = 0
    contribution_margin: float | None = None
    costed_net_revenue: float | None = None
    new_customers: int = 0
    returning_customers: int = 0
    driver: dict[str, Any] | None = None  # storefront with the largest revenue change
    channels: list[dict[str, Any]] = field(default_factory=list)
    stock_at_risk: dict[str, Any] | None = None
    open_alerts: dict[str, int] = field(default_factory=dict)
    forecast: dict[str, Any] | None = None

    @property
    def change_pct(self) -> float | None:
        if not self.previous_net_revenue:
            return None
        return (self.net_revenue / self.previous_net_revenue - 1) * 100

    @property
    def aov(self) -> float | None:
        return self.net_revenue / self.orders if self.orders else None

    @property
    def margin_pct(self) -> float | None:
        if self.contribution_margin is None or not self.costed_net_revenue:
            return None
        return self.contribution_margin / self.costed_net_revenue * 100


def _sales_totals(con, start: date, end: date) -> tuple[float, int]:
    ((revenue, units),) = con.execute(
        "select coalesce(sum(net_revenue_base), 0), coalesce(sum(units), 0)"
        " from analytics.daily_sales where sales_date between ? and ?",
        [start, end],
    ).fetchall()
    return _num(revenue), int(units)


def _orders(con, start: date, end: date) -> int:
    ((orders,),) = con.execute(
        "select count(*) from core.fct_orders"
        " where ordered_date between ? and ? and not is_cancelled",
        [start, end],
    ).fetchall()
    return int(orders)


def summarize(con, period, base_currency: str) -> Summary:
    """The period's numbers (see reports.summary for the words)."""
    s = Summary(base_currency=base_currency)
    if table_exists(con, "analytics.daily_sales"):
        s.net_revenue, s.units = _sales_totals(con, period.start, period.end)
        s.previous_net_revenue, s.previous_units = _sales_totals(
            con, period.previous_start, period.previous_end
        )
        by_store = _rows(
            con,
            """
            select channel, connection_name, storefront_id,
                   coalesce(sum(net_revenue_base) filter (sales_date between $1 and $2), 0)
                       as revenue,
                   coalesce(sum(net_revenue_base) filter (sales_date between $3 and $4), 0)
                       as previous_revenue
            from analytics.daily_sales
            where sales_date between $1 and $2 or sales_date between $3 and $4
            group by all
            order by abs(revenue - previous_revenue) desc, channel, connection_name,
                     storefront_id
            """,
            [period.start, period.end, period.previous_start, period.previous_end],
        )
        if by_store:
            top = by_store[0]
            s.driver = {
                "label": storefront_label(
                    top["channel"], top["connection_name"], top["storefront_id"]
                ),
                "change": _num(top["revenue"]) - _num(top["previous_revenue"]),
            }
        channels: dict[str, dict[str, Any]] = {}
        for row in by_store:  # per channel: the storefronts' sums
            ch = channels.setdefault(
                row["channel"], {"channel": row["channel"], "revenue": 0, "previous_revenue": 0}
            )
            ch["revenue"] += row["revenue"]
            ch["previous_revenue"] += row["previous_revenue"]
        s.channels = sorted(channels.values(), key=lambda c: (-_num(c["revenue"]), c["channel"]))
    if table_exists(con, "core.fct_orders"):
        s.orders = _orders(con, period.start, period.end)
        s.previous_orders = _orders(con, period.previous_start, period.previous_end)
        ((new, returning),) = con.execute(
            """
            select count(distinct customer_id) filter (is_first_order),
                   count(distinct customer_id) filter (not is_first_order)
            from core.fct_orders
            where ordered_date between ? and ? and not is_cancelled
              and customer_id is not null
            """,
            [period.start, period.end],
        ).fetchall()
        s.new_customers, s.returning_customers = int(new), int(returning)
    if table_exists(con, "analytics.daily_margin"):
        ((margin, costed, lines),) = con.execute(
            "select sum(contribution_margin_base), sum(costed_net_revenue_base), count(*)"
            " from analytics.daily_margin where margin_date between ? and ?",
            [period.start, period.end],
        ).fetchall()
        if lines:
            s.contribution_margin, s.costed_net_revenue = _num(margin), _num(costed)
    s.stock_at_risk = stock_at_risk_totals(con)
    if table_exists(con, "alerts.alerts"):
        s.open_alerts = {
            r["severity"]: int(r["n"])
            for r in _rows(
                con,
                "select severity, count(*) as n from alerts.alerts where status = 'open'"
                " group by all order by max(severity_rank) desc",
            )
        }
    s.forecast = forecast_vs_actual_totals(con, period)
    return s


def stock_at_risk_totals(con) -> dict[str, Any] | None:
    if not table_exists(con, "analytics.replenishment_plan"):
        return None
    ((analysis_date, order_now, order_soon, out_of_stock, at_risk),) = con.execute(
        """
        select max(analysis_date),
               count(*) filter (replenishment_status = 'order_now'),
               count(*) filter (replenishment_status = 'order_soon'),
               count(*) filter (is_out_of_stock),
               coalesce(sum(revenue_at_risk_base), 0)
        from analytics.replenishment_plan
        where analysis_date = (select max(analysis_date) from analytics.replenishment_plan)
        """
    ).fetchall()
    if analysis_date is None:
        return None
    return {
        "analysis_date": analysis_date,
        "order_now": int(order_now),
        "order_soon": int(order_soon),
        "out_of_stock": int(out_of_stock),
        "revenue_at_risk": _num(at_risk),
    }


def forecast_vs_actual_totals(con, period) -> dict[str, Any] | None:
    """Forecast units (total series 'all|all', the latest forecast made before each day)
    vs actual units over the days of the period that a forecast covered."""
    if not (
        table_exists(con, "ml.forecast_history") and table_exists(con, "analytics.daily_sales")
    ):
        return None
    ((days, forecast, actual),) = con.execute(
        """
        with f as (
            select cast(ds as date) as day, arg_max(yhat, forecast_date) as yhat
            from ml.forecast_history
            where unique_id = 'all|all' and cast(ds as date) between $1 and $2
              and cast(forecast_date as date) <= cast(ds as date)
            group by all
        ), a as (
            select sales_date as day, sum(units) as units from analytics.daily_sales
            where sales_date between $1 and $2 group by all
        )
        select count(*), sum(f.yhat), coalesce(sum(a.units), 0)
        from f left join a using (day)
        """,
        [period.start, period.end],
    ).fetchall()
    if not days:
        return None
    return {"days": int(days), "forecast_units": _num(forecast), "actual_units": _num(actual)}


# --- chart series -------------------------------------------------------------------------


def revenue_by_channel(con, period, periods: int) -> list[dict[str, Any]]:
    """Net revenue per channel and bucket (week, or month for monthly reports) over the
    ``periods`` buckets ending with the report period."""
    if not table_exists(con, "analytics.daily_sales"):
        return []
    unit = "month" if period.cadence == "monthly" else "week"
    return _rows(
        con,
        f"""
        select date_trunc('{unit}', sales_date)::date as bucket, channel,
               sum(net_revenue_base)::double as revenue
        from analytics.daily_sales
        where sales_date <= $1
          and date_trunc('{unit}', sales_date) > date_trunc('{unit}', $1::date)
                                                 - interval {periods} {unit}
        group by all order by bucket, channel
        """,
        [period.end],
    )


def product_revenue(con, period, n: int) -> tuple[list[dict], list[dict]]:
    """Top and bottom ``n`` products by net revenue in the period (products that sold)."""
    if not table_exists(con, "analytics.daily_sales"):
        return [], []
    title = (
        "coalesce(p.product_title, s.product_id)"
        if table_exists(con, "core.dim_products")
        else "s.product_id"
    )
    join = (
        "left join core.dim_products p using (product_id)"
        if table_exists(con, "core.dim_products")
        else ""
    )
    rows = _rows(
        con,
        f"""
        select s.product_id, any_value({title}) as title,
               sum(s.net_revenue_base)::double as revenue, sum(s.units) as units
        from analytics.daily_sales s {join}
        where s.sales_date between ? and ? and s.product_id is not null
        group by all having sum(s.units) > 0
        order by revenue desc, s.product_id
        """,
        [period.start, period.end],
    )
    top = rows[:n]
    bottom = [r for r in rows[::-1] if r not in top][:n]
    return top, bottom


def cohort_matrix(con) -> list[dict[str, Any]]:
    if not table_exists(con, "analytics.cohort_retention"):
        return []
    return _rows(
        con,
        "select cohort_month, months_since_first_order, retention_rate, cohort_size"
        " from analytics.cohort_retention order by cohort_month, months_since_first_order",
    )


def stock_at_risk_products(con, n: int = 10) -> list[dict[str, Any]]:
    if not table_exists(con, "analytics.replenishment_plan"):
        return []
    return _rows(
        con,
        """
        select coalesce(product_title, product_id) as title,
               sum(revenue_at_risk_base)::double as at_risk,
               min(days_of_cover) as days_of_cover
        from analytics.replenishment_plan
        where analysis_date = (select max(analysis_date) from analytics.replenishment_plan)
        group by all having sum(revenue_at_risk_base) > 0
        order by at_risk desc, title limit ?
        """,
        [n],
    )


def forecast_series(con, period, days_back: int = 56) -> dict[str, list[dict[str, Any]]]:
    """Daily actual units (the ``days_back`` days up to the period end) and the total
    forecast ('all|all', latest forecast per day) over the same days and up to 28 days on."""
    out: dict[str, list[dict[str, Any]]] = {"actual": [], "forecast": []}
    if table_exists(con, "analytics.daily_sales"):
        out["actual"] = _rows(
            con,
            "select sales_date as day, sum(units)::double as units from analytics.daily_sales"
            " where sales_date between $1::date - $2::integer and $1 group by all order by day",
            [period.end, days_back - 1],
        )
    if table_exists(con, "ml.forecast_history"):
        out["forecast"] = _rows(
            con,
            """
            select cast(ds as date) as day, arg_max(yhat, forecast_date) as yhat,
                   arg_max(yhat_lo_95, forecast_date) as lo,
                   arg_max(yhat_hi_95, forecast_date) as hi
            from ml.forecast_history
            where unique_id = 'all|all'
              and cast(ds as date) between $1::date - $2::integer and $1::date + 28
            group by all order by day
            """,
            [period.end, days_back - 1],
        )
    return out


EXPERIMENTS_TABLE = "analytics.experiment_results"
EXPERIMENT_METRICS_SHOWN = ("conversion_rate", "revenue_per_unit", "aov")


def experiments_in_period(con, period) -> list[dict[str, Any]]:
    """The experiments that exposed units during ``period``: per experiment, treatment variant
    and headline metric (conversion rate, revenue per unit, AOV) the units, the value beside
    control's, the relative lift with its 95% interval, the always-valid p-value and the
    decision (``analytics.experiment_results``). Empty when no experiment ran or the table
    is not built."""
    if not table_exists(con, EXPERIMENTS_TABLE):
        return []
    return _rows(
        con,
        "select experiment_id, variant, metric, units, value, control_value, rel_lift, "
        "rel_lift_ci_low, rel_lift_ci_high, always_valid_p_value, is_srm, decision "
        f"from {EXPERIMENTS_TABLE} where not is_control and metric in "
        f"({', '.join(repr(m) for m in EXPERIMENT_METRICS_SHOWN)}) "
        "and first_exposure_date <= ? and last_exposure_date >= ? "
        "order by experiment_id, variant, "
        f"list_position({list(EXPERIMENT_METRICS_SHOWN)}, metric)",
        [period.end, period.start],
    )


LTV_HOLDOUT_TABLE = "ml.ltv_value_holdout"


def ltv_value_holdout(con) -> list[dict[str, Any]]:
    """Lifetime value tested against what happened (``ml.ltv_value_holdout``): per holdout
    horizon, the total and every decile of predicted value (decile 1 = the highest), the
    predicted and actual revenue of those customers and the error. Empty when not built."""
    if not table_exists(con, LTV_HOLDOUT_TABLE):
        return []
    return _rows(
        con,
        "select horizon_days, bucket, n_customers, predicted_value, actual_value, error_pct, "
        f"calibration_end, holdout_end from {LTV_HOLDOUT_TABLE} "
        "order by horizon_days, bucket <> 'total', bucket",
    )
