"""The Shopify Admin GraphQL client: query cost (calculated, like Shopify's, from the
document), the leaky-bucket throttle, cursor pagination.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import requests
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    parse,
)

from extractors import http
from extractors.http import ApiClient, ApiError, RetrySettings, TransientError

log = logging.getLogger("channelhouse.extractors.shopify")
MAX_QUERY_COST = 1000  # Shopify's single-query limit
MAX_PAGE_SIZE = 250
MUTATION_COST = 10  # a mutation costs a flat 10 points, whatever it selects


# --------------------------------------------------------------------------------------------
# query cost (Shopify's published rules, computed from the query text)
# --------------------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _document(query: str) -> tuple[OperationDefinitionNode, dict[str, FragmentDefinitionNode]]:
    document = parse(query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return operation, fragments


def _field_nodes(
    selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode]
) -> list[FieldNode]:
    found: list[FieldNode] = []
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            found.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            found += _field_nodes(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            found += _field_nodes(fragments[selection.name.value].selection_set, fragments)
    return found


def _first_arg(node: FieldNode, variables: dict[str, Any]) -> int | None:
    for argument in node.arguments:
        if argument.name.value == "first":
            value = argument.value
            if isinstance(value, VariableNode):
                return variables.get(value.name.value)
            if isinstance(value, IntValueNode):
                return int(value.value)
    return None


def _selection_cost(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> int:
    total = 0
    for node in _field_nodes(selection_set, fragments):
        if node.selection_set is None:
            continue  # scalars and enums are free
        first = _first_arg(node, variables)
        children = {c.name.value: c for c in _field_nodes(node.selection_set, fragments)}
        if "edges" in children or "nodes" in children:  # a connection: 2 + first x item
            items = [children["nodes"]] if "nodes" in children else []
            if "edges" in children:
                items += [
                    c
                    for c in _field_nodes(children["edges"].selection_set, fragments)
                    if c.name.value == "node"
                ]
            item = max(1 + _selection_cost(i.selection_set, fragments, variables) for i in items)
            total += 2 + (first or 0) * item
        else:  # an object (1) or a list of objects (first x item, 1 x item without first)
            total += (first or 1) * (1 + _selection_cost(node.selection_set, fragments, variables))
    return total


def query_cost(query: str, variables: dict[str, Any]) -> int:
    """The requested (worst-case) cost Shopify will charge for ``query``."""
    operation, fragments = _document(query)
    if operation.operation == OperationType.MUTATION:
        return MUTATION_COST * len(_field_nodes(operation.selection_set, fragments))
    return _selection_cost(operation.selection_set, fragments, variables)


def fit_page_size(query: str, variables: dict[str, Any]) -> int:
    """The largest ``first`` (≤ 250) whose requested cost stays within the query limit."""
    base = query_cost(query, {**variables, "first": 0})
    per_item = query_cost(query, {**variables, "first": 1}) - base
    if per_item <= 0:
        return MAX_PAGE_SIZE
    size = min(MAX_PAGE_SIZE, (MAX_QUERY_COST - base) // per_item)
    if size < 1:
        raise ValueError(
            f"one item of this query costs {base + per_item} points, over the "
            f"{MAX_QUERY_COST}-point limit"
        )
    return size


# --------------------------------------------------------------------------------------------
# the client
# --------------------------------------------------------------------------------------------
@dataclass
class QueryCosts:
    """The points Shopify charged one extraction (``extensions.cost`` of every answer)."""

    queries: int = 0
    requested: int = 0
    actual: int = 0


def _graphql_errors(body: object) -> list[dict]:
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        return [e for e in body["errors"] if isinstance(e, dict)]
    return []


def _error_codes(body: object) -> set[str]:
    return {str((e.get("extensions") or {}).get("code")) for e in _graphql_errors(body)}


def _json_or_none(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


class ShopifyClient(ApiClient):
    """One shop's Admin GraphQL endpoint: token header, cost-aware pacing, GraphQL errors."""

    def __init__(
        self, connection: str, url: str, access_token: str, retry: RetrySettings | None = None
    ):
        super().__init__(connection, url, secrets=[access_token], retry=retry)
        self._token = access_token
        # last throttleStatus seen: (currentlyAvailable, maximumAvailable, restoreRate, when)
        self._bucket: tuple[float, float, float, float] | None = None
        self.costs = QueryCosts()

    def auth_headers(self) -> dict[str, str]:
        return {"X-Shopify-Access-Token": self._token}

    def refresh_token(self) -> None:
        """Offline tokens cannot be refreshed: the retry re-sends the same token once.

        A revocation that persists (the app was uninstalled) fails the call on the second
        401 with a message that says the credentials were refused after a retry.
        """
        log.warning(
            "[%s] the shop refused the access token; Shopify offline tokens cannot "
            "be refreshed, retrying once with the same token",
            self.connection,
        )

    def is_throttled(self, response: requests.Response) -> bool:
        """HTTP 429, or Shopify's usual HTTP 200 with an error coded THROTTLED."""
        if response.status_code == 429:
            return True
        return (
            response.status_code == 200
            and b'"THROTTLED"' in response.content
            and "THROTTLED" in _error_codes(_json_or_none(response))
        )

    def throttle_wait(self, response: requests.Response) -> float | None:
        """(requested − currentlyAvailable) / restoreRate, from the THROTTLED body."""
        cost = self._cost_extension(_json_or_none(response))
        if cost is None:
            return http.retry_after_seconds(response)
        status = cost["throttleStatus"]
        missing = float(cost.get("requestedQueryCost") or 0) - float(status["currentlyAvailable"])
        return max(0.0, missing / float(status["restoreRate"]))

    def error_detail(self, response: requests.Response) -> str:
        body = _json_or_none(response)
        if isinstance(body, dict) and "errors" in body:
            errors = body["errors"]
            if isinstance(errors, list):
                return "; ".join(
                    str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
                )[:300]
            return str(errors)[:300]
        return response.text[:300]

    @staticmethod
    def _cost_extension(body: object) -> dict | None:
        """``extensions.cost`` if it carries a usable ``throttleStatus``, else None."""
        extensions = body.get("extensions") if isinstance(body, dict) else None
        cost = extensions.get("cost") if isinstance(extensions, dict) else None
        status = cost.get("throttleStatus") if isinstance(cost, dict) else None
        try:
            usable = (
                float(status["restoreRate"]) > 0  # type: ignore[index]
                and float(status["currentlyAvailable"]) >= 0  # type: ignore[index]
                and float(status["maximumAvailable"]) > 0
            )  # type: ignore[index]
        except (KeyError, TypeError, ValueError):
            return None
        return cost if usable else None

    def _pace(self, cost: int) -> None:
        """Sleep until the bucket, projected at its restore rate, holds ``cost`` points."""
        if self._bucket is None:
            return
        available, maximum, rate, seen = self._bucket
        if rate <= 0:
            return
        available = min(maximum, available + rate * (time.monotonic() - seen))
        if available < cost:
            wait = (cost - available) / rate
            self.stats.wait_seconds += wait
            log.debug(
                "[%s] pacing: %.0f points available, query costs %d; waiting %.2fs",
                self.connection,
                available,
                cost,
                wait,
            )
            http.sleep(wait)

    def _parse(
        self, response: requests.Response, endpoint: str, path: tuple[str, ...], connection: bool
    ) -> Any:
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError("the response body is not a JSON object")
        cost = self._cost_extension(body)
        if cost is not None:
            self.costs.queries += 1
            self.costs.requested += int(cost.get("requestedQueryCost") or 0)
            self.costs.actual += int(cost.get("actualQueryCost") or 0)
            status = cost["throttleStatus"]
            self._bucket = (
                float(status["currentlyAvailable"]),
                float(status["maximumAvailable"]),
                float(status["restoreRate"]),
                time.monotonic(),
            )
        errors = _graphql_errors(body) or (
            [{"message": str(body["errors"])}] if body.get("errors") else []
        )
        if errors:
            message = "; ".join(str(e.get("message")) for e in errors)[:300]
            if "INTERNAL_SERVER_ERROR" in _error_codes(body):
                raise TransientError(f"GraphQL internal error: {message}")
            raise ApiError(self.connection, endpoint, f"GraphQL error: {self.redact(message)}")
        value: Any = body.get("data")
        for key in path:
            if not isinstance(value, dict) or key not in value:
                raise ValueError(f"the response has no data.{'.'.join(path)}")
            value = value[key]
        if (
            connection
            and value is not None
            and not (
                isinstance(value, dict)
                and isinstance(value.get("nodes"), list)
                and isinstance(value.get("pageInfo"), dict)
            )
        ):
            raise ValueError(f"data.{'.'.join(path)} is not a connection page")
        return value

    def query(
        self,
        query: str,
        variables: dict[str, Any],
        endpoint: str,
        path: tuple[str, ...],
        connection: bool = False,
    ) -> Any:
        """Run one query (paced, retried) and return ``data`` at ``path``.

        With ``connection``, a value at ``path`` without ``nodes`` and ``pageInfo`` makes the
        page fail (and be retried) like an unreadable body.
        """
        self._pace(query_cost(query, variables))
        value = self.call(
            "POST",
            "",
            endpoint=endpoint,
            json={"query": query, "variables": variables},
            parse=lambda r: self._parse(r, endpoint, path, connection),
        )
        self.stats.pages += 1
        return value

    def pages(
        self, query: str, variables: dict[str, Any], endpoint: str, path: tuple[str, ...]
    ) -> Iterator[list[dict]]:
        """The ``nodes`` of every page of the connection at ``path``, following cursors."""
        after = variables.get("after")
        while True:
            page = self.query(query, {**variables, "after": after}, endpoint, path, connection=True)
            if page is None:
                raise ApiError(
                    self.connection,
                    endpoint,
                    f"{'.'.join(path)} is null (the object no longer exists)",
                )
            yield page["nodes"]
            if not page["pageInfo"]["hasNextPage"]:
                return
            after = page["pageInfo"]["endCursor"]
