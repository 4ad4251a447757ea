"""The sandbox's HTTP control plane: what the demo and other processes use to steer it."""

from __future__ import annotations

import requests

from sandbox.server import SANDBOX_CREDENTIALS


def _walmart_token(url: str) -> requests.Response:
    creds = SANDBOX_CREDENTIALS["walmart_us"]
    return requests.post(
        f"{url}/walmart/v3/token",
        auth=(creds["client_id"], creds["client_secret"]),
        data={"grant_type": "client_credentials"},
        headers={
            "Accept": "application/json",
            "WM_SVC.NAME": "Walmart Marketplace",
            "WM_QOS.CORRELATION_ID": "c0ffee",
        },
        timeout=10,
    )


def test_faults_over_http_fire_in_the_apis_wire_format(sandbox):
    url = sandbox.url
    assert _walmart_token(url).ok
    added = requests.post(
        f"{url}/_sandbox/faults", json={"api": "walmart", "kind": "throttle", "count": 2}, timeout=5
    )
    assert added.status_code == 201 and added.json() == {"pending": 1}
    for _ in range(2):
        throttled = _walmart_token(url)
        assert throttled.status_code == 429
        assert "REQUEST_THRESHOLD_VIOLATED" in throttled.text
    assert _walmart_token(url).ok  # the fault is used up
    stats = requests.get(f"{url}/_sandbox/stats", timeout=5).json()
    assert stats["faults_fired"]["walmart:throttle"] >= 2 and stats["faults_pending"] == 0


def test_a_bad_fault_is_refused_with_the_reason(sandbox):
    response = requests.post(
        f"{sandbox.url}/_sandbox/faults", json={"api": "amazon", "kind": "meteor"}, timeout=5
    )
    assert response.status_code == 400
    assert "unknown fault kind 'meteor'" in response.json()["error"]
    cleared = requests.delete(f"{sandbox.url}/_sandbox/faults", timeout=5)
    assert cleared.json() == {"pending": 0}


def test_truth_over_http_matches_the_business(sandbox):
    rows = requests.get(f"{sandbox.url}/_sandbox/truth?account=walmart_us", timeout=30).json()
    assert rows and {r["account"] for r in rows} == {"walmart_us"}
    assert {"purchase_date", "orders", "lines", "units", "gross"} <= set(rows[0])
    assert sum(r["orders"] for r in rows) > 100


def test_late_updates_over_http_refund_old_orders_now():
    from sandbox.server import SandboxServer

    with SandboxServer(port=0, scale=0.05, seed=3) as own:  # not the shared business
        response = requests.post(
            f"{own.url}/_sandbox/late-updates", json={"account": "shopify_us", "n": 2}, timeout=30
        )
        keys = response.json()["order_keys"]
        assert len(keys) == 2
        view = own.state.business.orders_view(own.state.now())
        updated = view.filter(view["order_key"].is_in(keys))
        assert set(updated["is_refunded"]) == {"full"}
