"""Where a response's rows come from, when not straight from a table: a write's ``RETURNING``
rows, or a function's result. Pure.

Writes: the body is one ``json`` parameter, read as typed columns::

    INSERT INTO "s"."t"("a", "b")
    SELECT "pgrst_body"."a", "pgrst_body"."b"
    FROM (SELECT $1::json AS "json_data") AS "pgrst_payload"
    CROSS JOIN LATERAL (SELECT "a", "b" FROM pg_catalog.json_to_recordset(…)
                        AS "_"("a" integer, "b" text)) AS "pgrst_body"
    [ON CONFLICT ("a") DO UPDATE SET "b" = EXCLUDED."b" | DO NOTHING]
    RETURNING <selected, key and foreign-key columns> | 1

It runs as the CTE ``pgrst_mutation``; the response's read then selects (and embeds) from it
exactly as from a table, under the table's name.

Calls: ``"s"."f"("a" => $1::integer)`` in FROM, aliased as the result's table type so
filters and embeds apply; POST bodies are read with ``json_to_record`` like writes.
"""

from __future__ import annotations

from sqlglot import exp

from ..plan.model import (
    CallArg,
    CallPlan,
    Cond,
    Condition,
    IsCond,
    LogicCond,
    MutatePlan,
    Param,
    TypedColumn,
)
from .gucs import quote_ident
from .nodes import call, chain, conjunction, ident, param, pg, table_node

__all__ = [
    "SCALAR",
    "call_from",
    "inserted_count",
    "location_keys",
    "mutation",
    "sql_type",
    "uses_where",
]

#: The column name of a scalar function's result.
SCALAR = "pgrst_scalar"
_BODY = "pgrst_body"
_PAYLOAD = "pgrst_payload"
_INSERTED = "pgrst.inserted"


def sql_type(name: str) -> exp.DataType:
    """A type named by the schema cache (``format_type`` output), rendered verbatim."""
    return exp.DataType(this=exp.DataType.Type.USERDEFINED, kind=name)


def _cast(node: exp.Expr, type_name: str) -> exp.Expr:
    return exp.Cast(this=node, to=sql_type(type_name))


def _payload(
    body: Param,
    array: bool,
    columns: tuple[TypedColumn, ...],
    defaults: tuple[tuple[str, str], ...],
    jsonb: bool = False,
) -> list[exp.Expr]:
    """``(SELECT $n::json AS json_data) pgrst_payload`` and the lateral that types its keys."""
    json_type = "jsonb" if jsonb else "json"
    data: exp.Expr = _cast(param(body), json_type)
    if defaults:
        # missing=default: each object is laid over an object of the column defaults.
        # The default expressions are catalog text (pg_get_expr), the one place SQL from
        # the schema cache is spliced, as in PostgREST.
        fallback = pg(
            "jsonb_build_object",
            *[
                part
                for name, expr in defaults
                for part in (exp.Literal.string(name), exp.Paren(this=exp.var(expr)))
            ],
        )
        if array:
            element = exp.Column(this=ident("pgrst_elem"))
            merged = exp.Select(
                expressions=[pg("jsonb_agg", exp.DPipe(this=fallback, expression=element))]
            )
            merged.set(
                "from_",
                exp.From(
                    this=exp.Alias(this=pg("jsonb_array_elements", data), alias=ident("pgrst_elem"))
                ),
            )
            data = exp.Subquery(this=merged)
        else:
            data = exp.DPipe(this=fallback, expression=data)
    payload = exp.Select(expressions=[exp.Alias(this=data, alias=ident("json_data"))])
    source = exp.Subquery(this=payload, alias=exp.TableAlias(this=ident(_PAYLOAD)))
    data_ref = exp.Column(this=ident("json_data"), table=ident(_PAYLOAD))
    if columns:
        reader = ("jsonb_" if jsonb else "json_") + ("to_recordset" if array else "to_record")
        typed = exp.Select(expressions=[exp.Column(this=ident(c.name)) for c in columns])
        alias = exp.TableAlias(
            this=ident("_"),
            columns=[
                exp.ColumnDef(this=ident(c.name), kind=sql_type("json" if c.cast else c.type))
                for c in columns
            ],
        )
        typed.set("from_", exp.From(this=exp.Table(this=pg(reader, data_ref), alias=alias)))
    else:
        # No keys: one row per object, with no columns (every column gets its default).
        typed = exp.Select()
        if array:
            elements = pg("jsonb_array_elements" if jsonb else "json_array_elements", data_ref)
            typed.set("from_", exp.From(this=exp.Alias(this=elements, alias=ident("_"))))
    body_source = exp.Lateral(
        this=exp.Subquery(this=typed), alias=exp.TableAlias(this=ident(_BODY))
    )
    return [source, body_source]


def _body_column(name: str) -> exp.Expr:
    return exp.Column(this=ident(name), table=ident(_BODY))


def _body_value(column: TypedColumn) -> exp.Expr:
    """A key's value to write: the typed column, or its ``json`` through the domain's cast."""
    value = _body_column(column.name)
    return call(column.cast, value) if column.cast is not None else value


def _from_items(items: list[exp.Expr]) -> tuple[exp.From, list[exp.Join]]:
    return exp.From(this=items[0]), [exp.Join(this=item, kind="CROSS") for item in items[1:]]


def _counter(step: int) -> exp.Expr:
    """``set_config('pgrst.inserted', (current ± 1)::text, true) <> '0'`` (``'-1'`` when
    counting down): counts the rows an upsert inserted (+1 per row offered, -1 per row that
    hit a conflict) and is always true. PostgREST's way of telling 201 from 200 without
    reading the rows."""
    current = inserted_count()
    op = exp.Add if step > 0 else exp.Sub
    total = op(this=current, expression=exp.Literal.number(abs(step)))
    setter = pg(
        "set_config",
        exp.Literal.string(_INSERTED),
        exp.Cast(this=exp.Paren(this=total), to=exp.DataType.build("text")),
        exp.true(),
    )
    return exp.NEQ(this=setter, expression=exp.Literal.string("0" if step > 0 else "-1"))


def inserted_count() -> exp.Expr:
    """The upsert counter's final value (``response_inserted``); 0 when no row was offered."""
    return exp.Coalesce(
        this=exp.Cast(
            this=exp.Nullif(
                this=pg("current_setting", exp.Literal.string(_INSERTED), exp.true()),
                expression=exp.Literal.string(""),
            ),
            to=exp.DataType.build("int"),
        ),
        expressions=[exp.Literal.number(0)],
    )


def _returning(m: MutatePlan) -> list[exp.Expr]:
    target = m.table
    names = m.returning
    if m.check and "*" not in names:
        # A write rule's check reads these columns of the written rows.
        names = (*names, *(n for n in dict.fromkeys(checked_columns(m.check)) if n not in names))
    if not names:
        return [exp.Literal.number(1)]
    return [
        exp.Column(
            this=exp.Star() if name == "*" else ident(name),
            table=ident(target.name),
            db=ident(target.schema),
        )
        for name in names
    ]


def checked_columns(conditions: tuple[Condition, ...]) -> list[str]:
    """The column names a write rule's conditions read."""
    out: list[str] = []
    for cond in conditions:
        if isinstance(cond, LogicCond):
            out += checked_columns(cond.children)
        elif isinstance(cond, (Cond, IsCond)):
            out.append(cond.expr.name)
    return out


def uses_where(m: MutatePlan) -> bool:
    """Whether the statement reads ``m.where``: UPDATE and DELETE always; an INSERT only
    when a conflict may update an existing row (``DO UPDATE``)."""
    if m.kind != "insert":
        return True
    return m.resolution == "merge" and bool(m.columns or m.assign)


def mutation(m: MutatePlan) -> exp.Expr:
    """The INSERT/UPDATE/DELETE statement of a write, with its ``RETURNING`` list."""
    if m.kind == "delete":
        node: exp.Expr = exp.Delete(this=table_node(m.table))
        if m.where:
            node.set("where", exp.Where(this=conjunction(m.table, m.where)))
        node.set("returning", exp.Returning(expressions=_returning(m)))
        return node
    if m.kind == "update":
        if not m.columns or m.body is None:
            # Nothing to set: touch no row, but answer with the same shape.
            empty = exp.Select(expressions=_returning(m))
            empty.set("from_", exp.From(this=table_node(m.table)))
            # The filters stay (their parameters are sent), under a false condition.
            where = [conjunction(m.table, m.where)] if m.where else []
            empty.set("where", exp.Where(this=chain(exp.And, [*where, exp.false()])))
            return empty
        items = _payload(m.body, m.body_array, m.columns, m.defaults, m.jsonb)
        if m.body_array:  # PATCH with an array body uses its first object
            items[1].this.this.set("limit", exp.Limit(expression=exp.Literal.number(1)))
        assigned = {c.name for c, _ in m.assign}
        update = exp.Update(
            this=table_node(m.table),
            expressions=[
                *(
                    exp.EQ(this=exp.Column(this=ident(c.name)), expression=_body_value(c))
                    for c in m.columns
                    if c.name not in assigned
                ),
                *(
                    exp.EQ(this=exp.Column(this=ident(c.name)), expression=_cast(param(p), c.type))
                    for c, p in m.assign
                ),
            ],
        )
        # UPDATE … FROM takes one item here: the typed payload row, as a subquery.
        from_, joins = _from_items(items)
        typed = exp.Select(expressions=[exp.Column(this=exp.Star(), table=ident(_BODY))])
        typed.set("from_", from_)
        typed.set("joins", joins)
        update.set(
            "from_",
            exp.From(this=exp.Subquery(this=typed, alias=exp.TableAlias(this=ident(_BODY)))),
        )
        if m.where:
            update.set("where", exp.Where(this=conjunction(m.table, m.where)))
        update.set("returning", exp.Returning(expressions=_returning(m)))
        return update
    # insert / upsert
    assert m.body is not None
    items = _payload(m.body, m.body_array, m.columns, m.defaults, m.jsonb)
    if m.put_keys and m.body_array:  # PUT with an array body uses its first object
        items[1].this.this.set("limit", exp.Limit(expression=exp.Literal.number(1)))
    # A rule's assigned columns replace the body's keys of the same name.
    assigned = {c.name for c, _ in m.assign}
    written = [c for c in m.columns if c.name not in assigned]
    select = exp.Select(
        expressions=[
            *(_body_value(c) for c in written),
            *(_cast(param(p), c.type) for c, p in m.assign),
        ]
    )
    written += [c for c, _ in m.assign]
    from_, joins = _from_items(items)
    select.set("from_", from_)
    select.set("joins", joins)
    guards: list[exp.Expr] = []
    if m.resolution == "merge":
        guards.append(_counter(+1))
    guards += [
        exp.EQ(this=_body_column(name), expression=param(value)) for name, value in m.put_keys
    ]
    if guards:
        select.set("where", exp.Where(this=chain(exp.And, guards)))
    target: exp.Expr = table_node(m.table)
    if written:
        target = exp.Schema(this=target, expressions=[ident(c.name) for c in written])
    insert = exp.Insert(this=target, expression=select)
    if m.resolution is not None:
        keys = [exp.Column(this=ident(c)) for c in m.on_conflict]
        if m.resolution == "ignore" or not written:
            conflict = exp.OnConflict(conflict_keys=keys, action=exp.var("DO NOTHING"))
        else:
            # Only existing rows that ``where`` allows may be updated (a rule's conditions);
            # the others stay as they are and are not returned.
            allowed = [_counter(-1)]
            if m.where:
                allowed.append(exp.Paren(this=conjunction(m.table, m.where)))
            conflict = exp.OnConflict(
                conflict_keys=keys,
                action=exp.var("DO UPDATE"),
                expressions=[
                    exp.EQ(
                        this=exp.Column(this=ident(c.name)),
                        expression=exp.Column(
                            this=ident(c.name), table=exp.to_identifier("EXCLUDED")
                        ),
                    )
                    for c in written
                ],
                where=exp.Where(this=chain(exp.And, allowed)),
            )
        insert.set("conflict", conflict)
    insert.set("returning", exp.Returning(expressions=_returning(m)))
    return insert


def _argument(arg: CallArg) -> exp.Expr:
    value = _cast(param(arg.value), arg.type) if arg.value is not None else _body_column(arg.name)
    name: exp.Expr = (
        exp.var("VARIADIC " + quote_ident(arg.name)) if arg.variadic else ident(arg.name)
    )
    return exp.Kwarg(this=name, expression=value)


def call_from(plan: CallPlan, alias: str) -> tuple[exp.From, list[exp.Join]]:
    """The FROM clause of a function's result, after the payload laterals of a POST body.

    Rows of a composite type: ``"s"."f"(…) AS "alias"`` (with the column named for a single
    OUT/TABLE parameter). Scalar results (``record`` included, whose shape PostgreSQL only
    knows at run time): ``(SELECT "s"."f"(…) AS "pgrst_scalar") AS "alias"``, one row per
    value — a set-returning function in a select list yields each of its values.
    """
    if plan.positional is not None:
        value, type_name = plan.positional
        args: list[exp.Expr] = [_cast(param(value), type_name)]
    else:
        args = [_argument(a) for a in plan.args]
    fn = call(plan.function, *args)
    source: exp.Expr
    if plan.scalar is not None:
        values = exp.Select(expressions=[exp.Alias(this=fn, alias=ident(SCALAR))])
        source = exp.Subquery(this=values)
        table_alias = exp.TableAlias(this=ident(alias))
    else:
        source = fn
        table_alias = exp.TableAlias(this=ident(alias), columns=[ident(c) for c in plan.columns])
    if plan.body is not None and any(a.value is None for a in plan.args):
        typed = tuple(TypedColumn(a.name, a.type) for a in plan.args if a.value is None)
        items = _payload(plan.body, plan.body_array, typed, ())
        if plan.body_array:  # only the first object supplies arguments
            items[1].this.this.set("limit", exp.Limit(expression=exp.Literal.number(1)))
        items.append(exp.Lateral(this=source, alias=table_alias))
        return _from_items(items)
    if isinstance(source, exp.Subquery):
        source.set("alias", table_alias)
        return exp.From(this=source), []
    return exp.From(this=exp.Table(this=source, alias=table_alias)), []


def location_keys(keys: tuple[str, ...], cte: str) -> exp.Expr:
    """``(SELECT json_agg(json_build_object('pk', "pk", …)) FROM cte)::text``: the keys of the
    written rows, for ``Location`` (only asked for with ``return=headers-only``)."""
    pairs = [
        part
        for key in keys
        for part in (exp.Literal.string(key), exp.Column(this=ident(key), table=ident(cte)))
    ]
    query = exp.Select(expressions=[pg("json_agg", pg("json_build_object", *pairs))])
    query.set("from_", exp.From(this=exp.Table(this=ident(cte))))
    return exp.Cast(this=exp.Subquery(this=query), to=exp.DataType.build("text"))
