"""The API one exposed schema offers, as an OpenAPI document describes it. Pure.

``build_api_model`` reads the schema cache (and, optionally, what the requesting role may use)
into a small, version-neutral model: the resources (tables, views …) with their columns and
methods, the functions with their arguments and methods, and the schema's own comment. The
Swagger 2.0 renderer (``swagger.py``) and any later OpenAPI 3 renderer both start from it, so
the facts they state cannot drift apart.

The facts follow PostgREST (``Response/OpenAPI.hs``, v12 to v13):

* a column's type is named as PostgREST's schema cache names it: the built-in type without
  its modifiers (``character varying``, not ``character varying(20)``), the base type of a
  domain over a built-in type, else the type as PostgreSQL formats it;
* the JSON type family of a PostgreSQL type is PostgREST's ``toSwaggerType``;
* a default is kept only when it reads as a JSON value (strings: the literal without its
  ``::type`` cast and quotes);
* a column is noted as a primary key, and as a foreign key when a single-column foreign key
  of its table points, in the same schema, at a table (or, failing one, at a view);
* with privileges, only the relations the role may use in any way and the functions it may
  execute are described; a writable relation gets POST, PATCH and DELETE together, a
  volatile function POST only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import msgspec

from ..plan.calls import callable_routine
from ..schema.model import (
    Column,
    QualifiedName,
    RelationKind,
    Routine,
    SchemaCache,
    Table,
    Volatility,
)

__all__ = [
    "ApiModel",
    "Argument",
    "Field",
    "ForeignRef",
    "Function",
    "JsonType",
    "Method",
    "Privileges",
    "Resource",
    "build_api_model",
    "builtin_type",
    "column_type",
    "json_type",
    "parse_default",
    "split_comment",
]

JsonType = Literal["string", "integer", "number", "boolean", "array"]
Method = Literal["get", "post", "patch", "delete"]

#: The privileges that decide a relation's methods when methods follow privileges.
_METHOD_PRIVILEGE: dict[Method, str] = {
    "get": "SELECT",
    "post": "INSERT",
    "patch": "UPDATE",
    "delete": "DELETE",
}


class Privileges(msgspec.Struct, frozen=True, kw_only=True):
    """What the requesting role may use, for ``openapi-mode = follow-privileges``.

    ``tables``: every relation of the schema the role may use in any way (it owns it, or holds
    any table privilege or any column privilege on it), with the privilege names it holds on
    the relation or on some column of it, among ``SELECT``, ``INSERT``, ``UPDATE``,
    ``DELETE`` (an empty set still makes the relation visible, as in PostgREST).
    ``routines``: the functions it may execute (an overloaded name counts when it may execute
    any overload). ``columns``: optionally, per relation, the columns it may use; only read
    when methods follow privileges (PostgREST describes every column).
    """

    tables: Mapping[QualifiedName, frozenset[str]] = msgspec.field(default_factory=dict)
    routines: frozenset[QualifiedName] = frozenset()
    columns: Mapping[QualifiedName, frozenset[str]] = msgspec.field(default_factory=dict)


class ForeignRef(msgspec.Struct, frozen=True):
    """The column a single-column foreign key points at."""

    table: str
    column: str


class Field(msgspec.Struct, frozen=True, kw_only=True):
    """A column of a resource."""

    name: str
    #: The PostgreSQL type, named as PostgREST names it (the OpenAPI ``format``).
    pg_type: str
    #: The JSON type family; ``None`` for json/jsonb (any JSON value).
    type: JsonType | None
    #: For arrays: the family of the elements (``None``: any JSON value).
    item_type: JsonType | None = None
    #: The default as a JSON value; ``msgspec.UNSET`` when there is none that reads as one.
    default: Any = msgspec.UNSET
    description: str | None = None
    enum: tuple[str, ...] = ()
    max_length: int | None = None
    nullable: bool = True
    primary_key: bool = False
    foreign_key: ForeignRef | None = None
    #: The default expression as PostgreSQL writes it (``default`` is its value when it
    #: reads as JSON the way PostgREST reads it), or ``None``.
    default_expression: str | None = None
    #: ``GENERATED ALWAYS AS (…) STORED``: computed, never written.
    generated: bool = False
    #: ``GENERATED … AS IDENTITY``: the sequence fills it.
    identity: bool = False


class Resource(msgspec.Struct, frozen=True, kw_only=True):
    """A table, view, materialized view, foreign or partitioned table: ``/<name>``."""

    schema: str
    name: str
    kind: RelationKind
    description: str | None = None
    fields: tuple[Field, ...] = ()
    #: In PostgREST's order: get, post, delete, patch are the only ones.
    methods: tuple[Method, ...] = ("get",)
    insertable: bool = False
    updatable: bool = False
    deletable: bool = False

    @property
    def required(self) -> tuple[str, ...]:
        """The NOT NULL columns."""
        return tuple(f.name for f in self.fields if not f.nullable)

    @property
    def insert_required(self) -> tuple[str, ...]:
        """The columns an insert must give: NOT NULL, without a default, neither generated
        nor an identity."""
        return tuple(
            f.name
            for f in self.fields
            if not (f.nullable or f.default_expression is not None or f.generated or f.identity)
        )


class Argument(msgspec.Struct, frozen=True, kw_only=True):
    """An input parameter of a function."""

    name: str
    pg_type: str
    type: JsonType | None
    item_type: JsonType | None = None
    required: bool = True
    variadic: bool = False


class Function(msgspec.Struct, frozen=True, kw_only=True):
    """A function callable as ``/rpc/<name>`` (for an overloaded name: the overload with the
    most parameters, the one PostgREST describes)."""

    schema: str
    name: str
    description: str | None = None
    arguments: tuple[Argument, ...] = ()
    #: ``("get", "post")``, or ``("post",)`` for a volatile function.
    methods: tuple[Method, ...] = ("get", "post")
    volatility: Volatility = "volatile"
    returns_set: bool = False
    return_kind: Literal["composite", "scalar", "void", "record"] = "scalar"
    #: The return type's name (with ``return_type_schema`` for a composite type).
    return_type: str = ""
    return_type_schema: str | None = None
    #: The names of the OUT, INOUT and TABLE parameters (the result's columns), in order.
    out_params: tuple[str, ...] = ()
    #: Their types, in the same order (empty when unknown).
    out_types: tuple[str, ...] = ()


class ApiModel(msgspec.Struct, frozen=True, kw_only=True):
    """Everything an OpenAPI document states about one exposed schema."""

    schema: str
    #: ``COMMENT ON SCHEMA``: its first line is the title, the rest the description.
    description: str | None = None
    resources: tuple[Resource, ...] = ()
    functions: tuple[Function, ...] = ()


# --------------------------------------------------------------------------------------------
# Building


def build_api_model(
    schema: SchemaCache,
    schema_name: str,
    *,
    privileges: Privileges | None = None,
    methods_follow_privileges: bool = False,
    volatile_get: bool = False,
    schema_description: str | msgspec.UnsetType | None = msgspec.UNSET,
) -> ApiModel:
    """The API of ``schema_name`` as ``schema`` describes it.

    ``privileges``: what the requesting role may use; ``None`` describes everything
    (``ignore-privileges``). ``methods_follow_privileges`` (not PostgREST's behaviour) also
    narrows each relation's methods to those its privileges allow and its columns to
    ``privileges.columns``. ``volatile_get`` gives volatile functions a GET too, as PostgREST
    before 13.0.5 did. ``schema_description`` overrides the cache's comment of the schema.
    """
    if isinstance(schema_description, msgspec.UnsetType):
        schema_description = schema.schema_descriptions.get(schema_name)
    resources: list[Resource] = []
    for qualified, table in schema.tables.items():
        if qualified.schema != schema_name:
            continue
        held: frozenset[str] | None = None
        if privileges is not None:
            held = privileges.tables.get(qualified)
            if held is None:
                continue
        resource = _resource(schema, table, held if methods_follow_privileges else None)
        if methods_follow_privileges and privileges is not None:
            allowed = privileges.columns.get(qualified)
            if allowed is not None:
                kept = tuple(f for f in resource.fields if f.name in allowed)
                resource = msgspec.structs.replace(resource, fields=kept)
        if resource.methods:
            resources.append(resource)
    functions: list[Function] = []
    for qualified, overloads in schema.routines.items():
        if qualified.schema != schema_name:
            continue
        if privileges is not None and qualified not in privileges.routines:
            continue
        described = _described_overload(overloads)
        if described is not None:
            functions.append(_function(described, volatile_get=volatile_get))
    return ApiModel(
        schema=schema_name,
        description=schema_description,
        resources=tuple(resources),
        functions=tuple(functions),
    )


def _resource(schema: SchemaCache, table: Table, held: frozenset[str] | None) -> Resource:
    writable = table.insertable or table.updatable or table.deletable
    methods: tuple[Method, ...]
    if held is None:
        methods = ("get", "post", "delete", "patch") if writable else ("get",)
    else:
        able = {
            "get": True,
            "post": table.insertable,
            "delete": table.deletable,
            "patch": table.updatable,
        }
        methods = tuple(
            m
            for m in ("get", "post", "delete", "patch")
            if able[m] and _METHOD_PRIVILEGE[m] in held
        )
    keys = _single_column_keys(schema, table)
    fields = tuple(
        _field(col, primary_key=col.name in table.primary_key, foreign_key=keys.get(col.name))
        for col in table.columns
    )
    return Resource(
        schema=table.schema,
        name=table.name,
        kind=table.kind,
        description=table.description,
        fields=fields,
        methods=methods,
        insertable=table.insertable,
        updatable=table.updatable,
        deletable=table.deletable,
    )


def _field(col: Column, *, primary_key: bool, foreign_key: ForeignRef | None) -> Field:
    pg_type = column_type(col)
    family = json_type(pg_type)
    return Field(
        name=col.name,
        pg_type=pg_type,
        type=family,
        item_type=json_type(pg_type[:-2]) if family == "array" else None,
        default=parse_default(pg_type, col.default),
        description=col.description,
        enum=col.enum_values,
        max_length=col.max_length,
        nullable=col.nullable,
        primary_key=primary_key,
        foreign_key=foreign_key,
        default_expression=col.default,
        generated=col.is_generated,
        identity=col.is_identity,
    )


def _single_column_keys(schema: SchemaCache, table: Table) -> dict[str, ForeignRef]:
    """Per column, the target of the single-column foreign key PostgREST notes on it: keys
    held by this relation towards a relation of the same schema, tables before views, then
    by target name. A computed relationship named like the target hides the key, as it
    replaces that relationship."""
    source = table.qualified
    live = {
        (rel.constraint, rel.foreign_table)
        for rel in schema.relationships.get(source, ())
        if rel.function is None and rel.cardinality in ("m2o", "o2o")
    }
    candidates = []
    for fk in schema.foreign_keys:
        if fk.table != source or len(fk.columns) != 1:
            continue
        if fk.foreign_table.schema != table.schema:
            continue
        target = schema.tables.get(fk.foreign_table)
        if target is None or (fk.constraint, fk.foreign_table) not in live:
            continue
        is_view = target.kind in ("view", "materialized_view")
        candidates.append((is_view, fk.foreign_table, fk.constraint, fk))
    candidates.sort(key=lambda c: (c[0], c[1], c[2]))
    out: dict[str, ForeignRef] = {}
    for *_, fk in candidates:
        out.setdefault(fk.columns[0], ForeignRef(fk.foreign_table.name, fk.foreign_columns[0]))
    return out


def _described_overload(overloads: Iterable[Routine]) -> Routine | None:
    """The overload PostgREST's document shows for a name: the last after ordering by the
    number of parameters (PostgREST's ``Ord Routine``), among those a request can call."""
    usable = [r for r in overloads if callable_routine(r)]
    if not usable:
        return None
    return max(enumerate(usable), key=lambda item: (len(item[1].params), item[0]))[1]


def _function(routine: Routine, *, volatile_get: bool) -> Function:
    arguments = []
    for param in routine.params:
        family = json_type(param.data_type)
        arguments.append(
            Argument(
                name=param.name,
                pg_type=param.data_type,
                type=family,
                item_type=json_type(param.data_type[:-2]) if family == "array" else None,
                required=param.required,
                variadic=param.variadic,
            )
        )
    methods: tuple[Method, ...] = ("get", "post")
    if routine.volatility == "volatile" and not volatile_get:
        methods = ("post",)
    return Function(
        schema=routine.schema,
        name=routine.name,
        description=routine.description,
        arguments=tuple(arguments),
        methods=methods,
        volatility=routine.volatility,
        returns_set=routine.returns_set,
        return_kind=routine.return_kind,
        return_type=routine.return_type,
        return_type_schema=routine.return_type_schema,
        out_params=routine.out_params,
        out_types=routine.out_types,
    )


# --------------------------------------------------------------------------------------------
# Types, defaults, comments


#: PostgreSQL's own types as ``format_type`` writes them (without modifiers): PostgREST names
#: these without their modifiers, and a domain over one of them by this name.
_CATALOG_TYPES = frozenset(
    {
        '"char"',
        "aclitem",
        "bigint",
        "bit",
        "bit varying",
        "boolean",
        "box",
        "bytea",
        "character",
        "character varying",
        "cid",
        "cidr",
        "circle",
        "date",
        "datemultirange",
        "daterange",
        "double precision",
        "inet",
        "int4multirange",
        "int4range",
        "int8multirange",
        "int8range",
        "integer",
        "interval",
        "json",
        "jsonb",
        "jsonpath",
        "line",
        "lseg",
        "macaddr",
        "macaddr8",
        "money",
        "name",
        "numeric",
        "nummultirange",
        "numrange",
        "oid",
        "path",
        "pg_lsn",
        "pg_snapshot",
        "point",
        "polygon",
        "real",
        "record",
        "regclass",
        "regcollation",
        "regconfig",
        "regdictionary",
        "regnamespace",
        "regoper",
        "regoperator",
        "regproc",
        "regprocedure",
        "regrole",
        "regtype",
        "smallint",
        "text",
        "tid",
        "time with time zone",
        "time without time zone",
        "timestamp with time zone",
        "timestamp without time zone",
        "tsmultirange",
        "tsquery",
        "tsrange",
        "tstzmultirange",
        "tstzrange",
        "tsvector",
        "txid_snapshot",
        "uuid",
        "xid",
        "xid8",
        "xml",
    }
)
_MODIFIER = re.compile(r"\(\d+(?:,\d+)?\)")
#: ``interval`` with a field restriction: ``interval year to month``, ``interval second(3)``.
_INTERVAL = re.compile(r"^interval\b[^\[]*")


def _without_modifiers(type_name: str) -> str | None:
    """``type_name`` without its modifiers when it is one of PostgreSQL's own types."""
    bare = _MODIFIER.sub("", type_name)
    bare = _INTERVAL.sub("interval", bare)
    element = bare.removesuffix("[]") if bare.endswith("[]") else bare
    return bare if element in _CATALOG_TYPES else None


def builtin_type(pg_type: str) -> bool:
    """Whether a type named by ``column_type`` (or a parameter's type) is one of PostgreSQL's
    own, or an array of one: its JSON form is known. Others (composite types, extension types
    such as PostGIS's, domains over them) may read as any JSON value."""
    return pg_type.removesuffix("[]") in _CATALOG_TYPES


def column_type(col: Column) -> str:
    """The column's type as PostgREST's schema cache names it (its ``data_type``).

    A built-in type loses its modifiers; a domain over a built-in type is named by that base
    type; any other type keeps PostgreSQL's name for it (PostgREST loads with an empty
    ``search_path``, so there it is always schema-qualified; here it is qualified only when
    the loading connection's ``search_path`` does not reach it).
    """
    if col.data_type != col.base_type:  # a domain
        base = _without_modifiers(col.base_type)
        return base if base is not None else col.data_type
    own = _without_modifiers(col.data_type)
    return own if own is not None else col.data_type


_JSON_TYPES: dict[str, JsonType | None] = {
    "character varying": "string",
    "character": "string",
    "text": "string",
    "boolean": "boolean",
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "numeric": "number",
    "real": "number",
    "double precision": "number",
    "json": None,
    "jsonb": None,
}


def json_type(pg_type: str) -> JsonType | None:
    """PostgREST's ``toSwaggerType``: the JSON type family of a PostgreSQL type name;
    ``None`` (any JSON value) for json and jsonb; arrays by their ``[]``; string otherwise."""
    if pg_type in _JSON_TYPES:
        return _JSON_TYPES[pg_type]
    return "array" if pg_type.endswith("[]") else "string"


def parse_default(pg_type: str, default: str | None) -> Any:
    """The column default as a JSON value, as PostgREST reads it, or ``msgspec.UNSET``.

    For string types the literal is taken without its ``::<type>`` cast and surrounding
    quotes and read as a JSON string (so ``'a''b'`` stays doubled and a default with a
    double quote is dropped); other types' expressions must read as JSON as they are
    (``42``, ``true``; not ``nextval(…)`` nor ``'{}'::jsonb``).
    """
    if default is None:
        return msgspec.UNSET
    text = default
    if json_type(pg_type) == "string":
        suffix = "::" + pg_type
        if text.endswith(suffix):
            text = text[: -len(suffix)].strip("'")
        text = '"' + text + '"'
    try:
        return msgspec.json.decode(text.encode())
    except (msgspec.DecodeError, UnicodeEncodeError):
        return msgspec.UNSET


def split_comment(comment: str) -> tuple[str, str]:
    """A comment's first line (the title or summary) and the rest (the description), without
    the line breaks that open the rest, as PostgREST splits them."""
    head, _, rest = comment.partition("\n")
    return head, rest.lstrip("\n")
