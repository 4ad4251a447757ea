"""Amazon SP-API failures over real HTTP: throttling, tokens, server errors, timeouts,
truncation, the retry budget, credentials, marketplaces, secrets kept out of errors and logs.

Every test extracts through the sandbox and checks the lake (or the result) against the
simulated business, so a lost page, a doubled order or a wrong sum fails."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from extractors.amazon import AmazonExtractor
from extractors.base import Window
from extractors.http import ApiError
from extractors.runner import SAFETY_LAG
from orchestration.config import resolve_secrets
from sandbox.server import Fault, SandboxServer
from tests.extractors.amazon_helpers import (
    FAST_RETRY,
    last_days,
    make_extractor,
    pairs_with_sales_data,
    today,
)


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
