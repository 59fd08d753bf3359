"""sqlglot node helpers shared by the query builders: identifiers, parameters, built-ins,
columns and filter conditions. Pure; every helper takes names from plans and the schema cache,
never request text (see ``build.py`` for the rules).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

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
    SelectColumn,
)
from ..request.model import GENERIC_TYPE_MODIFIERS, KEYWORD_TYPES
from ..schema.model import QualifiedName

DIALECT = "postgres"


def render(tree: exp.Expr) -> str:
    return tree.sql(dialect=DIALECT, normalize_functions=False, copy=False)


# -- node helpers ------------------------------------------------------------------------------
def ident(name: str) -> exp.Identifier:
    return exp.Identifier(this=name, quoted=True)


def param(p: Param) -> exp.Expr:
    node: exp.Expr = exp.Parameter(this=exp.var(str(int(p.index))))
    if p.cast is not None:
        node = exp.Cast(this=node, to=cast_type(p.cast))
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
    """``CAST(node AS type)`` for a cast the request asked for (``select=col::type``)."""
    return exp.Cast(this=node, to=cast_type(type_name))


_WORD = r"[^\W\d][\w$]*"
#: The spelling ``request.model.SelectField.cast`` documents, checked again here: this is
#: the one place request text becomes SQL that is neither a quoted identifier nor a value.
_CAST_TYPE = re.compile(
    rf'(?:"(?P<quoted>(?:[^"\x00]|"")+)"|(?P<words>{_WORD}(?: {_WORD})*))'
    r"(?:\((?P<modifiers>[0-9]{1,9}(?:,[0-9]{1,9})?)\))?"
    r"(?P<zone> with(?:out)? time zone)?"
    r"(?P<dims>(?:\[\])*)"
)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def cast_type(type_name: str) -> exp.DataType:
    """A cast's target type. A keyword type name (``double precision``) is written as those
    keywords; any other name as a quoted identifier (lower-cased when it was bare, as
    PostgreSQL folds it); modifiers are digits. Anything else is a programming error: the
    grammar only produces names of this shape."""
    match = _CAST_TYPE.fullmatch(type_name)
    if match is None:
        raise ValueError(f"not a type name: {type_name!r}")
    quoted, words, modifiers, zone, dims = match.group(
        "quoted", "words", "modifiers", "zone", "dims"
    )
    count = modifiers.count(",") + 1 if modifiers else 0
    if quoted is not None:
        sql = render(ident(quoted.replace('""', '"')))
        allowed = GENERIC_TYPE_MODIFIERS
    else:
        name = words.translate(_ASCII_LOWER)
        if zone and (not modifiers or name not in ("timestamp", "time")):
            raise ValueError(f"not a type name: {type_name!r}")
        if name in KEYWORD_TYPES:
            sql, allowed = name.upper(), KEYWORD_TYPES[name]
        elif " " not in name:
            sql, allowed = render(ident(name)), GENERIC_TYPE_MODIFIERS
        else:
            raise ValueError(f"not a type name: {type_name!r}")
    if count > allowed:
        raise ValueError(f"not a type name: {type_name!r}")
    if modifiers:
        sql += f"({modifiers})"
    if zone:
        sql += zone.upper()
    return exp.DataType(this=exp.DataType.Type.USERDEFINED, kind=sql + dims)


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
        # A domain representation formats the column; a cast asked for applies to the
        # formatted (json) value, as in PostgREST (``label_color::text`` keeps the quotes).
        node = call(item.function, node)
        if item.cast is not None:
            node = cast_to(node, item.cast)
        return exp.Alias(this=node, alias=ident(item.alias or item.expr.name))
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
        joined = chain(exp.And if cond.operator == "and" else exp.Or, parts)
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


#: Patterns are not values of the column's type: a domain representation's text parser is not
#: applied to them (PostgREST leaves a ``like``/``ilike`` pattern an unknown literal).
_PATTERN_OPS = frozenset({"LIKE", "ILIKE"})


def _comparison(table: QualifiedName, cond: Cond) -> exp.Expr:
    target = column(table, cond.expr)
    value = param(cond.value)
    if cond.fts is not None:
        args = [param(cond.language)] if cond.language is not None else []
        query = pg(cond.fts, *args, value)
        if cond.vectorize:
            target = pg("to_tsvector", *args, target)
        return _binary_op("@@", target, query)
    if cond.value_function is not None and cond.sql_op not in _PATTERN_OPS:
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


def conjunction(table: QualifiedName, conds: tuple[Condition, ...]) -> exp.Expr:
    return chain(exp.And, [condition(table, c) for c in conds])


def chain(op: type[exp.Connector], parts: list[exp.Expr]) -> exp.Expr:
    """``a AND b AND c`` as a left-deep tree (no parsing, no copies)."""
    node = parts[0]
    for part in parts[1:]:
        node = op(this=node, expression=part)
    return node


# -- count queries: null filters on embeds ---------------------------------------------------
# A count query does not join the embeds (only !inner ones), so ``rel=is.null`` and
# ``rel=not.is.null`` become [NOT] EXISTS over the embedded relation, with the embed's own
# filters, as PostgREST counts them.


def count_conjunction(
    table: QualifiedName,
    conds: tuple[Condition, ...],
    items: tuple[SelectColumn | EmbedPlan, ...],
) -> exp.Expr:
    """``conjunction`` for a count query: null filters on the embeds among ``items`` are
    [NOT] EXISTS subqueries instead of tests of the (absent) lateral joins."""
    embeds = {item.join_alias: item for item in items if isinstance(item, EmbedPlan)}
    return chain(exp.And, [_count_condition(table, cond, embeds) for cond in conds])


def count_embeds(
    items: tuple[SelectColumn | EmbedPlan, ...], conds: tuple[Condition, ...]
) -> tuple[EmbedPlan, ...]:
    """The embeds of ``items`` that null filters among ``conds`` test, reduced to what
    :func:`count_conjunction` reads of them: their filters, and the embeds below that are
    ``!inner`` or tested in turn (no columns, order or paging, whose parameters it would not
    use)."""
    tested = _tested_aliases(conds)
    return tuple(
        _for_count(item)
        for item in items
        if isinstance(item, EmbedPlan) and item.join_alias in tested
    )


def _tested_aliases(conds: tuple[Condition, ...]) -> set[str]:
    found: set[str] = set()
    for cond in conds:
        if isinstance(cond, EmbedIsNull):
            found.add(cond.join_alias)
        elif isinstance(cond, LogicCond):
            found |= _tested_aliases(cond.children)
    return found


def _for_count(embed: EmbedPlan) -> EmbedPlan:
    tested = _tested_aliases(embed.where)
    nested = tuple(
        _for_count(item)
        for item in embed.select
        if isinstance(item, EmbedPlan) and (item.inner or item.join_alias in tested)
    )
    return msgspec.structs.replace(
        embed, select=nested, order=(), limit=None, offset=None, spread=False
    )


def _count_condition(
    table: QualifiedName, cond: Condition, embeds: Mapping[str, EmbedPlan]
) -> exp.Expr:
    if isinstance(cond, EmbedIsNull):
        embed = embeds.get(cond.join_alias)
        if embed is None:
            return condition(table, cond)
        exists: exp.Expr = exp.Exists(this=_embed_rows(table, embed))
        return exp.Not(this=exists) if cond.is_null else exists
    if isinstance(cond, LogicCond):
        parts = [_count_condition(table, child, embeds) for child in cond.children]
        node: exp.Expr = exp.Paren(this=chain(exp.And if cond.operator == "and" else exp.Or, parts))
        return exp.Not(this=node) if cond.negated else node
    return condition(table, cond)


def embed_sources(parent: QualifiedName, embed: EmbedPlan) -> tuple[list[exp.Expr], list[exp.Expr]]:
    """Where an embed's rows come from, and how they link to the parent's row: the related
    table (or a computed relationship's function of the parent's row), then a many-to-many
    junction to join to it; the join conditions."""
    rel = embed.relationship
    ref = QualifiedName("", embed.table_alias)
    sources: list[exp.Expr] = [table_node(rel.foreign_table, embed.table_alias)]
    links: list[exp.Expr] = []
    if rel.function is not None:
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
    return sources, links


def _embed_rows(parent: QualifiedName, embed: EmbedPlan) -> exp.Select:
    """``SELECT 1 FROM <target> [, <junction>] WHERE <links> AND <the embed's filters>``."""
    ref = QualifiedName("", embed.table_alias)
    sources, links = embed_sources(parent, embed)
    nested = {item.join_alias: item for item in embed.select if isinstance(item, EmbedPlan)}
    links += [_count_condition(ref, cond, nested) for cond in embed.where]
    links += [exp.Exists(this=_embed_rows(ref, item)) for item in nested.values() if item.inner]
    query = exp.Select(expressions=[exp.Literal.number(1)])
    query.set("from_", exp.From(this=sources[0]))
    if len(sources) > 1:
        query.set("joins", [exp.Join(this=extra, kind="CROSS") for extra in sources[1:]])
    if links:
        query.set("where", exp.Where(this=chain(exp.And, links)))
    return query
