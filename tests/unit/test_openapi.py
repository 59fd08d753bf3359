"""The OpenAPI (Swagger 2.0) root document, as PostgREST v12-v13 serves it: whole documents
for a fixture schema cache, and the cases of PostgREST's ``test/spec/Feature/OpenApi`` specs
that a schema cache can express (their expectations, restated here)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import msgspec
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.schemas import openapi_v2_schema_validator
from openapi_spec_validator.validation import OpenAPIV2SpecValidator

from pgrest_asgi.openapi import (
    OpenApiDisabledError,
    Privileges,
    ServerLocation,
    build_api_model,
    server_location,
    swagger_document,
    swagger_object,
)
from pgrest_asgi.openapi.model import column_type, json_type, parse_default, split_comment
from pgrest_asgi.schema.model import (
    Column,
    ForeignKey,
    QualifiedName,
    Routine,
    RoutineParam,
    SchemaCache,
    Table,
)
from pgrest_asgi.schema.relationships import relationships_by_source
from pgrest_asgi.settings import ConfigError, Settings

Q = QualifiedName


# --------------------------------------------------------------------------------------------
# The fixture: schema "api" (and a table in "other", never described with it)


def col(
    name: str,
    data_type: str,
    base_type: str | None = None,
    *,
    nullable: bool = True,
    **kw: Any,
) -> Column:
    return Column(
        name=name,
        data_type=data_type,
        base_type=base_type or data_type,
        nullable=nullable,
        **kw,
    )


def table(name: str, kind: str = "table", schema: str = "api", **kw: Any) -> Table:
    writable = kind in ("table", "partitioned_table")
    flags = {"insertable": writable, "updatable": writable, "deletable": writable}
    flags.update({k: kw.pop(k) for k in list(kw) if k in flags})
    return Table(schema=schema, name=name, kind=kind, **flags, **kw)  # type: ignore[arg-type]


TABLES = [
    table(
        "entities",
        columns=(col("id", "integer", nullable=False), col("name", "text")),
        primary_key=("id",),
    ),
    table(
        "child_entities",
        description="child_entities comment",
        columns=(
            col("id", "integer", nullable=False, description="child_entities id comment"),
            col(
                "name",
                "text",
                description="child_entities name comment. Can be longer than sixty-three"
                " characters long",
            ),
            col("parent_id", "integer"),
        ),
        primary_key=("id",),
    ),
    table(
        "grandchild_entities",
        description="grandchild_entities summary\n\ngrandchild_entities description\n"
        "that spans\nmultiple lines",
        columns=(
            col(
                "id",
                "bigint",
                nullable=False,
                default="nextval('api.grandchild_entities_id_seq'::regclass)",
            ),
            col("parent_id", "integer"),
        ),
        primary_key=("id",),
    ),
    # An auto-updatable view: its key and foreign key are derived from its base table.
    table(
        "child_entities_view",
        "view",
        description="child_entities_view comment",
        columns=(
            col("id", "integer", description="child_entities_view id comment"),
            col(
                "name",
                "text",
                description="child_entities_view name comment. Can be longer than"
                " sixty-three characters long",
            ),
            col("parent_id", "integer"),
        ),
        primary_key=("id",),
        insertable=True,
        updatable=True,
        deletable=True,
    ),
    # A view nothing can be written through.
    table(
        "entity_totals",
        "view",
        description="Totals per entity",
        columns=(col("entity_id", "integer"), col("total", "bigint")),
    ),
    table(
        "materialized_projects",
        "materialized_view",
        description="A materialized view for projects\nJust a test for materialized views",
        columns=(col("id", "integer"), col("name", "text")),
    ),
    table(
        "openapi_types",
        columns=(
            col("a_character_varying", "character varying"),
            col("a_character", "character(1)", max_length=1),
            col("a_varchar_20", "character varying(20)", nullable=False, max_length=20),
            col("a_text", "text", nullable=False),
            col("a_boolean", "boolean"),
            col("a_smallint", "smallint"),
            col("a_integer", "integer"),
            col("a_bigint", "bigint"),
            col("a_numeric", "numeric(10,2)"),
            col("a_real", "real"),
            col("a_double_precision", "double precision"),
            col("a_json", "json"),
            col("a_jsonb", "jsonb"),
            col("a_date", "date"),
            col("a_timestamp", "timestamp(3) without time zone"),
            col("a_timestamptz", "timestamp with time zone"),
            col("a_time", "time without time zone"),
            col("a_interval", "interval year to month"),
            col("a_uuid", "uuid"),
            col("a_money", "money"),
            col("a_text_arr", "text[]"),
            col("a_int_arr", "integer[]"),
            col("a_bool_arr", "boolean[]"),
            col("a_char_arr", "character(1)[]"),
            col("a_varchar_arr", "character varying(10)[]"),
            col("a_numeric_arr", "numeric[]"),
            col("a_json_arr", "json[]"),
            col("a_jsonb_arr", "jsonb[]"),
            col("a_enum", "mood", enum_values=("sad", "ok", "happy")),
            col("a_enum_arr", "mood[]"),
            # Domains over built-in types are named by their base type.
            col("a_positive", "positive_int", "integer", nullable=False),
            col("an_email", "email", "character varying(100)", max_length=100),
            # A domain over a type of the user's keeps its own name.
            col("a_cheerful", "cheerful", "mood", enum_values=("sad", "ok", "happy")),
        ),
    ),
    table(
        "openapi_defaults",
        columns=(
            col("text", "text", default="'default'::text"),
            col("boolean", "boolean", default="false"),
            col("integer", "integer", default="42"),
            col("numeric", "numeric", default="42.2"),
            col("date", "date", default="'1900-01-01'::date"),
            col("time", "time without time zone", default="'13:00:00'::time without time zone"),
            col("created", "timestamp with time zone", default="now()"),
            col("uuid", "uuid", default="gen_random_uuid()"),
            col("varchar", "character varying(5)", default="'abc'::character varying"),
            col("mood", "mood", default="'happy'::mood", enum_values=("sad", "ok", "happy")),
            col("quoted", "text", default="'it''s'::text"),
            col("empty", "text", default="''::text"),
            # These do not read as JSON: no default.
            col("serial", "integer", default="nextval('api.s'::regclass)"),
            col("negative", "integer", default="'-1'::integer"),
            col("jsonb", "jsonb", default="'{}'::jsonb"),
            col("tags", "text[]", default="'{}'::text[]"),
            col("double_quoted", "text", default="'say \"hi\"'::text"),
        ),
    ),
    table(
        "profiles",
        columns=(
            col("id", "integer", nullable=False),
            col("entity_id", "integer", description="The entity"),
            col("label", "text"),
            col("owner_id", "integer"),
        ),
        primary_key=("id",),
    ),
    table("authors_only", columns=(col("id", "integer", nullable=False),), primary_key=("id",)),
    table("users", schema="other", columns=(col("id", "integer", nullable=False),)),
]

FOREIGN_KEYS = [
    ForeignKey(
        constraint="child_parent_fkey",
        table=Q("api", "child_entities"),
        columns=("parent_id",),
        foreign_table=Q("api", "entities"),
        foreign_columns=("id",),
    ),
    # Through the view over child_entities, and to the table itself: the table wins.
    ForeignKey(
        constraint="grandchild_parent_fkey",
        table=Q("api", "grandchild_entities"),
        columns=("parent_id",),
        foreign_table=Q("api", "child_entities_view"),
        foreign_columns=("id",),
    ),
    ForeignKey(
        constraint="grandchild_parent_fkey",
        table=Q("api", "grandchild_entities"),
        columns=("parent_id",),
        foreign_table=Q("api", "child_entities"),
        foreign_columns=("id",),
    ),
    ForeignKey(
        constraint="child_parent_fkey",
        table=Q("api", "child_entities_view"),
        columns=("parent_id",),
        foreign_table=Q("api", "entities"),
        foreign_columns=("id",),
    ),
    ForeignKey(
        constraint="totals_entity_fkey",
        table=Q("api", "entity_totals"),
        columns=("entity_id",),
        foreign_table=Q("api", "entities"),
        foreign_columns=("id",),
    ),
    # One-to-one: noted on the side that holds the key only.
    ForeignKey(
        constraint="profiles_entity_fkey",
        table=Q("api", "profiles"),
        columns=("entity_id",),
        foreign_table=Q("api", "entities"),
        foreign_columns=("id",),
        one_to_one=True,
    ),
    # Two columns: no note on either.
    ForeignKey(
        constraint="profiles_pair_fkey",
        table=Q("api", "profiles"),
        columns=("entity_id", "label"),
        foreign_table=Q("api", "entities"),
        foreign_columns=("id", "name"),
    ),
    # To another schema: no note.
    ForeignKey(
        constraint="profiles_owner_fkey",
        table=Q("api", "profiles"),
        columns=("owner_id",),
        foreign_table=Q("other", "users"),
        foreign_columns=("id",),
    ),
]


def param(name: str, data_type: str, **kw: Any) -> RoutineParam:
    return RoutineParam(name=name, data_type=data_type, **kw)


def routine(name: str, schema: str = "api", **kw: Any) -> Routine:
    kw.setdefault("return_type", "text")
    return Routine(schema=schema, name=name, **kw)


ROUTINES = [
    routine(
        "varied_arguments",
        description="An RPC function\n\nJust a test for RPC function arguments",
        volatility="stable",
        params=(
            param("double", "double precision"),
            param("varchar", "character varying"),
            param("boolean", "boolean"),
            param("date", "date"),
            param("money", "money"),
            param("enum", "mood"),
            param("text_arr", "text[]"),
            param("int_arr", "integer[]"),
            param("json_arr", "json[]"),
            param("integer", "integer", required=False),
            param("json", "json", required=False),
        ),
    ),
    routine(
        "add_them",
        volatility="immutable",
        params=(param("a", "integer"), param("b", "integer")),
        return_type="integer",
    ),
    routine(
        "create_entity",
        description="Creates an entity",
        params=(param("name", "text"),),
        return_kind="composite",
        return_type="entities",
        return_type_schema="api",
        returns_set=True,
    ),
    routine(
        "entity_stats",
        volatility="stable",
        return_kind="record",
        return_type="record",
        returns_set=True,
        out_params=("entity_id", "total"),
    ),
    routine("reset_all", return_kind="void", return_type="void"),
    routine(
        "variadic_param",
        volatility="immutable",
        params=(param("v", "text[]", required=False, variadic=True),),
    ),
    routine("overloaded", volatility="stable", params=(param("a", "integer"),)),
    routine(
        "overloaded",
        volatility="stable",
        description="The wider overload",
        params=(param("a", "integer"), param("b", "text", required=False)),
    ),
    routine("privileged_hello", volatility="stable", params=(param("name", "text"),)),
    # Two unnamed parameters: not callable, so not described.
    routine("uncallable", params=(param("", "integer"), param("", "integer"))),
    routine("elsewhere", schema="other"),
]


def fixture() -> SchemaCache:
    tables = {t.qualified: t for t in TABLES}
    routines: dict[QualifiedName, tuple[Routine, ...]] = {}
    for r in ROUTINES:
        key = Q(r.schema, r.name)
        routines[key] = (*routines.get(key, ()), r)
    return SchemaCache(
        schemas=("api", "other"),
        tables=tables,
        foreign_keys=tuple(FOREIGN_KEYS),
        relationships=relationships_by_source(tables, FOREIGN_KEYS, ROUTINES),
        routines=routines,
        schema_descriptions={
            "api": "My API title\nMy API description\nthat spans\nmultiple lines",
            "other": "Other things",
        },
    )


SCHEMA = fixture()
SETTINGS = Settings(db_schemas=("api", "other"), openapi_mode="ignore-privileges")


def document(settings: Settings = SETTINGS, **kw: Any) -> Any:
    """The document as a client parses it."""
    kw.setdefault("version", "13.0.5")
    return msgspec.json.decode(swagger_document(SCHEMA, settings, **kw))


# --------------------------------------------------------------------------------------------
# The expected pieces, written out as PostgREST's OpenAPI.hs builds them


def refs(*names: str) -> list[dict[str, str]]:
    return [{"$ref": "#/parameters/" + n} for n in names]


def row_filters(name: str, *columns: str) -> list[str]:
    return [f"rowFilter.{name}.{c}" for c in columns]


MEDIA = [
    "application/json",
    "application/vnd.pgrst.object+json;nulls=stripped",
    "application/vnd.pgrst.object+json",
    "text/csv",
]
RPC_MEDIA = MEDIA[:3]
OK = {"200": {"description": "OK"}}


def table_path(
    name: str,
    columns: list[str],
    *,
    summary: str | None = None,
    description: str | None = None,
    methods: tuple[str, ...] = ("get", "post", "delete", "patch"),
) -> dict[str, Any]:
    common: dict[str, Any] = {"tags": [name]}
    if summary is not None:
        common["summary"] = summary
    if description is not None:
        common["description"] = description
    filters = row_filters(name, *columns)
    ops = {
        "get": {
            "parameters": refs(
                *filters, "select", "order", "range", "rangeUnit", "offset", "limit", "preferCount"
            ),
            "responses": {
                "200": {
                    "description": "OK",
                    "schema": {"items": {"$ref": f"#/definitions/{name}"}, "type": "array"},
                },
                "206": {"description": "Partial Content"},
            },
        },
        "post": {
            "parameters": refs(f"body.{name}", "select", "preferPost"),
            "responses": {"201": {"description": "Created"}},
        },
        "delete": {
            "parameters": refs(*filters, "preferReturn"),
            "responses": {"204": {"description": "No Content"}},
        },
        "patch": {
            "parameters": refs(*filters, f"body.{name}", "preferReturn"),
            "responses": {"204": {"description": "No Content"}},
        },
    }
    return {m: {**ops[m], **common} for m in methods}


def rpc_path(
    name: str,
    get_params: list[dict[str, Any]] | None,
    body: dict[str, Any],
    *,
    summary: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    common: dict[str, Any] = {"tags": [f"(rpc) {name}"], "produces": RPC_MEDIA, "responses": OK}
    if summary is not None:
        common["summary"] = summary
    if description is not None:
        common["description"] = description
    out: dict[str, Any] = {}
    if get_params is not None:
        out["get"] = {**common, **({"parameters": get_params} if get_params else {})}
    out["post"] = {
        **common,
        "parameters": [
            {"in": "body", "name": "args", "required": True, "schema": body},
            {"$ref": "#/parameters/preferParams"},
        ],
    }
    return out


def query_param(name: str, fmt: str, type_: str, required: bool = True) -> dict[str, Any]:
    return {"format": fmt, "in": "query", "name": name, "required": required, "type": type_}


def prefer(*values: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": "Prefer",
        "description": "Preference",
        "required": False,
        "in": "header",
        "type": "string",
    }
    if values:
        out["enum"] = list(values)
    return out


def query(name: str, description: str | None = None, where: str = "query") -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "required": False, "in": where, "type": "string"}
    if description is not None:
        out["description"] = description
    return out


PAGING = "Limiting and Pagination"
RETURN = ["return=representation", "return=minimal", "return=none"]


def shared_parameters(
    *tables: tuple[str, dict[str, str | None]], params_enum: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "preferParams": prefer(*(["params=single-object"] if params_enum else [])),
        "preferReturn": prefer(*RETURN),
        "preferCount": prefer("count=none"),
        "preferPost": prefer(
            *RETURN, "resolution=ignore-duplicates", "resolution=merge-duplicates"
        ),
        "select": query("select", "Filtering Columns"),
        "on_conflict": query("on_conflict", "On Conflict"),
        "order": query("order", "Ordering"),
        "range": query("Range", PAGING, "header"),
        "rangeUnit": {**query("Range-Unit", PAGING, "header"), "default": "items"},
        "offset": query("offset", PAGING),
        "limit": query("limit", PAGING),
    }
    for name, columns in tables:
        out[f"body.{name}"] = {
            "name": name,
            "description": name,
            "required": False,
            "in": "body",
            "schema": {"$ref": f"#/definitions/{name}"},
        }
        for column, description in columns.items():
            out[f"rowFilter.{name}.{column}"] = query(column, description)
    return out


PK = "Note:\nThis is a Primary Key.<pk/>"


def fk_note(table_name: str, column: str) -> str:
    return (
        f"Note:\nThis is a Foreign Key to `{table_name}.{column}`."
        f"<fk table='{table_name}' column='{column}'/>"
    )


INT = {"format": "integer", "type": "integer"}
TEXT = {"format": "text", "type": "string"}
CHILD_NAME = "child_entities name comment. Can be longer than sixty-three characters long"
VIEW_NAME = "child_entities_view name comment. Can be longer than sixty-three characters long"

DEFINITIONS: dict[str, Any] = {
    "entities": {
        "required": ["id"],
        "properties": {"id": {**INT, "description": PK}, "name": TEXT},
        "type": "object",
    },
    # PostgREST's "includes definitions to tables".
    "child_entities": {
        "description": "child_entities comment",
        "required": ["id"],
        "properties": {
            "id": {**INT, "description": "child_entities id comment\n\n" + PK},
            "name": {**TEXT, "description": CHILD_NAME},
            "parent_id": {**INT, "description": fk_note("entities", "id")},
        },
        "type": "object",
    },
    "grandchild_entities": {
        "description": "grandchild_entities summary\n\ngrandchild_entities description\n"
        "that spans\nmultiple lines",
        "required": ["id"],
        "properties": {
            "id": {"format": "bigint", "type": "integer", "description": PK},
            "parent_id": {**INT, "description": fk_note("child_entities", "id")},
        },
        "type": "object",
    },
    # PostgREST's "includes definitions to views": no required columns.
    "child_entities_view": {
        "description": "child_entities_view comment",
        "properties": {
            "id": {**INT, "description": "child_entities_view id comment\n\n" + PK},
            "name": {**TEXT, "description": VIEW_NAME},
            "parent_id": {**INT, "description": fk_note("entities", "id")},
        },
        "type": "object",
    },
    "entity_totals": {
        "description": "Totals per entity",
        "properties": {
            "entity_id": {**INT, "description": fk_note("entities", "id")},
            "total": {"format": "bigint", "type": "integer"},
        },
        "type": "object",
    },
    "materialized_projects": {
        "description": "A materialized view for projects\nJust a test for materialized views",
        "properties": {"id": INT, "name": TEXT},
        "type": "object",
    },
    # PostgREST's "PostgreSQL to Swagger Type Mapping".
    "openapi_types": {
        "required": ["a_varchar_20", "a_text", "a_positive"],
        "properties": {
            "a_character_varying": {"format": "character varying", "type": "string"},
            "a_character": {"format": "character", "maxLength": 1, "type": "string"},
            "a_varchar_20": {"format": "character varying", "maxLength": 20, "type": "string"},
            "a_text": TEXT,
            "a_boolean": {"format": "boolean", "type": "boolean"},
            "a_smallint": {"format": "smallint", "type": "integer"},
            "a_integer": INT,
            "a_bigint": {"format": "bigint", "type": "integer"},
            "a_numeric": {"format": "numeric", "type": "number"},
            "a_real": {"format": "real", "type": "number"},
            "a_double_precision": {"format": "double precision", "type": "number"},
            "a_json": {"format": "json"},
            "a_jsonb": {"format": "jsonb"},
            "a_date": {"format": "date", "type": "string"},
            "a_timestamp": {"format": "timestamp without time zone", "type": "string"},
            "a_timestamptz": {"format": "timestamp with time zone", "type": "string"},
            "a_time": {"format": "time without time zone", "type": "string"},
            "a_interval": {"format": "interval", "type": "string"},
            "a_uuid": {"format": "uuid", "type": "string"},
            "a_money": {"format": "money", "type": "string"},
            "a_text_arr": {"format": "text[]", "items": {"type": "string"}, "type": "array"},
            "a_int_arr": {"format": "integer[]", "items": {"type": "integer"}, "type": "array"},
            "a_bool_arr": {"format": "boolean[]", "items": {"type": "boolean"}, "type": "array"},
            "a_char_arr": {"format": "character[]", "items": {"type": "string"}, "type": "array"},
            "a_varchar_arr": {
                "format": "character varying[]",
                "items": {"type": "string"},
                "type": "array",
            },
            "a_numeric_arr": {"format": "numeric[]", "items": {"type": "number"}, "type": "array"},
            "a_json_arr": {"format": "json[]", "items": {}, "type": "array"},
            "a_jsonb_arr": {"format": "jsonb[]", "items": {}, "type": "array"},
            "a_enum": {"enum": ["sad", "ok", "happy"], "format": "mood", "type": "string"},
            "a_enum_arr": {"format": "mood[]", "items": {"type": "string"}, "type": "array"},
            "a_positive": INT,
            "an_email": {"format": "character varying", "maxLength": 100, "type": "string"},
            "a_cheerful": {
                "enum": ["sad", "ok", "happy"],
                "format": "cheerful",
                "type": "string",
            },
        },
        "type": "object",
    },
    # PostgREST's "Detects default values".
    "openapi_defaults": {
        "properties": {
            "text": {"default": "default", **TEXT},
            "boolean": {"default": False, "format": "boolean", "type": "boolean"},
            "integer": {"default": 42, **INT},
            "numeric": {"default": 42.2, "format": "numeric", "type": "number"},
            "date": {"default": "1900-01-01", "format": "date", "type": "string"},
            "time": {
                "default": "13:00:00",
                "format": "time without time zone",
                "type": "string",
            },
            "created": {
                "default": "now()",
                "format": "timestamp with time zone",
                "type": "string",
            },
            "uuid": {"default": "gen_random_uuid()", "format": "uuid", "type": "string"},
            "varchar": {"default": "abc", "format": "character varying", "type": "string"},
            "mood": {
                "default": "happy",
                "enum": ["sad", "ok", "happy"],
                "format": "mood",
                "type": "string",
            },
            "quoted": {"default": "it''s", **TEXT},
            "empty": {"default": "", **TEXT},
            "serial": INT,
            "negative": INT,
            "jsonb": {"format": "jsonb"},
            "tags": {"format": "text[]", "items": {"type": "string"}, "type": "array"},
            "double_quoted": TEXT,
        },
        "type": "object",
    },
    "profiles": {
        "required": ["id"],
        "properties": {
            "id": {**INT, "description": PK},
            "entity_id": {**INT, "description": "The entity\n\n" + fk_note("entities", "id")},
            "label": TEXT,
            "owner_id": INT,
        },
        "type": "object",
    },
    "authors_only": {
        "required": ["id"],
        "properties": {"id": {**INT, "description": PK}},
        "type": "object",
    },
}

#: Per relation of "api": its columns' comments (the row filters' descriptions).
COLUMNS: dict[str, dict[str, str | None]] = {
    t.name: {c.name: c.description for c in t.columns} for t in TABLES if t.schema == "api"
}

VARIED_BODY = {
    "description": "An RPC function\n\nJust a test for RPC function arguments",
    "properties": {
        "double": {"format": "double precision", "type": "number"},
        "varchar": {"format": "character varying", "type": "string"},
        "boolean": {"format": "boolean", "type": "boolean"},
        "date": {"format": "date", "type": "string"},
        "money": {"format": "money", "type": "string"},
        "enum": {"format": "mood", "type": "string"},
        "text_arr": {"format": "text[]", "items": {"type": "string"}, "type": "array"},
        "int_arr": {"format": "integer[]", "items": {"type": "integer"}, "type": "array"},
        "json_arr": {"format": "json[]", "items": {}, "type": "array"},
        "integer": {"format": "integer", "type": "integer"},
        "json": {"format": "json"},
    },
    "required": [
        "double",
        "varchar",
        "boolean",
        "date",
        "money",
        "enum",
        "text_arr",
        "int_arr",
        "json_arr",
    ],
    "type": "object",
}
VARIED_GET = [
    query_param("double", "double precision", "number"),
    query_param("varchar", "character varying", "string"),
    query_param("boolean", "boolean", "boolean"),
    query_param("date", "date", "string"),
    query_param("money", "money", "string"),
    query_param("enum", "mood", "string"),
    # Arrays are {a,b} in a query string: strings.
    query_param("text_arr", "text[]", "string"),
    query_param("int_arr", "integer[]", "string"),
    query_param("json_arr", "json[]", "string"),
    query_param("integer", "integer", "integer", required=False),
    # Any JSON value is a string in a query string.
    query_param("json", "json", "string", required=False),
]
VARIADIC_GET = [
    {
        "collectionFormat": "multi",
        "in": "query",
        "items": {"format": "text", "type": "string"},
        "name": "v",
        "required": False,
        "type": "array",
    }
]
TWO_INTS = {
    "properties": {"a": INT, "b": INT},
    "required": ["a", "b"],
    "type": "object",
}

FUNCTION_PATHS = {
    "/rpc/varied_arguments": rpc_path(
        "varied_arguments",
        VARIED_GET,
        VARIED_BODY,
        summary="An RPC function",
        description="Just a test for RPC function arguments",
    ),
    "/rpc/add_them": rpc_path(
        "add_them",
        [query_param("a", "integer", "integer"), query_param("b", "integer", "integer")],
        TWO_INTS,
    ),
    # Volatile: POST only.
    "/rpc/create_entity": rpc_path(
        "create_entity",
        None,
        {
            "description": "Creates an entity",
            "properties": {"name": TEXT},
            "required": ["name"],
            "type": "object",
        },
        summary="Creates an entity",
    ),
    # No arguments: no GET parameters, an empty body object.
    "/rpc/entity_stats": rpc_path("entity_stats", [], {"type": "object"}),
    "/rpc/reset_all": rpc_path("reset_all", None, {"type": "object"}),
    "/rpc/variadic_param": rpc_path(
        "variadic_param",
        VARIADIC_GET,
        {
            "properties": {"v": {"format": "text[]", "items": {"type": "string"}, "type": "array"}},
            "type": "object",
        },
    ),
    # The overload with the most parameters.
    "/rpc/overloaded": rpc_path(
        "overloaded",
        [query_param("a", "integer", "integer"), query_param("b", "text", "string", False)],
        {
            "description": "The wider overload",
            "properties": {"a": INT, "b": TEXT},
            "required": ["a"],
            "type": "object",
        },
        summary="The wider overload",
    ),
    "/rpc/privileged_hello": rpc_path(
        "privileged_hello",
        [query_param("name", "text", "string")],
        {"properties": {"name": TEXT}, "required": ["name"], "type": "object"},
    ),
}

ROOT_PATH = {
    "get": {
        "produces": ["application/openapi+json", "application/json"],
        "responses": OK,
        "summary": "OpenAPI description (this document)",
        "tags": ["Introspection"],
    }
}

READ_ONLY = ("get",)

FULL_DOCUMENT = {
    "swagger": "2.0",
    "info": {
        "description": "My API description\nthat spans\nmultiple lines",
        "title": "My API title",
        "version": "13.0.5",
    },
    "host": "0.0.0.0:3000",
    "basePath": "/",
    "schemes": ["http"],
    "consumes": MEDIA,
    "produces": MEDIA,
    "paths": {
        "/": ROOT_PATH,
        "/entities": table_path("entities", ["id", "name"]),
        "/child_entities": table_path(
            "child_entities", ["id", "name", "parent_id"], summary="child_entities comment"
        ),
        "/grandchild_entities": table_path(
            "grandchild_entities",
            ["id", "parent_id"],
            summary="grandchild_entities summary",
            description="grandchild_entities description\nthat spans\nmultiple lines",
        ),
        "/child_entities_view": table_path(
            "child_entities_view",
            ["id", "name", "parent_id"],
            summary="child_entities_view comment",
        ),
        "/entity_totals": table_path(
            "entity_totals", ["entity_id", "total"], summary="Totals per entity", methods=READ_ONLY
        ),
        "/materialized_projects": table_path(
            "materialized_projects",
            ["id", "name"],
            summary="A materialized view for projects",
            description="Just a test for materialized views",
            methods=READ_ONLY,
        ),
        "/openapi_types": table_path("openapi_types", list(COLUMNS["openapi_types"])),
        "/openapi_defaults": table_path("openapi_defaults", list(COLUMNS["openapi_defaults"])),
        "/profiles": table_path("profiles", ["id", "entity_id", "label", "owner_id"]),
        "/authors_only": table_path("authors_only", ["id"]),
        **FUNCTION_PATHS,
    },
    "definitions": DEFINITIONS,
    "parameters": shared_parameters(*COLUMNS.items()),
    "externalDocs": {
        "description": "PostgREST Documentation",
        "url": "https://postgrest.org/en/v13/references/api.html",
    },
}


# --------------------------------------------------------------------------------------------
# Whole documents


def test_the_whole_document_ignoring_privileges() -> None:
    assert document() == FULL_DOCUMENT


def swagger_errors(doc: Any) -> list[str]:
    """The document checked against the Swagger 2.0 JSON schema, then by the full validator
    (which also checks each default against its type and format)."""
    assert list(openapi_v2_schema_validator.iter_errors(doc)) == []
    return [e.message for e in OpenAPIV2SpecValidator(doc).iter_errors()]


def test_the_documents_are_valid_swagger_2() -> None:
    # PostgREST gives a column's default expression as its default, whatever its format:
    # gen_random_uuid() is not a uuid. The only complaint.
    assert swagger_errors(document()) == ["'gen_random_uuid()' is not a 'uuid'"]
    assert swagger_errors(document(target="v12")) == ["'gen_random_uuid()' is not a 'uuid'"]
    secured = Settings(openapi_security_active=True, openapi_server_proxy_uri="https://a/b")
    assert swagger_errors(document(secured, schema_name="api", privileges=ANON)) == []
    validate(document(schema_name="other"), cls=OpenAPIV2SpecValidator)


def test_the_top_level_keys_come_in_postgrests_order() -> None:
    secured = msgspec.structs.replace(SETTINGS, openapi_security_active=True)
    assert list(swagger_object(SCHEMA, secured)) == [
        "swagger",
        "info",
        "host",
        "basePath",
        "schemes",
        "consumes",
        "produces",
        "paths",
        "definitions",
        "parameters",
        "securityDefinitions",
        "security",
        "externalDocs",
    ]


def test_the_bytes_are_the_object_encoded() -> None:
    encoded = swagger_document(SCHEMA, SETTINGS, version="x")
    assert encoded == msgspec.json.encode(swagger_object(SCHEMA, SETTINGS, version="x"))
    assert encoded.startswith(b'{"swagger":"2.0","info":{"description":"My API description')


#: A role that may only read child_entities and execute add_them.
ANON = Privileges(
    tables={Q("api", "child_entities"): frozenset({"SELECT"})},
    routines=frozenset({Q("api", "add_them")}),
)
FOLLOW = Settings(db_schemas=("api",))  # openapi-mode = follow-privileges, the default


def test_a_role_sees_only_what_it_may_use() -> None:
    """PostgREST's "doesn't include privileged table/function for anonymous": a relation the
    role may use at all is described with every method it has (PostgREST does not narrow
    them by privilege); a function it may not execute is absent. The foreign key note still
    names a table the role cannot see, as PostgREST's does."""
    assert document(FOLLOW, privileges=ANON) == {
        **FULL_DOCUMENT,
        "paths": {
            "/": ROOT_PATH,
            "/child_entities": FULL_DOCUMENT["paths"]["/child_entities"],
            "/rpc/add_them": FUNCTION_PATHS["/rpc/add_them"],
        },
        "definitions": {"child_entities": DEFINITIONS["child_entities"]},
        "parameters": shared_parameters(("child_entities", COLUMNS["child_entities"])),
    }


def test_methods_can_follow_privileges_too() -> None:
    """Not PostgREST's behaviour, on request: a role that may only SELECT sees only GET; one
    that may insert into a read-only view still gets no POST; ``columns`` narrows them."""
    privileges = Privileges(
        tables={
            Q("api", "child_entities"): frozenset({"SELECT"}),
            Q("api", "profiles"): frozenset({"SELECT", "INSERT", "DELETE"}),
            Q("api", "entity_totals"): frozenset({"SELECT", "INSERT"}),
            Q("api", "authors_only"): frozenset({"TRUNCATE"}),
        },
        columns={Q("api", "profiles"): frozenset({"id", "label"})},
    )
    doc = document(FOLLOW, privileges=privileges, methods_follow_privileges=True)
    profiles = table_path("profiles", ["id", "label"], methods=("get", "post", "delete"))
    assert doc["paths"] == {
        "/": ROOT_PATH,
        "/child_entities": table_path(
            "child_entities",
            ["id", "name", "parent_id"],
            summary="child_entities comment",
            methods=READ_ONLY,
        ),
        "/entity_totals": FULL_DOCUMENT["paths"]["/entity_totals"],
        "/profiles": profiles,
    }
    assert doc["definitions"]["profiles"] == {
        "required": ["id"],
        "properties": {"id": {**INT, "description": PK}, "label": TEXT},
        "type": "object",
    }


def test_privileges_are_ignored_under_ignore_privileges() -> None:
    """PostgREST's "includes privileged table/function even if user does not have
    permission" (``openapi-mode = ignore-privileges``)."""
    assert document(privileges=ANON) == FULL_DOCUMENT
    doc = document(privileges=ANON)
    assert doc["paths"]["/authors_only"]["post"]["tags"] == ["authors_only"]
    assert doc["paths"]["/rpc/privileged_hello"]["post"]["tags"] == ["(rpc) privileged_hello"]


def test_a_role_that_may_use_it_sees_the_table() -> None:
    """PostgREST's "includes table/function if user has permission"."""
    author = Privileges(
        tables={Q("api", "authors_only"): frozenset({"SELECT", "INSERT"})},
        routines=frozenset({Q("api", "privileged_hello")}),
    )
    doc = document(FOLLOW, privileges=author)
    assert list(doc["paths"]) == ["/", "/authors_only", "/rpc/privileged_hello"]
    assert doc["paths"]["/authors_only"]["post"]["tags"] == ["authors_only"]
    assert doc["paths"]["/rpc/privileged_hello"]["post"]["tags"] == ["(rpc) privileged_hello"]


def test_no_privileges_describes_everything_in_follow_mode() -> None:
    assert document(FOLLOW, privileges=None) == FULL_DOCUMENT


def test_another_schema_is_its_own_document() -> None:
    """PostgREST's "only includes tables/functions that belong to another schema if the
    Accept-Profile header is used": one document per schema."""
    doc = document(schema_name="other")
    assert doc == {
        **FULL_DOCUMENT,
        "info": {"description": "", "title": "Other things", "version": "13.0.5"},
        "paths": {
            "/": ROOT_PATH,
            "/users": table_path("users", ["id"]),
            "/rpc/elsewhere": rpc_path("elsewhere", None, {"type": "object"}),
        },
        "definitions": {
            "users": {
                "required": ["id"],
                "properties": {"id": INT},
                "type": "object",
            }
        },
        "parameters": shared_parameters(("users", {"id": None})),
    }


def test_an_empty_schema_without_comment() -> None:
    """PostgREST's root spec: the default title and description; no definitions at all."""
    empty = SchemaCache(schemas=("api",), tables={})
    doc = msgspec.json.decode(swagger_document(empty, FOLLOW, version="12.2.3"))
    expected = {k: v for k, v in FULL_DOCUMENT.items() if k != "definitions"}
    assert doc == {
        **expected,
        "info": {
            "description": "This is a dynamic API generated by PostgREST",
            "title": "PostgREST API",
            "version": "12.2.3",
        },
        "paths": {"/": ROOT_PATH},
        "parameters": shared_parameters(),
    }


def test_postgrest_12() -> None:
    """v12: GET for every function (so until 13.0.4), ``params=single-object`` listed (so
    until 12.2.x), the v12 documentation."""
    doc = document(target="v12")
    assert doc["paths"]["/rpc/create_entity"] == {
        "get": {
            "parameters": [query_param("name", "text", "string")],
            "produces": RPC_MEDIA,
            "responses": OK,
            "summary": "Creates an entity",
            "tags": ["(rpc) create_entity"],
        },
        **FUNCTION_PATHS["/rpc/create_entity"],
    }
    assert doc["paths"]["/rpc/reset_all"]["get"] == {
        "produces": RPC_MEDIA,
        "responses": OK,
        "tags": ["(rpc) reset_all"],
    }
    assert doc["parameters"]["preferParams"] == prefer("params=single-object")
    assert doc["externalDocs"]["url"] == "https://postgrest.org/en/v12/references/api.html"
    rest = {k: v for k, v in doc.items() if k not in ("paths", "parameters", "externalDocs")}
    assert rest == {
        k: v for k, v in FULL_DOCUMENT.items() if k not in ("paths", "parameters", "externalDocs")
    }


# --------------------------------------------------------------------------------------------
# Server location, security, modes


def test_the_proxy_uri_gives_host_base_path_and_scheme() -> None:
    proxied = Settings(openapi_server_proxy_uri="https://api.example.com:8443/v1")
    doc = document(proxied, privileges=None)
    assert (doc["host"], doc["basePath"], doc["schemes"]) == (
        "api.example.com:8443",
        "/v1",
        ["https"],
    )
    validate(doc, cls=OpenAPIV2SpecValidator)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "https://api.example.com:8443/v1",
            ServerLocation("https", "api.example.com", 8443, "/v1"),
        ),
        ("http://example.com", ServerLocation("http", "example.com", 80, "/")),
        ("https://example.com", ServerLocation("https", "example.com", 443, "/")),
        ("HTTPS://Example.com/a/b/", ServerLocation("https", "Example.com", 443, "/a/b/")),
        ("http://[::1]:8080/", ServerLocation("http", "[::1]", 8080, "/")),
    ],
)
def test_proxy_uris(uri: str, expected: ServerLocation) -> None:
    assert server_location(Settings(openapi_server_proxy_uri=uri)) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "ftp://example.com",
        "https://user@example.com",
        "https://example.com/?a=1",
        "https://example.com/#top",
        "https://example.com:0/",
        "https://example.com:65536/",
        "https://example.com:/",
        "https:///path",
        "example.com/path",
    ],
)
def test_a_malformed_proxy_uri_is_a_configuration_error(uri: str) -> None:
    """PostgREST refuses to start; so do the settings, naming the key and a correct form."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({"openapi-server-proxy-uri": uri})
    assert str(caught.value) == (
        f"openapi-server-proxy-uri: malformed proxy URI {uri!r}; write an absolute http(s) URI"
        " without user info or query, such as https://example.com:8443/basePath"
    )


@pytest.mark.parametrize(
    ("host", "expected"),
    [("!4", "0.0.0.0"), ("*", "0.0.0.0"), ("*6", "0.0.0.0"), ("localhost", "localhost")],
)
def test_the_server_host_and_port(host: str, expected: str) -> None:
    location = server_location(Settings(server_host=host, server_port=8000))
    assert location == ServerLocation("http", expected, 8000, "/")
    assert document(Settings(server_host=host, server_port=8000))["host"] == f"{expected}:8000"


def test_a_location_can_be_given() -> None:
    doc = document(location=ServerLocation("https", "h", 1, "/api"))
    assert (doc["host"], doc["basePath"], doc["schemes"]) == ("h:1", "/api", ["https"])


def test_security_when_active() -> None:
    """PostgREST's SecurityOpenApiSpec; and none by default (OpenApiSpec's "Security")."""
    assert "security" not in document() and "securityDefinitions" not in document()
    doc = document(msgspec.structs.replace(SETTINGS, openapi_security_active=True))
    assert doc["security"] == [{"JWT": []}]
    assert doc["securityDefinitions"] == {
        "JWT": {
            "description": 'Add the token prepending "Bearer " (without quotes) to it',
            "in": "header",
            "name": "Authorization",
            "type": "apiKey",
        }
    }


def test_disabled() -> None:
    with pytest.raises(OpenApiDisabledError):
        swagger_document(SCHEMA, Settings(openapi_mode="disabled"))


def test_a_model_renders_as_the_schema_cache_does() -> None:
    model = build_api_model(SCHEMA, "api")
    assert swagger_document(model, SETTINGS) == swagger_document(SCHEMA, SETTINGS)
    assert [r.name for r in model.resources][:2] == ["entities", "child_entities"]
    stats = next(f for f in model.functions if f.name == "entity_stats")
    assert (stats.return_kind, stats.returns_set, stats.methods) == (
        "record",
        True,
        ("get", "post"),
    )


def test_the_schema_description_can_be_given() -> None:
    model = build_api_model(SCHEMA, "api", schema_description="Title only")
    info = msgspec.json.decode(swagger_document(model, SETTINGS, version="1"))["info"]
    assert info == {"description": "", "title": "Title only", "version": "1"}
    model = build_api_model(SCHEMA, "api", schema_description=None)
    info = msgspec.json.decode(swagger_document(model, SETTINGS, version="1"))["info"]
    assert info["title"] == "PostgREST API"


# --------------------------------------------------------------------------------------------
# The rules, one by one


@pytest.mark.parametrize(
    ("data_type", "base_type", "expected"),
    [
        ("integer", None, "integer"),
        ("character varying(20)", None, "character varying"),
        ("character(1)", None, "character"),
        ("numeric(10,2)", None, "numeric"),
        ("timestamp(3) with time zone", None, "timestamp with time zone"),
        ("time(0) without time zone", None, "time without time zone"),
        ("interval day to second(3)", None, "interval"),
        ("interval(2)", None, "interval"),
        ("bit(8)", None, "bit"),
        ("bit varying(8)[]", None, "bit varying[]"),
        ("character varying(10)[]", None, "character varying[]"),
        ("interval year[]", None, "interval[]"),
        ('"char"', None, '"char"'),
        ("mood", None, "mood"),
        ("api.mood", None, "api.mood"),
        ("mood[]", None, "mood[]"),
        ("positive_int", "integer", "integer"),
        ("email", "character varying(100)", "character varying"),
        ("cheerful", "mood", "cheerful"),
        ("int_list", "integer[]", "integer[]"),
    ],
)
def test_column_types(data_type: str, base_type: str | None, expected: str) -> None:
    assert column_type(col("c", data_type, base_type)) == expected


@pytest.mark.parametrize(
    ("pg_type", "expected"),
    [
        ("character varying", "string"),
        ("character", "string"),
        ("text", "string"),
        ("boolean", "boolean"),
        ("smallint", "integer"),
        ("integer", "integer"),
        ("bigint", "integer"),
        ("numeric", "number"),
        ("real", "number"),
        ("double precision", "number"),
        ("json", None),
        ("jsonb", None),
        ("json[]", "array"),
        ("uuid", "string"),
        ("date", "string"),
        ("timestamp with time zone", "string"),
        ("interval", "string"),
        ("money", "string"),
        ("bytea", "string"),
        ("mood", "string"),
        ("int4range", "string"),
    ],
)
def test_json_types(pg_type: str, expected: str | None) -> None:
    assert json_type(pg_type) == expected


@pytest.mark.parametrize(
    ("pg_type", "default", "expected"),
    [
        ("text", "'default'::text", "default"),
        ("text", "now()", "now()"),
        ("character varying", "'x'::character varying", "x"),
        ("character varying", "'x'::text", "'x'::text"),
        # The literal is read as JSON text: JSON escapes are read, others drop the default.
        ("text", "'a\\nb'::text", "a\nb"),
        ("text", "'a\\qb'::text", msgspec.UNSET),
        ("text", "'line\nbreak'::text", msgspec.UNSET),
        ("integer", "42", 42),
        ("bigint", "-7", -7),
        ("numeric", "1.5e3", 1500.0),
        ("boolean", "true", True),
        ("integer", "nextval('s'::regclass)", msgspec.UNSET),
        ("json", "'{\"a\": 1}'::json", msgspec.UNSET),
        ("jsonb", "null", None),
        ("integer[]", "'{1,2}'::integer[]", msgspec.UNSET),
        ("integer", None, msgspec.UNSET),
    ],
)
def test_defaults(pg_type: str, default: str | None, expected: Any) -> None:
    assert parse_default(pg_type, default) == expected


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        ("one line", ("one line", "")),
        ("title\ndescription", ("title", "description")),
        ("title\n\n\nmore\nlines", ("title", "more\nlines")),
        ("\nstarts empty", ("", "starts empty")),
        ("", ("", "")),
    ],
)
def test_comments_split_into_title_and_description(comment: str, expected: tuple[str, str]) -> None:
    assert split_comment(comment) == expected


def test_an_empty_summary_is_kept_and_an_empty_description_dropped() -> None:
    odd = table("odd", description="\nOnly a description", columns=(col("a", "text"),))
    plain = table("plain", description="Just a summary\n\n", columns=(col("a", "text"),))
    cache = SchemaCache(schemas=("api",), tables={odd.qualified: odd, plain.qualified: plain})
    doc = msgspec.json.decode(swagger_document(cache, FOLLOW))
    assert doc["paths"]["/odd"]["get"]["summary"] == ""
    assert doc["paths"]["/odd"]["get"]["description"] == "Only a description"
    assert doc["paths"]["/plain"]["get"]["summary"] == "Just a summary"
    assert "description" not in doc["paths"]["/plain"]["get"]


def test_a_single_unnamed_json_parameter() -> None:
    """A function taking the whole body as one unnamed json parameter is callable, and
    PostgREST describes that parameter under the empty name."""
    raw = routine("raw_json", volatility="stable", params=(param("", "json"),))
    cache = SchemaCache(schemas=("api",), tables={}, routines={Q("api", "raw_json"): (raw,)})
    doc = msgspec.json.decode(swagger_document(cache, FOLLOW))
    assert doc["paths"]["/rpc/raw_json"] == rpc_path(
        "raw_json",
        [query_param("", "json", "string")],
        {"properties": {"": {"format": "json"}}, "required": [""], "type": "object"},
    )


def test_planning_and_sql_never_import_openapi() -> None:
    """The document is built from the planner's pure helpers, never the other way round."""
    package = Path(__file__).parents[2] / "pgrest_asgi"
    for sub in ("plan", "sql"):
        for path in sorted((package / sub).rglob("*.py")):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    module = node.module or ""
                    names = [module, *(f"{module}.{a.name}" for a in node.names)]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                assert not any("openapi" in n.split(".") for n in names), path
