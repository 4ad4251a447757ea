"""Shopify's query cost: the requested cost from the query AST, charged up front, and the
actual cost of the answer; parsed and validated documents, cached."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
    parse,
    validate,
)
from graphql.execution.values import get_argument_values, get_variable_values

from sandbox.shopify.schema import SCHEMA

MUTATION_COST = 10


# ----------------------------------------------------------------------------------------
# query cost
# ----------------------------------------------------------------------------------------
@dataclass
class _CostContext:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    variables: dict[str, Any]


def _is_connection(type_: Any) -> bool:
    return getattr(type_, "name", "").endswith("Connection")


def _fields(
    selection_set: SelectionSetNode | None, parent: Any, ctx: _CostContext
) -> list[tuple[FieldNode, Any]]:
    """The field nodes of a selection set with their parent type, fragments flattened."""
    found: list[tuple[FieldNode, Any]] = []
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            found.append((selection, parent))
        elif isinstance(selection, InlineFragmentNode):
            inner = (
                ctx.schema.get_type(selection.type_condition.name.value)
                if selection.type_condition
                else parent
            )
            found += _fields(selection.selection_set, inner, ctx)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = ctx.fragments[selection.name.value]
            found += _fields(
                fragment.selection_set, ctx.schema.get_type(fragment.type_condition.name.value), ctx
            )
    return found


def _first(node: FieldNode, field_def: Any, ctx: _CostContext, default: int) -> int:
    if "first" not in field_def.args:
        return default
    value = get_argument_values(field_def, node, ctx.variables).get("first")
    return default if value is None else max(0, int(value))


def _item_nodes(
    node: FieldNode, connection_type: Any, ctx: _CostContext
) -> list[tuple[FieldNode, Any]]:
    """The ``edges { node }`` and ``nodes`` selections of a connection field."""
    item_type = get_named_type(connection_type.fields["nodes"].type)
    items = []
    for child, _ in _fields(node.selection_set, connection_type, ctx):
        if child.name.value == "nodes":
            items.append((child, item_type))
        elif child.name.value == "edges":
            items += [
                (grand, item_type)
                for grand, _ in _fields(child.selection_set, None, ctx)
                if grand.name.value == "node"
            ]
    return items


def requested_cost(selection_set: SelectionSetNode | None, parent: Any, ctx: _CostContext) -> int:
    """Shopify's up-front estimate: scalars 0, objects 1, connections 2 + first x item."""
    total = 0
    for node, parent_type in _fields(selection_set, parent, ctx):
        name = node.name.value
        if name.startswith("__"):
            continue
        field_def = parent_type.fields[name]
        named = get_named_type(field_def.type)
        if is_leaf_type(named):
            continue
        if _is_connection(named):
            item = max(
                (
                    1 + requested_cost(child.selection_set, item_type, ctx)
                    for child, item_type in _item_nodes(node, named, ctx)
                ),
                default=0,
            )
            total += 2 + _first(node, field_def, ctx, 0) * item
        elif is_list_type(get_nullable_type(field_def.type)):
            total += _first(node, field_def, ctx, 1) * (
                1 + requested_cost(node.selection_set, named, ctx)
            )
        else:
            total += 1 + requested_cost(node.selection_set, named, ctx)
    return total


@dataclass(frozen=True)
class Charge:
    """What one non-leaf field of a query charges per value it returned (actual cost)."""

    key: str  # the response key (alias or name)
    kind: str  # "object" | "list" | "connection"
    items: tuple[str, ...]  # connections: the path to the items, ("nodes",) or ("edges", "node")
    children: tuple[Charge, ...]


def cost_plan(
    selection_set: SelectionSetNode | None, parent: Any, ctx: _CostContext
) -> tuple[Charge, ...]:
    """The query's non-leaf fields as a tree, to price a response without the AST."""
    plan = []
    for node, parent_type in _fields(selection_set, parent, ctx):
        name = node.name.value
        key = node.alias.value if node.alias else name
        if name.startswith("__"):
            continue
        field_def = parent_type.fields[name]
        named = get_named_type(field_def.type)
        if is_leaf_type(named):
            continue
        if _is_connection(named):
            items, children = _item_path(node, named, ctx)
            plan.append(Charge(key, "connection", items, children))
        elif is_list_type(get_nullable_type(field_def.type)):
            plan.append(Charge(key, "list", (), cost_plan(node.selection_set, named, ctx)))
        else:
            plan.append(Charge(key, "object", (), cost_plan(node.selection_set, named, ctx)))
    return tuple(plan)


def _item_path(
    node: FieldNode, connection_type: Any, ctx: _CostContext
) -> tuple[tuple[str, ...], tuple[Charge, ...]]:
    item_type = get_named_type(connection_type.fields["nodes"].type)
    for child, _ in _fields(node.selection_set, connection_type, ctx):
        key = child.alias.value if child.alias else child.name.value
        if child.name.value == "nodes":
            return (key,), cost_plan(child.selection_set, item_type, ctx)
        if child.name.value == "edges":
            for grand, _ in _fields(child.selection_set, None, ctx):
                if grand.name.value == "node":
                    return (
                        (key, grand.alias.value if grand.alias else "node"),
                        cost_plan(grand.selection_set, item_type, ctx),
                    )
    return (), ()


def actual_cost(plan: tuple[Charge, ...], data: Any) -> int:
    """The same rules over what was actually returned (the points Shopify finally charges)."""
    if not isinstance(data, dict):
        return 0
    total = 0
    for charge in plan:
        value = data.get(charge.key)
        if value is None:
            continue
        if charge.kind == "connection":
            items: list[Any] = []
            if len(charge.items) == 1:
                items = value.get(charge.items[0]) or []
            elif charge.items:
                items = [edge.get(charge.items[1]) for edge in value.get(charge.items[0]) or []]
            total += 2 + sum(
                1 + actual_cost(charge.children, item) for item in items if item is not None
            )
        elif charge.kind == "list":
            total += sum(
                1 + actual_cost(charge.children, item) for item in value if item is not None
            )
        else:
            total += 1 + actual_cost(charge.children, value)
    return total


@lru_cache(maxsize=256)
def parsed_document(query: str) -> tuple[DocumentNode | None, tuple[GraphQLError, ...]]:
    """Parse and validate once per distinct query text (extractors repeat theirs)."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        return None, (exc,)
    return document, tuple(validate(SCHEMA, document))


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((op for op in operations if op.name and op.name.value == name), None)


@dataclass
class PreparedQuery:
    """A validated query with its coerced variables and requested cost."""

    document: DocumentNode
    operation: OperationDefinitionNode
    plan: tuple[Charge, ...]
    raw_variables: dict[str, Any]
    requested: int


def prepare(
    query: str, variables: dict[str, Any] | None, operation_name: str | None
) -> PreparedQuery | list[GraphQLError]:
    document, errors = parsed_document(query)
    if document is None or errors:
        return list(errors)
    operation = _operation(document, operation_name)
    if operation is None:
        return [
            GraphQLError(
                "An operation name is required"
                if operation_name is None
                else f"No operation named '{operation_name}'"
            )
        ]
    coerced = get_variable_values(SCHEMA, operation.variable_definitions or [], variables or {})
    if isinstance(coerced, list):
        return coerced
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    ctx = _CostContext(SCHEMA, fragments, coerced)
    if is_mutation(operation):
        cost = MUTATION_COST * len(_fields(operation.selection_set, SCHEMA.mutation_type, ctx))
    else:
        cost = requested_cost(operation.selection_set, SCHEMA.query_type, ctx)
    return PreparedQuery(document, operation, _plan(query, operation_name), variables or {}, cost)


@lru_cache(maxsize=256)
def _plan(query: str, operation_name: str | None) -> tuple[Charge, ...]:
    """The cost plan of a query text (it does not depend on the variables)."""
    document, _ = parsed_document(query)
    assert document is not None  # only called for documents that validated
    operation = _operation(document, operation_name)
    assert operation is not None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = SCHEMA.mutation_type if is_mutation(operation) else SCHEMA.query_type
    return cost_plan(operation.selection_set, root, _CostContext(SCHEMA, fragments, {}))


def is_mutation(operation: OperationDefinitionNode) -> bool:
    """Mutations cost a flat 10 points each, whatever they select (reference B.3)."""
    return operation.operation == OperationType.MUTATION
