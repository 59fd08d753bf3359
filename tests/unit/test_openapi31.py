"""The OpenAPI 3.1.0 document (``openapi31.py``), rendered from the same model as the Swagger
2.0 one: exact sub-documents for a fixture schema cache ("shop"), the facts it shares with the
2.0 document for the 2.0 tests' fixture, and validation of whole documents."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import msgspec
import pytest
from openapi_spec_validator import validate

from pgrest_asgi.openapi import (
    OpenApiDisabledError,
    Privileges,
    ServerLocation,
    build_api_model,
    openapi31_document,
    openapi31_object,
    swagger_object,
)
from pgrest_asgi.schema.model import ForeignKey, QualifiedName, Routine, SchemaCache
from pgrest_asgi.schema.relationships import relationships_by_source
from pgrest_asgi.settings import Settings

from .test_openapi import ANON, FOLLOW, col, param, routine, table
from .test_openapi import SCHEMA as API_SCHEMA
from .test_openapi import SETTINGS as API_SETTINGS

Q = QualifiedName

# --------------------------------------------------------------------------------------------
# The fixture: schema "shop"

SHOP_TABLES = [
    table(
        "items",
        schema="shop",
        description="Items for sale\n\nOne row per item",
        columns=(
            col("id", "bigint", nullable=False, is_identity=True),
            col(
                "name",
                "character varying(40)",
                nullable=False,
                max_length=40,
                description="The name",
            ),
            col(
                "status",
                "status",
                nullable=False,
                default="'new'::status",
                enum_values=("new", "sold"),
            ),
            col("price", "numeric(10,2)", nullable=False),
            col("total", "numeric", nullable=False, is_generated=True),
            col("created", "timestamp with time zone", nullable=False, default="now()"),
            col("note", "text"),
            col("tags", "text[]", nullable=False, default="'{}'::text[]"),
            col("owner_id", "integer"),
            col("location", "geometry(Point,4326)"),
            # A query key PostgREST reads as the limit: no row filter for it.
            col("limit", "integer"),
        ),
        primary_key=("id",),
    ),
    table(
        "owners",
        schema="shop",
        columns=(col("id", "integer", nullable=False), col("email", "text", nullable=False)),
        primary_key=("id",),
    ),
    table(
        "item_names",
        "view",
        schema="shop",
        columns=(col("name", "character varying(40)", max_length=40),),
    ),
    # Not a component name nor an identifier: replaced characters; the valid name is served
    # first, whatever the order.
    table("order details", schema="shop", columns=(col("id", "integer", nullable=False),)),
    table("order_details", schema="shop", columns=(col("id", "integer", nullable=False),)),
    # Named like the shared error schema.
    table("Error", schema="shop", columns=(col("id", "integer", nullable=False),)),
]

SHOP_KEYS = [
    ForeignKey(
        constraint="items_owner_fkey",
        table=Q("shop", "items"),
        columns=("owner_id",),
        foreign_table=Q("shop", "owners"),
        foreign_columns=("id",),
    )
]


def shop_routine(name: str, **kw: Any) -> Routine:
    kw.setdefault("volatility", "stable")
    return routine(name, schema="shop", **kw)


SHOP_ROUTINES = [
    shop_routine(
        "add_them",
        description="Adds two numbers\n\nReturns their sum",
        volatility="immutable",
        params=(param("a", "integer"), param("b", "integer", required=False)),
        return_type="integer",
    ),
    shop_routine(
        "list_items",
        return_kind="composite",
        return_type="items",
        return_type_schema="shop",
        returns_set=True,
    ),
    shop_routine(
        "get_item",
        params=(param("id", "bigint"),),
        return_kind="composite",
        return_type="items",
        return_type_schema="shop",
    ),
    shop_routine(
        "item_totals",
        return_kind="record",
        return_type="record",
        returns_set=True,
        out_params=("item_id", "total"),
        out_types=("integer", "numeric"),
    ),
    # A model built without the OUT types (an older schema cache): any value.
    shop_routine(
        "legacy_totals",
        return_kind="record",
        return_type="record",
        returns_set=True,
        out_params=("a", "b"),
    ),
    # RETURNS TABLE(n bigint): the return type is bigint, the result still has a column.
    shop_routine("item_count", return_type="bigint", returns_set=True, out_params=("n",)),
    shop_routine("ping", volatility="volatile", return_kind="void", return_type="void"),
    shop_routine("echo", params=(param("", "json"),), return_type="json"),
    shop_routine(
        "upload", volatility="volatile", params=(param("", "bytea"),), return_type="integer"
    ),
    shop_routine("where_is", return_kind="composite", return_type="pt", return_type_schema="shop"),
    shop_routine("anything", return_kind="record", return_type="record", returns_set=True),
    shop_routine(
        "tag_list",
        params=(
            param("v", "text[]", variadic=True),
            param("select", "text", required=False),
            param("doc", "jsonb", required=False),
            param("ids", "integer[]", required=False),
        ),
        return_type="text",
        returns_set=True,
    ),
    # call_f and call_f_get for f; f_get's own call_f_get then clashes.
    shop_routine("f"),
    shop_routine("f_get", volatility="volatile"),
]


def shop_cache() -> SchemaCache:
    tables = {t.qualified: t for t in SHOP_TABLES}
    routines: dict[QualifiedName, tuple[Routine, ...]] = {}
    for r in SHOP_ROUTINES:
        routines[Q(r.schema, r.name)] = (*routines.get(Q(r.schema, r.name), ()), r)
    return SchemaCache(
        schemas=("shop",),
        tables=tables,
        foreign_keys=tuple(SHOP_KEYS),
        relationships=relationships_by_source(tables, SHOP_KEYS, SHOP_ROUTINES),
        routines=routines,
        schema_descriptions={"shop": "The shop\nSells things"},
    )


SHOP = shop_cache()
SETTINGS = Settings(db_schemas=("shop",), openapi_mode="ignore-privileges")


def document(
    source: SchemaCache = SHOP, settings: Settings = SETTINGS, **kw: Any
) -> dict[str, Any]:
    """The document as a client parses it."""
    kw.setdefault("version", "1.2.3")
    out: dict[str, Any] = msgspec.json.decode(openapi31_document(source, settings, **kw))
    return out


DOC = document()


def ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for item in doc["paths"].values() for op in item.values()]


def names(params: list[dict[str, Any]]) -> list[str]:
    return [p.get("name", p.get("$ref", "").rpartition("/")[2]) for p in params]


# --------------------------------------------------------------------------------------------
# Row schemas

PK = "Note:\nThis is a Primary Key.<pk/>"
ITEMS_ROW: dict[str, Any] = {
    "type": "object",
    "description": "Items for sale\n\nOne row per item",
    "properties": {
        "id": {
            "type": "integer",
            "format": "int64",
            "description": PK,
            "x-pgrst-primary-key": True,
            "x-pgrst-type": "bigint",
        },
        "name": {
            "type": "string",
            "maxLength": 40,
            "description": "The name",
            "x-pgrst-type": "character varying",
        },
        "status": {
            "type": "string",
            "enum": ["new", "sold"],
            "default": "new",
            "x-pgrst-type": "status",
        },
        "price": {"type": "number", "format": "decimal", "x-pgrst-type": "numeric"},
        "total": {
            "type": "number",
            "format": "decimal",
            "readOnly": True,
            "x-pgrst-type": "numeric",
        },
        # now() is evaluated on insert: no default (PostgREST's 2.0 document says "now()").
        "created": {
            "type": "string",
            "format": "date-time",
            "x-pgrst-type": "timestamp with time zone",
        },
        "note": {"type": ["string", "null"], "x-pgrst-type": "text"},
        "tags": {"type": "array", "items": {"type": "string"}, "x-pgrst-type": "text[]"},
        "owner_id": {
            "type": ["integer", "null"],
            "format": "int32",
            "description": "Note:\nThis is a Foreign Key to `owners.id`."
            "<fk table='owners' column='id'/>",
            "x-pgrst-foreign-key": {"table": "owners", "column": "id"},
            "x-pgrst-type": "integer",
        },
        # Not one of PostgreSQL's own types (PostGIS answers GeoJSON): any JSON value.
        "location": {"x-pgrst-type": "geometry(Point,4326)"},
        "limit": {"type": ["integer", "null"], "format": "int32", "x-pgrst-type": "integer"},
    },
    # NOT NULL without a default, not generated, not an identity.
    "required": ["name", "price"],
}


def test_a_tables_row_schema() -> None:
    assert DOC["components"]["schemas"]["items"] == ITEMS_ROW


def test_a_views_row_schema() -> None:
    """A view's columns are nullable (PostgreSQL does not know better): nothing required."""
    assert DOC["components"]["schemas"]["item_names"] == {
        "type": "object",
        "properties": {
            "name": {
                "type": ["string", "null"],
                "maxLength": 40,
                "x-pgrst-type": "character varying",
            }
        },
    }


def test_component_names_are_valid_and_unique() -> None:
    """``^[a-zA-Z0-9._-]+$`` (OpenAPI 3.1): other characters become ``_``; a clash gets a
    suffix, never a name that was valid as it was (nor ``Error``)."""
    schemas = DOC["components"]["schemas"]
    assert list(schemas) == [
        "items",
        "owners",
        "item_names",
        "order_details_2",
        "order_details",
        "Error_2",
        "Error",
    ]
    assert schemas["order_details_2"] == {
        "type": "object",
        "properties": {"id": {"type": "integer", "format": "int32", "x-pgrst-type": "integer"}},
        "required": ["id"],
    }
    assert all(re.fullmatch(r"[a-zA-Z0-9._-]+", name) for name in schemas)
    get = DOC["paths"]["/order%20details"]["get"]
    assert get["operationId"] == "get_order_details_2"
    assert get["tags"] == ["order details"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": ref("schemas", "order_details_2"),
    }
    assert DOC["paths"]["/order_details"]["get"]["operationId"] == "get_order_details"


@pytest.mark.parametrize(
    ("data_type", "kw", "expected"),
    [
        (
            "smallint",
            {},
            {"type": "integer", "format": "int16", "minimum": -32768, "maximum": 32767},
        ),
        ("integer", {}, {"type": "integer", "format": "int32"}),
        ("bigint", {}, {"type": "integer", "format": "int64"}),
        ("real", {}, {"type": "number", "format": "float"}),
        ("double precision", {}, {"type": "number", "format": "double"}),
        ("numeric(10,2)", {}, {"type": "number", "format": "decimal"}),
        ("boolean", {}, {"type": "boolean"}),
        ("text", {}, {"type": "string"}),
        ("character(3)", {"max_length": 3}, {"type": "string", "maxLength": 3}),
        ("date", {}, {"type": "string", "format": "date"}),
        ("timestamp with time zone", {}, {"type": "string", "format": "date-time"}),
        # No offset in PostgreSQL's JSON: not RFC 3339.
        ("timestamp(3) without time zone", {}, {"type": "string"}),
        ("time with time zone", {}, {"type": "string", "format": "time"}),
        ("time without time zone", {}, {"type": "string"}),
        ("uuid", {}, {"type": "string", "format": "uuid"}),
        ("interval", {}, {"type": "string"}),
        ("tsrange", {}, {"type": "string"}),
        ("json", {}, {}),
        ("jsonb", {}, {}),
        ("integer[]", {}, {"type": "array", "items": {"type": "integer", "format": "int32"}}),
        ("jsonb[]", {}, {"type": "array", "items": {}}),
        ("mood[]", {}, {"type": "array", "items": {}}),
        ("mood", {"enum_values": ("sad", "ok")}, {"type": "string", "enum": ["sad", "ok"]}),
        ("my_composite", {}, {}),
    ],
)
def test_column_schemas(data_type: str, kw: dict[str, Any], expected: dict[str, Any]) -> None:
    """A NOT NULL column's schema, and the same column nullable."""
    for nullable in (False, True):
        t = table("t", schema="s", columns=(col("c", data_type, nullable=nullable, **kw),))
        cache = SchemaCache(schemas=("s",), tables={t.qualified: t})
        settings = Settings(db_schemas=("s",))
        prop = dict(
            openapi31_object(cache, settings)["components"]["schemas"]["t"]["properties"]["c"]
        )
        prop.pop("x-pgrst-type")
        if nullable and "type" in expected:
            want = {**expected, "type": [expected["type"], "null"]}
            if "enum" in want:
                want["enum"] = [*want["enum"], None]
        else:
            want = expected
        assert prop == want, (data_type, nullable)


def test_a_domain_is_its_base_type() -> None:
    t = table(
        "t",
        schema="s",
        columns=(
            col("email", "email", "character varying(100)", nullable=False, max_length=100),
            col("cheer", "cheerful", "mood", nullable=False, enum_values=("sad", "ok")),
        ),
    )
    cache = SchemaCache(schemas=("s",), tables={t.qualified: t})
    props = openapi31_object(cache, Settings(db_schemas=("s",)))["components"]["schemas"]["t"]
    assert props["properties"] == {
        "email": {"type": "string", "maxLength": 100, "x-pgrst-type": "character varying"},
        "cheer": {"type": "string", "enum": ["sad", "ok"], "x-pgrst-type": "cheerful"},
    }


def test_defaults_are_constants_only() -> None:
    """Literals read as their JSON value (unlike PostgREST's reading, which keeps a
    string-typed column's expression and doubled quotes); expressions are no default."""
    props = document(API_SCHEMA, API_SETTINGS)["components"]["schemas"]["openapi_defaults"][
        "properties"
    ]
    defaults = {name: prop.get("default", "-") for name, prop in props.items()}
    assert defaults == {
        "text": "default",
        "boolean": False,
        "integer": 42,
        "numeric": 42.2,
        "date": "1900-01-01",
        "time": "13:00:00",
        "created": "-",  # now()
        "uuid": "-",  # gen_random_uuid()
        "varchar": "abc",
        "mood": "happy",
        "quoted": "it's",
        "empty": "",
        "serial": "-",  # nextval(…)
        "negative": -1,
        "jsonb": {},
        "tags": "-",  # an array literal
        "double_quoted": 'say "hi"',
    }


@pytest.mark.parametrize(
    ("data_type", "default", "expected"),
    [
        ("date", "'infinity'::date", None),
        ("date", "CURRENT_DATE", None),
        (
            "uuid",
            "'8c4a3a8e-1f0b-4c1e-9d55-0b6a1d0e9f3a'::uuid",
            "8c4a3a8e-1f0b-4c1e-9d55-0b6a1d0e9f3a",
        ),
        ("timestamp with time zone", "'2020-01-01 00:00:00+00'::timestamp with time zone", None),
        ("text", "'a'::text || 'b'::text", None),
        ("bigint", "'9007199254740993'::bigint", 9007199254740993),
        ("numeric", "'-0.5'::numeric", -0.5),
        ("boolean", "true", True),
        ("jsonb", "'[1, {\"a\": null}]'::jsonb", [1, {"a": None}]),
        ("jsonb", "'{'::jsonb", None),
        ("my_type", "'x'::my_type", None),
    ],
)
def test_default_literals(data_type: str, default: str, expected: Any) -> None:
    t = table("t", schema="s", columns=(col("c", data_type, default=default),))
    cache = SchemaCache(schemas=("s",), tables={t.qualified: t})
    doc = openapi31_object(cache, Settings(db_schemas=("s",)))
    assert doc["components"]["schemas"]["t"]["properties"]["c"].get("default") == expected
    validate(doc)


# --------------------------------------------------------------------------------------------
# Table paths


def strip_descriptions(params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in p.items() if k != "description"} for p in params]


def row_filter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}


ITEM_FILTERS = [
    row_filter(c)
    for c in (
        "id",
        "name",
        "status",
        "price",
        "total",
        "created",
        "note",
        "tags",
        "owner_id",
        "location",
    )
]
ROW = ref("schemas", "items")
ROWS = {"type": "array", "items": ROW}
CONTENT_RANGE = {"Content-Range": ref("headers", "Content-Range")}
REPRESENTATION = {
    "application/json": {"schema": ROWS},
    "application/vnd.pgrst.object+json": {"schema": ROW},
}
ERROR = ref("responses", "Error")
ITEMS_COMMON = {"tags": ["items"], "summary": "Items for sale", "description": "One row per item"}


def test_a_tables_get() -> None:
    get = DOC["paths"]["/items"]["get"]
    found = {
        "headers": CONTENT_RANGE,
        "content": {**REPRESENTATION, "text/csv": {"schema": {"type": "string"}}},
    }
    assert {**get, "parameters": strip_descriptions(get["parameters"])} == {
        "operationId": "get_items",
        **ITEMS_COMMON,
        "parameters": [
            *ITEM_FILTERS,
            *(
                ref("parameters", n)
                for n in (
                    "select",
                    "order",
                    "limit",
                    "offset",
                    "or",
                    "and",
                    "range",
                    "rangeUnit",
                    "preferGet",
                )
            ),
        ],
        "responses": {
            "200": {"description": "OK", **found},
            "206": {"description": "Partial Content", **found},
            "default": ERROR,
        },
    }


def test_row_filters_describe_the_operator_grammar() -> None:
    name = DOC["paths"]["/items"]["get"]["parameters"][1]
    assert name["description"].startswith(
        "The name\n\nFilter on `name`: `[not.]<operator>.<value>`, for example `eq.5`"
    )
    for op in ("`eq`", "`ilike`", "`isdistinct`", "`in.(<values>)`", "`fts`", "`wfts`", "(any)"):
        assert op in name["description"]


def test_a_tables_post() -> None:
    post = DOC["paths"]["/items"]["post"]
    assert post == {
        "operationId": "post_items",
        **ITEMS_COMMON,
        "parameters": [
            ref("parameters", n) for n in ("select", "columns", "on_conflict", "preferPost")
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"oneOf": [ROW, ROWS]}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        "responses": {
            "201": {
                "description": "Created",
                "headers": {**CONTENT_RANGE, "Location": ref("headers", "Location")},
                "content": REPRESENTATION,
            },
            "default": ERROR,
        },
    }


def test_a_tables_patch_takes_a_partial_row() -> None:
    patch = DOC["paths"]["/items"]["patch"]
    properties = {
        name: {k: v for k, v in prop.items() if k != "default"}
        for name, prop in ITEMS_ROW["properties"].items()
    }
    assert {**patch, "parameters": strip_descriptions(patch["parameters"])} == {
        "operationId": "patch_items",
        **ITEMS_COMMON,
        "parameters": [
            *ITEM_FILTERS,
            *(
                ref("parameters", n)
                for n in ("select", "columns", "order", "limit", "or", "and", "preferPatch")
            ),
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "description": "Items for sale\n\nOne row per item",
                        "properties": properties,
                    }
                }
            },
        },
        "responses": {
            "200": {"description": "OK", "content": REPRESENTATION},
            "204": {"description": "No Content"},
            "default": ERROR,
        },
    }


def test_a_tables_delete() -> None:
    delete = DOC["paths"]["/items"]["delete"]
    assert {**delete, "parameters": strip_descriptions(delete["parameters"])} == {
        "operationId": "delete_items",
        **ITEMS_COMMON,
        "parameters": [
            *ITEM_FILTERS,
            *(
                ref("parameters", n)
                for n in ("select", "order", "limit", "or", "and", "preferDelete")
            ),
        ],
        "responses": {
            "200": {"description": "OK", "content": REPRESENTATION},
            "204": {"description": "No Content"},
            "default": ERROR,
        },
    }


def test_a_read_only_view_has_get_only() -> None:
    assert list(DOC["paths"]["/item_names"]) == ["get"]
    assert DOC["paths"]["/item_names"]["get"]["operationId"] == "get_item_names"


def test_prefer_lists_what_each_method_accepts() -> None:
    def accepted(doc: dict[str, Any], name: str) -> tuple[list[str], list[str]]:
        param = doc["components"]["parameters"][name]
        assert (param["name"], param["in"], param["style"], param["explode"]) == (
            "Prefer",
            "header",
            "simple",
            False,
        )
        options = param["schema"]["items"]["anyOf"]
        return options[0]["enum"], [o["pattern"] for o in options[1:]]

    count = ["count=exact", "count=planned", "count=estimated"]
    handling = ["handling=strict", "handling=lenient"]
    ret = ["return=minimal", "return=headers-only", "return=representation"]
    timezone = ["^timezone=.+$"]
    affected = [*timezone, "^max-affected=[0-9]+$"]
    assert accepted(DOC, "preferGet") == ([*count, *handling], timezone)
    assert accepted(DOC, "preferPost") == (
        [
            *ret,
            *count,
            "resolution=merge-duplicates",
            "resolution=ignore-duplicates",
            "missing=default",
            "missing=null",
            *handling,
        ],
        timezone,
    )
    assert accepted(DOC, "preferPatch") == (
        [*ret, *count, "missing=default", "missing=null", *handling],
        affected,
    )
    assert accepted(DOC, "preferDelete") == ([*ret, *count, *handling], affected)
    assert accepted(DOC, "preferCall") == (handling, timezone)
    assert accepted(DOC, "preferCallSet") == ([*count, *handling], affected)
    # tx=… only when db-tx-end lets a request choose.
    overridable = msgspec.structs.replace(SETTINGS, db_tx_end="commit-allow-override")
    assert accepted(document(settings=overridable), "preferGet")[0] == [
        *count,
        *handling,
        "tx=commit",
        "tx=rollback",
    ]


def test_shared_parameters() -> None:
    params = DOC["components"]["parameters"]
    assert params["limit"] == {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "The number of rows to answer.",
        "schema": {"type": "integer", "minimum": 0},
    }
    assert params["range"]["name"] == "Range"
    assert params["range"]["in"] == "header"
    assert params["rangeUnit"]["schema"] == {"type": "string", "default": "items"}
    assert {p["name"] for p in params.values()} >= {
        "select",
        "order",
        "limit",
        "offset",
        "or",
        "and",
        "on_conflict",
        "columns",
        "Range",
        "Range-Unit",
        "Prefer",
    }
    capped = msgspec.structs.replace(SETTINGS, db_max_rows=100)
    assert document(settings=capped)["components"]["parameters"]["limit"]["description"] == (
        "The number of rows to answer. At most 100 are answered (db-max-rows)."
    )


# --------------------------------------------------------------------------------------------
# Function paths


def rpc(name: str) -> dict[str, Any]:
    out: dict[str, Any] = DOC["paths"]["/rpc/" + name]
    return out


def ok(
    schema: dict[str, Any], row: dict[str, Any] | None = None, *, partial: bool = False
) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if row is not None:
        content["application/vnd.pgrst.object+json"] = {"schema": row}
    found = {"headers": CONTENT_RANGE, "content": content}
    out: dict[str, Any] = {"200": {"description": "OK", **found}}
    if partial:
        out["206"] = {"description": "Partial Content", **found}
    return {**out, "default": ERROR}


def test_a_scalar_function() -> None:
    """Stable: GET and POST; arguments as query parameters and as a JSON object."""
    integer = {"type": "integer", "format": "int32", "x-pgrst-type": "integer"}
    common = {
        "tags": ["(rpc) add_them"],
        "summary": "Adds two numbers",
        "description": "Returns their sum",
        "responses": ok({**integer, "type": ["integer", "null"]}),
    }
    assert rpc("add_them") == {
        "get": {
            "operationId": "call_add_them_get",
            **common,
            "parameters": [
                {"name": "a", "in": "query", "required": True, "schema": integer},
                {"name": "b", "in": "query", "required": False, "schema": integer},
                ref("parameters", "preferCall"),
            ],
        },
        "post": {
            "operationId": "call_add_them",
            **common,
            "parameters": [ref("parameters", "preferCall")],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "a": {**integer, "type": ["integer", "null"]},
                                "b": {**integer, "type": ["integer", "null"]},
                            },
                            "required": ["a"],
                        }
                    }
                },
            },
        },
    }


def test_a_set_of_table_rows() -> None:
    get = rpc("list_items")["get"]
    assert get["responses"] == ok(ROWS, ROW, partial=True)
    assert names(get["parameters"]) == [
        "select",
        "order",
        "limit",
        "offset",
        "range",
        "rangeUnit",
        "preferCallSet",
    ]
    assert "requestBody" not in rpc("list_items")["post"]  # no arguments


def test_a_single_table_row() -> None:
    """Not SETOF: PostgREST answers the object itself."""
    assert rpc("get_item")["post"]["responses"] == ok(ROW, ROW)
    assert names(rpc("get_item")["get"]["parameters"]) == ["id", "select", "order", "preferCall"]


def test_table_and_out_columns() -> None:
    """RETURNS TABLE(…)/OUT parameters: objects of those columns, each typed as declared."""
    totals = {
        "type": "object",
        "properties": {
            "item_id": {"type": ["integer", "null"], "format": "int32", "x-pgrst-type": "integer"},
            "total": {"type": ["number", "null"], "format": "decimal", "x-pgrst-type": "numeric"},
        },
    }
    assert rpc("item_totals")["get"]["responses"] == ok(
        {"type": "array", "items": totals}, totals, partial=True
    )
    untyped = {"type": "object", "properties": {"a": {}, "b": {}}}
    assert rpc("legacy_totals")["get"]["responses"] == ok(
        {"type": "array", "items": untyped}, untyped, partial=True
    )
    count = {
        "type": "object",
        "properties": {
            "n": {"type": ["integer", "null"], "format": "int64", "x-pgrst-type": "bigint"}
        },
    }
    assert rpc("item_count")["get"]["responses"] == ok(
        {"type": "array", "items": count}, count, partial=True
    )


def test_other_results() -> None:
    # A composite type that is not a relation of the schema.
    point = {"type": "object", "x-pgrst-type": "shop.pt"}
    assert rpc("where_is")["get"]["responses"] == ok(point, point)
    # SETOF record without OUT parameters: any values.
    assert rpc("anything")["get"]["responses"] == ok({"type": "array", "items": {}}, partial=True)
    # SETOF text.
    assert rpc("tag_list")["get"]["responses"] == ok(
        {"type": "array", "items": {"type": ["string", "null"], "x-pgrst-type": "text"}},
        partial=True,
    )


def test_a_void_function() -> None:
    """Volatile: POST only; void: 204 without content."""
    assert rpc("ping") == {
        "post": {
            "operationId": "call_ping",
            "tags": ["(rpc) ping"],
            "parameters": [ref("parameters", "preferCall")],
            "responses": {"204": {"description": "No Content"}, "default": ERROR},
        }
    }


def test_a_single_unnamed_parameter_is_the_raw_body() -> None:
    assert rpc("echo")["post"]["requestBody"] == {
        "required": True,
        "content": {"application/json": {"schema": {"x-pgrst-type": "json"}}},
    }
    # Nothing to give in a query string.
    assert rpc("echo")["get"]["parameters"] == [ref("parameters", "preferCall")]
    assert rpc("upload")["post"]["requestBody"] == {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"x-pgrst-type": "bytea"}}},
    }


def test_query_arguments() -> None:
    """VARIADIC: repeated; arrays: PostgreSQL array literals; json: its text; a name
    PostgREST reads as something else (``select``) cannot be given in a query string."""
    params = rpc("tag_list")["get"]["parameters"]
    assert params[:3] == [
        {
            "name": "v",
            "in": "query",
            "required": True,
            "description": "Repeat the parameter for each value: `?v=1&v=2`.",
            "explode": True,
            "schema": {"type": "array", "items": {"type": "string"}, "x-pgrst-type": "text[]"},
        },
        {
            "name": "doc",
            "in": "query",
            "required": False,
            "schema": {
                "type": "string",
                "contentMediaType": "application/json",
                "x-pgrst-type": "jsonb",
            },
        },
        {
            "name": "ids",
            "in": "query",
            "required": False,
            "description": "A PostgreSQL array literal: `{a,b}`.",
            "schema": {"type": "string", "x-pgrst-type": "integer[]"},
        },
    ]
    assert names(params[3:]) == ["limit", "offset", "range", "rangeUnit", "preferCallSet"]
    body = rpc("tag_list")["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert list(body["properties"]) == ["v", "select", "doc", "ids"]
    assert body["properties"]["doc"] == {"x-pgrst-type": "jsonb"}
    assert body["required"] == ["v"]


def test_operation_ids_are_unique() -> None:
    for doc in (
        DOC,
        document(API_SCHEMA, API_SETTINGS),
        document(API_SCHEMA, API_SETTINGS, schema_name="other"),
    ):
        ids = Counter(op["operationId"] for op in operations(doc))
        assert [i for i, n in ids.items() if n > 1] == []
        assert all(re.fullmatch(r"[A-Za-z0-9_]+", i) for i in ids)
    assert rpc("f")["post"]["operationId"] == "call_f"
    assert rpc("f")["get"]["operationId"] == "call_f_get"
    assert rpc("f_get")["post"]["operationId"] == "call_f_get_2"


# --------------------------------------------------------------------------------------------
# The document


def test_the_top_level() -> None:
    assert {k: v for k, v in DOC.items() if k not in ("paths", "components", "tags")} == {
        "openapi": "3.1.0",
        "info": {"title": "The shop", "description": "Sells things", "version": "1.2.3"},
        "servers": [{"url": "http://0.0.0.0:3000"}],
        "externalDocs": {
            "description": "PostgREST Documentation",
            "url": "https://postgrest.org/en/v13/references/api.html",
        },
    }
    assert DOC["tags"][:3] == [
        {"name": "Introspection"},
        {"name": "items", "description": "Items for sale\n\nOne row per item"},
        {"name": "owners"},
    ]
    assert {"name": "(rpc) add_them", "description": "Adds two numbers\n\nReturns their sum"} in (
        DOC["tags"]
    )
    assert DOC["paths"]["/"] == {
        "get": {
            "operationId": "openapi",
            "tags": ["Introspection"],
            "summary": "OpenAPI description (this document)",
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/openapi+json": {"schema": {"type": "object"}}},
                }
            },
        }
    }


def test_the_error_component() -> None:
    components = DOC["components"]
    assert components["schemas"]["Error"] == {
        "type": "object",
        "description": "PostgREST's error object (`details` and `hint` are left out when "
        "client-error-verbosity is minimal).",
        "properties": {
            "code": {
                "type": "string",
                "description": "A PostgREST code (`PGRSTxxx`) or PostgreSQL's SQLSTATE.",
            },
            "message": {"type": "string"},
            "details": {"type": ["string", "null"]},
            "hint": {"type": ["string", "null"]},
        },
        "required": ["code", "message"],
    }
    assert components["responses"]["Error"] == {
        "description": "An error",
        "content": {"application/json": {"schema": ref("schemas", "Error")}},
    }
    assert all(op["responses"]["default"] == ERROR for op in operations(DOC)[1:])


@pytest.mark.parametrize(
    ("settings", "security"),
    [
        (SETTINGS, None),
        (msgspec.structs.replace(SETTINGS, openapi_security_active=True), [{"JWT": []}]),
        # Anonymous requests are answered too: the token is optional.
        (
            msgspec.structs.replace(SETTINGS, openapi_security_active=True, db_anon_role="web"),
            [{"JWT": []}, {}],
        ),
    ],
)
def test_security(settings: Settings, security: list[dict[str, Any]] | None) -> None:
    doc = document(settings=settings)
    assert doc.get("security") == security
    schemes = doc["components"].get("securitySchemes")
    if security is None:
        assert schemes is None
    else:
        assert schemes == {
            "JWT": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "A JWT whose role claim names the database role to use.",
            }
        }
    validate(doc)


@pytest.mark.parametrize(
    ("settings", "url"),
    [
        (SETTINGS, "http://0.0.0.0:3000"),
        (msgspec.structs.replace(SETTINGS, server_host="::1"), "http://[::1]:3000"),
        (
            msgspec.structs.replace(
                SETTINGS, openapi_server_proxy_uri="https://api.example.com/v1/"
            ),
            "https://api.example.com:443/v1",
        ),
    ],
)
def test_servers(settings: Settings, url: str) -> None:
    assert document(settings=settings)["servers"] == [{"url": url}]


def test_a_location_can_be_given() -> None:
    where = ServerLocation("https", "example.org", 8443, "/api")
    assert document(location=where)["servers"] == [{"url": "https://example.org:8443/api"}]


def test_disabled() -> None:
    disabled = Settings(db_schemas=("shop",), openapi_mode="disabled")
    with pytest.raises(OpenApiDisabledError):
        openapi31_document(SHOP, disabled)
    with pytest.raises(OpenApiDisabledError):
        openapi31_object(SHOP, disabled)


def test_the_bytes_are_the_object_encoded() -> None:
    assert openapi31_document(SHOP, SETTINGS) == msgspec.json.encode(
        openapi31_object(SHOP, SETTINGS)
    )


def test_a_model_renders_as_the_schema_cache_does() -> None:
    model = build_api_model(SHOP, "shop")
    assert openapi31_object(model, SETTINGS, version="1.2.3") == DOC


def test_a_role_sees_only_what_it_may_use() -> None:
    """follow-privileges, as in the 2.0 document."""
    doc = document(API_SCHEMA, FOLLOW, privileges=ANON)
    assert list(doc["paths"]) == ["/", "/child_entities", "/rpc/add_them"]
    assert list(doc["components"]["schemas"]) == ["child_entities", "Error"]
    everything = Privileges(tables={}, routines=frozenset())
    assert list(document(API_SCHEMA, FOLLOW, privileges=everything)["paths"]) == ["/"]
    validate(document(API_SCHEMA, FOLLOW, privileges=ANON))


@pytest.mark.parametrize("privileges", [None, ANON])
def test_the_same_facts_as_the_swagger_document(privileges: Privileges | None) -> None:
    """Both documents come from one model: the same paths and methods, the same columns."""
    settings = FOLLOW
    old = swagger_object(API_SCHEMA, settings, privileges=privileges)
    new = openapi31_object(API_SCHEMA, settings, privileges=privileges)
    assert {p: set(item) for p, item in old["paths"].items()} == {
        p: set(item) for p, item in new["paths"].items()
    }
    assert {n: list(d["properties"]) for n, d in old.get("definitions", {}).items()} == {
        n: list(d["properties"]) for n, d in new["components"]["schemas"].items() if n != "Error"
    }
    for name, definition in old.get("definitions", {}).items():
        for column, prop in definition["properties"].items():
            assert new["components"]["schemas"][name]["properties"][column].get(
                "description"
            ) == prop.get("description")


@pytest.mark.parametrize(
    ("source", "settings", "kw"),
    [
        (SHOP, SETTINGS, {}),
        (SHOP, msgspec.structs.replace(SETTINGS, db_tx_end="rollback-allow-override"), {}),
        (API_SCHEMA, API_SETTINGS, {}),
        (API_SCHEMA, API_SETTINGS, {"schema_name": "other"}),
        (API_SCHEMA, msgspec.structs.replace(API_SETTINGS, openapi_security_active=True), {}),
        (SchemaCache(schemas=("api",), tables={}), Settings(db_schemas=("api",)), {}),
    ],
)
def test_the_documents_are_valid_openapi_3_1(
    source: SchemaCache, settings: Settings, kw: dict[str, Any]
) -> None:
    validate(document(source, settings, **kw))


# --------------------------------------------------------------------------------------------
# The model's additions


def test_the_model_knows_what_an_insert_needs() -> None:
    items = next(r for r in build_api_model(SHOP, "shop").resources if r.name == "items")
    fields = {f.name: f for f in items.fields}
    assert items.insert_required == ("name", "price")
    assert items.required == ("id", "name", "status", "price", "total", "created", "tags")
    assert fields["id"].identity
    assert fields["total"].generated
    assert fields["status"].default_expression == "'new'::status"
    assert fields["note"].default_expression is None
    functions = {f.name: f for f in build_api_model(SHOP, "shop").functions}
    assert functions["item_totals"].out_params == ("item_id", "total")
