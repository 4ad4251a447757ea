"""The plain-language paragraph of a report and its KPI table."""

from __future__ import annotations

from reports.data import Summary


def money(value: float, currency: str) -> str:
    return f"{value:,.0f} {currency}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"


def _change(now: float, before: float) -> float | None:
    return (now / before - 1) * 100 if before else None


def summary_text(s: Summary, period) -> str:
    """E.g. 'Net revenue 41,200 USD, down 6% week on week (43,830 USD), driven by
    Amazon.de (amazon_eu) (-2,100 USD). ...'."""
    cur = s.base_currency
    sentences: list[str] = []
    if not s.net_revenue and not s.previous_net_revenue and not s.orders:
        return (
            f"No sales were recorded for {period.description}. "
            "Check that the marketplace connections synced (alerts list stale data)."
        )
    head = f"Net revenue {money(s.net_revenue, cur)}"
    change = s.change_pct
    if change is None:
        head += f", no sales in the comparison period to compare with ({period.comparison})"
    else:
        direction = "up" if change > 0 else "down" if change < 0 else "flat"
        digits = 1 if abs(change) < 10 else 0  # "down 0.3%", not "down 0%"
        amount = f" {abs(change):.{digits}f}%" if direction != "flat" else ""
        head += (
            f", {direction}{amount} {period.comparison} (from {money(s.previous_net_revenue, cur)})"
        )
        if s.driver and abs(s.driver["change"]) >= 0.5:
            sign = "+" if s.driver["change"] > 0 else "-"
            head += f", driven by {s.driver['label']} ({sign}{money(abs(s.driver['change']), cur)})"
    sentences.append(head + ".")
    orders = f"{s.orders:,} orders"
    if s.aov is not None:
        orders += f" at an average order value of {s.aov:,.2f} {cur}"
    orders += f", {s.units:,} units sold"
    orders += f"; {s.new_customers:,} new and {s.returning_customers:,} returning customers."
    sentences.append(orders[0].upper() + orders[1:])
    if s.contribution_margin is not None:
        margin = f"Contribution margin {money(s.contribution_margin, cur)}"
        if s.margin_pct is not None:
            margin += f" ({s.margin_pct:.1f}% of costed net revenue)"
        sentences.append(margin + ".")
    if s.stock_at_risk:
        r = s.stock_at_risk
        sentences.append(
            f"Stock: {r['order_now']:,} product locations to reorder now,"
            f" {r['order_soon']:,} soon, {r['out_of_stock']:,} out of stock;"
            f" {money(r['revenue_at_risk'], cur)} revenue at risk"
            f" (plan of {r['analysis_date']:%d %b %Y})."
        )
    if s.open_alerts:
        parts = ", ".join(f"{n:,} {sev}" for sev, n in s.open_alerts.items())
        sentences.append(f"Open alerts: {parts}.")
    else:
        sentences.append("No open alerts.")
    if s.forecast:
        f = s.forecast
        err = _change(f["actual_units"], f["forecast_units"])
        sentences.append(
            f"Forecast vs actual over {f['days']} forecast day(s): {f['forecast_units']:,.0f}"
            f" units forecast, {f['actual_units']:,.0f} sold ({_pct(err)})."
        )
    else:
        sentences.append("No demand forecast covered this period yet.")
    return " ".join(sentences)


def kpi_rows(s: Summary) -> list[tuple[str, str, str, str]]:
    """(metric, this period, previous period, change) rows of the KPI table."""
    cur = s.base_currency
    prev_aov = s.previous_net_revenue / s.previous_orders if s.previous_orders else None
    rows = [
        (
            f"Net revenue ({cur})",
            f"{s.net_revenue:,.0f}",
            f"{s.previous_net_revenue:,.0f}",
            _pct(s.change_pct),
        ),
        (
            "Orders",
            f"{s.orders:,}",
            f"{s.previous_orders:,}",
            _pct(_change(s.orders, s.previous_orders)),
        ),
        (
            f"Average order value ({cur})",
            "n/a" if s.aov is None else f"{s.aov:,.2f}",
            "n/a" if prev_aov is None else f"{prev_aov:,.2f}",
            _pct(_change(s.aov, prev_aov) if s.aov and prev_aov else None),
        ),
        (
            "Units",
            f"{s.units:,}",
            f"{s.previous_units:,}",
            _pct(_change(s.units, s.previous_units)),
        ),
    ]
    if s.contribution_margin is not None:
        rows.append(
            (
                f"Contribution margin ({cur})",
                f"{s.contribution_margin:,.0f}",
                "",
                "" if s.margin_pct is None else f"{s.margin_pct:.1f}% margin",
            )
        )
    rows.append(
        ("New / returning customers", f"{s.new_customers:,} / {s.returning_customers:,}", "", "")
    )
    for ch in s.channels:
        rows.append(
            (
                f"  {ch['channel']} ({cur})",
                f"{float(ch['revenue']):,.0f}",
                f"{float(ch['previous_revenue']):,.0f}",
                _pct(_change(float(ch["revenue"]), float(ch["previous_revenue"]))),
            )
        )
    return rows
