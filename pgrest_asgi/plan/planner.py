"""The planner hook: ``ApiRequest`` + ``SchemaCache`` → ``Plan`` + parameter values. Pure.

Planning resolves names against the schema cache, negotiates the media type, works out
paging, and moves every user value into the parameter list. Then ``passes`` run in order;
each is a small pure function ``(plan, ctx) -> plan`` (sqlglot's optimizer style). A host
appends its own, e.g. a tenant filter, with ``SqlglotPlanner(passes=(*DEFAULT_PASSES, mine))``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from ..errors import ApiRequestError, SchemaCacheError
from ..request.grammar import parse_accept
from ..request.model import (
    ApiRequest,
    EmbedModifiers,
    Field,
    Filter,
    LogicTree,
    MediaType,
    OrderTerm,
    SelectEmbed,
    SelectField,
    Target,
)
from ..request.operators import FTS_FUNCTIONS, IS_VALUES, OPERATORS, Operator
from ..schema.model import QualifiedName, Relationship, SchemaCache, Table
from ..settings import Settings
from ..sql.build import Statement, build_planned_count, build_read
from .calls import plan_call
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
    Param,
    Plan,
    ReadPlan,
    SelectColumn,
    pg_array_literal,
)
from .writes import plan_write

__all__ = ["DEFAULT_PASSES", "PlanContext", "PlanPass", "SqlglotPlanner", "negotiate"]


class PlanContext:
    """What a pass may read (request, schema, settings) and the parameter list it may extend."""

    __slots__ = (
        "embedded_names",
        "in_many_spread",
        "legacy_names",
        "level_embeds",
        "modifiers",
        "params",
        "request",
        "schema",
        "settings",
    )

    def __init__(self, request: ApiRequest, schema: SchemaCache, settings: Settings) -> None:
        self.request = request
        self.schema = schema
        self.settings = settings
        self.params: list[Any] = []
        #: ``rel.col=…`` modifiers not yet claimed by an embed, by path.
        self.modifiers: dict[tuple[str, ...], EmbedModifiers] = {}
        self.embedded_names: set[str] = set()
        self.legacy_names: list[tuple[str, str]] = []
        #: The embeds of the level being planned, by output name (null filters, related order).
        self.level_embeds: dict[str, EmbedPlan] = {}
        #: Planning inside a to-many spread, whose columns must all be named.
        self.in_many_spread = False

    def param(self, value: Any, cast: str | None = None) -> Param:
        """Add a value; returns the slot that refers to it (``$n``)."""
        self.params.append(value)
        return Param(len(self.params), cast)


PlanPass = Callable[[Plan, PlanContext], Plan]
DEFAULT_PASSES: tuple[PlanPass, ...] = ()

_JSON_TYPES = frozenset({"json", "jsonb"})
_SIMILARITY = 0.75
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


_DEFAULT_MEDIA = Negotiated()
_PLAN_TYPES = {
    "application/vnd.pgrst.plan": "text",
    "application/vnd.pgrst.plan+text": "text",
    "application/vnd.pgrst.plan+json": "json",
}
_EXPLAIN_OPTIONS = ("analyze", "verbose", "settings", "buffers", "wal")


def negotiate(
    accept: Sequence[MediaType], *, plan_enabled: bool = False, geojson: bool = False
) -> Negotiated:
    """The first producible type in ``Accept`` (ordered by q), with its parameters."""
    if not accept:
        return _DEFAULT_MEDIA
    for media in accept:
        kind = _READ_MEDIA.get(media.type)
        if kind is None and geojson and media.type == "application/geo+json":
            kind = "geojson"
        if kind is not None:
            strip = ("nulls", "stripped") in media.params and media.type.startswith(
                "application/vnd.pgrst."
            )
            return Negotiated(kind, strip)
        fmt = _PLAN_TYPES.get(media.type)
        if fmt is not None and plan_enabled:
            params = dict(media.params)
            target = negotiate(
                parse_accept(params.get("for", "").strip('"') or None), geojson=geojson
            )
            options = params.get("options", "").strip('"').split("|")
            chosen = tuple(o for o in _EXPLAIN_OPTIONS if o in options)
            return Negotiated(
                target.media,
                target.strip_nulls,
                Explain("json" if fmt == "json" else "text", chosen),
            )
    raise ApiRequestError.not_acceptable([str(m) for m in accept])


class SqlglotPlanner:
    """The default planner: builds ``ReadPlan``s and renders them with sqlglot (cached)."""

    def __init__(
        self,
        settings: Settings,
        *,
        operators: Mapping[str, Operator] = OPERATORS,
        passes: Sequence[PlanPass] = DEFAULT_PASSES,
    ) -> None:
        self.settings = settings
        self.operators = operators
        self.passes = tuple(passes)

    # -- hook API --------------------------------------------------------------------------
    def plan(self, request: ApiRequest, schema: SchemaCache) -> tuple[Plan, list[Any]]:
        ctx = PlanContext(request, schema, self.settings)
        plan: Plan
        method = request.method
        if request.target.kind == "rpc":
            plan = self.plan_call(request, ctx)
        elif method == "GET" or method == "HEAD":
            plan = self.plan_read(request, ctx)
        else:
            plan = self.plan_write(request, ctx)
        for step in self.passes:
            plan = step(plan, ctx)
        return plan, ctx.params

    def build(self, plan: Plan, params: Sequence[Any]) -> Statement:
        count_sql, count_params = None, ()
        if plan.count in ("planned", "estimated"):
            count_sql, used = build_planned_count(plan)
            count_params = tuple(params[i - 1] for i in used)
        if plan.explain is not None:
            return Statement(build_read(plan), tuple(params), explain=plan.explain.format)
        return Statement(
            build_read(plan), tuple(params), count_sql, count_params, checks=plan.checks
        )

    # -- reads -----------------------------------------------------------------------------
    def resolve_table(self, request: ApiRequest, schema: SchemaCache) -> Table:
        return find_table(schema, request.target)

    def plan_read(self, request: ApiRequest, ctx: PlanContext) -> ReadPlan:
        table = self.resolve_table(request, ctx.schema)
        return self.plan_rows(request, ctx, table)

    def plan_write(self, request: ApiRequest, ctx: PlanContext) -> ReadPlan:
        """POST/PATCH/PUT/DELETE: the statement, and the read of its RETURNING rows."""
        return plan_write(self, request, ctx)

    def plan_call(self, request: ApiRequest, ctx: PlanContext) -> ReadPlan:
        """``/rpc/<name>``: the overload, its arguments, and the read of its result."""
        return plan_call(self, request, ctx)

    def plan_rows(
        self,
        request: ApiRequest,
        ctx: PlanContext,
        table: Table,
        *,
        alias: bool = False,
        filtered: bool = True,
        paged: bool = True,
    ) -> ReadPlan:
        """Select, embeds, filters, order, paging and media for rows of ``table``.

        ``alias``: the rows come from a source (a write's RETURNING rows, a function's
        result) known by the table's bare name. ``filtered=False`` leaves the root filters to
        the caller (a PATCH/DELETE applies them to the rows it changes); ``paged=False``
        returns every row (a write's representation: no limit, offset or max-rows).
        """
        geojson = ctx.schema.geojson_function
        negotiated = negotiate(
            request.accept,
            plan_enabled=self.settings.db_plan_enabled,
            geojson=geojson is not None,
        )
        # Plain loops, and nothing built for features the request does not use: this runs on
        # every request, and most requests are simple.
        if request.embedded:
            ctx.modifiers = {mods.path: mods for mods in request.embedded}
        planned: list[SelectColumn | EmbedPlan] = []
        for item in request.select:
            planned.extend(self.plan_select(item, table, ctx))
        select = tuple(planned)
        if ctx.embedded_names:
            ctx.level_embeds = {e.name: e for e in select if isinstance(e, EmbedPlan)}
        if ctx.modifiers:
            path = next(iter(ctx.modifiers))
            raise not_embedded(path[0] if path[0] not in ctx.embedded_names else path[-1])
        where: list[Condition] = []
        if filtered:
            where = [self.plan_filter(f, table, ctx) for f in request.filters]
            for tree in request.logic:
                where.append(self.plan_logic(tree, table, ctx))
        order = tuple([self.plan_order(term, table, ctx) for term in request.order])
        limit, offset = self.paging(request) if paged else (None, 0)
        count = request.preferences.count
        max_rows = self.settings.db_max_rows
        if count == "estimated" and max_rows is None:
            count = "exact"  # nothing to cap: the exact count is the estimate
        count_cap = max_rows + 1 if count == "estimated" and max_rows is not None else None
        return ReadPlan(
            table=table.qualified if not alias else QualifiedName("", table.name),
            select=select,
            where=tuple(where),
            order=order,
            limit=ctx.param(str(limit)) if limit is not None else None,
            offset=ctx.param(str(offset)) if offset else None,
            count=count,
            count_cap=count_cap,
            media=negotiated.media,
            head=request.method == "HEAD",
            strip_nulls=negotiated.strip_nulls,
            explain=negotiated.explain,
            geojson_function=geojson if negotiated.media == "geojson" else None,
            legacy_names=tuple(ctx.legacy_names) if ctx.legacy_names else (),
        )

    def paging(self, request: ApiRequest) -> tuple[int | None, int]:
        """Intersect ``limit``/``offset`` with the ``Range`` header and cap at ``db_max_rows``."""
        offset = request.offset or 0
        upper = offset + request.limit - 1 if request.limit is not None else None
        if request.range is not None:
            first, last = request.range
            offset = max(offset, first)
            if last is not None:
                upper = last if upper is None else min(upper, last)
        limit = None if upper is None else max(0, upper - offset + 1)
        max_rows = self.settings.db_max_rows
        if max_rows is not None:
            limit = max_rows if limit is None else min(limit, max_rows)
        return limit, offset

    def plan_select(
        self,
        item: Any,
        table: Table,
        ctx: PlanContext,
        path: tuple[str, ...] = (),
        depth: int = 0,
    ) -> tuple[SelectColumn | EmbedPlan, ...]:
        if isinstance(item, SelectEmbed):
            return (self.plan_embed(item, table, ctx, path, depth),)
        field = item.field
        if item.aggregate is not None:
            if not self.settings.db_aggregates_enabled:
                raise ApiRequestError("Use of aggregate functions is not allowed", code="PGRST123")
            return (
                SelectColumn(
                    self.column(field, table, ctx),
                    item.alias or item.aggregate,
                    item.cast,
                    None,
                    item.aggregate,
                    item.aggregate_cast,
                ),
            )
        if table.has_representations and field.name == "*":
            # Domain representations apply per column, so * is spelled out.
            return tuple(
                SelectColumn(ColumnExpr(c.name), None, None, c.json_cast) for c in table.columns
            )
        expr = self.column(field, table, ctx)
        alias = item.alias
        if alias is None and field.json_path:
            keys = [step.key for step in field.json_path if not step.is_index]
            alias = keys[-1] if keys else field.name
        function = None
        if table.has_representations and not field.json_path and item.cast is None:
            column = table.column(field.name)
            function = column.json_cast if column is not None else None
        return (SelectColumn(expr, alias, item.cast, function),)

    # -- embedding -----------------------------------------------------------------------
    def plan_embed(
        self,
        item: SelectEmbed,
        parent: Table,
        ctx: PlanContext,
        path: tuple[str, ...],
        depth: int,
    ) -> EmbedPlan:
        rel = self.resolve_relationship(item, parent, ctx.schema)
        if (
            item.spread
            and not rel.to_one
            and any(isinstance(sub, SelectField) and sub.aggregate for sub in item.items)
        ):
            raise ApiRequestError(
                "Feature not implemented",
                code="PGRST127",
                details="Aggregates are not implemented for one-to-many or many-to-many spreads.",
            )
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
                    if isinstance(sub, SelectField) and sub.field.name == "*"
                    else [sub]
                )
            )
        ctx.in_many_spread = in_many_spread or (item.spread and not rel.to_one)
        select = tuple(
            column for sub in items for column in self.plan_select(sub, target, ctx, here, depth)
        )
        ctx.in_many_spread = in_many_spread
        outer_level = ctx.level_embeds
        ctx.level_embeds = {e.name: e for e in select if isinstance(e, EmbedPlan)}
        mods = ctx.modifiers.pop(here, None)
        if mods is None and item.alias is not None and item.alias != item.relation:
            mods = ctx.modifiers.pop((*path, item.relation), None)
            if mods is not None:  # the relation name of an aliased embed: deprecated
                if not self.settings.url_use_legacy_target_names:
                    raise ApiRequestError(
                        f"'{item.relation}' is not an embedded resource in this request",
                        code="PGRST108",
                        details="Target names are not allowed in filters if they have an alias",
                        hint=f"Change '{item.relation}' to '{item.alias}' in query string "
                        "filters, orders or limits.",
                    )
                ctx.legacy_names.append((item.relation, item.alias))
        where: list[Condition] = []
        order: tuple[OrderBy, ...] = ()
        limit_value = offset = None
        if mods is not None:
            where = [self.plan_filter(f, target, ctx) for f in mods.filters]
            where.extend(self.plan_logic(tree, target, ctx) for tree in mods.logic)
            order = tuple(self.plan_order(term, target, ctx) for term in mods.order)
            limit_value = mods.limit
            if mods.offset:
                offset = ctx.param(str(mods.offset))
        max_rows = self.settings.db_max_rows
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
        )

    def resolve_relationship(
        self, item: SelectEmbed, parent: Table, schema: SchemaCache
    ) -> Relationship:
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
                or (rel.junction is None and rel.constraint == name)
                or (rel.cardinality == "m2o" and rel.columns == (name,))
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

    def column(self, field: Field, table: Table, ctx: PlanContext) -> ColumnExpr:
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

    def plan_filter(self, filt: Filter, table: Table, ctx: PlanContext) -> Condition:
        op = filt.op
        embed = None if filt.field.json_path else ctx.level_embeds.get(filt.field.name)
        if embed is not None:
            if op.operator != "is" or op.value not in ("null", "not_null"):
                raise ApiRequestError(
                    f"Bad operator on the '{embed.name}' embedded resource",
                    code="PGRST120",
                    details="Only is null or not is null filters are allowed on embedded resources",
                )
            return EmbedIsNull(embed.join_alias, (op.value == "null") != op.negated)
        expr = self.column(filt.field, table, ctx)
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
        operator = self.operators[op.operator]
        return Cond(
            expr,
            operator.sql,
            ctx.param(op.value),
            op.negated,
            op.quantifier,
            value_function=text_cast,
        )

    def plan_logic(self, tree: LogicTree, table: Table, ctx: PlanContext) -> LogicCond:
        children: list[Condition] = []
        for child in tree.children:
            if isinstance(child, LogicTree):
                children.append(self.plan_logic(child, table, ctx))
            else:
                children.append(self.plan_filter(child, table, ctx))
        return LogicCond(tree.operator, tuple(children), tree.negated)

    def plan_order(self, term: OrderTerm, table: Table, ctx: PlanContext) -> OrderBy:
        if term.relation is None:
            return OrderBy(self.column(term.field, table, ctx), term.direction, term.nulls)
        embed = ctx.level_embeds.get(term.relation)
        if embed is None:
            raise not_embedded(term.relation)
        if not embed.relationship.to_one:
            raise ApiRequestError(
                f"A related order on '{term.relation}' is not possible",
                code="PGRST118",
                details=f"'{table.name}' and '{term.relation}' do not form a many-to-one or "
                "one-to-one relationship",
            )
        target = ctx.schema.tables[embed.relationship.foreign_table]
        expr = self.column(term.field, target, ctx)
        return OrderBy(expr, term.direction, term.nulls, embed.join_alias)


_CARDINALITY = {
    "m2o": "many-to-one",
    "o2m": "one-to-many",
    "o2o": "one-to-one",
    "m2m": "many-to-many",
}


def not_embedded(name: str) -> ApiRequestError:
    return ApiRequestError(
        f"'{name}' is not an embedded resource in this request",
        code="PGRST108",
        hint=f"Verify that '{name}' is included in the 'select' query parameter.",
    )


def no_relationship(
    parent: Table, name: str, hint: str | None, schema: SchemaCache
) -> ApiRequestError:
    using = f" using the hint '{hint}'" if hint else ""
    related = schema.relationships.get(parent.qualified, ())
    # An exact match is no suggestion (the target exists; the hint is what is wrong).
    known = sorted({rel.foreign_table.name for rel in related} - {name})
    close = difflib.get_close_matches(name, known, n=1, cutoff=_SIMILARITY)
    return ApiRequestError(
        f"Could not find a relationship between '{parent.name}' and '{name}' in the schema cache",
        code="PGRST200",
        details=f"Searched for a foreign key relationship between '{parent.name}' and "
        f"'{name}'{using} in the schema '{parent.schema}', but no matches were found.",
        hint=f"Perhaps you meant '{close[0]}' instead of '{name}'." if close else None,
    )


def ambiguous_relationship(
    parent: Table, name: str, candidates: Sequence[Relationship]
) -> ApiRequestError:
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
    return ApiRequestError(
        f"Could not embed because more than one relationship was found for '{parent.name}' "
        f"and '{name}'",
        code="PGRST201",
        status=300,
        details=details,
        hint=f"Try changing '{name}' to one of the following: {', '.join(options)}. Find the "
        "desired relationship in the 'details' key.",
    )


def find_table(schema: SchemaCache, target: Target) -> Table:
    """The table or view a target names, or 404 ``PGRST205`` with a "Perhaps you meant" hint."""
    table = schema.table(target.schema, target.name)
    if table is not None:
        return table
    names = schema.table_names(target.schema)
    suggestion = None
    if len(names) < _MAX_TABLES_FOR_HINT:
        close = difflib.get_close_matches(target.name, names, n=1, cutoff=_SIMILARITY)
        suggestion = close[0] if close else None
    raise SchemaCacheError.table_not_found(target.schema, target.name, suggestion)
