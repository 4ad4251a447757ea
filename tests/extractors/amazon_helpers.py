"""Shared by the Amazon SP-API tests (test_amazon_*.py): a fast retry policy, the extractor
against the sandbox, recent days, the lake's rows and totals, and the simulated business's
truth to compare them with."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from extractors.amazon import AmazonExtractor
from extractors.http import RetrySettings
from orchestration.config import resolve_secrets
from sandbox.server import SandboxServer

FAST_RETRY = RetrySettings(
    max_attempts=6, backoff_base_s=0.05, backoff_max_s=0.5, read_timeout_s=10.0
)
US, CA = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"


def make_extractor(
    config, sandbox, name: str = "amazon_na", retry: RetrySettings = FAST_RETRY
) -> AmazonExtractor:
    conn = config.connection(name)
    return AmazonExtractor(conn, resolve_secrets(conn), sandbox_url=sandbox.url, retry=retry)


def today() -> date:
    return datetime.now(UTC).date()


def last_days(n: int, end: date | None = None) -> list[date]:
    end = end or today()
    return [end - timedelta(days=i) for i in range(n - 1, -1, -1)]


def lake(root: Path, connection: str, entity: str, area: str = "raw") -> pl.DataFrame:
    files = sorted(
        (root / area / "channel=amazon" / f"connection={connection}" / f"entity={entity}").glob(
            "date=*/part-0.parquet"
        )
    )
    frames = [pl.read_parquet(f, hive_partitioning=False) for f in files]
    return pl.concat(frames) if frames else pl.DataFrame()


def lake_totals(root: Path, connection: str) -> pl.DataFrame:
    """The latest version of each order (by update time) with its items, summed per
    marketplace and UTC purchase date, as the warehouse would."""
    orders = (
        lake(root, connection, "orders")
        .sort("last_updated_at")
        .unique("amazon_order_id", keep="last")
    )
    items = lake(root, connection, "order_items").join(
        orders.select(
            "amazon_order_id",
            pl.col("last_updated_at").alias("order_last_updated_at"),
            "purchased_at",
            "order_status",
        ),
        on=["amazon_order_id", "order_last_updated_at"],
        how="inner",
    )
    per_order = orders.group_by(
        "marketplace_id", pl.col("purchased_at").dt.date().alias("purchase_date")
    ).agg(
        pl.len().cast(pl.Int64).alias("orders"),
        (pl.col("order_status") == "Pending").any().alias("has_pending"),
    )
    per_line = items.group_by(
        pl.col("purchased_at").dt.date().alias("purchase_date"), "marketplace_id"
    ).agg(
        pl.len().cast(pl.Int64).alias("lines"),
        pl.col("quantity_ordered").sum().alias("units"),
        pl.col("item_price").cast(pl.Float64).sum().round(2).alias("gross"),
    )
    return per_order.join(per_line, on=["marketplace_id", "purchase_date"], how="left")


def truth(sandbox: SandboxServer, at: datetime, account: str = "amazon_na") -> pl.DataFrame:
    return sandbox.state.business.ground_truth(at, account).select(
        "marketplace_id", "purchase_date", "orders", "lines", "units", "gross"
    )


def pairs_with_sales_data(
    sandbox: SandboxServer, days: list[date], now: datetime, account: str = "amazon_na"
) -> set[tuple[str, date]]:
    """The (marketplace, day) pairs of ``days`` whose Sales & Traffic report has data at ``now``:
    an order placed by then, or traffic on a day before today. The sandbox cancels the report
    of any other pair (a quiet marketplace on a quiet day), so it has no row."""
    b = sandbox.state.business
    ordered = truth(sandbox, now, account).filter(pl.col("purchase_date").is_in(days))
    visited = b.traffic_daily.filter(
        (pl.col("account") == account) & pl.col("date").is_in(days) & (pl.col("date") < now.date())
    )
    return {
        *ordered.select("marketplace_id", "purchase_date").iter_rows(),
        *visited.select("marketplace_id", "date").iter_rows(),
    }


def api_end(run) -> datetime:
    """What the extraction asked for: LastUpdatedBefore, whole seconds."""
    return run.window.end.replace(microsecond=0)


def assert_matches_truth(root: Path, sandbox: SandboxServer, run, first_day: date,
                         account: str = "amazon_na") -> int:  # fmt: skip
    got = lake_totals(root, account).filter(pl.col("purchase_date") >= first_day)
    want = truth(sandbox, api_end(run), account).filter(pl.col("purchase_date") >= first_day)
    joined = want.join(
        got, on=["marketplace_id", "purchase_date"], how="full", suffix="_lake", coalesce=True
    ).sort("marketplace_id", "purchase_date")
    for column in ("orders", "lines", "units"):
        bad = joined.filter(
            pl.col(column)
            != pl.col(f"{column}_lake")
            | pl.col(f"{column}_lake").is_null()
            | pl.col(column).is_null()
        )
        assert bad.is_empty(), f"{column} differs from the business:\n{bad}"
    priced = joined.filter(~pl.col("has_pending"))  # pending orders have no prices yet
    bad = priced.filter((pl.col("gross") - pl.col("gross_lake")).abs() > 0.005)
    assert bad.is_empty(), f"gross differs from the business:\n{bad}"
    return int(joined["orders"].sum())
