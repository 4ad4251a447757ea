"""Charts (matplotlib, Agg backend) as PNG bytes; empty data gives a chart that says so."""

from __future__ import annotations

import io
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

DPI = 110
SIZE = (9.0, 3.6)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    # No "Software"/date metadata: the same data gives the same bytes.
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def _empty(title: str, message: str) -> bytes:
    fig, ax = plt.subplots(figsize=SIZE)
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, color="dimgray")
    ax.set_axis_off()
    return _png(fig)


def revenue_by_channel_chart(rows: list[dict], currency: str, unit: str) -> bytes:
    title = f"Net revenue by channel per {unit} ({currency})"
    if not rows:
        return _empty(title, "No sales in this window yet")
    buckets = sorted({r["bucket"] for r in rows})
    series: dict[str, dict] = defaultdict(dict)
    for r in rows:
        series[r["channel"]][r["bucket"]] = r["revenue"] or 0.0
    fig, ax = plt.subplots(figsize=SIZE)
    bottom = [0.0] * len(buckets)
    for channel in sorted(series):
        values = [series[channel].get(b, 0.0) for b in buckets]
        ax.bar(buckets, values, bottom=bottom, label=channel, width=5 if unit == "week" else 20)
        bottom = [a + b for a, b in zip(bottom, values, strict=True)]
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=min(len(series), 5))
    ax.grid(axis="y", alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)


def top_bottom_chart(top: list[dict], bottom: list[dict], currency: str) -> bytes:
    title = f"Top and bottom products by net revenue ({currency})"
    if not top:
        return _empty(title, "No product sales in this period")
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 4.2))
    for ax, rows, name, color in (
        (axes[0], top, "Top", "tab:green"),
        (axes[1], bottom, "Bottom", "tab:red"),
    ):
        if not rows:
            ax.text(0.5, 0.5, "-", ha="center")
            ax.set_axis_off()
            continue
        labels = [str(r["title"])[:28] for r in rows][::-1]
        ax.barh(labels, [r["revenue"] for r in rows][::-1], color=color)
        ax.set_title(name, fontsize=10)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return _png(fig)


def cohort_heatmap(rows: list[dict]) -> bytes:
    title = "Cohort retention (share of each first-order month's customers active)"
    if not rows:
        return _empty(title, "No cohorts yet")
    cohorts = sorted({r["cohort_month"] for r in rows})
    ages = sorted({r["months_since_first_order"] for r in rows})
    grid = [[float("nan")] * len(ages) for _ in cohorts]
    for r in rows:
        grid[cohorts.index(r["cohort_month"])][ages.index(r["months_since_first_order"])] = (
            r["retention_rate"] if r["retention_rate"] is not None else float("nan")
        )
    # month 0 is 100% by definition: the colour scale spans the later months, so their
    # differences show (month 0 is drawn at the top of the scale)
    later = [v for line in grid for v in line[1:] if v == v]
    top = max(later, default=1.0) or 1.0
    fig, ax = plt.subplots(figsize=(9.0, 0.45 * len(cohorts) + 1.6))
    image = ax.imshow(grid, cmap="Blues", vmin=0, vmax=top, aspect="auto")
    ax.set_xticks(range(len(ages)), [str(a) for a in ages])
    ax.set_yticks(range(len(cohorts)), [f"{c:%Y-%m}" for c in cohorts])
    ax.set_xlabel("months since first order")
    for i, line in enumerate(grid):
        for j, value in enumerate(line):
            if value == value:  # not NaN
                ax.text(
                    j,
                    i,
                    f"{value:.0%}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if value > 0.6 * top else "black",
                )
    fig.colorbar(image, ax=ax, fraction=0.03)
    ax.set_title(title)
    fig.tight_layout()
    return _png(fig)


def stock_at_risk_chart(rows: list[dict], currency: str) -> bytes:
    title = f"Stock at risk: revenue at risk by product ({currency})"
    if not rows:
        return _empty(title, "No product with revenue at risk")
    fig, ax = plt.subplots(figsize=SIZE)
    labels = [str(r["title"])[:34] for r in rows][::-1]
    ax.barh(labels, [r["at_risk"] for r in rows][::-1], color="tab:orange")
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def forecast_chart(series: dict[str, list[dict]], period_start, period_end) -> bytes:
    title = "Forecast vs actual: units per day (all products and channels)"
    actual, forecast = series["actual"], series["forecast"]
    if not actual and not forecast:
        return _empty(title, "No sales and no demand forecast yet")
    fig, ax = plt.subplots(figsize=SIZE)
    if actual:
        ax.plot(
            [r["day"] for r in actual], [r["units"] for r in actual], label="actual", color="black"
        )
    if forecast:
        days = [r["day"] for r in forecast]
        ax.plot(
            days, [r["yhat"] for r in forecast], label="forecast", color="tab:blue", linestyle="--"
        )
        ax.fill_between(
            days,
            [r["lo"] for r in forecast],
            [r["hi"] for r in forecast],
            color="tab:blue",
            alpha=0.15,
            label="95% interval",
        )
    else:
        ax.text(
            0.5,
            0.92,
            "No demand forecast yet",
            transform=ax.transAxes,
            ha="center",
            color="dimgray",
        )
    ax.axvspan(period_start, period_end, color="gold", alpha=0.15, label="report period")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)
