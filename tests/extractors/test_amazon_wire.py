"""Amazon SP-API: the emulator's wire format (auth errors, headers, validation, the report
lifecycle and expiring document URLs), over real HTTP."""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from sandbox.amazon import reports as amazon_reports
from sandbox.server import SANDBOX_CREDENTIALS, Fault, SandboxServer
from tests.extractors.amazon_helpers import (
    US,
    last_days,
    pairs_with_sales_data,
    today,
)


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
