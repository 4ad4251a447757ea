"""Shopify bulk operations (reference B.4): ``bulkOperationRunQuery``, its lifecycle, polling
through ``node(id:)`` / ``currentBulkOperation``, and the JSONL result behind a signed URL.

* **Start.** The mutation validates the bulk query as Shopify does (at least one connection,
  at most five, nested at most two deep, no connection inside a list field; anything the
  schema refuses is an "Invalid bulk query") and answers with ``userErrors`` rather than
  GraphQL errors. One query operation runs per app and shop at a time (five from API version
  2026-01); a second start gets Shopify's "already in progress" user error with the running
  operation's gid.
* **Lifecycle.** CREATED -> RUNNING -> COMPLETED on the sandbox's monotonic clock, the
  durations (``CREATED_S``, ``RUNNING_BASE_S`` + objects / ``OBJECTS_PER_S``) divided by the
  rate-limit profile's multiplier as the Amazon reports are. ``objectCount`` grows while it
  runs. The faults ``bulk_failed`` (FAILED with the fault's ``error_code`` half way, the part
  written so far at ``partialDataUrl``) and ``bulk_canceled`` (CANCELING -> CANCELED) apply to
  the operation started by the request that carries them.
* **Result.** The query runs over the shop's view when the operation starts (its data is as of
  that moment), unpaged; every node is one JSON line, a nested connection's items are lines
  of their own with ``__parentId``, list fields stay inline, and the line order is shuffled
  (Shopify does not guarantee it). The file is served at a GCS-style signed URL (plain GET, no
  token) that expires seven days after the operation ends; an expired or forged URL gets
  GCS's 403 XML (``ExpiredToken`` / ``SignatureDoesNotMatch``), as does a request carrying
  the ``expire_url`` fault.

The bulk query itself is not charged to the cost bucket (Shopify runs it outside the rate
limits); the mutation costs its flat 10 points and every poll its own query cost.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, request
from graphql import OperationDefinitionNode, execute_sync

from sandbox.shopify.common import API, UNPAGED, gid, gid_number, iso
from sandbox.shopify.cost import Charge, _plan, is_mutation, parsed_document
from sandbox.shopify.schema import SCHEMA
from sandbox.shopify.shop import ShopView
from sandbox.wire import SandboxState

CREATED_S = 1.0  # realistic seconds in CREATED, divided by the profile's multiplier
RUNNING_BASE_S = 2.0  # ... fixed part of RUNNING
OBJECTS_PER_S = 1000.0  # ... and its throughput (an assumption: Shopify publishes none)
CANCELING_S = 1.0
URL_TTL = timedelta(days=7)
MAX_CONNECTIONS = 5
MAX_DEPTH = 2
IN_PROGRESS = ("CREATED", "RUNNING", "CANCELING")
GOOG_DATE = "%Y%m%dT%H%M%SZ"


@dataclass
class _Operation:
    number: int
    account: str
    query: str
    created_at: datetime  # sandbox clock
    created_mono: float
    outcome: str = "COMPLETED"  # or FAILED / CANCELED (an injected fault)
    error_code: str | None = None
    lines: list[bytes] = field(default_factory=list)  # the JSONL file (lines without "\n")
    roots: int = 0
    ready: threading.Event = field(default_factory=threading.Event)  # the file is written
    created_s: float = field(default_factory=lambda: CREATED_S)  # as configured at its start

    @property
    def gid(self) -> str:
        return gid("BulkOperation", self.number)

    def running_s(self) -> float:
        return RUNNING_BASE_S + len(self.lines) / OBJECTS_PER_S

    def status(self, multiplier: float, now: datetime) -> tuple[str, int, datetime | None]:
        """(status, objectCount, completedAt) at this moment."""
        elapsed = (time.monotonic() - self.created_mono) * multiplier  # realistic seconds
        running = self.running_s() / (2 if self.outcome == "FAILED" else 1)
        if elapsed < self.created_s:
            return "CREATED", 0, None
        if self.outcome != "CANCELED" and not self.ready.is_set():
            return "RUNNING", 0, None  # the sandbox is still executing the query
        if self.outcome == "CANCELED":
            done = self.created_s + CANCELING_S
            if elapsed < done:
                return "CANCELING", 0, None
            return "CANCELED", 0, self._wall(done, multiplier)
        if elapsed < self.created_s + running:
            share = (elapsed - self.created_s) / self.running_s()
            return "RUNNING", int(len(self.lines) * share), None
        ended = self._wall(self.created_s + running, multiplier)
        if self.outcome == "FAILED":
            return "FAILED", self.partial_lines(), ended
        return ("EXPIRED" if now > ended + URL_TTL else "COMPLETED"), len(self.lines), ended

    def partial_lines(self) -> int:
        return len(self.lines) // 2

    def _wall(self, realistic_s: float, multiplier: float) -> datetime:
        return self.created_at + timedelta(seconds=realistic_s / multiplier)


@dataclass
class BulkOperations:
    """Every bulk operation of the sandbox, by number; the signing key of their URLs."""

    state: SandboxState
    _ops: dict[int, _Operation] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(4_400_000_000_000))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _key: bytes = field(default_factory=lambda: secrets.token_bytes(16))

    def add(self, op: _Operation) -> None:
        with self._lock:
            self._ops[op.number] = op

    def new_number(self) -> int:
        with self._lock:
            return next(self._ids)

    def get(self, number: int) -> _Operation | None:
        with self._lock:
            return self._ops.get(number)

    def of(self, account: str) -> list[_Operation]:
        with self._lock:
            return [op for op in self._ops.values() if op.account == account]

    def sign(self, name: str, issued: str) -> str:
        return hmac.new(self._key, f"{name}|{issued}".encode(), hashlib.sha256).hexdigest()

    def payload(self, op: _Operation, host_url: str, started: bool = False) -> dict:
        """The BulkOperation object as a poll sees it now; as bulkOperationRunQuery answers
        (CREATED, whatever the clock says by then) when ``started``."""
        now = self.state.now()
        if started:
            status, count, completed = "CREATED", 0, None
        else:
            status, count, completed = op.status(self.state.limits.multiplier, now)
        url = partial = size = None
        if status == "COMPLETED" and completed is not None:
            url = self._url(host_url, f"{op.number}.jsonl", completed)
            size = str(sum(len(line) + 1 for line in op.lines))
        if status == "FAILED" and completed is not None and count:
            partial = self._url(host_url, f"{op.number}-partial.jsonl", completed)
        return {
            "__typename": "BulkOperation",
            "id": op.gid,
            "status": status,
            "errorCode": op.error_code if status == "FAILED" else None,
            "type": "QUERY",
            "createdAt": iso(op.created_at),
            "completedAt": iso(completed),
            "objectCount": str(count),
            "rootObjectCount": str(op.roots if status == "COMPLETED" else 0),
            "fileSize": size,
            "url": url,
            "partialDataUrl": partial,
            "query": op.query,
        }

    def _url(self, host_url: str, name: str, completed: datetime) -> str:
        issued = completed.strftime(GOOG_DATE)
        return (
            f"{host_url}{API}/_bulk/{name}?X-Goog-Algorithm=GOOG4-RSA-SHA256"
            f"&X-Goog-Date={issued}&X-Goog-Expires={int(URL_TTL.total_seconds())}"
            f"&X-Goog-SignedHeaders=host&X-Goog-Signature={self.sign(name, issued)}"
        )


class _Unpaged:
    """A shop view whose connections return ``bulk_page_size`` items when ``first`` is absent."""

    def __init__(self, view: ShopView, bulk_page_size: int = UNPAGED):
        self._view = view
        self.bulk_page_size = bulk_page_size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._view, name)


@dataclass
class ShopBulk:
    """The root value of one GraphQL request: the bulk fields of one shop's API."""

    ops: BulkOperations
    account: str
    version: str
    host_url: str
    path: str

    def node(self, node_id: str) -> dict | None:
        number = gid_number(node_id)
        op = self.ops.get(number) if node_id.startswith("gid://shopify/BulkOperation/") else None
        return self.ops.payload(op, self.host_url) if op and op.account == self.account else None

    def current(self, type: str) -> dict | None:
        ops = self.ops.of(self.account) if type == "QUERY" else []
        return self.ops.payload(ops[-1], self.host_url) if ops else None

    def run(self, query: str, info: Any) -> dict:
        """``bulkOperationRunQuery``: validate, refuse a concurrent start, run, register."""
        document, plan, problem = _checked(query)
        if problem:
            return _user_errors(problem, "INVALID", ["query"])
        limit = 5 if self.version >= "2026-01" else 1  # "unstable" sorts after the dates
        multiplier, now = self.ops.state.limits.multiplier, self.ops.state.now()
        running = [
            op for op in self.ops.of(self.account) if op.status(multiplier, now)[0] in IN_PROGRESS
        ]
        if len(running) >= limit:
            return _user_errors(
                "A bulk query operation for this app and shop is already in progress: "
                f"{running[-1].gid}",
                "OPERATION_IN_PROGRESS",
                None,
            )
        # a dry run over one item a connection: the arguments' errors (search syntax, sort
        # keys) are the start's user errors, not a failure of the running operation
        dry = execute_sync(SCHEMA, document, context_value=_Unpaged(info.context, 1))
        if dry.errors:
            return _user_errors(f"Invalid bulk query: {dry.errors[0].message}", "INVALID", None)
        op = _Operation(self.ops.new_number(), self.account, query, now, time.monotonic())
        fault = self.ops.state.faults.take(API, self.path, kinds=("bulk_failed", "bulk_canceled"))
        if fault is not None:
            op.outcome = "FAILED" if fault.kind == "bulk_failed" else "CANCELED"
            op.error_code = fault.error_code if fault.kind == "bulk_failed" else None
        self.ops.add(op)
        if op.outcome != "CANCELED":
            threading.Thread(
                target=_write, args=(op, document, plan, info.context), daemon=True
            ).start()
        return {
            "bulkOperation": self.ops.payload(op, self.host_url, started=True),
            "userErrors": [],
        }


def _write(op: _Operation, document: Any, plan: tuple[Charge, ...], view: ShopView) -> None:
    """Execute the bulk query unpaged and write its JSONL file (a background thread: a big
    shop's history takes the emulator longer than a client waits for one response)."""
    result = execute_sync(SCHEMA, document, context_value=_Unpaged(view))
    op.lines, op.roots = jsonl_lines(plan, result.data or {}, op.number)
    op.ready.set()


def _user_errors(message: str, code: str, field_path: list[str] | None) -> dict:
    return {
        "bulkOperation": None,
        "userErrors": [{"code": code, "field": field_path, "message": message}],
    }


def _checked(query: str) -> tuple[Any, tuple[Charge, ...], str | None]:
    """(document, cost plan, the user error's message if Shopify would refuse the query)."""
    document, errors = parsed_document(query)
    if document is None or errors:
        return None, (), f"Invalid bulk query: {errors[0].message}"
    if any(isinstance(d, OperationDefinitionNode) and is_mutation(d) for d in document.definitions):
        return None, (), "Invalid bulk query: a bulk query operation cannot run a mutation"
    plan = _plan(query, None)
    connections, depth, in_list = _shape(plan)
    if connections == 0:
        return None, (), "Bulk queries must contain at least one connection."
    if connections > MAX_CONNECTIONS:
        return None, (), f"Bulk queries cannot contain more than {MAX_CONNECTIONS} connections."
    if depth > MAX_DEPTH:
        return (
            None,
            (),
            f"Bulk queries cannot contain connections with a nesting depth greater than {MAX_DEPTH}.",
        )
    if in_list:
        return (
            None,
            (),
            "Queries that contain a connection field within a list field are not currently "
            "supported.",
        )
    return document, plan, None


def _shape(
    plan: tuple[Charge, ...], depth: int = 0, in_list: bool = False
) -> tuple[int, int, bool]:
    """(connections, deepest connection nesting, a connection inside a list field)."""
    count, deepest, bad = 0, depth, False
    for charge in plan:
        inner_depth = depth + (charge.kind == "connection")
        if charge.kind == "connection":
            count, bad = count + 1, bad or in_list
        c, d, b = _shape(charge.children, inner_depth, in_list or charge.kind == "list")
        count, deepest, bad = count + c, max(deepest, inner_depth, d), bad or b
    return count, deepest, bad


def _items(charge: Charge, value: Any) -> list[dict]:
    if not isinstance(value, dict) or not charge.items:
        return []
    if len(charge.items) == 1:
        return [n for n in value.get(charge.items[0]) or [] if isinstance(n, dict)]
    edges = value.get(charge.items[0]) or []
    return [e[charge.items[1]] for e in edges if isinstance(e.get(charge.items[1]), dict)]


def jsonl_lines(plan: tuple[Charge, ...], data: dict, seed: int) -> tuple[list[bytes], int]:
    """The JSONL file of an executed bulk query (lines shuffled) and its root object count."""
    out: list[dict] = []

    def emit(node: dict, children: tuple[Charge, ...], parent: str | None) -> None:
        line = dict(node)
        if parent is not None:
            line["__parentId"] = parent
        out.append(line)
        detach(line, children, node.get("id"))

    def detach(obj: dict, children: tuple[Charge, ...], owner: str | None) -> None:
        """Move the nested connections' items out of ``obj`` into lines of their own."""
        for charge in children:
            if charge.kind == "connection":
                for item in _items(charge, obj.pop(charge.key, None)):
                    emit(item, charge.children, owner)
            elif charge.kind == "object" and isinstance(obj.get(charge.key), dict):
                obj[charge.key] = dict(obj[charge.key])
                detach(obj[charge.key], charge.children, owner)

    roots = 0
    for charge in plan:
        if charge.kind == "connection":
            for node in _items(charge, data.get(charge.key)):
                roots += 1
                emit(node, charge.children, None)
    random.Random(seed).shuffle(out)
    return [json.dumps(line, separators=(",", ":")).encode() for line in out], roots


def _gcs_error(code: str, message: str, details: str) -> Response:
    body = (
        "<?xml version='1.0' encoding='UTF-8'?><Error>"
        f"<Code>{code}</Code><Message>{message}</Message><Details>{details}</Details></Error>"
    )
    return Response(body, 403, mimetype="application/xml")


def register_downloads(blueprint: Blueprint, ops: BulkOperations) -> None:
    """The signed result URLs: a plain GET, no Shopify token, GCS-style errors."""

    @blueprint.get("/_bulk/<name>")
    def download(name: str) -> Response:
        issued = request.args.get("X-Goog-Date", "")
        given = request.args.get("X-Goog-Signature", "")
        stem = name.removesuffix(".jsonl")
        number = stem.removesuffix("-partial")
        op = ops.get(int(number)) if number.isdigit() else None
        if op is None or not hmac.compare_digest(ops.sign(name, issued), given):
            return _gcs_error(
                "SignatureDoesNotMatch",
                "Access denied.",
                "The request signature we calculated does not match the signature you "
                "provided. Check your Google secret key and signing method.",
            )
        expires = datetime.strptime(issued, GOOG_DATE).replace(tzinfo=ops.state.now().tzinfo)
        expires += URL_TTL
        fault = ops.state.faults.take(API, request.path, kinds=("expire_url",))
        if fault is not None or ops.state.now() > expires:
            return _gcs_error(
                "ExpiredToken",
                "The provided token has expired.",
                f"Request signature expired at: {expires.strftime('%Y-%m-%dT%H:%M:%S+00:00')}",
            )
        lines = op.lines[: op.partial_lines()] if stem.endswith("-partial") else op.lines
        return Response((line + b"\n" for line in lines), 200, mimetype="application/jsonl")
