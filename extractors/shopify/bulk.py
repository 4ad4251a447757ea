"""Shopify bulk operations (reference B.4): start a bulk query, poll it, download its JSONL
result and regroup the lines into the nested node shape a paginated query returns.

* **Start** with ``bulkOperationRunQuery``. Shopify runs one bulk query per app and shop at a
  time; when another is in progress (its gid is in the user error) we wait for it to end,
  then start ours. Any other user error is final: the query itself is wrong.
* **Poll** ``node(id:)`` with a growing interval (``POLL_FIRST_S`` doubling to
  ``POLL_MAX_S``), logging progress (``objectCount``) at most every ``PROGRESS_EVERY_S``.
* **Failures.** A FAILED operation whose ``errorCode`` is transient (``INTERNAL_SERVER_ERROR``)
  is restarted once; ACCESS_DENIED, TIMEOUT (the query is too heavy to succeed by repeating
  it), CANCELED (someone cancelled it on purpose) and EXPIRED end the extraction with an
  error naming the operation, its status, its error code and whether partial data exists.
* **Download** the signed URL with a plain GET (no token), streamed line by line. An expired
  URL (GCS's ``ExpiredToken``) is fetched afresh by one more poll, then the operation is
  restarted once (the same single restart a failure may use). Transport errors and 5xx are
  retried with the connection's retry settings.
* **Regroup.** Line order is not guaranteed, so the whole file is read first, then every line
  with ``__parentId`` is attached to its parent under its connection's key as a complete
  ``{nodes, pageInfo}`` page. A line that is not a JSON object, or a child whose parent is not
  in the file, is quarantined with the reason, never dropped.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import defaultdict
from typing import Any
from urllib.parse import urlsplit

import requests

from extractors import http
from extractors.base import ExtractResult
from extractors.http import ApiError, TransientError
from extractors.shopify.client import ShopifyClient, log

START = """
mutation BulkStart($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}"""
POLL = """
query BulkPoll($id: ID!) {
  node(id: $id) {
    ... on BulkOperation {
      id status errorCode objectCount rootObjectCount fileSize url partialDataUrl
    }
  }
}"""
POLL_FIRST_S = 0.05
POLL_MAX_S = 10.0
PROGRESS_EVERY_S = 10.0
TIMEOUT_S = 6 * 3600.0  # a bulk query that runs longer than this is given up
TERMINAL = ("COMPLETED", "FAILED", "CANCELED", "EXPIRED")
TRANSIENT_ERROR_CODES = ("INTERNAL_SERVER_ERROR",)
MAX_WAITS_FOR_OTHERS = 3  # operations of other processes we wait for before giving up
_RUNNING = re.compile(r"gid://shopify/BulkOperation/\d+")
_XML_CODE = re.compile(r"<Code>([^<]*)</Code>")
_XML_DETAILS = re.compile(r"<(?:Details|Message)>([^<]*)</")
ENDPOINT = "bulkOperation"


class _Expired(Exception):
    """The result URL answered GCS's ExpiredToken."""


def _gid_kind(value: object) -> str | None:
    """``gid://shopify/LineItem/9`` -> ``LineItem``."""
    parts = value.split("/") if isinstance(value, str) else []
    return parts[3] if len(parts) > 4 and value.startswith("gid://shopify/") else None


class BulkQuery:
    """One bulk query of one shop, run to a downloaded, regrouped result."""

    def __init__(self, client: ShopifyClient, query: str):
        self.client = client
        self.query = query
        self.restarts_left = 1
        self.operations: list[str] = []  # the gids started, for messages and tests

    # -- the operation -------------------------------------------------------------------
    def _start(self) -> dict:
        for _ in range(MAX_WAITS_FOR_OTHERS + 1):
            payload = self.client.query(
                START, {"query": self.query}, "bulkOperationRunQuery", ("bulkOperationRunQuery",)
            )
            errors = [e for e in (payload or {}).get("userErrors") or [] if isinstance(e, dict)]
            if not errors and isinstance((payload or {}).get("bulkOperation"), dict):
                operation = payload["bulkOperation"]
                self.operations.append(operation["id"])
                self.client.stats.reports_requested += 1
                log.info("[%s] bulk operation %s started", self.client.connection, operation["id"])
                return operation
            message = "; ".join(str(e.get("message")) for e in errors) or "no bulkOperation"
            running = _RUNNING.search(message) if "already in progress" in message else None
            if running is None:
                raise ApiError(
                    self.client.connection,
                    "bulkOperationRunQuery",
                    f"Shopify refused the bulk query: {message}",
                )
            log.info(
                "[%s] another bulk query (%s) is in progress for this app and shop; waiting "
                "for it to end before starting ours",
                self.client.connection,
                running.group(0),
            )
            self._wait(running.group(0))
        raise ApiError(
            self.client.connection,
            "bulkOperationRunQuery",
            f"other bulk queries kept the shop busy; gave up after {MAX_WAITS_FOR_OTHERS} waits",
        )

    def _poll(self, operation_id: str) -> dict:
        operation = self.client.query(POLL, {"id": operation_id}, "bulk operation poll", ("node",))
        if not isinstance(operation, dict) or "status" not in operation:
            raise ApiError(
                self.client.connection, ENDPOINT, f"bulk operation {operation_id} was not found"
            )
        return operation

    def _wait(self, operation_id: str) -> dict:
        """Poll until the operation ends (any terminal status)."""
        delay, started = POLL_FIRST_S, time.monotonic()
        logged = started
        while True:
            operation = self._poll(operation_id)
            if operation["status"] in TERMINAL:
                return operation
            now = time.monotonic()
            if now - started > TIMEOUT_S:
                raise ApiError(
                    self.client.connection,
                    ENDPOINT,
                    f"bulk operation {operation_id} still {operation['status']} after "
                    f"{TIMEOUT_S / 3600:.0f} h; giving up",
                )
            if now - logged >= PROGRESS_EVERY_S:
                logged = now
                log.info(
                    "[%s] bulk operation %s %s: %s objects so far (%.0fs)",
                    self.client.connection,
                    operation_id,
                    operation["status"],
                    operation.get("objectCount"),
                    now - started,
                )
            self.client.stats.wait_seconds += delay
            http.sleep(delay)
            delay = min(POLL_MAX_S, delay * 2)

    def _restart(self, why: str) -> bool:
        if self.restarts_left <= 0:
            return False
        self.restarts_left -= 1
        log.warning("[%s] %s; restarting the bulk query once", self.client.connection, why)
        return True

    def _completed(self) -> dict:
        operation = self._start()
        while True:
            operation = self._wait(operation["id"])
            if operation["status"] == "COMPLETED":
                return operation
            code = operation.get("errorCode")
            if (
                operation["status"] == "FAILED"
                and code in TRANSIENT_ERROR_CODES
                and self._restart(f"bulk operation {operation['id']} failed with {code}")
            ):
                operation = self._start()
                continue
            raise ApiError(self.client.connection, ENDPOINT, _describe(operation))

    # -- the result ----------------------------------------------------------------------
    def lines(self) -> list[bytes]:
        """The result file's lines (an operation without objects has no file)."""
        operation = self._completed()
        refreshed = False
        while True:
            url = operation.get("url")
            if not url:
                return []
            try:
                return self._download(url)
            except _Expired as exc:
                if not refreshed:
                    refreshed = True
                    log.info(
                        "[%s] the result URL of %s expired (%s); polling for a fresh one",
                        self.client.connection,
                        operation["id"],
                        exc,
                    )
                    operation = self._poll(operation["id"])
                    continue
                if not self._restart(f"the result URL of {operation['id']} expired again"):
                    raise ApiError(
                        self.client.connection,
                        ENDPOINT,
                        f"the result URL of bulk operation {operation['id']} expired ({exc}) "
                        "after a fresh poll and a restart",
                    ) from None
                operation, refreshed = self._completed(), False

    def _download(self, url: str) -> list[bytes]:
        retry = self.client.retry
        last = ""
        for attempt in range(1, retry.max_attempts + 1):
            try:
                return self._get(url)
            except (TransientError, requests.RequestException) as exc:
                last = getattr(exc, "cause", None) or type(exc).__name__
                if attempt < retry.max_attempts:
                    wait = min(retry.backoff_max_s, retry.backoff_base_s * 2**attempt)
                    wait *= random.uniform(0.5, 1.0)
                    self.client.stats.retries += 1
                    self.client.stats.wait_seconds += wait
                    http.sleep(wait)
        raise ApiError(
            self.client.connection,
            "bulk result download",
            f"gave up after {retry.max_attempts} attempts; last error: {last}",
        )

    def _get(self, url: str) -> list[bytes]:
        """One streamed GET of the result (no Shopify token: the URL is signed)."""
        self.client.stats.requests += 1
        timeout = (self.client.retry.connect_timeout_s, self.client.retry.read_timeout_s)
        with self.client.session.get(url, stream=True, timeout=timeout) as response:
            if response.status_code in (400, 403):
                body = response.text
                code = (_XML_CODE.findall(body) or ["?"])[0]
                details = (_XML_DETAILS.findall(body) or [body[:200]])[-1]
                if code == "ExpiredToken":
                    raise _Expired(details)
                raise ApiError(
                    self.client.connection,
                    "bulk result download",
                    f"HTTP {response.status_code} {code}: {details}",
                    response.status_code,
                )
            if response.status_code >= 500:
                raise TransientError(f"HTTP {response.status_code}", response.status_code)
            if response.status_code != 200:
                raise ApiError(
                    self.client.connection,
                    "bulk result download",
                    f"HTTP {response.status_code}: {response.text[:200]}",
                    response.status_code,
                )
            lines = [line for line in response.iter_lines() if line]
        self.client.stats.bytes_received += sum(len(line) + 1 for line in lines)
        self.client.stats.pages += 1
        return lines


def _describe(operation: dict) -> str:
    """An ended operation's status for an error message; the signed partial-data URL is
    named (without its signature, which grants access to the shop's data) if there is one."""
    partial = operation.get("partialDataUrl")
    where = urlsplit(partial)._replace(query="").geturl() if partial else None
    return (
        f"bulk operation {operation.get('id')} ended {operation.get('status')} "
        f"(errorCode {operation.get('errorCode') or 'none'}, {operation.get('objectCount')} "
        f"objects); "
        + (f"partial data at {where} (signed URL not logged)" if where else "no partial data")
    )


def regroup(
    lines: list[bytes],
    root_entity: str,
    children: dict[str, tuple[str, str]],
    result: ExtractResult,
) -> list[dict]:
    """The root nodes of a bulk result with their children attached as complete pages.

    ``children`` maps a child's gid kind to (its connection's key, its entity for
    quarantine), e.g. ``{"LineItem": ("lineItems", "order_lines")}``.
    """
    roots: list[dict] = []
    kids: dict[str, list[dict]] = defaultdict(list)
    for number, raw in enumerate(lines, 1):
        try:
            obj: Any = json.loads(raw)
        except ValueError as exc:
            text = raw.decode("utf-8", "replace")
            result.reject(root_entity, f"bulk result line {number}: not JSON ({exc})", text)
            continue
        if not isinstance(obj, dict):
            result.reject(root_entity, f"bulk result line {number}: not a JSON object", obj)
        elif "__parentId" in obj:
            kids[str(obj.pop("__parentId"))].append(obj)
        else:
            roots.append(obj)
    for root in roots:
        for key, _ in children.values():
            root[key] = {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
    by_id = {root.get("id"): root for root in roots}
    for parent_id, items in kids.items():
        parent = by_id.get(parent_id)
        for item in items:
            kind = _gid_kind(item.get("id"))
            key, entity = children.get(kind or "", ("", root_entity))
            if parent is None or not key:
                result.reject(
                    entity,
                    f"bulk result: a {kind or 'line'} whose parent {parent_id} is not in the file"
                    if key
                    else f"bulk result: an unexpected child {item.get('id')!r} of {parent_id}",
                    {**item, "__parentId": parent_id},
                )
                continue
            parent[key]["nodes"].append(item)
    return roots
