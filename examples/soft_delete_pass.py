"""A planner pass: hide soft-deleted rows from every read of a table that has `deleted_at`.

Passes are small pure functions `(plan, ctx) -> plan` that run after planning, in order. This
one appends `deleted_at IS NULL` to the WHERE clause. It adds no parameter, so the SQL-text
cache keeps working: the pass changes the plan's shape, and the shape keys the cache.
"""

from __future__ import annotations

import msgspec

from pgrest_asgi import DEFAULT_PASSES, PgRestApp, PlanContext, SqlglotPlanner
from pgrest_asgi.plan.model import ColumnExpr, IsCond, Plan, ReadPlan


def hide_soft_deleted(plan: Plan, ctx: PlanContext) -> Plan:
    if not isinstance(plan, ReadPlan):
        return plan
    table = ctx.schema.table(plan.table.schema, plan.table.name)
    if table is None or table.column("deleted_at") is None:
        return plan
    live = IsCond(ColumnExpr("deleted_at"), "NULL")
    return msgspec.structs.replace(plan, where=(*plan.where, live))


def create_app(dsn: str, **settings: object) -> PgRestApp:
    app = PgRestApp(dsn, **settings)
    app.planner = SqlglotPlanner(app.settings, passes=(*DEFAULT_PASSES, hide_soft_deleted))
    return app
