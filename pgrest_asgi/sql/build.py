"""Plan → SQL text, built as a sqlglot expression tree and cached by the plan's shape.

Rules that keep the output safe whatever the request says:

* identifiers are always ``exp.Identifier(quoted=True)`` — never parsed from request text;
* values never appear in the SQL: every one is a ``$n`` parameter (``exp.Parameter``);
* built-in functions are schema-qualified (``pg_catalog.json_agg``) so a same-named function
  in an exposed schema cannot take over;
* the only request text rendered verbatim is a cast's type name, which the grammar restricts to
  ``[A-Za-z0-9_ $[]]`` and which is emitted through sqlglot's type parser.

Plans hold parameter slots, not values, so the rendered text depends only on the request's
shape: ``build_read`` caches it in a bounded dict and a hit skips sqlglot entirely.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Generic, TypeVar

import msgspec
from sqlglot import exp

from ..plan.model import (
    ColumnExpr,
    Cond,
    Condition,
    EmbedIsNull,
    EmbedPlan,
    IsCond,
    LogicCond,
    OrderBy,
    Param,
    ReadPlan,
    SelectColumn,
)
from ..schema.model import QualifiedName

__all__ = ["SqlCache", "Statement", "build_read", "read_sql_cache"]

_DIALECT = "postgres"
V = TypeVar("V")


class Statement(msgspec.Struct, frozen=True):
    """SQL text with ``$n`` placeholders and the values for them.

    ``count_sql`` is an optional second statement, run after the main one in the same
    transaction: ``EXPLAIN (FORMAT JSON)`` of the count query for ``count=planned|estimated``.
    """

    sql: str
    params: tuple[Any, ...] = ()
    count_sql: str | None = None
    count_params: tuple[Any, ...] = ()
    #: ``sql`` is an ``EXPLAIN`` in this format: its rows are the response body.
    explain: str | None = None


class SqlCache(Generic[V]):
    """A bounded LRU of rendered SQL text keyed by plan shape; counts hits and misses."""

    def __init__(self, max_entries: int = 2048) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[Any, V] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Any) -> V | None:
        sql = self._data.get(key)
        if sql is not None:
            self.hits += 1
            self._data.move_to_end(key)
        return sql

    def put(self, key: Any, sql: V) -> None:
        self.misses += 1
        self._data[key] = sql
        if len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()


read_sql_cache: SqlCache[str] = SqlCache()


def build_read(plan: ReadPlan, cache: SqlCache[str] = read_sql_cache) -> str:
    sql = cache.get(plan)
    if sql is None:
        sql = render(read_expression(plan))
        if plan.explain is not None:
            # Format and options come from fixed whitelists (planner.negotiate).
            words = [f"FORMAT {plan.explain.format.upper()}"]
            words += [option.upper() for option in plan.explain.options]
            sql = f"EXPLAIN ({', '.join(words)}) {sql}"
        cache.put(plan, sql)
    return sql


count_sql_cache: SqlCache[tuple[str, tuple[int, ...]]] = SqlCache()


def build_planned_count(plan: ReadPlan) -> tuple[str, tuple[int, ...]]:
    """``EXPLAIN (FORMAT JSON) SELECT 1 FROM … WHERE …`` and the plan's parameter slots it
    uses, in the order of its own ``$1…$n`` (PostgreSQL must see every parameter it is sent).
    """
    key = ("planned-count", plan)
    cached = count_sql_cache.get(key)
    if cached is not None:
        return cached
    used: list[int] = []
    mapping: dict[int, int] = {}
    # Only what the count query uses: the !inner embeds (joined) and the filters.
    inner = tuple(
        _renumber(item, mapping, used)
        for item in plan.select
        if isinstance(item, EmbedPlan) and item.inner
    )
    where = tuple(_renumber(cond, mapping, used) for cond in plan.where)
    query = count_select(msgspec.structs.replace(plan, select=inner, where=where, count_cap=None))
    result = ("EXPLAIN (FORMAT JSON) " + render(query), tuple(used))
    count_sql_cache.put(key, result)
    return result


def _renumber(node: Any, mapping: dict[int, int], used: list[int]) -> Any:
    """A copy of a plan fragment with its parameters numbered from 1 in order of use."""
    if isinstance(node, Param):
        if node.index not in mapping:
            used.append(node.index)
            mapping[node.index] = len(used)
        return Param(mapping[node.index], node.cast)
    if isinstance(node, tuple):
        return tuple(_renumber(item, mapping, used) for item in node)
    if isinstance(node, msgspec.Struct):
        changes = {
            name: _renumber(getattr(node, name), mapping, used) for name in node.__struct_fields__
        }
        return msgspec.structs.replace(node, **changes)
    return node


def render(tree: exp.Expr) -> str:
    return tree.sql(dialect=_DIALECT, normalize_functions=False, copy=False)


# -- node helpers ------------------------------------------------------------------------------
def ident(name: str) -> exp.Identifier:
    return exp.Identifier(this=name, quoted=True)


def param(p: Param) -> exp.Expr:
    node: exp.Expr = exp.Parameter(this=exp.var(str(int(p.index))))
    if p.cast is not None:
        node = exp.Cast(this=node, to=exp.DataType.build(p.cast, dialect=_DIALECT))
    return node


def pg(name: str, *args: exp.Expr) -> exp.Expr:
    """``pg_catalog.<name>(args)``; ``name`` is always one of our own constants."""
    return exp.Dot(
        this=exp.to_identifier("pg_catalog"),
        expression=exp.Anonymous(this=name, expressions=list(args)),
    )


def call(function: QualifiedName, *args: exp.Expr) -> exp.Expr:
    """``"schema"."function"(args)`` for a function named by the schema cache."""
    return exp.Dot(
        this=ident(function.schema),
        expression=exp.Anonymous(this=ident(function.name), expressions=list(args)),
    )


def table_node(name: QualifiedName, alias: str | None = None) -> exp.Table:
    node = exp.Table(this=ident(name.name), db=ident(name.schema))
    if alias is not None:
        node.set("alias", exp.TableAlias(this=ident(alias)))
    return node


def column(table: QualifiedName, expr: ColumnExpr) -> exp.Expr:
    """A column of ``table``: ``"schema"."table"."col"``, or ``"alias"."col"`` for an alias
    (a ``QualifiedName`` with an empty schema)."""
    db = ident(table.schema) if table.schema else None
    if expr.name == "*":
        return exp.Column(this=exp.Star(), table=ident(table.name), db=db)
    node: exp.Expr = exp.Column(this=ident(expr.name), table=ident(table.name), db=db)
    if expr.to_jsonb:
        node = pg("to_jsonb", node)
    for arrow, key in expr.json_path:
        cls = exp.JSONExtract if arrow == "->" else exp.JSONExtractScalar
        node = cls(this=node, expression=param(key))
    return node


def cast_to(node: exp.Expr, type_name: str) -> exp.Expr:
    return exp.Cast(this=node, to=exp.DataType.build(type_name, dialect=_DIALECT, udt=True))


#: Aggregates the grammar accepts; emitted as ``pg_catalog.<name>``.
_AGGREGATES = frozenset({"count", "sum", "avg", "min", "max"})


def select_item(table: QualifiedName, item: SelectColumn) -> exp.Expr:
    node = column(table, item.expr)
    if item.aggregate is not None:
        assert item.aggregate in _AGGREGATES
        if item.cast is not None:
            node = cast_to(node, item.cast)
        node = pg(item.aggregate, exp.Star() if item.expr.name == "*" else node)
        if item.aggregate_cast is not None:
            node = cast_to(node, item.aggregate_cast)
        return exp.Alias(this=node, alias=ident(item.alias or item.aggregate))
    if item.function is not None:
        return exp.Alias(this=call(item.function, node), alias=ident(item.alias or item.expr.name))
    if item.cast is not None:
        node = cast_to(node, item.cast)
        if item.alias is None:
            return exp.Alias(this=node, alias=ident(item.expr.name))
    if item.alias is not None:
        return exp.Alias(this=node, alias=ident(item.alias))
    return node


_BINARY: dict[str, type[exp.Expr]] = {
    "=": exp.EQ,
    ">": exp.GT,
    ">=": exp.GTE,
    "<": exp.LT,
    "<=": exp.LTE,
    "<>": exp.NEQ,
    "LIKE": exp.Like,
    "ILIKE": exp.ILike,
    "IS DISTINCT FROM": exp.NullSafeNEQ,
    "@>": exp.ArrayContainsAll,
    "<@": exp.ArrayContainedBy,
    "&&": exp.ArrayOverlaps,
}


def condition(table: QualifiedName, cond: Condition) -> exp.Expr:
    node: exp.Expr
    if isinstance(cond, LogicCond):
        parts = [condition(table, child) for child in cond.children]
        joined = _chain(exp.And if cond.operator == "and" else exp.Or, parts)
        node = exp.Paren(this=joined)
    elif isinstance(cond, EmbedIsNull):
        found = exp.Column(this=ident(cond.join_alias))
        op = exp.NullSafeEQ if cond.is_null else exp.NullSafeNEQ
        return op(this=found, expression=exp.Null())
    elif isinstance(cond, IsCond):
        target = column(table, cond.expr)
        keyword = cond.keyword
        if keyword == "NOT NULL":
            node = exp.Not(this=exp.Is(this=target, expression=exp.Null()))
        else:
            node = exp.Is(this=target, expression=_is_keyword(keyword))
    else:
        node = _comparison(table, cond)
    if cond.negated:
        return exp.Not(this=exp.Paren(this=node) if not isinstance(node, exp.Paren) else node)
    return node


def _comparison(table: QualifiedName, cond: Cond) -> exp.Expr:
    target = column(table, cond.expr)
    value = param(cond.value)
    if cond.fts is not None:
        args = [param(cond.language)] if cond.language is not None else []
        query = pg(cond.fts, *args, value)
        if cond.vectorize:
            target = pg("to_tsvector", *args, target)
        return _binary_op("@@", target, query)
    if cond.value_function is not None:
        if cond.quantifier is None:
            value = call(cond.value_function, value)
        else:
            # Each element of the list goes through the cast function.
            element = exp.Column(this=ident("pgrst_v"))
            each = exp.Select(expressions=[call(cond.value_function, element)])
            unnest = pg("unnest", exp.Cast(this=value, to=exp.DataType.build("text[]")))
            each.set("from_", exp.From(this=exp.Alias(this=unnest, alias=ident("pgrst_v"))))
            value = exp.Array(expressions=[each])
    if cond.quantifier is not None:
        quantified = (exp.Any if cond.quantifier == "any" else exp.All)(this=exp.Paren(this=value))
        return _binary_op(cond.sql_op, target, quantified)
    return _binary_op(cond.sql_op, target, value)


def _binary_op(sql_op: str, left: exp.Expr, right: exp.Expr) -> exp.Expr:
    cls = _BINARY.get(sql_op)
    if cls is not None:
        return cls(this=left, expression=right)
    # Operators sqlglot has no node for (~, ~*, <<, >>, &<, &>, -|-, @@): ``sql_op`` comes
    # from our operator table, never from the request.
    return exp.Operator(this=left, operator=sql_op, expression=right)


def _is_keyword(keyword: str) -> exp.Expr:
    """``IS`` keywords come from ``request.operators.IS_VALUES``, a fixed whitelist."""
    if keyword == "NULL":
        return exp.Null()
    if keyword in ("TRUE", "FALSE"):
        return exp.Boolean(this=keyword == "TRUE")
    return exp.var("UNKNOWN")


def order_item(table: QualifiedName, term: OrderBy) -> exp.Ordered:
    if term.join_alias is not None:
        table = QualifiedName("", term.join_alias)
    desc = term.direction == "desc"
    # PostgreSQL's default: NULLS LAST for ASC, NULLS FIRST for DESC.
    nulls_first = desc if term.nulls is None else term.nulls == "first"
    return exp.Ordered(this=column(table, term.expr), desc=desc, nulls_first=nulls_first)


# -- the read query ----------------------------------------------------------------------------
def source_select(plan: ReadPlan) -> exp.Select:
    table = plan.table
    entries = _select_entries(table, plan.select)
    query = exp.Select(expressions=[entry for entry, _ in entries])
    query.set("from_", exp.From(this=table_node(table)))
    query.set("group", _group_by(entries))
    _add_joins(query, table, plan.select)
    if plan.where:
        query.set("where", exp.Where(this=_conjunction(table, plan.where)))
    _set_paging(query, table, plan.order, plan.limit, plan.offset)
    return query


def _set_paging(
    query: exp.Select,
    ref: QualifiedName,
    order: tuple[OrderBy, ...],
    limit: Param | None,
    offset: Param | None,
) -> None:
    if order:
        query.set("order", exp.Order(expressions=[order_item(ref, t) for t in order]))
    if limit is not None:
        query.set("limit", exp.Limit(expression=param(limit)))
    if offset is not None:
        query.set("offset", exp.Offset(expression=param(offset)))


# -- embedding ---------------------------------------------------------------------------------
def _group_by(entries: list[tuple[exp.Expr, bool]]) -> exp.Group | None:
    """With aggregates in the list, every other output (columns and embeds) is grouped on,
    by its position in the select list."""
    if not any(aggregate for _, aggregate in entries):
        return None
    positions = [
        exp.Literal.number(n) for n, (_, aggregate) in enumerate(entries, 1) if not aggregate
    ]
    return exp.Group(expressions=positions) if positions else None


def _select_entries(
    ref: QualifiedName, items: tuple[SelectColumn | EmbedPlan, ...], *, hoist: bool = False
) -> list[tuple[exp.Expr, bool]]:
    """The select list, each entry flagged when it is an aggregate.

    ``hoist``: this is a to-one spread whose aggregates the parent computes, so they are
    selected here as plain columns under the aggregate's output name.
    """
    out: list[tuple[exp.Expr, bool]] = []
    for item in items:
        if not isinstance(item, EmbedPlan):
            if hoist and item.aggregate is not None:
                if item.expr.name == "*":
                    continue  # count(): the parent counts rows, nothing to select here
                plain = msgspec.structs.replace(
                    item, alias=_output_name(item), aggregate=None, aggregate_cast=None
                )
                out.append((select_item(ref, plain), False))
            else:
                out.append((select_item(ref, item), item.aggregate is not None))
        elif not item.select:
            continue  # rel(): joined for filtering, not shown
        elif item.spread:
            out.extend(_spread_columns(item))
        elif item.relationship.to_one:
            row = pg("row_to_json", exp.Column(this=exp.Star(), table=ident(item.join_alias)))
            cast = exp.Cast(this=row, to=exp.DataType.build("jsonb"))
            out.append((exp.Alias(this=cast, alias=ident(item.name)), False))
        else:
            rows = exp.Column(this=ident(item.join_alias), table=ident(item.join_alias))
            found = exp.Coalesce(this=rows, expressions=[exp.Literal.string("[]")])
            out.append((exp.Alias(this=found, alias=ident(item.name)), False))
    return out or [(exp.Alias(this=exp.Null(), alias=ident("pgrst_none")), False)]


def _spread_columns(embed: EmbedPlan) -> list[tuple[exp.Expr, bool]]:
    """``...rel(a, b)``: the parent selects the lateral's own output columns. A to-one
    spread's aggregates (``...rel(x.sum())``) are computed here, at the parent's level."""
    source = ident(embed.join_alias)
    out: list[tuple[exp.Expr, bool]] = []
    for item in embed.select:
        if isinstance(item, EmbedPlan):
            if item.select and not item.spread:
                out.append((exp.Column(this=ident(item.name), table=source.copy()), False))
            elif item.spread:
                out.extend(
                    (exp.Column(this=ident(_output_name(sub)), table=source.copy()), False)
                    for sub in item.select
                    if isinstance(sub, SelectColumn)
                )
        elif item.expr.name == "*" and item.aggregate is None:
            out.append((exp.Column(this=exp.Star(), table=source.copy()), False))
        elif item.aggregate is not None and embed.relationship.to_one:
            value = exp.Column(this=ident(_output_name(item)), table=source.copy())
            node = pg(item.aggregate, exp.Star() if item.expr.name == "*" else value)
            if item.aggregate_cast is not None:
                node = cast_to(node, item.aggregate_cast)
            out.append((exp.Alias(this=node, alias=ident(_output_name(item))), True))
        else:
            out.append((exp.Column(this=ident(_output_name(item)), table=source.copy()), False))
    return out


def _output_name(item: SelectColumn | EmbedPlan) -> str:
    if isinstance(item, EmbedPlan):
        return item.name
    return item.alias or item.expr.name


def _add_joins(
    query: exp.Select,
    parent: QualifiedName,
    items: tuple[SelectColumn | EmbedPlan, ...],
    *,
    only_inner: bool = False,
) -> None:
    joins = [
        _embed_join(parent, item)
        for item in items
        if isinstance(item, EmbedPlan) and (item.inner or not only_inner)
    ]
    if joins:
        query.set("joins", joins)


def _embed_join(parent: QualifiedName, embed: EmbedPlan) -> exp.Join:
    """``LEFT|INNER JOIN LATERAL (…) AS "join_alias" ON …`` for one embedded relation."""
    rel = embed.relationship
    ref = QualifiedName("", embed.table_alias)
    entries = _select_entries(ref, embed.select, hoist=embed.spread and rel.to_one)
    level = exp.Select(expressions=[entry for entry, _ in entries])
    level.set("group", _group_by(entries))
    sources: list[exp.Expr] = [table_node(rel.foreign_table, embed.table_alias)]
    links: list[exp.Expr] = []
    if rel.function is not None:
        # A computed relationship: the function of the parent's row gives the related rows.
        parent_row = exp.Column(this=ident(parent.name))
        sources = [exp.Alias(this=call(rel.function, parent_row), alias=ident(embed.table_alias))]
    elif rel.junction is None:
        links += [
            exp.EQ(this=column(ref, ColumnExpr(fcol)), expression=column(parent, ColumnExpr(col)))
            for col, fcol in zip(rel.columns, rel.foreign_columns, strict=True)
        ]
    else:
        junction = rel.junction
        jref = QualifiedName("", f"{junction.table.name}_j{embed.table_alias}")
        sources.append(table_node(junction.table, jref.name))
        links += [
            exp.EQ(this=column(ref, ColumnExpr(fcol)), expression=column(jref, ColumnExpr(tcol)))
            for fcol, tcol in zip(rel.foreign_columns, junction.target_columns, strict=True)
        ]
        links += [
            exp.EQ(this=column(jref, ColumnExpr(scol)), expression=column(parent, ColumnExpr(col)))
            for scol, col in zip(junction.source_columns, rel.columns, strict=True)
        ]
    level.set("from_", exp.From(this=sources[0]))
    # The junction joins the target (PostgREST lists it after a comma; same meaning).
    joins: list[exp.Expr] = [exp.Join(this=extra, kind="CROSS") for extra in sources[1:]]
    nested = [_embed_join(ref, item) for item in embed.select if isinstance(item, EmbedPlan)]
    if joins or nested:
        level.set("joins", joins + nested)
    links += [condition(ref, cond) for cond in embed.where]
    if links:
        level.set("where", exp.Where(this=_chain(exp.And, links)))
    _set_paging(level, ref, embed.order, embed.limit, embed.offset)
    alias = ident(embed.join_alias)
    on: exp.Expr = exp.true()
    if not rel.to_one and embed.spread:
        # A to-many spread: one array per column, lifted into the parent object.
        arrays: list[exp.Expr] = []
        for item in embed.select:
            name = ident(_output_name(item))
            values = pg("json_agg", exp.Column(this=name.copy(), table=alias.copy()))
            array = exp.Coalesce(this=values, expressions=[exp.Literal.string("[]")])
            arrays.append(
                exp.Alias(this=exp.Cast(this=array, to=exp.DataType.build("jsonb")), alias=name)
            )
        agg = exp.Select(expressions=arrays)
        agg.set(
            "from_",
            exp.From(this=exp.Subquery(this=level, alias=exp.TableAlias(this=alias.copy()))),
        )
        level = agg
    elif not rel.to_one:
        # Aggregate the rows into one json array per parent row (NULL when there are none).
        agg = exp.Select(
            expressions=[
                exp.Alias(
                    this=exp.Cast(
                        this=pg("json_agg", exp.Column(this=alias.copy())),
                        to=exp.DataType.build("jsonb"),
                    ),
                    alias=alias.copy(),
                )
            ]
        )
        agg.set(
            "from_",
            exp.From(this=exp.Subquery(this=level, alias=exp.TableAlias(this=alias.copy()))),
        )
        level = agg
        if embed.inner:
            on = exp.Not(
                this=exp.Is(
                    this=exp.Column(this=alias.copy(), table=alias.copy()), expression=exp.Null()
                )
            )
    lateral = exp.Lateral(this=exp.Subquery(this=level), alias=exp.TableAlias(this=alias))
    return exp.Join(
        this=lateral,
        side=None if embed.inner else "LEFT",
        kind="INNER" if embed.inner else None,
        on=on,
    )


def _conjunction(table: QualifiedName, conds: tuple[Condition, ...]) -> exp.Expr:
    return _chain(exp.And, [condition(table, c) for c in conds])


def _chain(op: type[exp.Connector], parts: list[exp.Expr]) -> exp.Expr:
    """``a AND b AND c`` as a left-deep tree (no parsing, no copies)."""
    node = parts[0]
    for part in parts[1:]:
        node = op(this=node, expression=part)
    return node


def count_select(plan: ReadPlan) -> exp.Select:
    query = exp.Select(expressions=[exp.Literal.number(1)])
    query.set("from_", exp.From(this=table_node(plan.table)))
    # !inner embeds filter the parent rows, so the count joins them too.
    _add_joins(query, plan.table, plan.select, only_inner=True)
    if plan.where:
        query.set("where", exp.Where(this=_conjunction(plan.table, plan.where)))
    if plan.count_cap is not None:
        # A configuration value (db-max-rows + 1), never request text.
        query.set("limit", exp.Limit(expression=exp.Literal.number(int(plan.count_cap))))
    return query


def _csv_body(rows: exp.Expr) -> exp.Expr:
    """``<keys of the first row>`` newline ``<each row's text without its parentheses>``."""
    first = exp.Select(
        expressions=[
            exp.Alias(this=pg("row_to_json", exp.Column(this=ident("pgrst_h"))), alias=ident("r"))
        ]
    )
    first.set(
        "from_",
        exp.From(
            this=exp.Table(this=ident("pgrst_source"), alias=exp.TableAlias(this=ident("pgrst_h")))
        ),
    )
    first.set("limit", exp.Limit(expression=exp.Literal.number(1)))
    keys = exp.Select(
        expressions=[
            exp.Alias(
                this=exp.Cast(
                    this=pg("json_object_keys", exp.Column(this=ident("r"))),
                    to=exp.DataType.build("text"),
                ),
                alias=ident("k"),
            )
        ]
    )
    keys.set(
        "from_",
        exp.From(this=exp.Subquery(this=first, alias=exp.TableAlias(this=ident("pgrst_first")))),
    )
    header = exp.Select(
        expressions=[
            exp.Coalesce(
                this=pg("string_agg", exp.Column(this=ident("k")), exp.Literal.string(",")),
                expressions=[exp.Literal.string("")],
            )
        ]
    )
    header.set(
        "from_",
        exp.From(this=exp.Subquery(this=keys, alias=exp.TableAlias(this=ident("pgrst_keys")))),
    )
    newline = pg("chr", exp.Literal.number(10))
    text = exp.Cast(this=rows, to=exp.DataType.build("text"))
    line = pg(
        "substr",
        text,
        exp.Literal.number(2),
        exp.Sub(this=pg("length", text.copy()), expression=exp.Literal.number(2)),
    )
    lines = exp.Coalesce(
        this=pg("string_agg", line, newline.copy()), expressions=[exp.Literal.string("")]
    )
    return exp.DPipe(
        this=exp.DPipe(this=exp.Subquery(this=header), expression=newline), expression=lines
    )


def _body(plan: ReadPlan, rows: exp.Expr) -> exp.Expr:
    if plan.head:
        return exp.Literal.string("")
    if plan.media == "csv":
        return _csv_body(rows)
    if plan.media == "geojson" and plan.geojson_function is not None:
        feature = exp.Cast(this=call(plan.geojson_function, rows), to=exp.DataType.build("json"))
        features = exp.Coalesce(
            this=pg("json_agg", feature), expressions=[exp.Literal.string("[]")]
        )
        return pg(
            "json_build_object",
            exp.Literal.string("type"),
            exp.Literal.string("FeatureCollection"),
            exp.Literal.string("features"),
            features,
        )
    agg = pg("json_agg", rows)
    if plan.media == "singular":
        body: exp.Expr = exp.Coalesce(
            this=exp.JSONExtract(this=agg, expression=exp.Literal.number(0)),
            expressions=[exp.Literal.string("null")],
        )
        body = exp.Cast(this=body, to=exp.DataType.build("json"))
    else:
        body = exp.Coalesce(this=agg, expressions=[exp.Literal.string("[]")])
    if plan.strip_nulls:
        body = pg("json_strip_nulls", exp.Cast(this=body, to=exp.DataType.build("json")))
    return body


def read_expression(plan: ReadPlan) -> exp.Select:
    """``WITH pgrst_source AS (…) SELECT total, page_total, body, response GUCs FROM …``."""
    rows = exp.Column(this=exp.to_identifier("_postgrest_t"))
    ctes = [exp.CTE(this=source_select(plan), alias=exp.TableAlias(this=ident("pgrst_source")))]
    paged = plan.limit is not None or plan.offset is not None
    total: exp.Expr
    counted = plan.count in ("exact", "estimated")
    if counted and (paged or plan.count_cap is not None):
        ctes.append(
            exp.CTE(this=count_select(plan), alias=exp.TableAlias(this=ident("pgrst_source_count")))
        )
        count_query = exp.Select(expressions=[pg("count", exp.Star())])
        count_query.set("from_", exp.From(this=exp.Table(this=ident("pgrst_source_count"))))
        total = exp.Subquery(this=count_query)
    elif counted:
        total = pg("count", rows)
    else:
        total = exp.Cast(this=exp.Null(), to=exp.DataType.build("bigint"))
    inner = exp.Select(expressions=[exp.Star()])
    inner.set("from_", exp.From(this=exp.Table(this=ident("pgrst_source"))))
    outer = exp.Select(
        expressions=[
            exp.Alias(this=total, alias=exp.to_identifier("total_result_set")),
            exp.Alias(this=pg("count", rows), alias=exp.to_identifier("page_total")),
            exp.Alias(
                this=exp.Cast(this=_body(plan, rows), to=exp.DataType.build("text")),
                alias=exp.to_identifier("body"),
            ),
            exp.Alias(
                this=_response_setting("response.headers"),
                alias=exp.to_identifier("response_headers"),
            ),
            exp.Alias(
                this=_response_setting("response.status"),
                alias=exp.to_identifier("response_status"),
            ),
        ]
    )
    outer.set(
        "from_",
        exp.From(
            this=exp.Subquery(
                this=inner, alias=exp.TableAlias(this=exp.to_identifier("_postgrest_t"))
            )
        ),
    )
    outer.set("with_", exp.With(expressions=ctes))
    return outer


def _response_setting(name: str) -> exp.Expr:
    """``nullif(current_setting('<name>', true), '')``; ``name`` is one of our constants."""
    return exp.Nullif(
        this=pg("current_setting", exp.Literal.string(name), exp.true()),
        expression=exp.Literal.string(""),
    )
