"""The sandbox's Shopify bulk operations over real HTTP: the start's rules and user errors,
the lifecycle, the JSONL file, the signed URL and the bulk faults."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from sandbox.server import Fault, SandboxServer
from sandbox.shopify import bulk
from tests.extractors.test_shopify import EU_TOKEN, post

START = """mutation($q: String!) { bulkOperationRunQuery(query: $q) {
  bulkOperation { id status } userErrors { field message code } } }"""
POLL = """query($id: ID!) { node(id: $id) { ... on BulkOperation {
  id status errorCode objectCount rootObjectCount fileSize url partialDataUrl } } }"""
ORDERS = """{ orders(query: "updated_at:>='%s'", sortKey: UPDATED_AT) { edges { node {
  id updatedAt lineItems { edges { node { id quantity } } } refunds { id createdAt } } } } }"""
EU_PATH = "/shopify/channelhouse-eu/admin/api/%s/graphql.json"


@pytest.fixture
def now(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Yesterday's midnight, the sandbox clock frozen there (the moment the extractor tests
    use, so the shop's view is built once)."""
    moment = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), UTC)
    moment -= timedelta(days=1)
    monkeypatch.setattr(sandbox.state, "clock", lambda: moment)
    return moment


def orders_since(now: datetime, days: int = 3) -> str:
    return ORDERS % (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def start(sandbox: SandboxServer, query: str, **kw) -> dict:
    body = post(sandbox.url, START, {"q": query}, **kw).json()
    return body | body["data"]["bulkOperationRunQuery"]


def finished(sandbox: SandboxServer, operation_id: str, **kw) -> dict:
    for _ in range(400):
        operation = post(sandbox.url, POLL, {"id": operation_id}, **kw).json()["data"]["node"]
        if operation["status"] not in bulk.IN_PROGRESS:
            return operation
        time.sleep(0.025)
    raise AssertionError(f"{operation_id} did not finish")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ shop { id } }", "Bulk queries must contain at least one connection."),
        (
            "{ orders { edges { node { id refunds { refundLineItems { edges { node { id } } } }"
            " } } } }",
            "Queries that contain a connection field within a list field are not currently "
            "supported.",
        ),
        (
            "{ products { edges { node { id variants { edges { node { id inventoryItem {"
            " inventoryLevels { edges { node { id } } } } } } } } } } }",
            "Bulk queries cannot contain connections with a nesting depth greater than 2.",
        ),
        (
            "{ a: orders { edges { node { id } } } b: orders { edges { node { id } } } "
            "c: orders { edges { node { id } } } d: orders { edges { node { id } } } "
            "e: orders { edges { node { id } } } f: orders { edges { node { id } } } }",
            "Bulk queries cannot contain more than 5 connections.",
        ),
        ("{ orders { edges { node { nope } } } }", "Invalid bulk query: Cannot query field"),
        (
            '{ orders(query: "tag:vip") { edges { node { id } } } }',
            "Invalid bulk query: Invalid search query 'tag:vip'",
        ),
    ],
)
def test_a_query_shopify_refuses_is_a_user_error(
    sandbox: SandboxServer, now, query: str, message: str
) -> None:
    answer = start(sandbox, query)
    assert answer["bulkOperation"] is None
    assert len(answer["userErrors"]) == 1
    assert answer["userErrors"][0]["message"].startswith(message)
    assert answer["extensions"]["cost"]["requestedQueryCost"] == 10  # a mutation's flat cost


def test_a_bulk_query_runs_to_a_jsonl_file_with_parent_ids(sandbox: SandboxServer, now) -> None:
    answer = start(sandbox, orders_since(now))
    assert answer["userErrors"] == [] and answer["bulkOperation"]["status"] in (
        "CREATED",
        "RUNNING",
    )
    operation = finished(sandbox, answer["bulkOperation"]["id"])
    assert operation["status"] == "COMPLETED" and operation["errorCode"] is None
    response = requests.get(operation["url"], timeout=30)  # no token: the URL is signed
    assert response.status_code == 200
    assert int(operation["fileSize"]) == len(response.content)
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert int(operation["objectCount"]) == len(lines)
    orders = {line["id"]: line for line in lines if "__parentId" not in line}
    items = [line for line in lines if "__parentId" in line]
    assert int(operation["rootObjectCount"]) == len(orders) > 10
    assert items and all(item["__parentId"] in orders for item in items)
    assert all(i["id"].startswith("gid://shopify/LineItem/") for i in items)
    assert all("lineItems" not in o and isinstance(o["refunds"], list) for o in orders.values())
    positions = [i for i, line in enumerate(lines) if "__parentId" not in line]
    assert positions != list(range(len(orders)))  # shuffled: order is not guaranteed
    poll = post(sandbox.url, POLL, {"id": operation["id"]}).json()
    assert poll["extensions"]["cost"]["requestedQueryCost"] == 1
    current = post(sandbox.url, "{ currentBulkOperation { id status } }").json()["data"]
    assert current["currentBulkOperation"] == {"id": operation["id"], "status": "COMPLETED"}


def test_durations_scale_with_the_rate_limit_profile() -> None:
    op = bulk._Operation(1, "shopify_us", "{}", datetime.now(UTC), time.monotonic() - 2.5)
    op.lines = [b"{}"] * 1000  # RUNNING lasts 2 s + 1000 / 1000 s = 3 s at "realistic"
    op.ready.set()
    status, count, completed = op.status(1.0, datetime.now(UTC))  # 2.5 s in: 1.5 s running
    assert (status, completed) == ("RUNNING", None) and count == 500
    assert op.status(1000.0, datetime.now(UTC))[0] == "COMPLETED"  # the "fast" profile
    fresh = bulk._Operation(2, "shopify_us", "{}", datetime.now(UTC), time.monotonic())
    assert fresh.status(1.0, datetime.now(UTC))[0] == "CREATED"


def test_one_bulk_query_at_a_time_per_shop(
    sandbox: SandboxServer, now, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "CREATED_S", 500.0)  # 0.5 s at the fast profile
    first = start(sandbox, orders_since(now))["bulkOperation"]["id"]
    second = start(sandbox, orders_since(now))
    assert second["bulkOperation"] is None
    assert second["userErrors"] == [
        {
            "field": None,
            "code": "OPERATION_IN_PROGRESS",
            "message": "A bulk query operation for this app and shop is already in progress: "
            + first,
        }
    ]
    eu = start(sandbox, orders_since(now), token=EU_TOKEN, path=EU_PATH % "2025-10")
    assert eu["userErrors"] == []  # another shop
    newer = start(sandbox, orders_since(now), token=EU_TOKEN, path=EU_PATH % "2026-01")
    assert newer["userErrors"] == []  # from 2026-01 five may run at once
    finished(sandbox, first)


def test_a_forged_or_expired_url_gets_the_storage_error(
    sandbox: SandboxServer, now, monkeypatch: pytest.MonkeyPatch
) -> None:
    operation = finished(sandbox, start(sandbox, orders_since(now, 1))["bulkOperation"]["id"])
    forged = operation["url"].replace("X-Goog-Signature=", "X-Goog-Signature=0")
    response = requests.get(forged, timeout=30)
    assert response.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in response.text
    sandbox.state.faults.add(Fault("shopify", "expire_url"))
    response = requests.get(operation["url"], timeout=30)
    assert response.status_code == 403 and "<Code>ExpiredToken</Code>" in response.text
    assert requests.get(operation["url"], timeout=30).status_code == 200  # one request only
    later = now + timedelta(days=8)  # results are kept seven days
    monkeypatch.setattr(sandbox.state, "clock", lambda: later)
    response = requests.get(operation["url"], timeout=30)
    assert response.status_code == 403 and "<Code>ExpiredToken</Code>" in response.text
    expired = post(sandbox.url, POLL, {"id": operation["id"]}).json()["data"]["node"]
    assert (expired["status"], expired["url"]) == ("EXPIRED", None)


def test_failed_and_cancelled_operations(sandbox: SandboxServer, now) -> None:
    added = requests.post(
        f"{sandbox.url}/_sandbox/faults",
        json={"api": "shopify", "kind": "bulk_failed", "error_code": "TIMEOUT"},
        timeout=30,
    )
    assert added.status_code == 201
    assert post(sandbox.url, "{ shop { id } }").status_code == 200  # other requests pass by
    failed = finished(sandbox, start(sandbox, orders_since(now))["bulkOperation"]["id"])
    assert (failed["status"], failed["errorCode"], failed["url"]) == ("FAILED", "TIMEOUT", None)
    partial = requests.get(failed["partialDataUrl"], timeout=30).text.splitlines()
    assert len(partial) == int(failed["objectCount"]) > 0
    sandbox.state.faults.add(Fault("shopify", "bulk_canceled"))
    cancelled = finished(sandbox, start(sandbox, orders_since(now))["bulkOperation"]["id"])
    assert (cancelled["status"], cancelled["url"], cancelled["partialDataUrl"]) == (
        "CANCELED",
        None,
        None,
    )
    stats = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=30).json()
    assert stats["faults_fired"]["shopify:bulk_failed"] >= 1
    assert stats["faults_fired"]["shopify:bulk_canceled"] >= 1
