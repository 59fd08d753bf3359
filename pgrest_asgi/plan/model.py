"""The plan: a resolved request, with every user value moved out into a parameter list.

A ``ReadPlan`` holds no values, only parameter slots (``Param(n)``), so two requests that
differ only in their values produce equal plans. That makes the plan itself the key of the
SQL-text cache in ``sql/build.py``: a request shape seen before never runs sqlglot again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec

from ..schema.model import MediaHandler, QualifiedName, Relationship

__all__ = [
    "CallArg",
    "CallPlan",
    "Cond",
    "EmbedIsNull",
    "EmbedPlan",
    "Explain",
    "IsCond",
    "LogicCond",
    "MediaKind",
    "MutatePlan",
    "OrderBy",
    "Param",
    "Plan",
    "ReadPlan",
    "RowCheck",
    "SelectColumn",
    "TxSpec",
    "TypedColumn",
    "pg_array_literal",
]

#: ``custom``: a media type handler of the database's makes the body (``ReadPlan.handler``).
MediaKind = Literal["json", "singular", "csv", "geojson", "custom"]
#: The media type each built-in kind is served as (``for=`` of plan responses, Content-Type).
MEDIA_NAMES: dict[str, str] = {
    "json": "application/json",
    "singular": "application/vnd.pgrst.object+json",
    "csv": "text/csv",
    "geojson": "application/geo+json",
}


class Explain(msgspec.Struct, frozen=True, array_like=True):
    """``Accept: application/vnd.pgrst.plan…``: return the query's plan instead of its rows."""

    format: Literal["text", "json"]
    #: EXPLAIN options from ``options=analyze|verbose|settings|buffers|wal``.
    options: tuple[str, ...] = ()


class Param(msgspec.Struct, frozen=True, array_like=True):
    """``$n`` in the SQL text; ``cast`` adds ``::type`` (e.g. ``int`` for JSON indexes)."""

    index: int
    cast: str | None = None


class ColumnExpr(msgspec.Struct, frozen=True, array_like=True):
    """``"schema"."table"."name"`` followed by JSON steps whose keys are parameters."""

    name: str
    json_path: tuple[tuple[Literal["->", "->>"], Param], ...] = ()
    #: The column is not json/jsonb (an array, a composite…): the path applies to
    #: ``to_jsonb(column)``.
    to_jsonb: bool = False


class SelectColumn(msgspec.Struct, frozen=True, array_like=True):
    expr: ColumnExpr
    #: Output key; ``None`` keeps the column's own name (and ``*`` has none).
    alias: str | None = None
    cast: str | None = None
    #: A domain's ``→ json`` cast function, applied to the output value.
    function: QualifiedName | None = None
    #: ``col.sum()``/``count()``: an aggregate (from a fixed list) over the column, and the
    #: cast applied to its result.
    aggregate: str | None = None
    aggregate_cast: str | None = None


class EmbedPlan(msgspec.Struct, frozen=True, kw_only=True, tag="embed"):
    """A related relation embedded in the parent's rows, through a lateral join."""

    #: The output key (the alias, else the relation name as written).
    name: str
    relationship: Relationship
    #: Alias of the embedded relation inside its subquery, e.g. ``directors_1``.
    table_alias: str
    #: Alias of the lateral subquery in the parent's FROM, e.g. ``films_director_1``.
    join_alias: str
    select: tuple[SelectColumn | EmbedPlan, ...]
    where: tuple[Condition, ...] = ()
    order: tuple[OrderBy, ...] = ()
    limit: Param | None = None
    offset: Param | None = None
    #: ``!inner``: keep only parent rows that have a match.
    inner: bool = False
    #: ``...rel(cols)``: the embed's columns are lifted into the parent object (to-one), or
    #: aggregated into one array per column (to-many).
    spread: bool = False
    #: ``..rel(cols)``: the arrays a to-many spread makes of this embed's own columns keep
    #: distinct non-null values only.
    distinct: bool = False

    @property
    def relation(self) -> QualifiedName:
        """The relation whose rows are embedded."""
        return self.relationship.foreign_table


class Cond(msgspec.Struct, frozen=True, tag="cond"):
    """``<expr> <sql op> [ANY|ALL] (<param>)``, possibly negated."""

    expr: ColumnExpr
    sql_op: str
    value: Param
    negated: bool = False
    quantifier: Literal["any", "all"] | None = None
    #: Full-text: the tsquery function, and the language parameter if one was given.
    fts: str | None = None
    language: Param | None = None
    #: Full-text on a column that is not a ``tsvector``: wrap it in ``to_tsvector``.
    vectorize: bool = False
    #: A domain's ``text →`` cast function, applied to the value (to each, for lists).
    value_function: QualifiedName | None = None


class IsCond(msgspec.Struct, frozen=True, tag="is"):
    """``<expr> IS [NOT] NULL|TRUE|FALSE|UNKNOWN`` — keywords come from a whitelist."""

    expr: ColumnExpr
    keyword: str
    negated: bool = False


class LogicCond(msgspec.Struct, frozen=True, tag="logic"):
    operator: Literal["and", "or"]
    children: tuple[Cond | IsCond | LogicCond | EmbedIsNull, ...]
    negated: bool = False


class OrderBy(msgspec.Struct, frozen=True, array_like=True):
    expr: ColumnExpr
    direction: Literal["asc", "desc"] | None = None
    nulls: Literal["first", "last"] | None = None
    #: ``order=rel(col)``: the column comes from this to-one embed's lateral join.
    join_alias: str | None = None


class EmbedIsNull(msgspec.Struct, frozen=True, tag="embed_null"):
    """``rel=is.null`` / ``rel=not.is.null``: whether an embed found anything (anti/semi-join)."""

    join_alias: str
    is_null: bool


Condition = Cond | IsCond | LogicCond | EmbedIsNull


class TypedColumn(msgspec.Struct, frozen=True, array_like=True):
    """A payload key read as a column of a SQL type (``json_to_recordset(…) AS _(name type)``).

    ``type`` is a ``format_type`` name from the schema cache, never request text.
    """

    name: str
    type: str
    #: A domain's ``json → domain`` cast function: the key is read as ``json`` and passed
    #: through it (domain representations in request bodies).
    cast: QualifiedName | None = None


class MutatePlan(msgspec.Struct, frozen=True, kw_only=True, tag="mutate"):
    """``INSERT``/``UPDATE``/``DELETE`` whose ``RETURNING`` rows feed the response's read.

    The payload is one ``json`` parameter (``body``) read with ``json_to_record[set]``.
    """

    kind: Literal["insert", "update", "delete"]
    table: QualifiedName
    #: Columns written, with their types (insert/update).
    columns: tuple[TypedColumn, ...] = ()
    body: Param | None = None
    body_array: bool = False
    #: ``Prefer: missing=default``: (column, default expression from the catalog).
    defaults: tuple[tuple[str, str], ...] = ()
    #: Read the body as ``jsonb`` (``missing=default``, as PostgREST: duplicate keys collapse).
    jsonb: bool = False
    #: The rows of the table the statement may change: the root filters of PATCH/DELETE,
    #: plus any rule's conditions. For an upsert, the existing rows a conflict may update
    #: (``ON CONFLICT … DO UPDATE … WHERE``); a plain insert changes no existing row.
    where: tuple[Condition, ...] = ()
    #: Upsert: the conflict target and what to do on conflict.
    on_conflict: tuple[str, ...] = ()
    resolution: Literal["merge", "ignore"] | None = None
    #: PUT: (primary key column, URL value) pairs the payload must match.
    put_keys: tuple[tuple[str, Param], ...] = ()
    #: ``RETURNING`` columns (``*``: all of them; names that are no column are computed
    #: fields); ``()`` is ``RETURNING 1`` (no representation).
    returning: tuple[str, ...] = ()
    #: Columns written from a parameter whatever the body says (a host's write rule, e.g.
    #: ``tenant_id``): inserted and updated rows get this value; the body's key is ignored.
    assign: tuple[tuple[TypedColumn, Param], ...] = ()
    #: Conditions every row the statement writes must meet, on its new values (a host's
    #: write rule); one row that does not fails the request and rolls the write back.
    check: tuple[Condition, ...] = ()

    @property
    def relation(self) -> QualifiedName:
        """The table whose rows this statement changes."""
        return self.table


class CallArg(msgspec.Struct, frozen=True, array_like=True):
    """A named argument: ``name := <value>::type``, or ``VARIADIC name := …``.

    With a query-string value, ``value`` is its parameter; from a JSON body it is ``None``
    and the argument reads ``pgrst_body.name``.
    """

    name: str
    type: str
    value: Param | None = None
    variadic: bool = False


class CallPlan(msgspec.Struct, frozen=True, kw_only=True, tag="call"):
    """A function call as the source of the response's rows (``/rpc/<name>``)."""

    function: QualifiedName
    args: tuple[CallArg, ...] = ()
    #: The JSON body the named arguments are read from (POST), via ``json_to_record``.
    body: Param | None = None
    body_array: bool = False
    #: A single unnamed parameter: the raw body, cast to this type.
    positional: tuple[Param, str] | None = None
    #: ``one``/``set`` for scalar results (a bare value / an array of values); ``None`` for
    #: rows of a composite type, which the read selects from like a table.
    scalar: Literal["one", "set"] | None = None
    #: Names for the result's columns when the function returns one OUT/INOUT/TABLE
    #: parameter (PostgreSQL would name the column after the alias instead).
    columns: tuple[str, ...] = ()
    #: A single (non-SETOF) result: the body is one value or object, not an array.
    single: bool = False
    #: VOLATILE functions run READ WRITE on POST; the others always READ ONLY.
    volatile: bool = True
    #: The function's own settings named in ``db-hoisted-tx-settings`` (``SET x = v``),
    #: applied in the transaction's preamble; ``default_transaction_isolation`` among them
    #: sets the isolation level.
    settings: tuple[tuple[str, str], ...] = ()


class RowCheck(msgspec.Struct, frozen=True, kw_only=True):
    """A condition on the main statement's row count, checked before COMMIT; when it fails
    the transaction is rolled back and ``error`` is answered."""

    exactly: int | None = None
    at_most: int | None = None
    #: Which error: ``singular`` (PGRST116), ``put`` (PGRST115), ``max_affected`` (PGRST124),
    #: ``rule`` (42501: a written row fails a write rule's ``check``; ``table`` names it).
    error: Literal["singular", "put", "max_affected", "rule"] = "singular"
    table: str = ""

    def failed(self, rows: int, rule_ok: bool = True) -> bool:
        if self.error == "rule":
            return not rule_ok
        if self.exactly is not None and rows != self.exactly:
            return True
        return self.at_most is not None and rows > self.at_most


class ReadPlan(msgspec.Struct, frozen=True, kw_only=True, tag="read"):
    """The rows to answer with. For tables and views, ``table`` is read directly. With a
    ``source`` (a write's ``RETURNING`` rows, or a function's result), the rows come from it
    and ``table`` is an alias (``QualifiedName("", name)``) that columns and embeds refer to.
    """

    table: QualifiedName
    #: The relation these rows are rows of: the table or view read, the table a write
    #: changes, or the table whose row type a function returns (``SETOF orders``); ``None``
    #: for scalars and row types that are no table or view. Rules key on it.
    relation: QualifiedName | None = None
    select: tuple[SelectColumn | EmbedPlan, ...]
    where: tuple[Condition, ...] = ()
    order: tuple[OrderBy, ...] = ()
    limit: Param | None = None
    offset: Param | None = None
    #: ``Prefer: count=…``: how to compute the total row count (without limit/offset).
    count: Literal["exact", "planned", "estimated"] | None = None
    #: ``count=estimated`` with ``db-max-rows``: count exactly up to this many rows
    #: (max-rows + 1), beyond that the planner's estimate is used.
    count_cap: int | None = None
    media: MediaKind = "json"
    #: HEAD: run the query but return no body.
    head: bool = False
    strip_nulls: bool = False
    explain: Explain | None = None
    #: PostGIS's ``ST_AsGeoJSON`` (schema-qualified), for ``media == "geojson"``.
    geojson_function: QualifiedName | None = None
    #: ``media == "custom"``: the media type handler that makes the body.
    handler: MediaHandler | None = None
    #: (relation, alias) pairs where modifiers used the relation name of an aliased embed
    #: (``url-use-legacy-target-names``): answered with a ``Warning`` header.
    legacy_names: tuple[tuple[str, str], ...] = ()
    source: MutatePlan | CallPlan | None = None
    #: Writes without ``return=representation`` (and void functions): no body.
    representation: bool = True
    #: ``return=headers-only`` on an insert: the primary key columns for ``Location``.
    location: tuple[str, ...] = ()
    #: Row-count conditions checked before COMMIT (writes and calls that may write).
    checks: tuple[RowCheck, ...] = ()


Plan = ReadPlan


class TxSpec(msgspec.Struct, frozen=True, kw_only=True):
    """How to run the transaction around the main statement, and the settings it gets."""

    read_only: bool
    role: str
    claims_json: str
    method: str
    path: str
    headers_json: str
    cookies_json: str
    search_path: str
    isolation: str | None = None
    rollback: bool = False
    timezone: str | None = None
    #: The impersonated role's own settings (``ALTER ROLE … SET``), applied before ``role``.
    role_settings: tuple[tuple[str, str], ...] = ()
    #: Hoisted function settings, then ``app.settings.*``, applied after the request GUCs.
    settings: tuple[tuple[str, str], ...] = ()
    pre_request: QualifiedName | None = None
    #: ``jit = off`` for this transaction (before the role's settings).
    jit_off: bool = False
    #: The caller is anonymous (``AuthResult.anonymous``): a permission error is 401, not 403.
    anonymous: bool = False


def pg_array_literal(values: Sequence[str]) -> str:
    """``("a", "b,c")`` → ``{"a","b,c"}``: one parameter for any number of values."""
    escaped = (v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return "{" + ",".join(f'"{v}"' for v in escaped) + "}"
