"""A planner pass: soft-deleted rows (``deleted_at`` set) do not exist for the API.

Written once for every table that has a ``deleted_at`` column, and applied by ``transform``
wherever rows of such a table appear: a read, an embed at any depth, the rows a PATCH or
DELETE may change, a function returning rows of the table. The condition has no parameter,
so the SQL-text cache keeps working: the pass changes the plan's shape, and the shape keys
the cache.
"""

from __future__ import annotations

from typing import Any

from pgrest_asgi import (
    ColumnExpr,
    Hooks,
    IsCond,
    PgRestApp,
    Plan,
    PlanContext,
    RowsNode,
    SqlglotPlanner,
    restrict,
    transform,
)

LIVE = IsCond(ColumnExpr("deleted_at"), "NULL")


def hide_soft_deleted(plan: Plan, ctx: PlanContext) -> Plan:
    def visit(node: RowsNode) -> RowsNode:
        table = ctx.schema.tables.get(node.relation) if node.relation else None
        if table is None or table.column("deleted_at") is None:
            return node
        return restrict(node, LIVE)

    return transform(plan, visit)


def create_app(dsn: str, **settings: Any) -> PgRestApp:
    planner = SqlglotPlanner(passes=(hide_soft_deleted,))
    return PgRestApp(dsn, hooks=Hooks(planner=planner), **settings)
