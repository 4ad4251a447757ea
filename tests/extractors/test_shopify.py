"""Shopify: the Admin GraphQL emulator and the extractor, over real HTTP against the sandbox.

The clock of the sandbox is frozen where a test compares with the business's truth, so the
emulator, the truth and the extraction window all speak about the same moment.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import requests

from extractors import http
from extractors import shopify as shop
from extractors.base import Window
from extractors.http import ApiError, RetrySettings
from extractors.runner import run_stream
from orchestration.config import ChannelHouseConfig, resolve_secrets
from sandbox import shopify_api
from sandbox.business import Business
from sandbox.server import SANDBOX_CREDENTIALS, Fault, SandboxServer
from sandbox.shopify import shop as shopify_shop
from sandbox.shopify.common import CUSTOMER_ID_BASE

US_TOKEN = SANDBOX_CREDENTIALS["shopify_us"]["access_token"]
EU_TOKEN = SANDBOX_CREDENTIALS["shopify_eu"]["access_token"]
US_PATH = "/shopify/channelhouse-demo/admin/api/2025-10/graphql.json"
FAST_RETRY = {"backoff_base_s": 0.05, "backoff_max_s": 0.5}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def make_extractor(
    config: ChannelHouseConfig, url: str, name: str = "shopify_us", **retry: float
) -> shop.ShopifyExtractor:
    conn = config.connection(name)
    settings = RetrySettings(**{**conn.retry.model_dump(), **FAST_RETRY, **retry})
    return shop.ShopifyExtractor(conn, resolve_secrets(conn), sandbox_url=url, retry=settings)


def lake(
    root: Path, entity: str, connection: str = "shopify_us", area: str = "raw"
) -> pl.DataFrame:
    files = sorted(
        (root / area / "channel=shopify" / f"connection={connection}" / f"entity={entity}").glob(
            "date=*/part-0.parquet"
        )
    )
    return pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame()


def days_before(moment: datetime, first: int, last: int) -> list[date]:
    """The UTC days from ``first`` to ``last`` days before ``moment`` (oldest first)."""
    return [moment.date() - timedelta(days=n) for n in range(first, last - 1, -1)]


def post(
    url: str, query: str, variables: dict | None = None, token: str = US_TOKEN, path: str = US_PATH
) -> requests.Response:
    return requests.post(
        url + path,
        json={"query": query, "variables": variables or {}},
        headers={"X-Shopify-Access-Token": token},
        timeout=30,
    )


@pytest.fixture
def freeze(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Freeze the sandbox clock (restored after the test; the emulator rebuilds its views)."""

    def set_clock(moment: datetime) -> None:
        monkeypatch.setattr(sandbox.state, "clock", lambda: moment)

    return set_clock


@pytest.fixture
def midnight() -> datetime:
    return datetime.combine(datetime.now(UTC).date(), datetime.min.time(), UTC)


@pytest.fixture
def us(config: ChannelHouseConfig, sandbox: SandboxServer, sandbox_env) -> shop.ShopifyExtractor:
    return make_extractor(config, sandbox.url)


def orders_in(business: Business, account: str, now: datetime, window: Window) -> set[str]:
    """The Shopify order ids whose last update (at second precision) falls in ``window``."""
    view = (
        business.orders_view(now)
        .filter(pl.col("account") == account)
        .with_columns(pl.col("last_updated_at").dt.truncate("1s"))
    )
    inside = view.filter(
        pl.col("last_updated_at").is_between(window.start, window.end, closed="left")
    )
    return {f"gid://shopify/Order/{i}" for i in inside["channel_order_id"]}


# --------------------------------------------------------------------------------------------
# the emulator
# --------------------------------------------------------------------------------------------
def test_wrong_token_and_unknown_shop_get_shopifys_answers(sandbox: SandboxServer) -> None:
    refused = post(sandbox.url, "{ shop { name } }", token="shpat_wrong")
    assert refused.status_code == 401
    assert refused.json() == {"errors": shopify_api.INVALID_TOKEN}
    other_shops_token = post(sandbox.url, "{ shop { name } }", token=EU_TOKEN)
    assert other_shops_token.status_code == 401
    unknown = post(sandbox.url, "{ shop { name } }", path=US_PATH.replace("demo", "nope"))
    assert unknown.status_code == 404
    missing = requests.post(
        sandbox.url + US_PATH,
        json={"variables": {}},
        timeout=10,
        headers={"X-Shopify-Access-Token": US_TOKEN},
    )
    assert missing.status_code == 400


def test_each_shop_serves_its_own_data_in_its_currency(sandbox: SandboxServer) -> None:
    query = "{ shop { currencyCode } orders(first: 5) { nodes { currencyCode } } }"
    for token, path, currency in (
        (US_TOKEN, US_PATH, "USD"),
        (EU_TOKEN, US_PATH.replace("demo", "eu"), "EUR"),
    ):
        data = post(sandbox.url, query, token=token, path=path).json()["data"]
        assert data["shop"]["currencyCode"] == currency
        assert {o["currencyCode"] for o in data["orders"]["nodes"]} == {currency}


def test_cost_extension_matches_the_clients_estimate_and_opaque_cursors(
    sandbox: SandboxServer,
) -> None:
    variables = {"query": "updated_at:>='2025-01-01T00:00:00Z'", "first": 7, "after": None}
    body = post(sandbox.url, shop.ORDERS_QUERY, variables).json()
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == shop.query_cost(shop.ORDERS_QUERY, variables)
    assert 0 < cost["actualQueryCost"] < cost["requestedQueryCost"]
    assert set(cost["throttleStatus"]) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}
    page = body["data"]["orders"]
    cursor = json.loads(base64.b64decode(page["pageInfo"]["endCursor"]))
    assert cursor["last_id"] == int(page["nodes"][-1]["legacyResourceId"])
    updated = [n["updatedAt"] for n in page["nodes"]]
    assert updated == sorted(updated) and len(updated) == 7


def test_query_over_the_single_query_limit_is_refused(sandbox: SandboxServer) -> None:
    body = post(
        sandbox.url,
        "{ orders(first: 250) { nodes { id lineItems(first: 10) { nodes "
        "{ id variant { id } } } } } }",
    ).json()
    assert body["errors"][0]["message"] == (
        "Query cost is 5752, which exceeds the single query max cost limit (1000)."
    )
    assert "data" not in body


@pytest.mark.parametrize(
    "search",
    ["updated_at:>2025-01-01 OR created_at:<2025-02-01", "tag:vip", "updated_at:>='yesterday'"],
)
def test_unsupported_search_syntax_is_an_error_not_ignored(
    sandbox: SandboxServer, search: str
) -> None:
    body = post(
        sandbox.url,
        "query($q: String) { orders(first: 1, query: $q) { nodes { id } } }",
        {"q": search},
    ).json()
    assert body["data"] is None
    assert body["errors"][0]["message"].startswith("Invalid search query")


def test_statuses_follow_the_business(sandbox: SandboxServer, freeze, midnight) -> None:
    """Refunded, cancelled and fulfilled orders carry Shopify's display statuses."""
    now = midnight - timedelta(days=3)
    freeze(now)
    view = (
        sandbox.state.business.orders_view(now)
        .filter(pl.col("account") == "shopify_us")
        .with_columns(pl.col("channel_order_id").alias("legacy"))
    )
    wanted = {
        "REFUNDED": view.filter(pl.col("is_refunded") == "full"),
        "PARTIALLY_REFUNDED": view.filter(pl.col("is_refunded") == "partial"),
        "VOIDED": view.filter(
            (pl.col("status") == "cancelled") & (pl.col("is_refunded") == "none")
        ),
    }
    query = (
        "query($id: ID!) { order(id: $id) { displayFinancialStatus displayFulfillmentStatus "
        "cancelledAt refunds { id } } }"
    )
    for status, frame in wanted.items():
        legacy = frame["legacy"][0]
        order = post(sandbox.url, query, {"id": f"gid://shopify/Order/{legacy}"}).json()
        assert order["data"]["order"]["displayFinancialStatus"] == status
        if status == "VOIDED":
            assert order["data"]["order"]["cancelledAt"] is not None
            assert order["data"]["order"]["displayFulfillmentStatus"] == "UNFULFILLED"
        else:
            assert order["data"]["order"]["refunds"]


# --------------------------------------------------------------------------------------------
# the extractor: pagination and ground truth
# --------------------------------------------------------------------------------------------
@pytest.mark.calendar
def test_orders_follow_every_page_and_match_the_sandbox(
    sandbox: SandboxServer, us, freeze, midnight, tmp_path: Path
) -> None:
    now = midnight - timedelta(days=1)
    freeze(now)
    days = days_before(now, 10, 1)
    run = run_stream(us, "orders", tmp_path, days=days)
    assert run.stats.pages > 3  # several pages of ~19 orders each
    expected = orders_in(sandbox.state.business, "shopify_us", now, run.window)
    assert set(lake(tmp_path, "orders")["shopify_order_id"]) == expected
    assert run.rows("orders") == len(expected)
    assert run.quarantined == 0
    # the addresses: the customer's shipping address in the shop's country, the card's country
    customers = sandbox.state.business.customers.select(
        (pl.col("customer_id") + CUSTOMER_ID_BASE).cast(pl.Utf8).alias("number"),
        pl.col("billing_country").alias("truth_billing"),
    )
    orders = lake(tmp_path, "orders").with_columns(
        pl.col("customer_id").str.extract(r"/(\d+)$").alias("number")
    )
    got = orders.join(customers, on="number", how="left")
    assert got["truth_billing"].null_count() == 0
    assert set(got["ship_country"]) == {"US"} and got["ship_address1"].null_count() == 0
    assert got["ship_postal_code"].str.contains(r"^\d{5}$").all()
    assert (got["billing_country"] == got["truth_billing"]).all()
    assert (got["billing_matches_shipping"] == (got["billing_country"] == "US")).all()
    per_customer = got.group_by("number").agg(pl.col("ship_address1").n_unique())
    assert per_customer["ship_address1"].max() == 1


@pytest.mark.calendar
def test_lake_equals_ground_truth_nothing_lost_nothing_doubled(
    sandbox: SandboxServer, us, freeze, midnight, tmp_path: Path
) -> None:
    now = midnight - timedelta(days=20)
    freeze(now)
    days = days_before(now, 14, 1)
    # two overlapping runs: the second re-extracts days of the first, as scheduled runs do
    run_stream(us, "orders", tmp_path, days=days[:8])
    run_stream(us, "orders", tmp_path, days=days[5:])
    orders = lake(tmp_path, "orders").sort("updated_at").unique("shopify_order_id", keep="last")
    lines = lake(tmp_path, "order_lines").join(
        orders.select(
            "shopify_order_id",
            pl.col("updated_at").alias("order_updated_at"),
            pl.col("created_at").dt.date().alias("purchase_date"),
        ),
        on=["shopify_order_id", "order_updated_at"],
    )
    got = (
        lines.group_by("purchase_date")
        .agg(
            pl.col("shopify_order_id").n_unique().alias("orders"),
            pl.len().alias("lines"),
            pl.col("quantity").sum().alias("units"),
            (pl.col("unit_price").cast(pl.Float64) * pl.col("quantity")).sum().alias("gross"),
        )
        .filter(pl.col("purchase_date").is_in(days))
        .sort("purchase_date")
    )
    truth = (
        sandbox.state.business.ground_truth(now, "shopify_us")
        .filter(pl.col("purchase_date").is_in(days))
        .sort("purchase_date")
    )
    assert truth["marketplace_id"].unique().to_list() == ["channelhouse-demo"]
    assert got["purchase_date"].to_list() == truth["purchase_date"].to_list() == days
    for column in ("orders", "lines", "units"):
        assert got[column].cast(pl.Int64).to_list() == truth[column].to_list(), column
    assert got["gross"].to_list() == pytest.approx(truth["gross"].to_list(), abs=0.01)
    assert orders.filter(pl.col("created_at").dt.date().is_in(days))[
        "currency"
    ].unique().to_list() == ["USD"]


def test_nested_pages_are_completed_by_follow_up_queries(
    sandbox: SandboxServer, us, freeze, midnight, monkeypatch
) -> None:
    now = midnight - timedelta(days=2)
    freeze(now)
    window = Window.for_days(now.date() - timedelta(days=60), now.date() - timedelta(days=1))
    full = us.extract("orders", window)
    small = shop.ORDERS_QUERY.replace(
        f"lineItems(first: {shop.LINE_PAGE})", "lineItems(first: 1)"
    ).replace(f"refundLineItems(first: {shop.REFUND_LINE_PAGE})", "refundLineItems(first: 1)")
    assert small != shop.ORDERS_QUERY
    monkeypatch.setattr(shop, "ORDERS_QUERY", small)
    paged = us.extract("orders", window)
    assert paged.stats.pages > full.stats.pages  # follow-up queries were made
    for entity, key in (("order_lines", "line_item_id"), ("refund_lines", "line_item_id")):
        assert sorted(r[key] for r in paged.rows[entity]) == sorted(
            r[key] for r in full.rows[entity]
        )
    assert paged.rows["refund_lines"]


@pytest.mark.calendar
def test_products_and_inventory_snapshots(
    sandbox: SandboxServer, us, freeze, midnight, tmp_path: Path
) -> None:
    now = midnight - timedelta(hours=6)
    freeze(now)
    business = sandbox.state.business
    listed = business.listings.filter(
        (pl.col("account") == "shopify_us") & (pl.col("listed_from") <= now.date())
    )
    run_stream(us, "products", tmp_path)
    variants = lake(tmp_path, "product_variants")
    assert sorted(variants["variant_id"]) == sorted(
        f"gid://shopify/ProductVariant/{i}" for i in listed["channel_item_id"]
    )
    assert variants["currency"].unique().to_list() == ["USD"]
    assert variants["barcode"].null_count() == 0 and variants["price"].null_count() == 0
    assert lake(tmp_path, "products").height == listed["channel_product_id"].n_unique()
    run_stream(us, "inventory", tmp_path)
    levels = lake(tmp_path, "inventory_levels")
    stock = business.inventory_at(now).filter(pl.col("account") == "shopify_us")
    assert levels.height == stock.height
    assert levels["available"].sum() == stock["available"].sum()
    assert levels["committed"].sum() == stock["reserved"].sum()
    assert (levels["on_hand"] == levels["available"] + levels["committed"]).all()
    assert set(levels["inventory_item_id"]) == set(variants["inventory_item_id"])


# --------------------------------------------------------------------------------------------
# the extractor: failures
# --------------------------------------------------------------------------------------------
def small_window(now: datetime) -> Window:
    return Window(now - timedelta(days=3), now)


def test_throttle_storm_is_recovered(sandbox: SandboxServer, us, freeze, midnight) -> None:
    freeze(midnight)
    clean = us.extract("orders", small_window(midnight))
    sandbox.state.faults.add(Fault("shopify", "throttle", count=5))
    result = us.extract("orders", small_window(midnight))
    assert result.stats.throttled == 5 and result.stats.retries >= 5
    assert len(result.rows["orders"]) == len(clean.rows["orders"]) > 0


def test_realistic_bucket_is_exhausted_then_paced(
    sandbox: SandboxServer, config, sandbox_env, monkeypatch
) -> None:
    """A cheap query against an empty 1000-point bucket (restoring 50/s) is THROTTLED with
    the cost arithmetic; the client waits (requested − available) / 50 and then paces itself."""
    slept: list[float] = []
    real_sleep = http.sleep
    monkeypatch.setattr(http, "sleep", lambda s: (slept.append(s), real_sleep(s)))
    with SandboxServer(rate_limits="realistic", business=sandbox.state.business) as realistic:
        bucket = realistic.state.limits.bucket("shopify", "shopify_us", "graphql", 50, 1000)
        assert (bucket.capacity, bucket.rate) == (1000, 50)
        locations = "query($first: Int!) { locations(first: $first) { nodes { id name } } }"
        cost = shop.query_cost(locations, {"first": 10})
        bucket.take(bucket.tokens)  # earlier calls of this app spent the bucket
        body = post(realistic.url, locations, {"first": 10}).json()
        assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
        assert body["extensions"]["cost"]["requestedQueryCost"] == cost
        assert body["extensions"]["cost"]["throttleStatus"]["restoreRate"] == 50.0
        client = make_extractor(config, realistic.url).client
        bucket.take(bucket.tokens)
        client.query(locations, {"first": 10}, "locations", ("locations",))
        assert client.stats.throttled >= 1 and client.stats.pages == 1
        # the bucket now holds about the 8 points refunded: a 22-point query must wait
        bigger = shop.query_cost(locations, {"first": 20})
        client.query(locations, {"first": 20}, "locations", ("locations",))
        assert slept and 0 < slept[-1] <= bigger / 50 + 0.05  # paced ...
        assert client.stats.throttled == 1  # ... and so not throttled again


def test_token_revoked_mid_run_is_retried_with_the_same_token(
    sandbox: SandboxServer, us, freeze, midnight
) -> None:
    freeze(midnight)
    clean = us.extract("orders", small_window(midnight))
    calls = 0
    real_request = us.client.session.request

    def request(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 3:  # a later page
            sandbox.state.faults.add(Fault("shopify", "expire_tokens"))
        return real_request(*args, **kwargs)

    us.client.session.request = request
    result = us.extract("orders", small_window(midnight))
    assert result.stats.token_refreshes == 1
    assert len(result.rows["orders"]) == len(clean.rows["orders"])


@pytest.mark.parametrize(
    "fault, retry",
    [
        (Fault("shopify", "server_error", count=2, status=503), {}),
        (Fault("shopify", "slow", delay_s=1.5), {"read_timeout_s": 0.5}),
        (Fault("shopify", "truncate", count=2), {}),
    ],
    ids=["5xx", "slow", "truncated"],
)
def test_transient_failures_are_retried(
    sandbox: SandboxServer, config, sandbox_env, freeze, midnight, fault: Fault, retry: dict
) -> None:
    freeze(midnight)
    extractor = make_extractor(config, sandbox.url, **retry)
    clean = extractor.extract("orders", small_window(midnight))
    sandbox.state.faults.add(fault)
    result = extractor.extract("orders", small_window(midnight))
    assert result.stats.retries >= fault.count
    assert len(result.rows["orders"]) == len(clean.rows["orders"]) > 0


def test_exhausted_retries_name_connection_and_endpoint_without_secrets(
    sandbox: SandboxServer, config, sandbox_env, caplog, midnight
) -> None:
    caplog.set_level(logging.DEBUG)
    extractor = make_extractor(config, sandbox.url, max_attempts=3)
    sandbox.state.faults.add(Fault("shopify", "server_error", count=10))
    with pytest.raises(ApiError) as failure:
        extractor.extract("orders", small_window(midnight))
    sandbox.state.faults.clear()
    message = str(failure.value)
    assert "[shopify_us] orders failed" in message and "gave up after 3 attempts" in message
    wrong = shop.ShopifyExtractor(
        config.connection("shopify_us"),
        {"access_token": "shpat_not_the_right_token_123"},
        sandbox_url=sandbox.url,
        retry=RetrySettings(**FAST_RETRY),
    )
    with pytest.raises(ApiError, match="credentials refused after a token refresh") as refused:
        wrong.extract("inventory", None)
    assert refused.value.status == 401
    for text in (message, str(refused.value), caplog.text):
        assert US_TOKEN not in text and "shpat_not_the_right_token_123" not in text


def test_secrets_never_reach_the_logs(sandbox: SandboxServer, us, caplog, freeze, midnight) -> None:
    caplog.set_level(logging.DEBUG)
    freeze(midnight)
    sandbox.state.faults.add(Fault("shopify", "expire_tokens"))
    sandbox.state.faults.add(Fault("shopify", "server_error"))
    us.extract("orders", small_window(midnight))
    assert caplog.text and US_TOKEN not in caplog.text


@pytest.mark.calendar
def test_a_malformed_record_lands_in_quarantine(
    sandbox: SandboxServer, us, freeze, midnight, monkeypatch, tmp_path: Path
) -> None:
    now = midnight - timedelta(days=40)  # a moment no other test built the shop's view for
    freeze(now)
    real_payload = shopify_shop._order_payload
    broken: list[str] = []

    def payload(row, lines, refunds):
        node = real_payload(row, lines, refunds)
        if not broken and node["updatedAt"] >= (now - timedelta(days=1)).isoformat():
            node["totalTaxSet"] = {"shopMoney": {"amount": "12,50", "currencyCode": "USD"}}
            broken.append(node["id"])
        return node

    monkeypatch.setattr(shopify_shop, "_order_payload", payload)
    run = run_stream(us, "orders", tmp_path, days=days_before(now, 1, 1))
    assert run.quarantined == 1 and broken
    quarantined = lake(tmp_path, "orders", area="quarantine")
    assert quarantined["reason"].to_list() == ["total_tax: not a number: '12,50'"]
    assert json.loads(quarantined["record"][0])["id"] == broken[0]
    assert broken[0] not in set(lake(tmp_path, "orders")["shopify_order_id"])
    assert run.rows("orders") > 0


# --------------------------------------------------------------------------------------------
# late updates (a private business: the shared one stays as other tests expect it)
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def private_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(business=Business(seed=7, scale=0.1)) as server:
        yield server


@pytest.mark.calendar
def test_late_update_is_picked_up_by_the_next_run_of_today(
    private_sandbox: SandboxServer, config, sandbox_env, tmp_path: Path, monkeypatch
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    monkeypatch.setattr(private_sandbox.state, "clock", lambda: now)
    extractor = make_extractor(config, private_sandbox.url)
    late_at = now - timedelta(minutes=5)
    today = [late_at.date()]
    run_stream(extractor, "orders", tmp_path, days=today, now=now)
    before = set(lake(tmp_path, "orders")["shopify_order_id"])
    business = private_sandbox.state.business
    keys = business.apply_late_update("shopify_us", 1, late_at)
    legacy = business.orders.filter(pl.col("order_key").is_in(keys))["channel_order_id"][0]
    order_id = f"gid://shopify/Order/{legacy}"
    assert order_id not in before
    run_stream(extractor, "orders", tmp_path, days=today, now=now)
    orders = lake(tmp_path, "orders").filter(pl.col("shopify_order_id") == order_id)
    assert orders["financial_status"].to_list() == ["REFUNDED"]
    assert orders["updated_at"].to_list() == [late_at]
    refunds = lake(tmp_path, "refunds").filter(pl.col("shopify_order_id") == order_id)
    assert refunds.filter(pl.col("created_at") == late_at)["amount"].cast(pl.Float64).sum() > 0
