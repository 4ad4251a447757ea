"""Walmart Marketplace: the emulator and the extractor, over real HTTP against the sandbox.

Where a test compares with the business's truth, the sandbox clock is frozen a few minutes in
the past, so the emulator, the truth and the extraction window (which ends two minutes before
the real now) all speak about the same moment. Walmart only ever shows orders placed in the
last 180 days, so every comparison with the truth is restricted to purchase dates inside that
visibility window (the first, partly visible day excluded).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests

from extractors import walmart as wm
from extractors.base import Window
from extractors.http import ApiError, RetrySettings
from extractors.runner import run_stream
from orchestration.config import ChannelHouseConfig, resolve_secrets
from sandbox import walmart_api
from sandbox.server import SANDBOX_CREDENTIALS, Fault, SandboxServer

ACCOUNT = "walmart_us"
CREDS = SANDBOX_CREDENTIALS[ACCOUNT]
FAST_RETRY = {"backoff_base_s": 0.05, "backoff_max_s": 0.5}
SERVICE_HEADERS = {
    "WM_SVC.NAME": "Walmart Marketplace",
    "WM_QOS.CORRELATION_ID": "test-1",
    "Accept": "application/json",
}
STATUS_OF = {
    "pending": "Created",
    "unshipped": "Acknowledged",
    "shipped": "Shipped",
    "delivered": "Delivered",
    "cancelled": "Cancelled",
}


# -- helpers --------------------------------------------------------------------------------


def make_extractor(config: ChannelHouseConfig, url: str, **retry: float) -> wm.WalmartExtractor:
    conn = config.connection(ACCOUNT)
    settings = RetrySettings(**{**conn.retry.model_dump(), **FAST_RETRY, **retry})
    return wm.WalmartExtractor(conn, resolve_secrets(conn), sandbox_url=url, retry=settings)


def read_lake(root: Path, entity: str, area: str = "raw") -> pl.DataFrame:
    files = sorted(
        (root / area / "channel=walmart" / f"connection={ACCOUNT}" / f"entity={entity}").glob(
            "date=*/part-0.parquet"
        )
    )
    return pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame()


def latest_versions(root: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The lake's latest version of each order (by its update time) and that version's lines."""
    orders = (
        read_lake(root, "orders").sort("last_modified_at").unique("purchase_order_id", keep="last")
    )
    lines = read_lake(root, "order_lines").join(
        orders.select(
            "purchase_order_id", pl.col("last_modified_at").alias("order_last_modified_at")
        ),
        on=["purchase_order_id", "order_last_modified_at"],
        how="semi",
    )
    return orders, lines


def lake_totals(root: Path) -> pl.DataFrame:
    """Orders, lines, units, gross and refunds per purchase date, from the latest versions."""
    orders, lines = latest_versions(root)
    per_order = lines.group_by("purchase_order_id").agg(
        pl.len().alias("lines"),
        pl.col("quantity").sum().alias("units"),
        pl.col("item_price").cast(pl.Float64).sum().alias("gross"),
        pl.col("discount").cast(pl.Float64).sum().alias("discount"),
        pl.col("refunded_amount").cast(pl.Float64).sum().alias("refunded"),
    )
    return (
        orders.join(per_order, on="purchase_order_id", how="left")
        .group_by(pl.col("order_date_at").dt.date().alias("purchase_date"))
        .agg(
            pl.len().cast(pl.Int64).alias("orders"),
            pl.col("lines").sum().cast(pl.Int64),
            pl.col("units").sum().cast(pl.Int64),
            pl.col("gross").sum().round(2),
            pl.col("discount").sum().round(2),
            pl.col("refunded").sum().round(2),
        )
        .sort("purchase_date")
    )


def truth_totals(sandbox: SandboxServer, now: datetime, first: date) -> pl.DataFrame:
    return (
        sandbox.state.business.ground_truth(now, ACCOUNT)
        .filter(pl.col("purchase_date") >= first)
        .select("purchase_date", "orders", "lines", "units", "gross", "discount", "refunded")
        .with_columns(pl.col("orders", "lines", "units").cast(pl.Int64))
    )


def first_fully_visible_day(now: datetime) -> date:
    """Walmart shows orders placed after now - 180 days; that day itself is only partly shown."""
    return (now - wm.ORDER_VISIBILITY).date() + timedelta(days=1)


def window_days(now: datetime, first: int, last: int = 0) -> list[date]:
    return [now.date() - timedelta(days=n) for n in range(first, last - 1, -1)]


def recent_window(days: int = 30) -> Window:
    now = datetime.now(UTC)
    return Window(now - timedelta(days=days), now - timedelta(minutes=2))


def token(url: str) -> str:
    response = requests.post(
        f"{url}/walmart/v3/token",
        auth=(CREDS["client_id"], CREDS["client_secret"]),
        data={"grant_type": "client_credentials"},
        headers=SERVICE_HEADERS,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
def freeze(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Callable[[], datetime]:
    """Freeze the sandbox clock three minutes ago (inside the extraction window); restored after."""

    def set_clock() -> datetime:
        moment = datetime.now(UTC) - timedelta(minutes=3)
        monkeypatch.setattr(sandbox.state, "clock", lambda: moment)
        return moment

    return set_clock


@pytest.fixture
def walmart(config: ChannelHouseConfig, sandbox: SandboxServer, sandbox_env) -> wm.WalmartExtractor:
    return make_extractor(config, sandbox.url)


# -- the wire format ---------------------------------------------------------------------------


def test_token_and_gateway_errors_look_like_walmart(sandbox: SandboxServer):
    url = sandbox.url
    good = requests.post(
        f"{url}/walmart/v3/token",
        auth=(CREDS["client_id"], CREDS["client_secret"]),
        data={"grant_type": "client_credentials"},
        headers=SERVICE_HEADERS,
        timeout=10,
    )
    assert good.status_code == 200
    assert good.json()["token_type"] == "Bearer" and good.json()["expires_in"] == 900
    wrong = requests.post(
        f"{url}/walmart/v3/token",
        auth=(CREDS["client_id"], "nope"),
        data={"grant_type": "client_credentials"},
        headers=SERVICE_HEADERS,
        timeout=10,
    )
    assert wrong.status_code == 401
    assert wrong.json()["errors"][0]["code"] == "UNAUTHORIZED.GMP_GATEWAY_API"

    access = good.json()["access_token"]
    headers = {**SERVICE_HEADERS, "WM_SEC.ACCESS_TOKEN": access}
    missing = requests.get(
        f"{url}/walmart/v3/orders",
        timeout=10,
        headers={k: v for k, v in headers.items() if k != "WM_SVC.NAME"},
    )
    assert missing.status_code == 400
    error = missing.json()["errors"][0]
    assert (error["category"], error["field"]) == ("REQUEST", "WM_SVC.NAME")
    no_token = requests.get(f"{url}/walmart/v3/orders", headers=SERVICE_HEADERS, timeout=10)
    assert no_token.status_code == 401
    assert no_token.json()["errors"][0]["code"] == "UNAUTHORIZED.GMP_GATEWAY_API"

    ok = requests.get(
        f"{url}/walmart/v3/orders",
        headers=headers,
        timeout=10,
        params={"createdStartDate": (date.today() - timedelta(days=30)).isoformat(), "limit": 5},
    )
    assert ok.status_code == 200
    assert int(ok.headers["x-current-token-count"]) >= 0
    assert int(ok.headers["x-next-replenishment-time"]) > 1_600_000_000_000  # epoch ms
    meta = ok.json()["list"]["meta"]
    assert meta["limit"] == 5 and meta["totalCount"] > 5 and meta["nextCursor"].startswith("?")
    order = ok.json()["list"]["elements"]["order"][0]
    assert isinstance(order["orderDate"], int)
    assert isinstance(order["orderLines"]["orderLine"][0]["orderLineQuantity"]["amount"], str)

    bad_date = requests.get(
        f"{url}/walmart/v3/orders",
        headers=headers,
        timeout=10,
        params={"createdStartDate": "2026-01-01T10:00:00.123Z"},
    )
    assert bad_date.status_code == 400
    assert bad_date.json()["errors"]["error"][0]["code"] == "INVALID_REQUEST.GMP_ORDER_API"
    too_big = requests.get(
        f"{url}/walmart/v3/orders", headers=headers, timeout=10, params={"limit": 201}
    )
    assert too_big.status_code == 400
    nothing = requests.get(
        f"{url}/walmart/v3/orders",
        headers=headers,
        timeout=10,
        params={"createdStartDate": "2020-01-01", "createdEndDate": "2020-01-02"},
    )
    assert nothing.status_code == 404
    assert nothing.json()["errors"]["error"][0]["code"] == "CONTENT_NOT_FOUND.GMP_ORDER_API"


@pytest.mark.calendar
def test_only_the_last_180_days_are_visible_and_created_start_defaults_to_7_days(
    sandbox: SandboxServer,
):
    headers = {**SERVICE_HEADERS, "WM_SEC.ACCESS_TOKEN": token(sandbox.url)}
    now = datetime.now(UTC)

    def order_dates(params: dict[str, Any]) -> list[datetime]:
        dates, path = [], "/walmart/v3/orders"
        while path:
            body = requests.get(
                sandbox.url + path, headers=headers, params=params, timeout=10
            ).json()
            dates += [
                datetime.fromtimestamp(o["orderDate"] / 1000, UTC)
                for o in body["list"]["elements"]["order"]
            ]
            cursor, params = body["list"]["meta"].get("nextCursor"), None
            path = "/walmart/v3/orders" + cursor if cursor else ""
        return dates

    everything = order_dates({"createdStartDate": "2024-01-01", "limit": 200})
    assert min(everything) >= now - timedelta(days=180, minutes=1)
    assert min(everything) < now - timedelta(days=178)
    default = order_dates({"limit": 200})
    assert min(default) >= now - timedelta(days=7, minutes=1)


# -- orders: completeness, the 180-day note, late updates ----------------------------------------


@pytest.mark.calendar
def test_orders_match_the_ground_truth_inside_the_visibility_window(
    walmart: wm.WalmartExtractor, sandbox: SandboxServer, tmp_path: Path, freeze
):
    now = freeze()
    run = run_stream(walmart, "orders", tmp_path, days=window_days(now, 200))

    first = first_fully_visible_day(datetime.now(UTC))
    assert run.notes == [
        "Walmart returns only orders from the last 180 days; days before "
        f"{(first - timedelta(days=1)).isoformat()} are empty"
    ]
    assert run.stats.pages > 1  # several getAllOrders pages were followed
    # Ground truth restricted to purchase dates inside Walmart's 180-day visibility window.
    truth = truth_totals(sandbox, now, first)
    got = lake_totals(tmp_path).filter(pl.col("purchase_date") >= first)
    assert truth.height > 150
    assert got.to_dicts() == truth.to_dicts()
    assert run.rows("orders") == read_lake(tmp_path, "orders")["purchase_order_id"].n_unique()

    # Line statuses follow the business status; refunded orders show a Refund line.
    orders = sandbox.state.business.orders_view(now).filter(pl.col("account") == ACCOUNT)
    lines = read_lake(tmp_path, "order_lines").join(
        orders.select(
            pl.col("channel_order_id").alias("purchase_order_id"), "status", "refunded_amount"
        ),
        on="purchase_order_id",
    )
    plain = lines.filter(pl.col("refunded_amount_right") == 0)
    assert (plain["status"] == plain["status_right"].replace_strict(STATUS_OF)).all()
    refunded = lines.filter(pl.col("refunded_amount_right") > 0)
    assert refunded.height > 0
    assert set(
        refunded.group_by("purchase_order_id").agg((pl.col("status") == "Refund").any())["status"]
    ) == {True}


@pytest.mark.calendar
def test_a_window_older_than_180_days_is_empty_with_a_note(walmart: wm.WalmartExtractor):
    now = datetime.now(UTC)
    result = walmart.extract("orders", Window(now - timedelta(days=400), now - timedelta(days=300)))
    cutoff = (now - timedelta(days=180)).date().isoformat()
    assert result.notes == [
        f"Walmart returns only orders from the last 180 days; days before {cutoff} are empty"
    ]
    assert result.rows == {} and result.stats.requests == 0
    assert walmart.extract("orders", recent_window(5)).notes == []


@pytest.mark.calendar
def test_a_late_refund_to_an_old_order_lands_in_todays_partition(
    walmart: wm.WalmartExtractor, sandbox: SandboxServer, tmp_path: Path, freeze
):
    now = freeze()
    run_stream(walmart, "orders", tmp_path, days=window_days(now, 179))
    # The business refunds orders of any age over 60 days; only those placed in the last 180
    # days can be seen through Walmart's API, the older ones stay invisible. The draw is seeded
    # by the clock and ~12% of the candidates are visible: 120 refunds make a draw without a
    # visible one a 1-in-5-million event (40 missed once in a run: (1 - 0.12)^40 = 0.6%).
    keys = sandbox.state.business.apply_late_update(ACCOUNT, 120, now, min_age_days=60)
    first = first_fully_visible_day(datetime.now(UTC))
    refunded = sandbox.state.business.orders.filter(pl.col("order_key").is_in(keys))
    visible = set(refunded.filter(pl.col("purchased_at").dt.date() >= first)["channel_order_id"])
    hidden = set(
        refunded.filter(pl.col("purchased_at") < now - wm.ORDER_VISIBILITY)["channel_order_id"]
    )
    assert visible and hidden

    run = run_stream(walmart, "orders", tmp_path, days=[now.date()])
    lines = read_lake(tmp_path, "order_lines")
    newest = lines.filter(pl.col("order_last_modified_at").dt.date() == now.date())
    late = newest.filter(pl.col("purchase_order_id").is_in(visible))
    assert set(late["purchase_order_id"]) == visible
    assert set(late["status"]) == {"Refund"} and (late["refunded_amount"] > 0).all()
    assert not set(lines["purchase_order_id"]) & hidden
    assert run.rows("orders") >= len(visible)
    got = lake_totals(tmp_path).filter(pl.col("purchase_date") >= first)
    assert got.to_dicts() == truth_totals(sandbox, now, first).to_dicts()


def test_a_window_over_the_per_query_cap_is_split(
    walmart: wm.WalmartExtractor, monkeypatch: pytest.MonkeyPatch
):
    window = recent_window(60)
    whole = walmart.extract("orders", window)
    monkeypatch.setattr(walmart_api, "MAX_ORDERS_PER_QUERY", 100)
    monkeypatch.setattr(wm, "MAX_ORDERS_PER_QUERY", 100)
    split = walmart.extract("orders", window)
    assert len(whole.rows["orders"]) > 300
    assert split.stats.requests > whole.stats.requests
    assert sorted(r["purchase_order_id"] for r in split.rows["orders"]) == sorted(
        r["purchase_order_id"] for r in whole.rows["orders"]
    )


def test_a_malformed_order_is_quarantined_with_the_field_named(
    walmart: wm.WalmartExtractor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    real = walmart_api.order_document
    broken: list[str] = []

    def corrupt_first(*args: Any, **kwargs: Any) -> dict:
        document = real(*args, **kwargs)
        if not broken or broken[0] == document["purchaseOrderId"]:
            broken[:1] = [document["purchaseOrderId"]]
            line = document["orderLines"]["orderLine"][0]
            line["orderLineQuantity"]["amount"] = "two"
        return document

    monkeypatch.setattr(walmart_api, "order_document", corrupt_first)
    now = datetime.now(UTC)
    run = run_stream(walmart, "orders", tmp_path, days=window_days(now, 10))
    assert run.quarantined == 1
    quarantine = read_lake(tmp_path, "orders", area="quarantine")
    assert quarantine.height == 1
    assert "orderLines.orderLine[0].orderLineQuantity.amount" in quarantine["reason"][0]
    assert broken[0] in quarantine["record"][0]
    orders = read_lake(tmp_path, "orders")
    assert orders.height > 10 and broken[0] not in set(orders["purchase_order_id"])


# -- throttling, token expiry, server faults --------------------------------------------------


def test_a_429_storm_is_waited_out_as_the_replenish_header_says(
    config: ChannelHouseConfig, sandbox: SandboxServer, sandbox_env
):
    # A long backoff: only x-next-replenishment-time (a fraction of a millisecond away in the
    # fast profile) keeps the waits short.
    walmart = make_extractor(config, sandbox.url, backoff_base_s=10, backoff_max_s=3)
    window = recent_window(20)
    expected = len(walmart.extract("orders", window).rows["orders"])
    sandbox.state.faults.add(Fault("walmart", "throttle", count=5, path="/v3/orders"))
    result = walmart.extract("orders", window)
    assert result.stats.throttled == 5 and result.stats.wait_seconds < 1.5
    assert len(result.rows["orders"]) == expected


def test_real_bucket_exhaustion_in_the_realistic_profile(
    config: ChannelHouseConfig, sandbox: SandboxServer, sandbox_env, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(wm, "INVENTORY_PAGE_LIMIT", 8)  # ~19 pages against a burst of 10
    with SandboxServer(rate_limits="realistic", business=sandbox.state.business) as realistic:
        result = make_extractor(config, realistic.url).extract("inventory", None)
    expected = sandbox.state.business.inventory_at(datetime.now(UTC)).filter(
        pl.col("account") == ACCOUNT
    )
    assert result.stats.throttled > 0 and result.stats.wait_seconds > 0
    assert len(result.rows["inventory"]) == expected.height


def test_an_expired_token_mid_run_is_refreshed(
    walmart: wm.WalmartExtractor, sandbox: SandboxServer
):
    window = recent_window(60)
    expected = len(walmart.extract("orders", window).rows["orders"])
    session, pages = walmart.client.session, []
    original = session.request

    def expire_before_the_second_page(method: str, url: str, **kwargs: Any):
        if "/v3/orders" in url:
            pages.append(url)
            if len(pages) == 2:
                sandbox.state.faults.add(Fault("walmart", "expire_tokens", path="/v3/orders"))
        return original(method, url, **kwargs)

    session.request = expire_before_the_second_page
    result = walmart.extract("orders", window)
    assert "nextCursor" not in pages[1] and "poIndex=" in pages[1]  # a cursor page
    assert result.stats.token_refreshes == 1
    assert len(result.rows["orders"]) == expected


@pytest.mark.parametrize(("kind", "count"), [("server_error", 3), ("truncate", 2)])
def test_server_errors_and_truncated_pages_are_retried(
    walmart: wm.WalmartExtractor, sandbox: SandboxServer, kind: str, count: int
):
    window = recent_window(20)
    expected = len(walmart.extract("orders", window).rows["orders"])
    sandbox.state.faults.add(Fault("walmart", kind, count=count, status=503, path="/v3/orders"))
    result = walmart.extract("orders", window)
    assert result.stats.retries == count
    assert len(result.rows["orders"]) == expected


def test_a_slow_response_beyond_the_read_timeout_is_retried(
    config: ChannelHouseConfig, sandbox: SandboxServer, sandbox_env
):
    walmart = make_extractor(config, sandbox.url, read_timeout_s=0.5)
    sandbox.state.faults.add(Fault("walmart", "slow", delay_s=1.5, path="/v3/items"))
    result = walmart.extract("items", None)
    assert result.stats.retries == 1
    assert len(result.rows["items"]) > 100


def test_an_exhausted_retry_budget_names_connection_and_endpoint_without_secrets(
    config: ChannelHouseConfig,
    sandbox: SandboxServer,
    sandbox_env,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    walmart = make_extractor(config, sandbox.url, max_attempts=3)
    sandbox.state.faults.add(Fault("walmart", "server_error", count=10, path="/v3/orders"))
    with pytest.raises(ApiError) as raised:
        walmart.extract("orders", recent_window(5))
    message = str(raised.value)
    assert "walmart_us" in message and "getAllOrders" in message and "HTTP 500" in message
    for secret in secrets_of(walmart):
        assert secret not in message
        assert secret not in caplog.text


def secrets_of(walmart: wm.WalmartExtractor) -> list[str]:
    basic = base64.b64encode(f"{CREDS['client_id']}:{CREDS['client_secret']}".encode()).decode()
    access = walmart.client._token or ""
    return [s for s in (CREDS["client_id"], CREDS["client_secret"], basic, access) if s]


def test_wrong_credentials_fail_clearly_without_leaking_them(
    config: ChannelHouseConfig, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    conn = config.connection(ACCOUNT)
    wrong = {"client_id": CREDS["client_id"], "client_secret": "wrong-secret-value-123"}
    walmart = wm.WalmartExtractor(
        conn, wrong, sandbox_url=sandbox.url, retry=RetrySettings(**FAST_RETRY)
    )
    with pytest.raises(ApiError) as raised:
        walmart.extract("items", None)
    assert raised.value.status == 401 and "UNAUTHORIZED.GMP_GATEWAY_API" in str(raised.value)
    assert "[walmart_us] token" in str(raised.value)
    for secret in (
        *wrong.values(),
        base64.b64encode(f"{wrong['client_id']}:{wrong['client_secret']}".encode()).decode(),
    ):
        assert secret not in str(raised.value) and secret not in caplog.text


def test_secrets_never_reach_the_logs_during_a_troubled_run(
    walmart: wm.WalmartExtractor, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    sandbox.state.faults.add(Fault("walmart", "expire_tokens", path="/v3/orders"))
    sandbox.state.faults.add(Fault("walmart", "server_error", count=2, path="/v3/orders"))
    result = walmart.extract("orders", recent_window(10))
    assert result.stats.token_refreshes == 1 and result.stats.retries >= 2
    assert "retrying" in caplog.text
    for secret in secrets_of(walmart):
        assert secret not in caplog.text


# -- snapshots: items and inventory ----------------------------------------------------------


def test_items_page_by_offset_and_match_the_listings(
    walmart: wm.WalmartExtractor,
    sandbox: SandboxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(wm, "ITEMS_PAGE_LIMIT", 50)
    run = run_stream(walmart, "items", tmp_path)
    listings = sandbox.state.business.current_prices(datetime.now(UTC)).filter(
        pl.col("account") == ACCOUNT
    )
    items = read_lake(tmp_path, "items")
    assert run.stats.pages == -(-listings.height // 50)  # every offset page, no extra call
    assert items.height == listings.height == items["sku"].n_unique()
    got = dict(zip(items["sku"], items["price"].cast(pl.Float64), strict=True))
    assert got == dict(zip(listings["channel_sku"], listings["price"], strict=True))
    assert set(items["published_status"]) <= {"PUBLISHED", "UNPUBLISHED"}


def test_inventory_follows_the_changing_cursor_and_matches_stock(
    walmart: wm.WalmartExtractor, sandbox: SandboxServer, tmp_path: Path
):
    run = run_stream(walmart, "inventory", tmp_path)
    stock = sandbox.state.business.inventory_at(datetime.now(UTC)).filter(
        pl.col("account") == ACCOUNT
    )
    inventory = read_lake(tmp_path, "inventory")
    skus = stock["channel_sku"].n_unique()
    assert run.stats.pages == -(-skus // wm.INVENTORY_PAGE_LIMIT) > 1
    assert inventory.height == stock.height
    assert inventory["avail_to_sell_qty"].sum() == stock["available"].sum()
    assert inventory["reserved_qty"].sum() == stock["reserved"].sum()
    assert set(inventory["ship_node"]) <= {"100009", "WFS-1"}
