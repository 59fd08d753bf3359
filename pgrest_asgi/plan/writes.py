"""Planning writes: POST (insert, upsert), PATCH, PUT and DELETE on tables and views. Pure.

A write is a ``MutatePlan`` (the statement) under a ``ReadPlan`` that selects the response's
rows — with the request's ``select``, embeds and order — from the statement's ``RETURNING``
rows. ``WRITE_PASSES`` plan it, reusing the read passes
for the rows the response shows.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from ..errors import ApiRequestError, SchemaCacheError
from ..request.model import ApiRequest
from ..request.payload import Payload
from ..schema.model import QualifiedName, Table
from ..sql.gucs import quote_ident
from .context import PlanContext, PlanPass
from .model import Condition, EmbedPlan, MutatePlan, ReadPlan, RowCheck, TypedColumn
from .read import find_table, negotiate_media, plan_columns, plan_filter, plan_logic, plan_order

__all__ = ["WRITE_PASSES", "finish_write", "plan_mutation", "write_target"]


def typed_columns(table: Table, keys: tuple[str, ...]) -> tuple[TypedColumn, ...]:
    """The payload keys as typed columns; an unknown key is 400 ``PGRST204`` (the first in
    sort order, as PostgREST reports it)."""
    by_name = {c.name: c for c in table.columns}
    unknown = sorted(k for k in keys if k not in by_name)
    if unknown:
        raise SchemaCacheError.column_not_found(unknown[0], table.name)
    return tuple(
        TypedColumn(k, by_name[k].data_type, by_name[k].json_in_cast) for k in dict.fromkeys(keys)
    )


def returning(rows: ReadPlan, table: Table) -> tuple[str, ...]:
    """``RETURNING`` for a representation: the selected and ordered-by columns, the primary
    key, and the columns the requested embeds join on — so column grants are enough.

    ``*`` stands for every column (selected, or needed whole by a computed relationship).
    Computed fields are returned by name: ``RETURNING "s"."t"."f"`` calls ``f`` on the
    table's own row type, which resolves overloads a record from the CTE could not (except
    next to a computed relationship, whose row must have the table's columns only).
    """
    wanted: set[str] = set(table.primary_key)
    computed: list[str] = []
    star = whole_row = False

    def need(name: str) -> None:
        nonlocal star
        if name == "*":
            star = True
        elif table.column(name) is not None:
            wanted.add(name)
        elif name not in computed:
            computed.append(name)

    for item in rows.select:
        if isinstance(item, EmbedPlan):
            if item.relationship.function is not None:
                star = whole_row = True  # a function of the whole row
            else:
                wanted.update(item.relationship.columns)
        else:
            need(item.expr.name)
    for term in rows.order:
        if term.join_alias is None:
            need(term.expr.name)
    columns = ("*",) if star else tuple(c.name for c in table.columns if c.name in wanted)
    if whole_row:
        # The row passed to a computed relationship must have exactly the table's columns;
        # computed fields then resolve on that row by attribute notation.
        return columns
    return columns + tuple(computed)


def write_target(plan: ReadPlan, ctx: PlanContext) -> ReadPlan:
    """The table written to. The response's rows are its ``RETURNING`` rows, read under the
    table's bare name; without ``return=representation`` they are only counted (no columns,
    embeds or order to plan, and no parameters for them)."""
    table = find_table(ctx.schema, ctx.request.target)
    ctx.table = table
    if ctx.request.preferences.return_ != "representation":
        ctx.request = msgspec.structs.replace(ctx.request, select=(), embedded=(), order=())
    return msgspec.structs.replace(
        plan, table=QualifiedName("", table.name), relation=table.qualified
    )


def plan_mutation(plan: ReadPlan, ctx: PlanContext) -> ReadPlan:
    """The INSERT (POST, PUT) / UPDATE (PATCH) / DELETE statement, as the plan's source."""
    request, table = ctx.request, ctx.table
    assert table is not None
    method = request.method
    if method == "DELETE":
        mutation = MutatePlan(kind="delete", table=table.qualified, where=root_filters(table, ctx))
    elif method == "PATCH":
        payload = _payload(request)
        columns = typed_columns(table, payload.keys)
        mutation = MutatePlan(
            kind="update",
            table=table.qualified,
            columns=columns,
            body=ctx.param(payload.json) if columns else None,
            body_array=payload.array,
            defaults=_defaults(request, table, columns),
            jsonb=request.preferences.missing == "default",
            where=root_filters(table, ctx),
        )
    elif method == "PUT":
        mutation = _plan_put(request, table, ctx)
    else:
        mutation = _plan_insert(request, table, ctx)
    return msgspec.structs.replace(plan, source=mutation)


def finish_write(plan: ReadPlan, ctx: PlanContext) -> ReadPlan:
    """What the statement returns (``RETURNING``, ``Location`` keys), the row-count checks
    run before COMMIT, and the count (writes count exactly)."""
    request, table, mutation = ctx.request, ctx.table, plan.source
    assert table is not None and isinstance(mutation, MutatePlan)
    prefs = request.preferences
    method = request.method
    represent = prefs.return_ == "representation"
    checks: list[RowCheck] = []
    if plan.media == "singular":
        checks.append(RowCheck(exactly=1, error="singular"))
    if mutation.put_keys:
        checks.append(RowCheck(exactly=1, error="put"))
    location: tuple[str, ...] = ()
    if method == "POST" and prefs.return_ == "headers-only" and table.primary_key:
        location = table.primary_key
        if table.kind == "view":  # keys derived from base tables: the view's own order
            location = tuple(c.name for c in table.columns if c.name in location)
    if (
        method in ("PATCH", "DELETE")
        and prefs.handling == "strict"
        and prefs.max_affected is not None
    ):
        checks.append(RowCheck(at_most=prefs.max_affected, error="max_affected"))
    keep: tuple[str, ...] = ()
    if represent:
        keep = returning(plan, table)
    elif location:
        keep = location
    return msgspec.structs.replace(
        plan,
        source=msgspec.structs.replace(mutation, returning=keep),
        representation=represent,
        location=location,
        checks=tuple(checks),
        count="exact" if prefs.count is not None else None,
        count_cap=None,
    )


#: How a POST/PATCH/PUT/DELETE on a table or view is planned, in order.
WRITE_PASSES: tuple[PlanPass, ...] = (
    write_target,
    negotiate_media,
    plan_columns,
    plan_order,
    plan_mutation,
    finish_write,
)


def root_filters(table: Table, ctx: PlanContext) -> tuple[Condition, ...]:
    request = ctx.request
    where: list[Condition] = [plan_filter(f, table, ctx) for f in request.filters]
    where.extend(plan_logic(tree, table, ctx) for tree in request.logic)
    return tuple(where)


def _payload(request: ApiRequest) -> Payload:
    if request.payload is None:  # a grammar of a host's own that parses no body
        raise ApiRequestError.invalid_json()
    return request.payload


def _defaults(
    request: ApiRequest, table: Table, columns: tuple[TypedColumn, ...]
) -> tuple[tuple[str, str], ...]:
    """``Prefer: missing=default``: the catalog defaults of the written columns."""
    if request.preferences.missing != "default":
        return ()
    out = []
    for typed in columns:
        column = table.column(typed.name)
        if column is None:
            continue
        if column.default is not None:
            out.append((typed.name, column.default))
        elif column.is_identity:
            # An identity column's default is its sequence's next value.
            qualified = _literal(f"{quote_ident(table.schema)}.{quote_ident(table.name)}")
            sequence = f"pg_catalog.pg_get_serial_sequence({qualified}, {_literal(column.name)})"
            out.append((typed.name, f"pg_catalog.nextval({sequence})"))
    return tuple(out)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _conflict_target(request: ApiRequest, table: Table) -> tuple[str, ...]:
    target = request.on_conflict or table.primary_key
    for name in target:
        if table.column(name) is None:
            raise SchemaCacheError.column_not_found(name, table.name)
    return tuple(target)


def _plan_insert(request: ApiRequest, table: Table, ctx: PlanContext) -> MutatePlan:
    payload = _payload(request)
    columns = typed_columns(table, payload.keys)
    resolution: Literal["merge", "ignore"] | None = None
    conflict: tuple[str, ...] = ()
    preferred = request.preferences.resolution
    if preferred is not None:
        conflict = _conflict_target(request, table)
        if conflict:  # no key and no on_conflict: a plain insert, as in PostgREST
            resolution = "merge" if preferred == "merge-duplicates" else "ignore"
    return MutatePlan(
        kind="insert",
        table=table.qualified,
        columns=columns,
        body=ctx.param(payload.json),
        body_array=payload.array,
        defaults=_defaults(request, table, columns),
        jsonb=request.preferences.missing == "default",
        on_conflict=conflict,
        resolution=resolution,
    )


def _plan_put(request: ApiRequest, table: Table, ctx: PlanContext) -> MutatePlan:
    """PUT: an upsert of one row, named by its whole primary key in ``eq`` filters."""
    if request.limit is not None or request.offset is not None:
        raise ApiRequestError.put_limit_offset()
    key = table.primary_key
    filters = request.filters
    names = [f.field.name for f in filters]
    if (
        not key
        or request.logic
        or sorted(names) != sorted(key)
        or any(
            f.op.operator != "eq" or f.op.negated or f.op.quantifier or f.field.json_path
            for f in filters
        )
    ):
        raise ApiRequestError.put_not_by_primary_key()
    payload = _payload(request)
    columns = typed_columns(table, payload.keys)
    put_keys = tuple((f.field.name, ctx.param(str(f.op.value))) for f in filters)
    if any(name not in payload.keys for name in key):
        raise ApiRequestError.put_key_mismatch()
    return MutatePlan(
        kind="insert",
        table=table.qualified,
        columns=columns,
        body=ctx.param(payload.json),
        body_array=payload.array,
        on_conflict=key,
        resolution="merge",
        put_keys=put_keys,
    )
