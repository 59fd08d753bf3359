"""Walking a plan: every place rows of a relation appear, for rules a host writes once. Pure.

A plan nests: a read has embeds (to any depth, spreads included), a write's response reads
the statement's ``RETURNING`` rows, a call's response reads the function's rows. A rule such
as "only this tenant's orders" must hold in all of them. ``transform`` calls a visitor on
each *rows node* — the object that decides which rows of one relation are used there:

* the top-level ``ReadPlan`` of a table or view read, or of a function's rows (its
  ``relation`` is the table whose row type the function returns, e.g. ``SETOF orders``);
* every ``EmbedPlan``, children before parents;
* the ``MutatePlan`` of a write (the ``RETURNING`` rows it answers with are the rows it
  changed, so the read over them is not visited: restrict the statement instead).

Each node has ``relation`` (a ``QualifiedName`` or ``None``) and ``where``. ``restrict``
adds conditions to a node, ``assign`` makes a write set a column, ``check`` makes a write
refuse rows whose new values fail a condition, ``eq`` builds the usual condition::

    ORDERS = QualifiedName("api", "orders")

    def tenant_rule(plan: Plan, ctx: PlanContext) -> Plan:
        tenant = ctx.auth.claims.get("tenant")

        def visit(node: RowsNode) -> RowsNode:
            if node.relation != ORDERS:
                return node
            node = restrict(node, eq("tenant_id", ctx.param(tenant)))
            return assign(node, ctx, "tenant_id", tenant)   # writes only; reads unchanged

        return transform(plan, visit)

On a ``MutatePlan`` a condition limits the existing rows an UPDATE, a DELETE or an upsert's
conflict may change; ``assign`` fixes a column of inserted and updated rows to a parameter
(the body stays one JSON parameter: the rule is SQL, not per-row Python).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from ..errors import SchemaCacheError
from .context import PlanContext
from .model import (
    ColumnExpr,
    Cond,
    Condition,
    EmbedPlan,
    MutatePlan,
    Param,
    ReadPlan,
    SelectColumn,
    TypedColumn,
)

__all__ = ["RowsNode", "assign", "check", "eq", "restrict", "rows_nodes", "transform"]

RowsNode = ReadPlan | EmbedPlan | MutatePlan
N = TypeVar("N", bound=RowsNode)


def transform(plan: ReadPlan, visit: Callable[[RowsNode], RowsNode]) -> ReadPlan:
    """``plan`` with ``visit`` applied to every rows node, children first. The visitor
    returns the node (unchanged, or a changed copy of the same type)."""
    select = _select(plan.select, visit)
    source = plan.source
    if isinstance(source, MutatePlan):
        source = _same_kind(source, visit(source))
    if select is not plan.select or source is not plan.source:
        plan = msgspec.structs.replace(plan, select=select, source=source)
    if isinstance(plan.source, MutatePlan):
        return plan
    return _same_kind(plan, visit(plan))


def rows_nodes(plan: ReadPlan) -> list[RowsNode]:
    """The rows nodes ``transform`` would visit, in the same order (for checks and tests)."""
    seen: list[RowsNode] = []

    def note(node: RowsNode) -> RowsNode:
        seen.append(node)
        return node

    transform(plan, note)
    return seen


def _select(
    items: tuple[SelectColumn | EmbedPlan, ...], visit: Callable[[RowsNode], RowsNode]
) -> tuple[SelectColumn | EmbedPlan, ...]:
    changed = False
    out: list[SelectColumn | EmbedPlan] = []
    for item in items:
        if isinstance(item, EmbedPlan):
            inner = _select(item.select, visit)
            new = item if inner is item.select else msgspec.structs.replace(item, select=inner)
            new = _same_kind(new, visit(new))
            changed = changed or new is not item
            out.append(new)
        else:
            out.append(item)
    return tuple(out) if changed else items


def _same_kind(before: N, after: Any) -> N:
    if type(after) is not type(before):
        raise TypeError(
            f"a plan visitor must return the node it was given or a copy of it: got "
            f"{type(after).__name__} for {type(before).__name__}"
        )
    return after


def restrict(node: N, *conditions: Condition) -> N:
    """``node`` with ``conditions`` added to its ``where`` (AND)."""
    if not conditions:
        return node
    return msgspec.structs.replace(node, where=(*node.where, *conditions))


def eq(column: str, value: Param) -> Cond:
    """``"column" = $n`` on the node's relation; ``value`` comes from ``ctx.param(...)``."""
    return Cond(ColumnExpr(column), "=", value)


def check(node: N, *conditions: Condition) -> N:
    """For a ``MutatePlan`` that inserts or updates rows: every row it writes must meet
    ``conditions`` (on its new values), or the request fails with 403 ``42501`` (401 for an
    anonymous caller) and nothing is written. Other nodes are returned unchanged."""
    if not isinstance(node, MutatePlan) or node.kind == "delete" or not conditions:
        return node
    return msgspec.structs.replace(node, check=(*node.check, *conditions))


def assign(node: N, ctx: PlanContext, column: str, value: Any) -> N:
    """For a ``MutatePlan`` that inserts or updates rows: write ``value`` into ``column`` of
    every row, whatever the body says. Other nodes are returned unchanged. The column must
    exist (400 ``PGRST204`` otherwise, as for a body key)."""
    if not isinstance(node, MutatePlan) or node.kind == "delete":
        return node
    table = ctx.schema.tables.get(node.table)
    found = table.column(column) if table is not None else None
    if found is None:
        raise SchemaCacheError.column_not_found(column, node.table.name)
    typed = TypedColumn(found.name, found.data_type)
    kept: list[tuple[TypedColumn, Param]] = [p for p in node.assign if p[0].name != found.name]
    kept.append((typed, ctx.param(value)))
    return msgspec.structs.replace(node, assign=tuple(kept))
