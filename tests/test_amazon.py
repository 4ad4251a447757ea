"""Amazon SP-API: the emulator's wire format and the extractor against it, over real HTTP.

Every test extracts through the sandbox and checks the lake (or the result) against the
simulated business, so a lost page, a doubled order or a wrong sum fails.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
import requests

from extractors import amazon
from extractors.amazon import AmazonExtractor
from extractors.base import Window
from extractors.config import resolve_secrets
from extractors.http import ApiError, RetrySettings
from extractors.runner import SAFETY_LAG, run_stream
from sandbox.amazon import orders as amazon_orders
from sandbox.amazon import reports as amazon_reports
from sandbox.server import SANDBOX_CREDENTIALS, Fault, SandboxServer

FAST_RETRY = RetrySettings(
    max_attempts=6, backoff_base_s=0.05, backoff_max_s=0.5, read_timeout_s=10.0
)
US, CA = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"


def make_extractor(
    config, sandbox, name: str = "amazon_na", retry: RetrySettings = FAST_RETRY
) -> AmazonExtractor:
    conn = config.connection(name)
    return AmazonExtractor(conn, resolve_secrets(conn), sandbox_url=sandbox.url, retry=retry)


@pytest.fixture
def na(config, sandbox, sandbox_env) -> AmazonExtractor:
    return make_extractor(config, sandbox)


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


# ---------------------------------------------------------------------------------------------
# Orders
# ---------------------------------------------------------------------------------------------
def quiet_moment(sandbox: SandboxServer, account: str) -> datetime:
    """The latest moment with no event of ``account``'s orders in the safety lag before it.

    An order updated inside the lag is in neither the run that ends before the update nor
    the truth computed at that end, so a truth comparison freezes the clock at such a moment.
    """
    b = sandbox.state.business
    orders = b.orders.filter(pl.col("account") == account)
    events = (
        pl.concat(
            [
                orders.select(pl.col(c).alias("at"))
                for c in ("purchased_at", "shipped_at", "delivered_at", "cancelled_at")
            ]
            + [
                b.refunds.join(orders, on="order_key", how="semi").select(
                    pl.col("refunded_at").alias("at")
                )
            ]
        )
        .drop_nulls()["at"]
        .sort()
        .to_list()
    )
    moment = datetime.now(UTC) - timedelta(seconds=5)
    while True:
        inside = [e for e in events if moment - SAFETY_LAG - timedelta(seconds=2) < e <= moment]
        if not inside:
            return moment
        moment = inside[0] - timedelta(microseconds=1)


@pytest.mark.calendar
def test_orders_every_page_and_item_page_lands_and_matches_the_business(
    na, sandbox, tmp_path, monkeypatch
):
    monkeypatch.setattr(amazon_orders, "ORDER_ITEMS_PAGE_SIZE", 1)  # multi-line orders: 2+ pages
    frozen = quiet_moment(sandbox, "amazon_na")
    monkeypatch.setattr(sandbox.state, "clock", lambda: frozen)
    days = last_days(14, frozen.date())
    run = run_stream(na, "orders", tmp_path, days=days, now=frozen)
    n_orders = assert_matches_truth(tmp_path, sandbox, run, days[0])
    assert n_orders > amazon.ORDERS_PAGE_SIZE  # so getOrders had to follow NextToken
    items = lake(tmp_path, "amazon_na", "order_items")
    multi = items.group_by("amazon_order_id").len().filter(pl.col("len") > 1)
    assert multi.height > 0  # ... and getOrderItems too
    assert run.quarantined == 0 and run.stats.pages > n_orders
    orders = lake(tmp_path, "amazon_na", "orders")
    assert set(orders["marketplace_id"]) == {US, CA}
    assert orders["amazon_order_id"].str.contains(r"^\d{3}-\d{7}-\d{7}$").all()
    assert set(orders["order_status"]) <= {"Pending", "Unshipped", "Shipped", "Canceled"}
    assert set(orders["fulfillment_channel"]) == {"AFN", "MFN"}
    assert orders["buyer_email"].drop_nulls().str.ends_with("@marketplace.amazon.com").all()
    shipped = orders.filter(pl.col("order_status") == "Shipped")
    assert (shipped["ship_country"].is_in(["US", "CA"])).all()
    assert (shipped["number_of_items_unshipped"] == 0).all()
    assert orders.schema["order_total_amount"] == pl.Decimal(18, 4)


@pytest.mark.calendar
def test_a_late_refund_of_an_old_order_is_picked_up_by_the_next_run_of_today(na, sandbox, tmp_path):
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    days = last_days((today() - at.date()).days + 1)
    keys = sandbox.state.business.apply_late_update("amazon_na", 2, at)
    assert len(keys) == 2
    ids = sandbox.state.business.orders.filter(pl.col("order_key").is_in(keys))
    run_stream(na, "orders", tmp_path, days=days)
    orders = lake(tmp_path, "amazon_na", "orders").filter(
        pl.col("amazon_order_id").is_in(ids["channel_order_id"].to_list())
    )
    assert orders.height == 2
    assert (orders["last_updated_at"] == at).all()
    assert (orders["purchased_at"] < at - timedelta(days=60)).all()
    items = lake(tmp_path, "amazon_na", "order_items").filter(
        pl.col("amazon_order_id").is_in(orders["amazon_order_id"].to_list())
    )
    assert items.height >= 2 and (items["order_last_updated_at"] == at).all()
    run_stream(na, "financial_events", tmp_path, days=days)
    refunds = lake(tmp_path, "amazon_na", "financial_events").filter(
        (pl.col("event_type") == "Refund") & (pl.col("posted_at") == at)
    )
    assert set(refunds["amazon_order_id"]) == set(orders["amazon_order_id"])
    assert (refunds["amount"] < 0).all()


@pytest.mark.calendar
def test_a_pending_order_keeps_its_lines_with_null_money(na, sandbox, monkeypatch):
    monkeypatch.setattr(amazon_orders, "PENDING_FOR", timedelta(days=3650))  # everything pending
    result = na.extract(
        "orders",
        Window.for_days(today() - timedelta(days=3), today()).clamp_end(
            datetime.now(UTC) - SAFETY_LAG
        ),
    )
    items = result.rows["order_items"]
    assert items and all(i["item_price"] is None and i["item_tax"] is None for i in items)
    assert all(i["quantity_ordered"] >= 1 and i["asin"] for i in items)


def test_a_malformed_order_and_item_land_in_quarantine_with_the_field_named(
    na, sandbox, tmp_path, monkeypatch
):
    serve_order, serve_item = amazon_orders._order_json, amazon_orders._order_item_json
    broken: dict[str, str] = {}

    def bad_order(row: dict) -> dict:
        order = serve_order(row)
        if not broken.get("order"):
            broken["order"] = order["AmazonOrderId"]
            order["PurchaseDate"] = "yesterday-ish"
        return order

    def bad_item(item: dict, pending: bool, shipped: bool) -> dict:
        served = serve_item(item, pending, shipped)
        if not broken.get("item"):
            broken["item"] = served["OrderItemId"]
            served["QuantityOrdered"] = "two"
        return served

    monkeypatch.setattr(amazon_orders, "_order_json", bad_order)
    monkeypatch.setattr(amazon_orders, "_order_item_json", bad_item)
    run = run_stream(na, "orders", tmp_path, days=last_days(3))
    assert run.quarantined == 2
    quarantine = pl.concat(
        [lake(tmp_path, "amazon_na", e, "quarantine") for e in ("orders", "order_items")]
    )
    reasons = dict(zip(quarantine["entity"], quarantine["reason"], strict=True))
    assert "PurchaseDate" in reasons["orders"] and "QuantityOrdered" in reasons["order_items"]
    assert broken["order"] in quarantine.filter(pl.col("entity") == "orders")["record"][0]
    orders = lake(tmp_path, "amazon_na", "orders")
    assert broken["order"] not in orders["amazon_order_id"].to_list() and orders.height > 10


# ---------------------------------------------------------------------------------------------
# Failures: throttling, tokens, server errors, timeouts, truncation, the retry budget
# ---------------------------------------------------------------------------------------------
def short_window() -> Window:
    return Window.for_days(today() - timedelta(days=2), today()).clamp_end(
        datetime.now(UTC) - SAFETY_LAG
    )


def test_a_429_storm_is_waited_out(na, sandbox):
    clean = na.extract("orders", short_window())
    sandbox.state.faults.add(Fault("amazon", "throttle", count=5, path="/orderItems$"))
    result = na.extract("orders", short_window())
    assert result.stats.throttled >= 5
    assert len(result.rows["order_items"]) == len(clean.rows["order_items"])


def test_real_bucket_exhaustion_in_the_realistic_profile(config, sandbox, sandbox_env):
    with SandboxServer(rate_limits="realistic", business=sandbox.state.business) as slow:
        extractor = make_extractor(config, slow)
        result = extractor.extract("inventory", None)
    # getInventorySummaries: 2 requests/s, burst 2; six pages for the two marketplaces
    assert result.stats.pages >= 4 and result.stats.throttled >= 1
    assert 0.4 <= result.stats.wait_seconds < 10
    fast = make_extractor(config, sandbox).extract("inventory", None)
    assert len(result.rows["inventory_summaries"]) == len(fast.rows["inventory_summaries"])


def test_an_expired_token_mid_run_is_refreshed(na, sandbox):
    na.extract("financial_events", short_window())  # holds a token now
    sandbox.state.faults.add(Fault("amazon", "expire_tokens", path="/orderItems$"))
    result = na.extract("orders", short_window())
    assert result.stats.token_refreshes >= 1 and not sandbox.state.faults.pending
    assert result.rows["order_items"]


@pytest.mark.calendar
def test_server_errors_are_retried(na, sandbox):
    sandbox.state.faults.add(
        Fault("amazon", "server_error", count=2, status=503, path="/orders/v0/orders$")
    )
    sandbox.state.faults.add(Fault("amazon", "server_error", count=2, path="/reports/"))
    assert na.extract("orders", short_window()).stats.retries >= 2
    days = last_days(2, today() - timedelta(days=1))
    expected = pairs_with_sales_data(sandbox, days, datetime.now(UTC))
    result = na.extract("sales_traffic", Window.for_days(days[0], days[-1]))
    assert result.stats.retries >= 2 and expected
    assert len(result.rows["sales_traffic_by_date"]) == len(expected)


def test_a_response_slower_than_the_read_timeout_is_retried(config, sandbox, sandbox_env):
    extractor = make_extractor(config, sandbox, retry=replace(FAST_RETRY, read_timeout_s=0.5))
    sandbox.state.faults.add(Fault("amazon", "slow", delay_s=1.5, path="/financialEvents$"))
    result = extractor.extract("financial_events", short_window())
    assert result.stats.retries >= 1 and result.rows["financial_events"]


def test_truncated_pages_and_documents_are_retried(na, sandbox):
    clean = na.extract("financial_events", short_window())
    sandbox.state.faults.add(Fault("amazon", "truncate", path="/financialEvents$"))
    result = na.extract("financial_events", short_window())
    assert result.stats.retries >= 1
    assert len(result.rows["financial_events"]) == len(clean.rows["financial_events"])
    sandbox.state.faults.add(Fault("amazon", "truncate", path="/_documents/"))
    listings = na.extract("listings", None)
    assert listings.stats.retries >= 1 and listings.rows["listings"]


def test_an_exhausted_retry_budget_names_connection_and_endpoint_without_secrets(
    config, sandbox, sandbox_env
):
    extractor = make_extractor(config, sandbox, retry=replace(FAST_RETRY, max_attempts=3))
    sandbox.state.faults.add(Fault("amazon", "server_error", count=50, path="/orders/v0/orders$"))
    with pytest.raises(ApiError) as caught:
        extractor.extract("orders", short_window())
    message = str(caught.value)
    assert "amazon_na" in message and "getOrders" in message and "HTTP 500" in message
    for secret in sandbox_env.values():
        assert secret not in message


def test_wrong_credentials_fail_with_the_lwa_error_and_no_secret(config, sandbox, sandbox_env):
    conn = config.connection("amazon_na")
    secrets = {**resolve_secrets(conn), "refresh_token": "Atzr|not-the-right-one-123"}
    extractor = AmazonExtractor(conn, secrets, sandbox_url=sandbox.url, retry=FAST_RETRY)
    with pytest.raises(ApiError, match="invalid_grant") as caught:
        extractor.extract("inventory", None)
    assert "not-the-right-one" not in str(caught.value)


def test_another_accounts_marketplace_is_refused(config, sandbox, sandbox_env):
    eu = config.connection("amazon_eu")
    stolen = eu.model_copy(update={"secrets": config.connection("amazon_na").secrets})
    extractor = AmazonExtractor(
        stolen, resolve_secrets(stolen), sandbox_url=sandbox.url, retry=FAST_RETRY
    )
    with pytest.raises(ApiError, match="InvalidInput") as caught:
        extractor.extract("orders", short_window())
    assert caught.value.status == 400


def test_no_secret_in_the_logs(config, sandbox, sandbox_env, caplog):
    caplog.set_level(logging.DEBUG)
    sandbox.state.faults.add(Fault("amazon", "expire_tokens", path="/orderItems$"))
    sandbox.state.faults.add(Fault("amazon", "server_error", path="/orderItems$"))
    result = make_extractor(config, sandbox).extract("orders", short_window())
    assert result.stats.token_refreshes >= 1 and result.stats.retries >= 1
    assert caplog.records
    for secret in sandbox_env.values():
        assert secret not in caplog.text
    assert "Atza|" not in caplog.text  # no access token either


# ---------------------------------------------------------------------------------------------
# Financial events, sales & traffic, inventory, listings
# ---------------------------------------------------------------------------------------------
@pytest.mark.calendar
def test_financial_events_over_180_days_are_split_and_complete(na, sandbox, tmp_path):
    days = last_days(200, today() - timedelta(days=1))
    run = run_stream(na, "financial_events", tmp_path, days=days)
    assert run.stats.pages >= 7  # pages span at most 30 days each, some of them empty
    events = lake(tmp_path, "amazon_na", "financial_events")
    b = sandbox.state.business
    start, end = run.window.start, run.window.end
    shipped = b.orders.filter(
        (pl.col("account") == "amazon_na")
        & pl.col("shipped_at").is_between(start, end, closed="left")
    ).join(b.order_lines, on="order_key")
    principal = events.filter(
        (pl.col("event_type") == "Shipment") & (pl.col("amount_name") == "Principal")
    )
    assert principal.height == shipped.height
    assert float(principal["amount"].cast(pl.Float64).sum()) == pytest.approx(
        float((shipped["unit_price"] * shipped["quantity"]).sum()), abs=0.01
    )
    fees = b.fees.join(shipped.select("order_key", "line_number"), on=["order_key", "line_number"])
    got_fees = events.filter(pl.col("amount_type") == "Fee")
    assert got_fees.height == fees.height
    assert set(got_fees["amount_name"]) == {"Commission", "FBAPerUnitFulfillmentFee"}
    refunds = b.refunds.filter(pl.col("refunded_at").is_between(start, end, closed="left")).join(
        b.orders.filter(pl.col("account") == "amazon_na"), on="order_key", how="semi"
    )
    got_refunds = events.filter(pl.col("event_type") == "Refund")
    assert got_refunds.height == refunds.height
    assert float(got_refunds["amount"].cast(pl.Float64).sum()) == pytest.approx(
        -float(refunds["amount"].sum()), abs=0.01
    )
    assert events.select(amazon.FINANCIAL_EVENTS.key).is_unique().all()


@pytest.mark.calendar
def test_sales_and_traffic_agree_with_the_orders_of_each_day(na, sandbox, tmp_path, monkeypatch):
    monkeypatch.setattr(amazon_reports, "REPORT_QUEUE_S", 150.0)  # 0.15 s in the fast profile
    monkeypatch.setattr(amazon_reports, "REPORT_PROCESSING_S", 150.0)
    days = last_days(3, today() - timedelta(days=1))
    expected = pairs_with_sales_data(sandbox, days, datetime.now(UTC))
    assert expected  # not vacuous: some report of the 2 marketplaces x 3 days has data
    run = run_stream(na, "sales_traffic", tmp_path, days=days)
    # token + per report (2 marketplaces x 3 days): create, >= 3 polls, document if it has data
    assert run.stats.requests >= 1 + 6 * 4 + 2 * len(expected)
    by_date = lake(tmp_path, "amazon_na", "sales_traffic_by_date")
    assert set(by_date.select("marketplace_id", "date").iter_rows()) == expected
    assert by_date.height == len(expected)
    want = truth(sandbox, datetime.now(UTC)).filter(pl.col("purchase_date").is_in(days))
    joined = by_date.join(
        want,
        left_on=["marketplace_id", "date"],
        right_on=["marketplace_id", "purchase_date"],
        how="inner",
    )
    assert joined.height == want.height > 0  # every day with orders has its row
    assert (joined["units_ordered"] == joined["units"]).all()
    assert (joined["total_order_items"] == joined["lines"]).all()
    assert ((joined["ordered_product_sales"].cast(pl.Float64) - joined["gross"]).abs() < 0.01).all()
    without_orders = by_date.join(
        want,
        left_on=["marketplace_id", "date"],
        right_on=["marketplace_id", "purchase_date"],
        how="anti",
    )
    assert (without_orders["units_ordered"] == 0).all()  # traffic only
    by_sku = lake(tmp_path, "amazon_na", "sales_traffic_by_sku")
    sums = by_sku.group_by("marketplace_id", "date").agg(
        pl.col("units_ordered").sum(), pl.col("sessions").sum()
    )
    check = by_date.join(sums, on=["marketplace_id", "date"], suffix="_sku")
    assert (check["units_ordered"] == check["units_ordered_sku"]).all()
    assert (check["sessions"] == check["sessions_sku"]).all() and check["sessions"].sum() > 0
    assert by_sku.select(amazon.SALES_TRAFFIC_BY_SKU.key).is_unique().all()


def test_a_day_without_data_is_a_cancelled_report_and_no_rows(na, sandbox):
    result = na.extract("sales_traffic", Window.for_days(date(2023, 6, 1), date(2023, 6, 2)))
    assert result.rows == {} and result.quarantine == []
    assert result.stats.requests >= 1 + 4 * 2  # created and polled, never downloaded


def test_inventory_is_the_fba_stock_of_every_afn_listing(na, sandbox):
    result = na.extract("inventory", None)
    rows = result.rows["inventory_summaries"]
    assert result.stats.pages > 2  # 50 summaries per page
    b = sandbox.state.business
    afn = b.listings.filter((pl.col("account") == "amazon_na") & (pl.col("fulfillment") == "AFN"))
    stock = b.inventory_at(datetime.now(UTC)).join(
        afn.select("marketplace_id", "product_id"), on=["marketplace_id", "product_id"]
    )
    assert len(rows) == stock.height
    want = {
        (r["marketplace_id"], r["channel_sku"]): r["available"] for r in stock.iter_rows(named=True)
    }
    got = {(r["marketplace_id"], r["seller_sku"]): r["fulfillable_quantity"] for r in rows}
    assert got == want
    assert all(r["total_quantity"] >= r["fulfillable_quantity"] for r in rows)


def test_listings_flat_file_parses_into_every_listing(na, sandbox):
    result = na.extract("listings", None)
    rows = result.rows["listings"]
    want = sandbox.state.business.current_prices(datetime.now(UTC)).filter(
        pl.col("account") == "amazon_na"
    )
    assert len(rows) == want.height and not result.quarantine
    prices = {
        (r["marketplace_id"], r["channel_sku"]): r["price"] for r in want.iter_rows(named=True)
    }
    for row in rows:
        assert row["price"] == Decimal(f"{prices[(row['marketplace_id'], row['seller_sku'])]:.2f}")
        assert row["currency"] == ("USD" if row["marketplace_id"] == US else "CAD")
        assert row["product_id_type"] == "UPC" and len(row["product_id"]) == 12
        assert row["status"] in ("Active", "Inactive")
        assert (row["quantity"] is None) == (row["fulfillment_channel"] == "AFN")


# ---------------------------------------------------------------------------------------------
# The emulator's wire format
# ---------------------------------------------------------------------------------------------
def lwa(sandbox: SandboxServer, account: str = "amazon_na") -> str:
    answer = requests.post(
        f"{sandbox.url}/amazon/auth/o2/token",
        data={"grant_type": "refresh_token", **SANDBOX_CREDENTIALS[account]},
        timeout=10,
    )
    body = answer.json()
    assert answer.status_code == 200 and body["expires_in"] == 3600
    assert body["token_type"] == "bearer" and body["access_token"].startswith("Atza|")
    return body["access_token"]


def test_wire_auth_errors_headers_and_validation(sandbox):
    url = f"{sandbox.url}/amazon/orders/v0/orders"
    params = {"MarketplaceIds": US, "LastUpdatedAfter": "2025-01-01T00:00:00Z"}
    missing = requests.get(url, params=params, timeout=10)
    assert missing.status_code == 403 and "x-amzn-RequestId" in missing.headers
    assert missing.json()["errors"][0]["code"] == "Unauthorized"
    token = {"x-amz-access-token": lwa(sandbox)}
    ok = requests.get(url, params={**params, "MaxResultsPerPage": 5}, headers=token, timeout=10)
    assert ok.status_code == 200 and float(ok.headers["x-amzn-RateLimit-Limit"]) > 0
    payload = ok.json()["payload"]
    assert len(payload["Orders"]) == 5 and payload["NextToken"]
    assert isinstance(payload["Orders"][0]["OrderTotal"]["Amount"], str)
    too_recent = (datetime.now(UTC) - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for bad in (
        {"LastUpdatedBefore": too_recent},
        {"MarketplaceIds": "A1PA6795UKMFR9"},
        {"MaxResultsPerPage": 101},
        {"CreatedAfter": "2025-01-01T00:00:00Z"},
    ):
        answer = requests.get(url, params={**params, **bad}, headers=token, timeout=10)
        assert answer.status_code == 400, bad
        assert answer.json()["errors"][0]["code"] == "InvalidInput"
    sandbox.state.faults.add(Fault("amazon", "throttle", path="/orders/v0/orders$"))
    throttled = requests.get(url, params=params, headers=token, timeout=10)
    assert throttled.status_code == 429 and "Retry-After" not in throttled.headers
    assert throttled.json()["errors"][0]["code"] == "QuotaExceeded"
    assert float(throttled.headers["x-amzn-RateLimit-Limit"]) == pytest.approx(16.7)


@pytest.mark.calendar
def test_wire_report_lifecycle_and_expiring_document_url(sandbox, monkeypatch):
    monkeypatch.setattr(amazon_reports, "REPORT_QUEUE_S", 200.0)
    monkeypatch.setattr(amazon_reports, "REPORT_PROCESSING_S", 200.0)
    token = {"x-amz-access-token": lwa(sandbox)}
    base = f"{sandbox.url}/amazon/reports/2021-06-30"
    # the latest day (2+ days ago) the US marketplace has data for: a report without data
    # would be CANCELLED, never DONE
    recent = last_days(7, today() - timedelta(days=2))
    day = max(d for m, d in pairs_with_sales_data(sandbox, recent, datetime.now(UTC)) if m == US)
    day = day.isoformat()
    created = requests.post(
        f"{base}/reports",
        headers=token,
        timeout=10,
        json={
            "reportType": "GET_SALES_AND_TRAFFIC_REPORT",
            "marketplaceIds": [US],
            "dataStartTime": f"{day}T00:00:00Z",
            "dataEndTime": f"{day}T23:59:59Z",
            "reportOptions": {"dateGranularity": "DAY", "asinGranularity": "SKU"},
        },
    )
    assert created.status_code == 202
    report_id = created.json()["reportId"]
    seen: list[str] = []
    while not seen or seen[-1] != "DONE":
        seen.append(
            requests.get(f"{base}/reports/{report_id}", headers=token, timeout=10).json()[
                "processingStatus"
            ]
        )
        assert len(seen) < 100
        time.sleep(0.02)
    assert seen[0] == "IN_QUEUE" and "IN_PROGRESS" in seen
    report = requests.get(f"{base}/reports/{report_id}", headers=token, timeout=10).json()
    document = requests.get(
        f"{base}/documents/{report['reportDocumentId']}", headers=token, timeout=10
    ).json()
    assert document["compressionAlgorithm"] == "GZIP"
    body = json.loads(gzip.decompress(requests.get(document["url"], timeout=10).content))
    assert body["salesAndTrafficByDate"][0]["date"] == day
    assert isinstance(
        body["salesAndTrafficByDate"][0]["salesByDate"]["orderedProductSales"]["amount"], float
    )
    later = datetime.now(UTC) + timedelta(minutes=6)
    monkeypatch.setattr(sandbox.state, "clock", lambda: later)
    expired = requests.get(document["url"], timeout=10)
    assert expired.status_code == 403 and b"Request has expired" in expired.content
