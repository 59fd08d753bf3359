"""Read planning: the passes that turn a request for rows into a ``ReadPlan``. Pure.

A read is planned by the passes in ``READ_PASSES``, in order; each is a small function
``(plan, ctx) -> plan``. Writes (``writes.py``) and calls (``calls.py``) reuse the passes and
helpers here for the rows they answer with; this module imports neither of them.

``resolve_relation`` finds the table or view; ``negotiate_media`` picks the response's media
type from ``Accept``, built-in or made by one of the database's media type handlers;
``plan_columns`` plans ``select`` with its embeds (at any depth, each with its own filters,
order and paging); ``plan_filters``, ``plan_order``, ``plan_paging`` and ``plan_count`` the
rest. Every user value goes into the parameter list (``ctx.param``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from ..errors import ApiRequestError, SchemaCacheError
from ..request.grammar import parse_accept
from ..request.model import (
    ApiRequest,
    Field,
    Filter,
    LogicTree,
    MediaType,
    OrderTerm,
    SelectEmbed,
    SelectField,
    Target,
)
from ..request.operators import FTS_FUNCTIONS, IS_VALUES
from ..schema.model import (
    ANY_ELEMENT,
    MediaHandler,
    QualifiedName,
    Relationship,
    SchemaCache,
    Table,
)
from .context import PlanContext, PlanPass
from .fuzzy import NAME_MIN_SCORE, closest, matches
from .model import (
    ColumnExpr,
    Cond,
    Condition,
    EmbedIsNull,
    EmbedPlan,
    Explain,
    IsCond,
    LogicCond,
    MediaKind,
    OrderBy,
    ReadPlan,
    SelectColumn,
    pg_array_literal,
)

__all__ = [
    "READ_PASSES",
    "find_table",
    "handled_as",
    "negotiate",
    "negotiate_media",
    "plan_columns",
    "plan_count",
    "plan_filters",
    "plan_order",
    "plan_paging",
    "resolve_relation",
]

_JSON_TYPES = frozenset({"json", "jsonb"})
#: ``select=*`` (or no ``select``) on a table without domain representations.
_STAR = (SelectColumn(ColumnExpr("*")),)
_MAX_TABLES_FOR_HINT = 500

# Producible media types for reads, by Accept name.
_READ_MEDIA: Mapping[str, MediaKind] = {
    "application/json": "json",
    "application/vnd.pgrst.array+json": "json",
    "application/vnd.pgrst.array": "json",
    "application/vnd.pgrst.object+json": "singular",
    "application/vnd.pgrst.object": "singular",
    "text/csv": "csv",
    "*/*": "json",
    "application/*": "json",
}


class Negotiated(msgspec.Struct, frozen=True):
    media: MediaKind = "json"
    strip_nulls: bool = False
    explain: Explain | None = None
    #: ``media == "custom"``: the database's handler that makes the body.
    handler: MediaHandler | None = None


_DEFAULT_MEDIA = Negotiated()
_PLAN_TYPES = {
    "application/vnd.pgrst.plan": "text",
    "application/vnd.pgrst.plan+text": "text",
    "application/vnd.pgrst.plan+json": "json",
}
_EXPLAIN_OPTIONS = ("analyze", "verbose", "settings", "buffers", "wal")
_VENDOR = "application/vnd.pgrst."
_SINGULAR = frozenset({"application/vnd.pgrst.object+json", "application/vnd.pgrst.object"})
_ARRAY = frozenset({"application/vnd.pgrst.array+json", "application/vnd.pgrst.array"})
_ANY = "*/*"
#: ``nulls=stripped`` counts only as the one parameter (``q`` aside), as PostgREST reads it.
_STRIPPED = (("nulls", "stripped"),)
#: No ``Accept`` header is ``Accept: */*``.
_ANY_ACCEPT = (MediaType(_ANY),)
#: ``select`` as written when absent or ``*``: a relation's handlers apply only then.
_DEFAULT_SELECT = (SelectField(Field("*")),)


def negotiate(
    accept: Sequence[MediaType],
    *,
    plan_enabled: bool = False,
    geojson: bool = False,
    own: Mapping[str, MediaHandler] | None = None,
    generic: Mapping[str, MediaHandler] | None = None,
) -> Negotiated:
    """The first type in ``Accept`` (ordered by q) the response can be made in, with its
    parameters.

    ``own`` are the media type handlers of what is answered (a relation's row type, or a
    function's result), ``generic`` those for any relation (``anyelement``). Each accepted
    type is looked up in PostgREST's order: the ``application/vnd.pgrst.*`` types it makes
    itself (a singular object, stripped nulls, plans), which no handler can take over; then
    an own ``*/*`` handler, which answers every type; an own handler for the type; a generic
    one; the built-in JSON, CSV and GeoJSON."""
    if not accept:
        return _DEFAULT_MEDIA
    if own is None and generic is None:
        return _builtin(accept, plan_enabled, geojson)
    for media in accept:
        name = media.type
        if name.startswith(_VENDOR):
            strip = media.params == _STRIPPED
            if name in _SINGULAR:
                return Negotiated("singular", strip)
            if name in _ARRAY:
                if strip:
                    return Negotiated("json", True)
                # PostgREST reads a plain array as application/json, which a handler may make.
                name = "application/json"
            elif name in _PLAN_TYPES:
                if plan_enabled:
                    return _explain(media, _PLAN_TYPES[name], geojson, own, generic)
                continue
        if own is not None:
            handler = own.get(_ANY) or own.get(name)
            if handler is not None:
                return Negotiated("custom", handler=handler)
        if generic is not None:
            handler = generic.get(name)
            if handler is not None:
                return Negotiated("custom", handler=handler)
        kind = _READ_MEDIA.get(name)
        if kind is None and geojson and name == "application/geo+json":
            kind = "geojson"
        if kind is not None:
            return _DEFAULT_MEDIA if kind == "json" else Negotiated(kind)
    raise ApiRequestError.not_acceptable([str(m) for m in accept])


def _builtin(accept: Sequence[MediaType], plan_enabled: bool, geojson: bool) -> Negotiated:
    """``negotiate`` without handlers (the common case, on every request): the same answer
    by a shorter road, and no new object for JSON."""
    for media in accept:
        name = media.type
        kind = _READ_MEDIA.get(name)
        if kind is None and geojson and name == "application/geo+json":
            kind = "geojson"
        if kind is not None:
            if media.params == _STRIPPED and name.startswith(_VENDOR):
                return Negotiated(kind, True)
            return _DEFAULT_MEDIA if kind == "json" else Negotiated(kind)
        fmt = _PLAN_TYPES.get(name)
        if fmt is not None and plan_enabled:
            return _explain(media, fmt, geojson)
    raise ApiRequestError.not_acceptable([str(m) for m in accept])


def _explain(
    media: MediaType,
    fmt: str,
    geojson: bool,
    own: Mapping[str, MediaHandler] | None = None,
    generic: Mapping[str, MediaHandler] | None = None,
) -> Negotiated:
    """``application/vnd.pgrst.plan``: the plan of the query for the ``for=`` type (a
    handler's too)."""
    params = dict(media.params)
    target = negotiate(
        parse_accept(params.get("for", "").strip('"') or None),
        geojson=geojson,
        own=own,
        generic=generic,
    )
    options = params.get("options", "").strip('"').split("|")
    chosen = tuple(o for o in _EXPLAIN_OPTIONS if o in options)
    return Negotiated(
        target.media,
        target.strip_nulls,
        Explain("json" if fmt == "json" else "text", chosen),
        target.handler,
    )


# -- the passes ------------------------------------------------------------------------------
def resolve_relation(plan: ReadPlan, ctx: PlanContext) -> ReadPlan:
    """The table or view the path names (404 ``PGRST205`` otherwise)."""
    table = find_table(ctx.schema, ctx.request.target)
    ctx.table = table
    if plan.table == table.qualified and plan.relation == table.qualified:
        return plan
    return msgspec.structs.replace(plan, table=table.qualified, relation=table.qualified)


def negotiate_media(plan: ReadPlan, ctx: PlanContext) -> ReadPlan:
    """The response's media type from ``Accept`` (406 ``PGRST107`` when none fits), among
    the built-in types and the database's media type handlers."""
    request = ctx.request
    accept = request.accept
    schema = ctx.schema
    if not accept and not schema.media_handlers:  # the common case: JSON
        return plan
    handlers = schema.media_handlers
    if not handlers:
        negotiated = _builtin(
            accept, ctx.settings.db_plan_enabled, schema.geojson_function is not None
        )
    else:
        generic = handlers.get(ANY_ELEMENT)
        own = None
        # A relation's own handlers take its whole rows: only for the default select (or
        # none to plan: a scalar function's, a write's without representation).
        select = request.select
        if not select or select == _DEFAULT_SELECT:
            key = plan.relation if ctx.routine is None else None
            own = handlers.get(key or handled_as(plan, ctx))
        if not accept:
            # No Accept is */*: JSON, unless a */* handler answers it.
            if (own is None or _ANY not in own) and (generic is None or _ANY not in generic):
                return plan
            accept = _ANY_ACCEPT
        negotiated = negotiate(
            accept,
            plan_enabled=ctx.settings.db_plan_enabled,
            geojson=schema.geojson_function is not None,
            own=own,
            generic=generic,
        )
    if negotiated is _DEFAULT_MEDIA:  # JSON, as the plan starts
        return plan
    geojson = schema.geojson_function
    return msgspec.structs.replace(
        plan,
        media=negotiated.media,
        strip_nulls=negotiated.strip_nulls,
        explain=negotiated.explain,
        geojson_function=geojson if negotiated.media == "geojson" else None,
        handler=negotiated.handler,
    )


def handled_as(plan: ReadPlan, ctx: PlanContext) -> QualifiedName:
    """What a response's own media type handlers are keyed on: the relation read or written;
    for a function, its result type's name (in the function's schema, as PostgREST) when it
    returns rows of a composite type, else the function's name."""
    routine = ctx.routine
    if routine is None:
        return ctx.table.qualified if ctx.table is not None else plan.table
    if routine.return_kind == "composite" or routine.out_params:
        return QualifiedName(routine.schema, routine.return_type)
    return QualifiedName(routine.schema, routine.name)


def plan_columns(plan: ReadPlan, ctx: PlanContext) -> ReadPlan:
    """``select=``: columns, casts, aggregates, JSON paths, and embeds with their modifiers."""
    request, table = ctx.request, _table(ctx)
    handler = plan.handler
    if handler is not None and handler.target is not None:
        # The relation's own handler (default select only) takes its rows as they are.
        return msgspec.structs.replace(plan, select=_STAR)
    # Plain loops, and nothing built for features the request does not use: this runs on
    # every request, and most requests are simple.
    if request.embedded:
        ctx.modifiers = {mods.path: mods for mods in request.embedded}
    planned: list[SelectColumn | EmbedPlan] = []
    for item in request.select:
        planned.extend(plan_select(item, table, ctx))
    select = tuple(planned)
    if ctx.embedded_names:
        ctx.level_embeds = {e.name: e for e in select if isinstance(e, EmbedPlan)}
    if ctx.modifiers:
        path = next(iter(ctx.modifiers))
        raise ApiRequestError.not_embedded(
            path[0] if path[0] not in ctx.embedded_names else path[-1]
        )
    if ctx.legacy_names:
        return msgspec.structs.replace(plan, select=select, legacy_names=tuple(ctx.legacy_names))
    return msgspec.structs.replace(plan, select=select)


def plan_filters(plan: ReadPlan, ctx: PlanContext) -> ReadPlan:
    """The root filters and ``and=``/``or=`` trees, added to the plan's ``where``."""
    request = ctx.request
    if not request.filters and not request.logic:
        return plan
    table = _table(ctx)
    where = [plan_filter(f, table, ctx) for f in request.filters]
    for tree in request.logic:
        where.append(plan_logic(tree, table, ctx))
    return msgspec.structs.replace(plan, where=(*plan.where, *where))


def plan_order(plan: ReadPlan, ctx: PlanContext) -> ReadPlan:
    """``order=``, including a related to-one embed's column (``order=rel(col)``)."""
    if not ctx.request.order:
        return plan
    table = _table(ctx)
    order = tuple([order_term(term, table, ctx) for term in ctx.request.order])
    return msgspec.structs.replace(plan, order=order)


def plan_paging(plan: ReadPlan, ctx: PlanContext) -> ReadPlan:
    """``limit``/``offset`` with the ``Range`` header, capped at ``db-max-rows``."""
    limit, offset = paging(ctx.request, ctx.settings.db_max_rows)
    if limit is None and not offset:
        return plan
    return msgspec.structs.replace(
        plan,
        limit=ctx.param(str(limit)) if limit is not None else None,
        offset=ctx.param(str(offset)) if offset else None,
    )


def plan_count(plan: ReadPlan, ctx: PlanContext) -> ReadPlan:
    """``Prefer: count=…``; ``estimated`` counts exactly up to ``db-max-rows`` + 1."""
    count = ctx.request.preferences.count
    if count is None:
        return plan
    max_rows = ctx.settings.db_max_rows
    count_cap = max_rows + 1 if count == "estimated" and max_rows is not None else None
    return msgspec.structs.replace(plan, count=count, count_cap=count_cap)


#: How a ``GET``/``HEAD`` on a table or view is planned, in order.
READ_PASSES: tuple[PlanPass, ...] = (
    resolve_relation,
    negotiate_media,
    plan_columns,
    plan_filters,
    plan_order,
    plan_paging,
    plan_count,
)


# -- helpers the passes share ------------------------------------------------------------------
def _table(ctx: PlanContext) -> Table:
    if ctx.table is None:
        raise RuntimeError("a pass needs the relation: resolve it first (resolve_relation)")
    return ctx.table


def paging(request: ApiRequest, max_rows: int | None) -> tuple[int | None, int]:
    """Intersect ``limit``/``offset`` with the ``Range`` header and cap at ``max_rows``."""
    offset = request.offset or 0
    upper = offset + request.limit - 1 if request.limit is not None else None
    if request.range is not None:
        first, last = request.range
        offset = max(offset, first)
        if last is not None:
            upper = last if upper is None else min(upper, last)
    limit = None if upper is None else max(0, upper - offset + 1)
    if max_rows is not None:
        limit = max_rows if limit is None else min(limit, max_rows)
    return limit, offset


def plan_select(
    item: Any,
    table: Table,
    ctx: PlanContext,
    path: tuple[str, ...] = (),
    depth: int = 0,
) -> tuple[SelectColumn | EmbedPlan, ...]:
    if isinstance(item, SelectEmbed):
        return (plan_embed(item, table, ctx, path, depth),)
    field = item.field
    if item.aggregate is not None:
        if not ctx.settings.db_aggregates_enabled:
            raise ApiRequestError.aggregates_disabled()
        return (
            SelectColumn(
                column_expr(field, table, ctx),
                item.alias or item.aggregate,
                item.cast,
                None,
                item.aggregate,
                item.aggregate_cast,
            ),
        )
    if field.name == "*" and item.alias is None and item.cast is None and not field.json_path:
        if not table.has_representations:
            return _STAR
        # Domain representations apply per column, so * is spelled out.
        return tuple(
            SelectColumn(ColumnExpr(c.name), None, None, c.json_cast) for c in table.columns
        )
    expr = column_expr(field, table, ctx)
    alias = item.alias
    if alias is None and field.json_path:
        keys = [step.key for step in field.json_path if not step.is_index]
        alias = keys[-1] if keys else field.name
    function = None
    if table.has_representations and not field.json_path:
        column = table.column(field.name)
        function = column.json_cast if column is not None else None
    return (SelectColumn(expr, alias, item.cast, function),)


# -- embedding -----------------------------------------------------------------------
def plan_embed(
    item: SelectEmbed,
    parent: Table,
    ctx: PlanContext,
    path: tuple[str, ...],
    depth: int,
) -> EmbedPlan:
    rel = resolve_relationship(item, parent, ctx.schema)
    if item.spread and not rel.to_one and not ctx.settings.db_aggregates_enabled:
        # A to-many spread aggregates its rows into arrays: an aggregate, as PostgREST counts.
        raise ApiRequestError.aggregates_disabled()
    target = ctx.schema.tables[rel.foreign_table]
    name = item.alias or item.relation
    here = (*path, name)
    ctx.embedded_names.add(name)
    depth += 1
    items = item.items
    in_many_spread = ctx.in_many_spread
    if item.spread and (not rel.to_one or in_many_spread):
        # Each column of a to-many spread (nested spreads included) becomes an array:
        # name them all.
        items = tuple(
            expanded
            for sub in items
            for expanded in (
                [SelectField(Field(c.name)) for c in target.columns]
                if isinstance(sub, SelectField) and sub.field.name == "*" and not sub.aggregate
                else [sub]
            )
        )
    # Inside a to-many spread, nested spreads are joined to its rows (a non-spread embed
    # starts afresh).
    ctx.in_many_spread = item.spread and (in_many_spread or not rel.to_one)
    select = tuple(column for sub in items for column in plan_select(sub, target, ctx, here, depth))
    ctx.in_many_spread = in_many_spread
    outer_level = ctx.level_embeds
    ctx.level_embeds = {e.name: e for e in select if isinstance(e, EmbedPlan)}
    mods = ctx.modifiers.pop(here, None)
    if mods is None and item.alias is not None and item.alias != item.relation:
        mods = ctx.modifiers.pop((*path, item.relation), None)
        if mods is not None:  # the relation name of an aliased embed: deprecated
            if not ctx.settings.url_use_legacy_target_names:
                raise ApiRequestError.aliased_target_name(item.relation, item.alias)
            ctx.legacy_names.append((item.relation, item.alias))
    where: list[Condition] = []
    order: tuple[OrderBy, ...] = ()
    limit_value = offset = None
    if mods is not None:
        where = [plan_filter(f, target, ctx) for f in mods.filters]
        where.extend(plan_logic(tree, target, ctx) for tree in mods.logic)
        order = tuple(order_term(term, target, ctx) for term in mods.order)
        limit_value = mods.limit
        if mods.offset:
            offset = ctx.param(str(mods.offset))
    max_rows = ctx.settings.db_max_rows
    if max_rows is not None and not rel.to_one:  # db-max-rows caps every level
        limit_value = max_rows if limit_value is None else min(limit_value, max_rows)
    limit = ctx.param(str(limit_value)) if limit_value is not None else None
    ctx.level_embeds = outer_level
    return EmbedPlan(
        name=name,
        relationship=rel,
        table_alias=f"{target.name}_{depth}",
        join_alias=f"{parent.name}_{name}_{depth}",
        select=select,
        where=tuple(where),
        order=order,
        limit=limit,
        offset=offset,
        inner=item.join == "inner",
        spread=item.spread,
        distinct=item.distinct,
    )


def resolve_relationship(item: SelectEmbed, parent: Table, schema: SchemaCache) -> Relationship:
    """PostgREST's rules: the target names a table/view, a foreign key, or (many-to-one)
    a foreign-key column; ``!hint`` narrows by constraint, column or junction table."""
    name = item.relation
    candidates = [
        rel
        for rel in schema.relationships.get(parent.qualified, ())
        # Any exposed schema: the cache holds only exposed relations.
        if (rel.function is None or rel.constraint == name)
        and (
            # A self-reference by table name is the one-to-many side.
            (
                rel.foreign_table.name == name
                and (rel.table != rel.foreign_table or rel.cardinality != "m2o")
            )
            or (
                # A constraint or a foreign-key column as the target names the referenced
                # table, not the views over it (PostgREST issue 2238); self-references are
                # exempt (PostgREST matches those apart, views included).
                (
                    (rel.junction is None and rel.constraint == name)
                    or (rel.cardinality == "m2o" and rel.columns == (name,))
                )
                and (rel.table == rel.foreign_table or not _is_view(schema, rel.foreign_table))
            )
        )
    ]
    hint = item.hint
    if hint is not None:
        # A column hint names a single-column key, on either side.
        candidates = [
            rel
            for rel in candidates
            if rel.constraint == hint
            or rel.columns == (hint,)
            or rel.foreign_columns == (hint,)
            or (rel.junction is not None and rel.junction.table.name == hint)
        ]
    if len(candidates) > 1:
        # A constraint or column names one foreign key, which views over the target also
        # carry: prefer the base table over those views, else a self-reference.
        by_key = [rel for rel in candidates if rel.foreign_table.name != name]
        if by_key and len({rel.constraint for rel in by_key}) == 1:
            tables = [
                rel
                for rel in by_key
                if schema.tables[rel.foreign_table].kind not in ("view", "materialized_view")
            ]
            selves = [rel for rel in by_key if rel.foreign_table == parent.qualified]
            for preferred in (tables, selves):
                if len(preferred) == 1:
                    return preferred[0]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise no_relationship(parent, name, hint, schema)
    raise ambiguous_relationship(parent, name, candidates)


def _is_view(schema: SchemaCache, name: QualifiedName) -> bool:
    table = schema.tables.get(name)
    return table is not None and table.kind in ("view", "materialized_view")


def column_expr(field: Field, table: Table, ctx: PlanContext) -> ColumnExpr:
    if "\x00" in field.name:
        raise ApiRequestError.parse("field", field.name, 1, "a name without NUL bytes")
    if not field.json_path:
        return ColumnExpr(field.name)
    path = tuple(
        (step.arrow, ctx.param(step.key, "int" if step.is_index else None))
        for step in field.json_path
    )
    # JSON operators need json/jsonb; other known columns (arrays, composites) are
    # converted. Unknown names (computed fields) are left for PostgreSQL to resolve.
    column = table.column(field.name)
    convert = column is not None and column.base_type not in _JSON_TYPES
    return ColumnExpr(field.name, path, convert)


def plan_filter(filt: Filter, table: Table, ctx: PlanContext) -> Condition:
    op = filt.op
    embed = None if filt.field.json_path else ctx.level_embeds.get(filt.field.name)
    # Only is.null / not.is.null on an embed's name tests the embed; any other operator
    # filters the column of that name (PostgREST issue 2862).
    if embed is not None and op.operator == "is" and op.value in ("null", "not_null"):
        return EmbedIsNull(embed.join_alias, (op.value == "null") != op.negated)
    expr = column_expr(filt.field, table, ctx)
    text_cast = None
    if table.has_representations and not filt.field.json_path:
        column = table.column(filt.field.name)
        text_cast = column.text_cast if column is not None else None
    if op.operator == "is":
        return IsCond(expr, IS_VALUES[str(op.value)], op.negated)
    if op.operator == "in":
        values = op.value if isinstance(op.value, tuple) else (op.value,)
        return Cond(
            expr,
            "=",
            ctx.param(pg_array_literal(values)),
            op.negated,
            "any",
            value_function=text_cast,
        )
    if op.operator in FTS_FUNCTIONS:
        language = ctx.param(op.language) if op.language else None
        column = table.column(filt.field.name)
        needs_vector = column is None or column.base_type != "tsvector"
        return Cond(
            expr,
            "@@",
            ctx.param(op.value),
            op.negated,
            fts=FTS_FUNCTIONS[op.operator],
            language=language,
            vectorize=needs_vector,
        )
    operator = op.definition or ctx.operators.get(op.operator)
    if operator is None:  # a grammar produced an operator no table defines
        raise ApiRequestError.unknown_operator(op.operator)
    return Cond(
        expr,
        operator.sql,
        ctx.param(op.value),
        op.negated,
        op.quantifier,
        value_function=text_cast,
    )


def plan_logic(tree: LogicTree, table: Table, ctx: PlanContext) -> LogicCond:
    children: list[Condition] = []
    for child in tree.children:
        if isinstance(child, LogicTree):
            children.append(plan_logic(child, table, ctx))
        else:
            children.append(plan_filter(child, table, ctx))
    return LogicCond(tree.operator, tuple(children), tree.negated)


def order_term(term: OrderTerm, table: Table, ctx: PlanContext) -> OrderBy:
    if term.relation is None:
        return OrderBy(column_expr(term.field, table, ctx), term.direction, term.nulls)
    embed = ctx.level_embeds.get(term.relation)
    if embed is None:
        raise ApiRequestError.not_embedded(term.relation)
    if not embed.relationship.to_one:
        raise ApiRequestError.related_order_not_to_one(table.name, term.relation)
    target = ctx.schema.tables[embed.relationship.foreign_table]
    expr = column_expr(term.field, target, ctx)
    return OrderBy(expr, term.direction, term.nulls, embed.join_alias)


_CARDINALITY = {
    "m2o": "many-to-one",
    "o2m": "one-to-many",
    "o2o": "one-to-one",
    "m2m": "many-to-many",
}


def no_relationship(
    parent: Table, name: str, hint: str | None, schema: SchemaCache
) -> SchemaCacheError:
    related = schema.relationships.get(parent.qualified, ())
    # When the target is related by name (the hint is what is wrong), the fuzzy set finds
    # only that exact match, and an exact match is no suggestion: no hint, as PostgREST.
    known = sorted({rel.foreign_table.name for rel in related})
    close = next((found for score, found in matches(name, known) if score < 1.0), None)
    return SchemaCacheError.relationship_not_found(parent.name, name, parent.schema, hint, close)


def ambiguous_relationship(
    parent: Table, name: str, candidates: Sequence[Relationship]
) -> SchemaCacheError:
    details = []
    options = []
    # PostgREST lists one-to-many first, then many-to-one, one-to-one, many-to-many.
    order = {"o2m": 0, "m2o": 1, "o2o": 2, "m2m": 3}
    for rel in sorted(candidates, key=lambda r: order[r.cardinality]):
        target = rel.foreign_table.name
        if rel.junction is not None:
            j = rel.junction
            how = (
                f"{j.table.name} using {j.source_constraint}({', '.join(j.source_columns)}) "
                f"and {j.target_constraint}({', '.join(j.target_columns)})"
            )
            options.append(f"'{name}!{j.table.name}'")
        else:
            how = (
                f"{rel.constraint} using {parent.name}({', '.join(rel.columns)}) and "
                f"{target}({', '.join(rel.foreign_columns)})"
            )
            options.append(f"'{name}!{rel.constraint}'")
        details.append(
            {
                "cardinality": _CARDINALITY[rel.cardinality],
                "embedding": f"{parent.name} with {target}",
                "relationship": how,
            }
        )
    return SchemaCacheError.ambiguous_relationship(parent.name, name, details, options)


def find_table(schema: SchemaCache, target: Target) -> Table:
    """The table or view a target names, or 404 ``PGRST205`` with a "Perhaps you meant" hint."""
    table = schema.table(target.schema, target.name)
    if table is not None:
        return table
    names = schema.table_names(target.schema)
    suggestion = None
    if len(names) < _MAX_TABLES_FOR_HINT:
        suggestion = closest(target.name, names, NAME_MIN_SCORE)
    raise SchemaCacheError.table_not_found(target.schema, target.name, suggestion)
