"""Plan → SQL text, built as a sqlglot expression tree and cached by the plan's shape.

Rules that keep the output safe whatever the request says:

* identifiers are always ``exp.Identifier(quoted=True)`` — never parsed from request text;
* values never appear in the SQL: every one is a ``$n`` parameter (``exp.Parameter``);
* built-in functions are schema-qualified (``pg_catalog.json_agg``) so a same-named function
  in an exposed schema cannot take over;
* a cast's type name (``select=col::type``) is written as PostgreSQL's keywords for a keyword
  type (``DOUBLE PRECISION``) or as a quoted identifier, plus digit-only modifiers and ``[]``
  (``nodes.cast_type``, which checks again the shape the grammar produces); it never goes
  through a tokenizer.

Plans hold parameter slots, not values, so the rendered text depends only on the request's
shape: ``build_read`` caches it in a bounded dict and a hit skips sqlglot entirely.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias, TypeVar

import msgspec
from sqlglot import exp

from ..cache import BoundedCache
from ..plan.model import (
    CallPlan,
    EmbedPlan,
    MutatePlan,
    OrderBy,
    Param,
    ReadPlan,
    RowCheck,
    SelectColumn,
)
from ..plan.walk import rows_nodes
from ..schema.model import MediaHandler, QualifiedName
from .gucs import quote_ident
from .nodes import (
    call,
    cast_to,
    chain,
    condition,
    conjunction,
    count_conjunction,
    count_embeds,
    embed_sources,
    ident,
    order_item,
    param,
    pg,
    render,
    select_item,
    table_node,
)
from .sources import (
    SCALAR,
    call_from,
    inserted_count,
    location_keys,
    mutation,
    sql_type,
    uses_where,
)

__all__ = [
    "DbResult",
    "SqlCache",
    "Statement",
    "build_entry",
    "build_read",
    "host_statement",
    "read_sql_cache",
    "render",
    "without_unused",
]

V = TypeVar("V")
#: The CTE holding a write's RETURNING rows.
MUTATION_CTE = "pgrst_mutation"


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
    #: Checked on the main statement's row count before COMMIT (writes).
    checks: tuple[RowCheck, ...] = ()
    #: The tables and views whose rows it reads or writes (the read, its embeds, the table
    #: a function's rows are, the table a write changes), for caches and tracing; functions
    #: may touch more than this says.
    relations: tuple[QualifiedName, ...] = ()
    #: The table a write changes (``None`` for reads and function calls).
    writes: QualifiedName | None = None


class DbResult(msgspec.Struct, kw_only=True):
    """What the executor answers: the main statement's single row."""

    total: int | None
    page_total: int
    body: bytes
    response_headers: bytes | None = None
    response_status: bytes | None = None
    #: ``count=planned|estimated``: the planner's row estimate for the count query.
    planned_total: int | None = None
    #: Writes: rows inserted by an upsert (201 vs 200), and the written rows' keys as a JSON
    #: array (``return=headers-only``, for ``Location``).
    inserted: int | None = None
    location: bytes | None = None


#: The SQL-text caches (keyed by plan shape) are the package's one cache class.
SqlCache: TypeAlias = BoundedCache[Any, V]


read_sql_cache: SqlCache[tuple[str, tuple[QualifiedName, ...]]] = BoundedCache()


Built = tuple[str, tuple[QualifiedName, ...]]


def build_read(plan: ReadPlan, cache: SqlCache[Built] = read_sql_cache) -> str:
    """The plan's SQL text (cached by the plan's shape)."""
    return build_entry(plan, cache)[0]


def build_entry(plan: ReadPlan, cache: SqlCache[Built] = read_sql_cache) -> Built:
    """The plan's SQL text and the relations its rows come from, cached together: a hit
    costs one lookup."""
    entry = cache.get(plan)
    if entry is None:
        sql = render(read_expression(plan))
        if plan.explain is not None:
            # Format and options come from fixed whitelists (planner.negotiate).
            words = [f"FORMAT {plan.explain.format.upper()}"]
            words += [option.upper() for option in plan.explain.options]
            sql = f"EXPLAIN ({', '.join(words)}) {sql}"
        # The rows answered first (the table read or written), then embeds, in walk order.
        main = plan.source.table if isinstance(plan.source, MutatePlan) else plan.relation
        relations = (main, *(node.relation for node in rows_nodes(plan)))
        entry = (sql, tuple(dict.fromkeys(r for r in relations if r is not None)))
        cache.put(plan, entry)
    return entry


count_sql_cache: SqlCache[tuple[str, tuple[int, ...]]] = BoundedCache()


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
    # Only what the count query uses: the source (a function's arguments), the !inner embeds
    # (joined) and the filters.
    source = _renumber(plan.source, mapping, used)
    inner = tuple(
        _renumber(item, mapping, used)
        for item in plan.select
        if isinstance(item, EmbedPlan) and item.inner
    )
    # …and the embeds null filters test (as EXISTS), reduced to what that reads.
    tested = tuple(
        _renumber(item, mapping, used)
        for item in count_embeds(plan.select, plan.where)
        if not item.inner
    )
    inner = (*inner, *tested)
    where = tuple(_renumber(cond, mapping, used) for cond in plan.where)
    query = count_select(
        msgspec.structs.replace(plan, source=source, select=inner, where=where, count_cap=None)
    )
    result = ("EXPLAIN (FORMAT JSON) " + render(query), tuple(used))
    count_sql_cache.put(key, result)
    return result


def without_unused(plan: ReadPlan, params: Sequence[Any]) -> tuple[ReadPlan, tuple[Any, ...]]:
    """The plan without conditions its SQL would not contain, and the parameter values
    renumbered to match (PostgreSQL refuses a parameter it cannot type because the text
    never uses it). Today that is a rule's ``where`` on a plain INSERT, which changes no
    existing row."""
    source = plan.source
    if not isinstance(source, MutatePlan) or not source.where or uses_where(source):
        return plan, tuple(params)
    used: list[int] = []
    pruned = _renumber(
        msgspec.structs.replace(plan, source=msgspec.structs.replace(source, where=())),
        {},
        used,
    )
    return pruned, tuple(params[i - 1] for i in used)


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


# -- the read query ----------------------------------------------------------------------------
def rows_from(plan: ReadPlan) -> tuple[exp.From, list[exp.Join]]:
    """FROM (and the joins it needs) for the plan's rows: the table, a write's RETURNING
    rows under the table's name, or a function call."""
    source = plan.source
    if source is None:
        return exp.From(this=table_node(plan.table)), []
    if isinstance(source, MutatePlan):
        cte = exp.Table(this=ident(MUTATION_CTE), alias=exp.TableAlias(this=ident(plan.table.name)))
        return exp.From(this=cte), []
    return call_from(source, plan.table.name)


def source_select(plan: ReadPlan) -> exp.Select:
    table = plan.table
    entries = _select_entries(table, plan.select)
    query = exp.Select(expressions=[entry for entry, _ in entries])
    from_, joins = rows_from(plan)
    query.set("from_", from_)
    query.set("group", _group_by(entries))
    _add_joins(query, table, plan.select, base=joins)
    if plan.where:
        query.set("where", exp.Where(this=conjunction(table, plan.where)))
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


#: How a level combines an aggregate a to-many spread computed per row of it (one value per
#: row) when it groups its rows: counts add up; sums, minimums and maximums compose. An
#: average is not an average of averages: the spread gives its sum and its count (the count
#: under :func:`_avg_count`'s name), and the level divides their totals.
_COMBINE = {"count": "sum", "sum": "sum", "min": "min", "max": "max", "avg": "sum"}


def _avg_count(name: str) -> exp.Identifier:
    """The column carrying the count beside an ``avg`` a to-many spread computed."""
    return ident(f"pgrst_n_{name}")


def _select_entries(
    ref: QualifiedName,
    items: tuple[SelectColumn | EmbedPlan, ...],
    *,
    hoist: bool = False,
    flat: bool = False,
) -> list[tuple[exp.Expr, bool]]:
    """The select list, each entry flagged when it is an aggregate.

    ``hoist``: this is a spread's level whose aggregates a level above computes, so they are
    selected here as plain columns under the aggregate's output name.

    ``flat``: this level's embeds are joined to the rows of a to-many spread: a to-many embed
    gives one row (an object) per related row instead of an array, and ``count()`` is a
    marker (``1``, NULL where the join found nothing) that the spread counts.
    """
    out: list[tuple[exp.Expr, bool]] = []
    for item in items:
        if not isinstance(item, EmbedPlan):
            if hoist and item.aggregate is not None:
                name = _output_name(item)
                if item.expr.name == "*":
                    if flat:
                        marker = exp.Alias(this=exp.Literal.number(1), alias=ident(name))
                        out.append((marker, False))
                    continue  # else the parent counts rows: nothing to select here
                plain = msgspec.structs.replace(
                    item, alias=name, aggregate=None, aggregate_cast=None
                )
                out.append((select_item(ref, plain), False))
            else:
                out.append((select_item(ref, item), item.aggregate is not None))
        elif _shows_nothing(item):
            continue  # rel(), a(b()): joined for filtering, not shown
        elif item.spread:
            out.extend(_spread_columns(item, hoist=hoist, flat=flat))
        elif item.relationship.to_one or flat:
            row = pg("row_to_json", exp.Column(this=exp.Star(), table=ident(item.join_alias)))
            cast = exp.Cast(this=row, to=exp.DataType.build("jsonb"))
            out.append((exp.Alias(this=cast, alias=ident(item.name)), False))
        else:
            rows = exp.Column(this=ident(item.join_alias), table=ident(item.join_alias))
            found = exp.Coalesce(this=rows, expressions=[exp.Literal.string("[]")])
            out.append((exp.Alias(this=found, alias=ident(item.name)), False))
    return out or [(exp.Alias(this=exp.Null(), alias=ident("pgrst_none")), False)]


def _shows_nothing(embed: EmbedPlan) -> bool:
    """An embed with no output: ``rel()``, or one of such embeds only (``a(b())``)."""
    return all(isinstance(sub, EmbedPlan) and _shows_nothing(sub) for sub in embed.select)


def _spread_columns(
    embed: EmbedPlan, *, hoist: bool = False, flat: bool = False
) -> list[tuple[exp.Expr, bool]]:
    """``...rel(a, b)``: the parent selects the lateral's own output columns.

    Aggregates are computed at the first level that neither hoists them (a spread's level,
    ``hoist``) nor aggregates rows into arrays (a to-many spread, which computes the
    aggregates of the rows it joins, one value per parent row): over the plain values of the
    joined rows, or by combining the values to-many spreads computed (``_COMBINE``).
    ``flat``: the spread is joined to the rows of a to-many spread (see ``_select_entries``).
    """
    source = ident(embed.join_alias)
    out: list[tuple[exp.Expr, bool]] = []
    for name, item, combined, _ in _spread_items((embed,), flat=flat):
        value = exp.Column(this=ident(name), table=source.copy())
        if item is None or item.aggregate is None:
            # A column, or a nested non-spread embed's object or array.
            if item is not None and item.expr.name == "*":
                value = exp.Column(this=exp.Star(), table=source.copy())
            out.append((value, False))
        elif hoist:
            # Computed further up: pass the value on (count() of joined rows needs none,
            # unless a to-many spread counts markers).
            if item.expr.name != "*" or combined or flat:
                out.append((value, False))
            if combined and item.aggregate == "avg":
                out.append((exp.Column(this=_avg_count(name), table=source.copy()), False))
        else:
            if combined:
                node = pg(_COMBINE[item.aggregate], value)
                if item.aggregate == "avg":
                    counted = pg("sum", exp.Column(this=_avg_count(name), table=source.copy()))
                    zero = exp.Literal.number(0)
                    node = exp.Div(
                        this=node, expression=exp.Nullif(this=counted, expression=zero), typed=True
                    )
            else:
                node = pg(item.aggregate, exp.Star() if item.expr.name == "*" else value)
            if item.aggregate_cast is not None:
                node = cast_to(node, item.aggregate_cast)
            out.append((exp.Alias(this=node, alias=ident(name)), True))
    return out


def _spread_items(
    items: tuple[SelectColumn | EmbedPlan, ...],
    *,
    flat: bool,
    combined: bool = False,
    distinct: bool = False,
) -> list[tuple[str, SelectColumn | None, bool, bool]]:
    """The output columns spreads among ``items`` give the level that selects them, nested
    spreads flattened: (name, the column or ``None`` for a nested non-spread embed, whether
    a to-many spread on the way made it an array or an aggregate per row, whether the
    spread that names it is ``..``). ``flat``: the spreads are joined to the rows of a
    to-many spread, which aggregates for them."""
    out: list[tuple[str, SelectColumn | None, bool, bool]] = []
    for item in items:
        if isinstance(item, EmbedPlan):
            if _shows_nothing(item):
                continue
            if item.spread:
                many = not item.relationship.to_one
                out.extend(
                    _spread_items(
                        item.select,
                        flat=flat or many,
                        combined=combined or (many and not flat),
                        distinct=item.distinct,
                    )
                )
            else:
                out.append((item.name, None, combined, distinct))
        else:
            out.append((_output_name(item), item, combined, distinct))
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
    base: list[exp.Join] | None = None,
) -> None:
    joins = list(base or ())
    joins += [
        _embed_join(parent, item)
        for item in items
        if isinstance(item, EmbedPlan) and (item.inner or not only_inner)
    ]
    if joins:
        query.set("joins", joins)


def _spread_arrays(embed: EmbedPlan, alias: exp.Identifier) -> list[exp.Expr]:
    """A to-many spread's one row per parent row, from its joined rows (``alias``): each
    column an array of its values (distinct and non-null ones for ``..``), each aggregate
    computed over them, and a column named like the join, NULL when nothing matched (for
    ``rel=is.null`` and ``!inner``, as for other to-many embeds)."""
    columns: list[exp.Expr] = []
    for name, item, _, distinct in _spread_items(embed.select, flat=True, distinct=embed.distinct):
        value = exp.Column(this=ident(name), table=alias.copy())
        node: exp.Expr
        if item is not None and item.aggregate == "avg":
            # Its sum and count: the level above divides the totals (``_COMBINE``).
            columns.append(exp.Alias(this=pg("count", value.copy()), alias=_avg_count(name)))
            node = pg("sum", value)
        elif item is not None and item.aggregate is not None:
            # count() counts markers, NULL where a nested join found nothing.
            node = pg(item.aggregate, value)
        else:
            if distinct:
                node = exp.Filter(
                    this=pg("json_agg", exp.Distinct(expressions=[value])),
                    expression=exp.Where(
                        this=exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null()))
                    ),
                )
            else:
                node = pg("json_agg", value)
            node = exp.Cast(
                this=exp.Coalesce(this=node, expressions=[exp.Literal.string("[]")]),
                to=exp.DataType.build("jsonb"),
            )
        columns.append(exp.Alias(this=node, alias=ident(name)))
    found = exp.Nullif(this=pg("count", exp.Star()), expression=exp.Literal.number(0))
    columns.append(exp.Alias(this=found, alias=alias.copy()))
    return columns


def _embed_join(parent: QualifiedName, embed: EmbedPlan, flat: bool = False) -> exp.Join:
    """``LEFT|INNER JOIN LATERAL (…) AS "join_alias" ON …`` for one embedded relation.

    ``flat``: the embed is joined to the rows of a to-many spread (see ``_select_entries``):
    a to-many one gives its rows, not an array of them."""
    rel = embed.relationship
    many = not rel.to_one
    # Inside a spread that is to-many or so joined, embeds join their rows to its rows.
    nested_flat = embed.spread and (flat or many)
    ref = QualifiedName("", embed.table_alias)
    entries = _select_entries(ref, embed.select, hoist=embed.spread, flat=nested_flat)
    level = exp.Select(expressions=[entry for entry, _ in entries])
    level.set("group", _group_by(entries))
    # A computed relationship's function of the parent's row, or the table (and a junction).
    sources, links = embed_sources(parent, embed)
    level.set("from_", exp.From(this=sources[0]))
    # The junction joins the target (PostgREST lists it after a comma; same meaning).
    joins: list[exp.Expr] = [exp.Join(this=extra, kind="CROSS") for extra in sources[1:]]
    nested = [
        _embed_join(ref, item, nested_flat) for item in embed.select if isinstance(item, EmbedPlan)
    ]
    if joins or nested:
        level.set("joins", joins + nested)
    links += [condition(ref, cond) for cond in embed.where]
    if links:
        level.set("where", exp.Where(this=chain(exp.And, links)))
    _set_paging(level, ref, embed.order, embed.limit, embed.offset)
    if rel.to_one and not embed.inner and not flat and embed.limit is None and embed.offset is None:
        # OFFSET 0 keeps PostgreSQL from pulling the lateral up into a join of the whole
        # table: for a small embedded table (a lookup) it would scan and hash all of it for
        # every request (a hash join), where a lookup per parent row (memoized over many rows)
        # is what a to-one embed needs. Measured: a 1-row GET with a to-one embed 18 % faster
        # in PostgreSQL, 1 000 and 100 000 rows no slower. !inner joins stay free to reorder
        # (their filters may select few parent rows).
        level.set("offset", exp.Offset(expression=exp.Literal.number(0)))
    alias = ident(embed.join_alias)
    on: exp.Expr = exp.true()
    if many and not flat:
        if embed.spread:
            # A to-many spread: one array per column (and its aggregates), lifted into the
            # parent object.
            agg = exp.Select(expressions=_spread_arrays(embed, alias))
        else:
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


def count_select(plan: ReadPlan) -> exp.Select:
    query = exp.Select(expressions=[exp.Literal.number(1)])
    from_, joins = rows_from(plan)
    query.set("from_", from_)
    # !inner embeds filter the parent rows, so the count joins them too.
    _add_joins(query, plan.table, plan.select, only_inner=True, base=joins)
    if plan.where:
        # Null filters on embeds are EXISTS here: the count query joins only !inner embeds.
        query.set("where", exp.Where(this=count_conjunction(plan.table, plan.where, plan.select)))
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


def _handler_body(plan: ReadPlan, handler: MediaHandler, rows: exp.Expr) -> exp.Expr:
    """The body a media type handler makes, as text (hex digits for a domain over ``bytea``,
    which ``response/build.py`` turns back into bytes); ``''`` for none (no row, or NULL).

    An aggregate takes the rows: a relation's own handler as the relation's row type
    (``"s"."agg"(_postgrest_t::"s"."t")``), an ``anyelement`` one as they are, and both take
    a scalar function's values. A function returning the media type's domain is the body
    itself: its one value (``string_agg`` of one row, as an aggregate like the others)."""
    source = plan.source
    scalar = isinstance(source, CallPlan) and source.scalar is not None
    if scalar:
        rows = exp.Column(this=ident(SCALAR), table=exp.to_identifier("_postgrest_t"))
    value_type = "bytea" if handler.binary else "text"
    body: exp.Expr
    if not handler.aggregate:
        empty = exp.Cast(this=exp.Literal.string(""), to=exp.DataType.build(value_type))
        body = pg("string_agg", exp.Cast(this=rows, to=exp.DataType.build(value_type)), empty)
    elif handler.target is not None and not scalar:
        row_type = quote_ident(handler.target.schema) + "." + quote_ident(handler.target.name)
        body = call(handler.function, exp.Cast(this=rows, to=sql_type(row_type)))
    else:
        body = call(handler.function, rows)
    if handler.binary:
        hex_digits = exp.Literal.string("hex")
        body = pg("encode", exp.Cast(this=body, to=exp.DataType.build("bytea")), hex_digits)
    else:
        body = exp.Cast(this=body, to=exp.DataType.build("text"))
    return exp.Coalesce(this=body, expressions=[exp.Literal.string("")])


def _body(plan: ReadPlan, rows: exp.Expr) -> exp.Expr:
    if plan.head or not plan.representation:
        return exp.Literal.string("")
    if plan.handler is not None:
        return _handler_body(plan, plan.handler, rows)
    source = plan.source
    if isinstance(source, CallPlan) and source.scalar is not None:
        # A scalar function: its values, not rows (one bare value, or an array of them).
        rows = exp.Column(this=ident(SCALAR), table=exp.to_identifier("_postgrest_t"))
        values = pg("json_agg", rows)
        scalar: exp.Expr
        if source.scalar == "one":
            first = exp.JSONExtract(this=values, expression=exp.Literal.number(0))
            scalar = exp.Coalesce(this=first, expressions=[exp.Literal.string("null")])
        else:
            scalar = exp.Coalesce(this=values, expressions=[exp.Literal.string("[]")])
        if plan.strip_nulls:  # the value's null members too, as PostgREST strips
            scalar = pg("json_strip_nulls", exp.Cast(this=scalar, to=exp.DataType.build("json")))
        return scalar
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
    if plan.media == "singular" or (isinstance(source, CallPlan) and source.single):
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
    write = plan.source if isinstance(plan.source, MutatePlan) else None
    if write is not None:
        ctes.insert(
            0, exp.CTE(this=mutation(write), alias=exp.TableAlias(this=ident(MUTATION_CTE)))
        )
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
    columns: list[exp.Expr] = [
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
    if write is not None:
        # PostgREST's shape (visible in verbose plans): the Location keys before the body,
        # the inserted count after the response settings.
        inserted: exp.Expr = inserted_count() if write.resolution == "merge" else exp.Null()
        location: exp.Expr = (
            location_keys(plan.location, MUTATION_CTE) if plan.location else exp.Null()
        )
        columns.insert(2, exp.Alias(this=location, alias=exp.to_identifier("header")))
        columns.append(exp.Alias(this=inserted, alias=exp.to_identifier("response_inserted")))
        if write.check:
            # Every written row meets the write rules' checks (read before COMMIT).
            rows_as_table = QualifiedName("", write.table.name)
            verdict = exp.Select(
                expressions=[
                    exp.Coalesce(
                        this=pg("bool_and", conjunction(rows_as_table, write.check)),
                        expressions=[exp.true()],
                    )
                ]
            )
            verdict.set(
                "from_",
                exp.From(
                    this=exp.Table(
                        this=ident(MUTATION_CTE),
                        alias=exp.TableAlias(this=ident(write.table.name)),
                    )
                ),
            )
            columns.append(
                exp.Alias(this=exp.Subquery(this=verdict), alias=exp.to_identifier("rule_ok"))
            )
    outer = exp.Select(expressions=columns)
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


_HOST_SQL_CACHE: SqlCache[str] = BoundedCache(256)


def host_statement(sql: str, params: Sequence[Any] = ()) -> Statement:
    """A host endpoint's query as the executor's main statement: its rows become a JSON
    array built by PostgreSQL (``[]`` for none), next to the response settings a function
    may have set (``EndpointRequest.respond`` applies them). ``sql`` is the host's own text
    (never request text) with ``$n`` placeholders for ``params``."""
    text = _HOST_SQL_CACHE.get(sql)
    if text is None:
        body = exp.Coalesce(
            this=exp.Cast(
                this=pg("json_agg", exp.column("pgrst_host")), to=exp.DataType.build("text")
            ),
            expressions=[exp.Literal.string("[]")],
        )
        columns = [
            exp.Alias(
                this=exp.Cast(this=exp.Null(), to=exp.DataType.build("bigint")),
                alias=exp.to_identifier("total_result_set"),
            ),
            exp.Alias(this=pg("count", exp.Star()), alias=exp.to_identifier("page_total")),
            exp.Alias(this=body, alias=exp.to_identifier("body")),
            exp.Alias(
                this=_response_setting("response.headers"),
                alias=exp.to_identifier("response_headers"),
            ),
            exp.Alias(
                this=_response_setting("response.status"),
                alias=exp.to_identifier("response_status"),
            ),
        ]
        outer = render(exp.Select(expressions=columns))
        # The host's text is placed as written: sqlglot never parses or rewrites it.
        text = f"{outer} FROM (\n{sql}\n) AS pgrst_host"
        _HOST_SQL_CACHE.put(sql, text)
    return Statement(text, tuple(params))
