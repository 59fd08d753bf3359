"""An OpenAPI 3.1.0 document of the API, rendered from the same ``ApiModel`` as the Swagger
2.0 one (``swagger.py``), so the two state the same facts. Pure.

PostgREST itself only serves Swagger 2.0; this document goes past it where its users asked
(PostgREST issues #932, #1698, #2245, #2180, #1653):

* JSON Schema 2020-12 types: nullable columns as ``["string", "null"]``, ``format``\\ s
  (``int32``, ``int64``, ``date-time``, ``uuid`` …) with the PostgreSQL type kept in
  ``x-pgrst-type``, ``maxLength``, ``enum``, ``items``, ``default``, ``readOnly`` for generated
  columns; a type that is not PostgreSQL's own (a composite, PostGIS's ``geometry``, a domain
  over one of them) may read as any JSON value, so it gets no ``type``;
* per relation a row schema in ``components.schemas`` whose ``required`` lists the columns an
  insert must give (NOT NULL, no default, not generated, not an identity);
* an ``operationId`` per operation, unique in the document (``get_<table>``,
  ``post_<table>``, ``patch_<table>``, ``delete_<table>``, ``call_<function>`` for POST and
  ``call_<function>_get`` for GET; a name that is not an identifier has its other characters
  replaced by ``_``, and a clash gets ``_2``, ``_3`` … in document order);
* request bodies (a row or an array of rows, CSV, a partial row for PATCH, the arguments of a
  function) and typed responses (rows, the singular object, a function's result: rows of its
  table, its scalar type, an object of its OUT/TABLE columns, nothing for ``void``), with the
  ``Content-Range`` header and PostgREST's error object as the ``default`` response;
* the query parameters with their grammar (row filters per column, ``select``, ``order``,
  ``limit``, ``offset``, ``or``/``and``, ``on_conflict``, ``columns``), ``Range`` and the
  ``Prefer`` preferences each method accepts;
* a JWT bearer security scheme under ``openapi-security-active`` (optional when an anonymous
  role is configured).

Component names must match ``^[a-zA-Z0-9._-]+$``: a relation named otherwise has its other
characters replaced by ``_`` (and a clash a ``_2`` suffix); ``Error`` is reserved. Paths are
percent-encoded where a name is not URL-safe.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar
from urllib.parse import quote

import msgspec

from .._version import __version__
from ..request.operators import FTS_FUNCTIONS, IS_VALUES, OPERATORS
from ..schema.model import SchemaCache
from ..settings import Settings
from .model import (
    ApiModel,
    Argument,
    Field,
    Function,
    Privileges,
    Resource,
    builtin_type,
    json_type,
    split_comment,
)
from .swagger import (
    _DEFAULT_DESCRIPTION,
    _DEFAULT_TITLE,
    ServerLocation,
    _column_description,
    model_of,
    server_location,
)

__all__ = ["openapi31_document", "openapi31_object"]

_K = TypeVar("_K")

OPENAPI_VERSION = "3.1.0"

_JSON = "application/json"
_OBJECT = "application/vnd.pgrst.object+json"
_CSV = "text/csv"
_ROOT_MEDIA = "application/openapi+json"
_SECURITY_NAME = "JWT"
_ERROR = "Error"
#: Raw bodies a function's single unnamed parameter takes, by its type.
_RAW_BODY_MEDIA = {
    "json": _JSON,
    "jsonb": _JSON,
    "text": "text/plain",
    "xml": "text/xml",
    "bytea": "application/octet-stream",
}
#: Query keys PostgREST reads as something else than a filter or a function argument.
_RESERVED_KEYS = frozenset(
    {"select", "columns", "on_conflict", "order", "limit", "offset", "or", "and"}
)
_COMPONENT_NAME = re.compile(r"[^A-Za-z0-9._-]")
_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")
#: Characters kept as they are in a path segment (RFC 3986 ``pchar`` without ``%``).
_PATH_SAFE = "!$&'()*+,;=:@-._~"

#: JSON Schema / OpenAPI format registry keywords for PostgreSQL's own types, where their
#: JSON form (as PostgreSQL writes it) matches. ``timestamp``/``time`` without time zone have
#: no offset, so they are not RFC 3339 ``date-time``/``time``.
_FORMATS: dict[str, dict[str, Any]] = {
    "smallint": {"format": "int16", "minimum": -32768, "maximum": 32767},
    "integer": {"format": "int32"},
    "bigint": {"format": "int64"},
    "real": {"format": "float"},
    "double precision": {"format": "double"},
    "numeric": {"format": "decimal"},
    "date": {"format": "date"},
    "timestamp with time zone": {"format": "date-time"},
    "time with time zone": {"format": "time"},
    "uuid": {"format": "uuid"},
}

_RETURN = ["return=minimal", "return=headers-only", "return=representation"]
_COUNT = ["count=exact", "count=planned", "count=estimated"]
_RESOLUTION = ["resolution=merge-duplicates", "resolution=ignore-duplicates"]
_MISSING = ["missing=default", "missing=null"]
_HANDLING = ["handling=strict", "handling=lenient"]
_TX = ["tx=commit", "tx=rollback"]


def openapi31_document(
    source: ApiModel | SchemaCache,
    settings: Settings,
    *,
    schema_name: str | None = None,
    privileges: Privileges | None = None,
    location: ServerLocation | None = None,
    version: str = __version__,
) -> bytes:
    """The OpenAPI 3.1.0 document of one exposed schema, as JSON bytes.

    ``source`` is a model from ``build_api_model`` or the schema cache to build one from:
    for ``schema_name`` (default: the first of ``db-schemas``), keeping to ``privileges``
    under ``openapi-mode = follow-privileges`` (``None``: everything) and ignoring them
    under ``ignore-privileges``. Raises ``OpenApiDisabledError`` under ``disabled``.
    ``location`` overrides ``server_location(settings)``; ``version`` is ``info.version``.
    """
    return msgspec.json.encode(
        openapi31_object(
            source,
            settings,
            schema_name=schema_name,
            privileges=privileges,
            location=location,
            version=version,
        )
    )


def openapi31_object(
    source: ApiModel | SchemaCache,
    settings: Settings,
    *,
    schema_name: str | None = None,
    privileges: Privileges | None = None,
    location: ServerLocation | None = None,
    version: str = __version__,
) -> dict[str, Any]:
    """``openapi31_document`` before encoding: the document as plain dicts and lists."""
    model = model_of(source, settings, schema_name, privileges)
    return _Renderer(model, settings).document(location or server_location(settings), version)


# --------------------------------------------------------------------------------------------
# Names


class _Names:
    """Unique names: the wanted one, else it with ``_2``, ``_3`` …"""

    def __init__(self, *taken: str) -> None:
        self._taken = set(taken)

    def take(self, wanted: str) -> str:
        name, n = wanted, 1
        while name in self._taken:
            n += 1
            name = f"{wanted}_{n}"
        self._taken.add(name)
        return name


def _unique(wanted: list[tuple[_K, str]], invalid: re.Pattern[str], *taken: str) -> dict[_K, str]:
    """A unique name per key: the wanted one with each ``invalid`` character replaced by
    ``_``; names that needed no replacement are served first, so they never get a suffix."""
    names = _Names(*taken)
    out: dict[_K, str] = {}
    for exact in (True, False):
        for key, name in wanted:
            valid = invalid.sub("_", name)
            if (valid == name) == exact:
                out[key] = names.take(valid)
    return out


def _path(*segments: str) -> str:
    return "".join("/" + quote(s, safe=_PATH_SAFE) for s in segments)


def _server_url(where: ServerLocation) -> str:
    if not where.host:  # relative: the API is where the document was served from
        return where.base_path.rstrip("/") or "/"
    host = where.host
    if ":" in host and not host.startswith("["):  # an IPv6 address
        host = f"[{host}]"
    return f"{where.scheme}://{host}:{where.port}{where.base_path.rstrip('/')}"


# --------------------------------------------------------------------------------------------
# Types


def _value_schema(pg_type: str, enum: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON Schema of a non-null value of ``pg_type`` as PostgREST answers it."""
    if enum:
        return {"type": "string", "enum": list(enum)}
    family = json_type(pg_type)
    if family == "array":
        return {"type": "array", "items": _value_schema(pg_type[:-2])}
    if family is None or not builtin_type(pg_type):
        return {}  # json/jsonb, or a type whose JSON form is not known: any value
    return {"type": family, **_FORMATS.get(pg_type, {})}


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` that also admits ``null`` (a schema without ``type`` already does)."""
    if "type" in schema:
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    return schema


def _typed(schema: dict[str, Any], pg_type: str) -> dict[str, Any]:
    schema["x-pgrst-type"] = pg_type
    return schema


_STRING_LITERAL = re.compile(r"'((?:[^']|'')*)'::(.+)", re.DOTALL)
_FORMAT_CHECKS = {
    "date": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
    "uuid": re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
}
_NUMBER_LITERAL = re.compile(r"'?(-?[0-9]+(?:\.[0-9]+)?)'?(?:::[a-z ]+)?")


def _default(field: Field, schema: dict[str, Any]) -> Any:
    """The column's default as a JSON value of ``schema``, or ``msgspec.UNSET``: a constant
    (``'a''b'::text`` reads ``a'b``, ``'-1'::integer`` reads ``-1``, ``'{}'::jsonb`` reads
    ``{}``), never an expression PostgreSQL evaluates on insert (``now()``, ``nextval(…)``),
    unlike PostgREST's reading (the model's ``default``) which keeps ``"now()"``."""
    expr = field.default_expression
    if expr is None or field.generated or field.type == "array":
        return msgspec.UNSET
    expr = expr.strip()
    if field.type in ("integer", "number"):
        number = _NUMBER_LITERAL.fullmatch(expr)
        return msgspec.json.decode(number[1]) if number is not None else msgspec.UNSET
    if field.type == "boolean":
        return {"true": True, "false": False}.get(expr, msgspec.UNSET)
    literal = _STRING_LITERAL.fullmatch(expr)
    if literal is None or literal[2] != field.pg_type:
        return msgspec.UNSET  # not a constant of the column's own type
    text = literal[1].replace("''", "'")
    if field.type is None:  # json/jsonb
        try:
            return msgspec.json.decode(text)
        except msgspec.DecodeError:
            return msgspec.UNSET
    if not schema or schema.get("format") in ("date-time", "time"):
        # A type whose JSON form is not known, or whose literal's text is not its JSON
        # (RFC 3339) form.
        return msgspec.UNSET
    check = _FORMAT_CHECKS.get(schema.get("format", ""))
    if check is not None and check.fullmatch(text) is None:
        return msgspec.UNSET  # 'infinity'::date and the like
    return text


def _property(field: Field) -> dict[str, Any]:
    prop = _value_schema(field.pg_type, field.enum)
    default = _default(field, prop)
    if field.max_length is not None and prop.get("type") == "string":
        prop["maxLength"] = field.max_length
    if field.nullable:
        _or_null(prop)
    description = _column_description(field)
    if description is not None:
        prop["description"] = description
    if default is not msgspec.UNSET:
        prop["default"] = default
    if field.generated:
        prop["readOnly"] = True
    if field.primary_key:
        prop["x-pgrst-primary-key"] = True
    if field.foreign_key is not None:
        prop["x-pgrst-foreign-key"] = {
            "table": field.foreign_key.table,
            "column": field.foreign_key.column,
        }
    return _typed(prop, field.pg_type)


def _row_schema(resource: Resource, *, partial: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"}
    if resource.description is not None:
        schema["description"] = resource.description
    properties = {f.name: _property(f) for f in resource.fields}
    if partial:  # an update: a missing key keeps its value, whatever the default
        for prop in properties.values():
            prop.pop("default", None)
    schema["properties"] = properties
    required = list(resource.insert_required)
    if required and not partial:
        schema["required"] = required
    return schema


def _argument_schema(arg: Argument) -> dict[str, Any]:
    """An argument in a JSON body: its type, or ``null``."""
    return _typed(_or_null(_value_schema(arg.pg_type)), arg.pg_type)


def _query_argument(arg: Argument) -> dict[str, Any]:
    """An argument in the query string (GET): a repeated key fills a VARIADIC one; an array is
    written as a PostgreSQL array literal (``{a,b}``), a json value as its text."""
    param: dict[str, Any] = {"name": arg.name, "in": "query", "required": arg.required}
    if arg.variadic:
        param["description"] = "Repeat the parameter for each value: `?v=1&v=2`."
        schema: dict[str, Any] = {"type": "array", "items": _value_schema(arg.pg_type[:-2])}
        param["explode"] = True
    elif arg.type == "array":
        param["description"] = "A PostgreSQL array literal: `{a,b}`."
        schema = {"type": "string"}
    elif arg.type is None:
        schema = {"type": "string", "contentMediaType": _JSON}
    else:
        schema = _value_schema(arg.pg_type) or {"type": "string"}
    param["schema"] = _typed(schema, arg.pg_type)
    return param


# --------------------------------------------------------------------------------------------
# Shared components


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _error_schema() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "type": "object",
        "description": "PostgREST's error object (`details` and `hint` are left out when "
        "client-error-verbosity is minimal).",
        "properties": {
            "code": {
                **text,
                "description": "A PostgREST code (`PGRSTxxx`) or PostgreSQL's SQLSTATE.",
            },
            "message": text,
            "details": {"type": ["string", "null"]},
            "hint": {"type": ["string", "null"]},
        },
        "required": ["code", "message"],
    }


_OPERATOR_GRAMMAR = (
    "`[not.]<operator>.<value>`, for example `eq.5`, `not.is.null`, `in.(1,2,3)`, "
    "`like.*abc*`. Operators: {ops}, `in.(<values>)`, `is.<{is_values}>`, and full-text "
    "search {fts} (optionally with a language: `fts(english).<query>`); {quantified} also "
    "take `(any)` or `(all)` with a list: `eq(any).{{1,2}}`. Repeat the parameter to "
    "combine filters."
)


def _filter_grammar() -> str:
    return _OPERATOR_GRAMMAR.format(
        ops=", ".join(f"`{op}`" for op in OPERATORS),
        is_values="|".join(IS_VALUES),
        fts=", ".join(f"`{op}`" for op in FTS_FUNCTIONS),
        quantified=", ".join(f"`{op}`" for op, o in OPERATORS.items() if o.quantifiable),
    )


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _prefer(values: list[str], *, max_affected: bool) -> dict[str, Any]:
    options: list[dict[str, Any]] = [
        {"enum": values},
        {"pattern": "^timezone=.+$"},
    ]
    if max_affected:
        options.append({"pattern": "^max-affected=[0-9]+$"})
    return {
        "name": "Prefer",
        "in": "header",
        "required": False,
        "description": "Preferences (RFC 7240), comma-separated: those this operation "
        "accepts. `handling=strict` makes an unknown or invalid one an error.",
        "style": "simple",
        "explode": False,
        "schema": {"type": "array", "items": {"type": "string", "anyOf": options}},
    }


def _parameters(settings: Settings) -> dict[str, Any]:
    tx = list(_TX) if settings.tx_allow_override else []
    limit = "The number of rows to answer."
    if settings.db_max_rows is not None:
        limit += f" At most {settings.db_max_rows} are answered (db-max-rows)."
    return {
        "select": _query(
            "select",
            "The columns to answer, comma-separated: `col`, `alias:col`, `col::type`, "
            "`json_col->key`, `*`, and embedded resources `relation(columns)`.",
            {"type": "string"},
        ),
        "order": _query(
            "order",
            "Ordering, comma-separated: `col[.asc|.desc][.nullsfirst|.nullslast]`.",
            {"type": "string"},
        ),
        "limit": _query("limit", limit, {"type": "integer", "minimum": 0}),
        "offset": _query(
            "offset", "The number of rows to skip.", {"type": "integer", "minimum": 0}
        ),
        "or": _query(
            "or",
            "Filters any of which a row must pass: `(filter,filter,…)`, each "
            "`column.operator.value`, nested with `and(…)`/`or(…)`.",
            {"type": "string"},
        ),
        "and": _query(
            "and",
            "Filters all of which a row must pass: `(filter,filter,…)`, each "
            "`column.operator.value`, nested with `and(…)`/`or(…)`.",
            {"type": "string"},
        ),
        "on_conflict": _query(
            "on_conflict",
            "The unique columns (comma-separated) an upsert (`Prefer: resolution=…`) "
            "resolves conflicts on; the primary key by default.",
            {"type": "string"},
        ),
        "columns": _query(
            "columns",
            "The body's keys to write, comma-separated (others are ignored; a missing one is "
            "null, or its default with `Prefer: missing=default`).",
            {"type": "string"},
        ),
        "range": {
            "name": "Range",
            "in": "header",
            "required": False,
            "description": "The rows to answer, zero-based and inclusive: `0-24`, `25-`.",
            "schema": {"type": "string"},
        },
        "rangeUnit": {
            "name": "Range-Unit",
            "in": "header",
            "required": False,
            "description": "The unit of `Range`.",
            "schema": {"type": "string", "default": "items"},
        },
        "preferGet": _prefer([*_COUNT, *_HANDLING, *tx], max_affected=False),
        "preferPost": _prefer(
            [*_RETURN, *_COUNT, *_RESOLUTION, *_MISSING, *_HANDLING, *tx], max_affected=False
        ),
        "preferPatch": _prefer([*_RETURN, *_COUNT, *_MISSING, *_HANDLING, *tx], max_affected=True),
        "preferDelete": _prefer([*_RETURN, *_COUNT, *_HANDLING, *tx], max_affected=True),
        "preferCall": _prefer([*_HANDLING, *tx], max_affected=False),
        "preferCallSet": _prefer([*_COUNT, *_HANDLING, *tx], max_affected=True),
    }


def _headers() -> dict[str, Any]:
    return {
        "Content-Range": {
            "description": "The rows answered and the total, if counted: `0-24/100`, `*/*`.",
            "schema": {"type": "string"},
        },
        "Location": {
            "description": "The created row (`Prefer: return=headers-only`, with a primary "
            "key): `/<table>?<key>=eq.<value>`.",
            "schema": {"type": "string"},
        },
    }


def _content_range() -> dict[str, Any]:
    return {"Content-Range": _ref("headers", "Content-Range")}


# --------------------------------------------------------------------------------------------
# The document


class _Renderer:
    def __init__(self, model: ApiModel, settings: Settings) -> None:
        self.model = model
        self.settings = settings
        wanted: list[tuple[tuple[str, str], str]] = []
        for r in model.resources:
            wanted += [((r.name, m), f"{m}_{r.name}") for m in r.methods]
        for f in model.functions:
            if "post" in f.methods:
                wanted.append((("/rpc/" + f.name, "post"), "call_" + f.name))
            if "get" in f.methods:
                wanted.append((("/rpc/" + f.name, "get"), f"call_{f.name}_get"))
        #: The operationId of each (relation name or ``/rpc/<name>``, method).
        self.operation_ids = _unique(wanted, _IDENTIFIER, "openapi")
        #: The component schema of each relation's row, by relation name.
        self.rows = _unique([(r.name, r.name) for r in model.resources], _COMPONENT_NAME, _ERROR)
        self.grammar = _filter_grammar()
        self.params = {k: _ref("parameters", k) for k in _parameters(settings)}

    def document(self, where: ServerLocation, version: str) -> dict[str, Any]:
        model = self.model
        if model.description is None:
            title, description = _DEFAULT_TITLE, _DEFAULT_DESCRIPTION
        else:
            title, description = split_comment(model.description)
        tags: dict[str, dict[str, Any]] = {}
        paths: dict[str, Any] = {"/": self._root_path(tags)}
        for resource in model.resources:
            paths[_path(resource.name)] = self._resource_path(resource, tags)
        for function in model.functions:
            paths[_path("rpc", function.name)] = self._function_path(function, tags)
        schemas: dict[str, Any] = {self.rows[r.name]: _row_schema(r) for r in model.resources}
        schemas[_ERROR] = _error_schema()
        components: dict[str, Any] = {
            "schemas": schemas,
            "parameters": _parameters(self.settings),
            "headers": _headers(),
            "responses": {
                _ERROR: {
                    "description": "An error",
                    "content": {_JSON: {"schema": _ref("schemas", _ERROR)}},
                }
            },
        }
        doc: dict[str, Any] = {
            "openapi": OPENAPI_VERSION,
            "info": {"title": title, "description": description, "version": version},
            "servers": [{"url": _server_url(where)}],
            "externalDocs": {
                "description": "PostgREST Documentation",
                "url": "https://postgrest.org/en/v13/references/api.html",
            },
            "tags": list(tags.values()),
            "paths": paths,
            "components": components,
        }
        if self.settings.openapi_security_active:
            components["securitySchemes"] = {
                _SECURITY_NAME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A JWT whose role claim names the database role to use.",
                }
            }
            # With an anonymous role, a request without a token is answered too.
            anonymous: list[dict[str, list[str]]] = (
                [{}] if self.settings.db_anon_role is not None else []
            )
            doc["security"] = [{_SECURITY_NAME: []}, *anonymous]
        return doc

    # -- operations ------------------------------------------------------------------------

    def _operation(
        self,
        key: tuple[str, str],
        tag: str,
        comment: str | None,
        parameters: list[dict[str, Any]],
        responses: dict[str, Any],
        request_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An operation: the comment's first line is its summary, the rest its description."""
        op: dict[str, Any] = {"operationId": self.operation_ids[key], "tags": [tag]}
        if comment is not None:
            summary, rest = split_comment(comment)
            op["summary"] = summary
            if rest:
                op["description"] = rest
        if parameters:
            op["parameters"] = parameters
        if request_body is not None:
            op["requestBody"] = request_body
        op["responses"] = {**responses, "default": _ref("responses", _ERROR)}
        return op

    def _root_path(self, tags: dict[str, dict[str, Any]]) -> dict[str, Any]:
        tags["Introspection"] = {"name": "Introspection"}
        return {
            "get": {
                "operationId": "openapi",
                "tags": ["Introspection"],
                "summary": "OpenAPI description (this document)",
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {_ROOT_MEDIA: {"schema": {"type": "object"}}},
                    }
                },
            }
        }

    def _row_filters(self, resource: Resource) -> list[dict[str, Any]]:
        out = []
        for field in resource.fields:
            if field.name in _RESERVED_KEYS or "." in field.name:
                continue  # PostgREST reads such a key as something else
            description = f"Filter on `{field.name}`: {self.grammar}"
            if field.description is not None:
                description = f"{field.description}\n\n{description}"
            out.append(_query(field.name, description, {"type": "string"}))
        return out

    def _resource_path(self, resource: Resource, tags: dict[str, dict[str, Any]]) -> dict[str, Any]:
        name = resource.name
        tag = name
        tags.setdefault(tag, _tag(tag, resource.description))
        row = _ref("schemas", self.rows[name])
        rows = {"type": "array", "items": row}
        filters = self._row_filters(resource)
        params = self.params
        representation = {_JSON: {"schema": rows}, _OBJECT: {"schema": row}}
        no_content = {"204": {"description": "No Content"}}
        item: dict[str, Any] = {}
        for method in resource.methods:
            if method == "get":
                found = {
                    "headers": _content_range(),
                    "content": {**representation, _CSV: {"schema": {"type": "string"}}},
                }
                item["get"] = self._operation(
                    (name, "get"),
                    tag,
                    resource.description,
                    [
                        *filters,
                        *(params[k] for k in ("select", "order", "limit", "offset")),
                        *(params[k] for k in ("or", "and", "range", "rangeUnit", "preferGet")),
                    ],
                    {
                        "200": {"description": "OK", **found},
                        "206": {"description": "Partial Content", **found},
                    },
                )
            elif method == "post":
                body = {
                    "required": True,
                    "content": {
                        _JSON: {"schema": {"oneOf": [row, rows]}},
                        _CSV: {"schema": {"type": "string"}},
                    },
                }
                item["post"] = self._operation(
                    (name, "post"),
                    tag,
                    resource.description,
                    [params[k] for k in ("select", "columns", "on_conflict", "preferPost")],
                    {
                        "201": {
                            "description": "Created",
                            "headers": {
                                **_content_range(),
                                "Location": _ref("headers", "Location"),
                            },
                            "content": representation,
                        }
                    },
                    body,
                )
            elif method == "patch":
                body = {
                    "required": True,
                    "content": {_JSON: {"schema": _row_schema(resource, partial=True)}},
                }
                item["patch"] = self._operation(
                    (name, "patch"),
                    tag,
                    resource.description,
                    [
                        *filters,
                        *(params[k] for k in ("select", "columns", "order", "limit")),
                        *(params[k] for k in ("or", "and", "preferPatch")),
                    ],
                    {"200": {"description": "OK", "content": representation}, **no_content},
                    body,
                )
            else:
                item["delete"] = self._operation(
                    (name, "delete"),
                    tag,
                    resource.description,
                    [
                        *filters,
                        *(params[k] for k in ("select", "order", "limit")),
                        *(params[k] for k in ("or", "and", "preferDelete")),
                    ],
                    {"200": {"description": "OK", "content": representation}, **no_content},
                )
        return item

    # -- functions -------------------------------------------------------------------------

    def _result_row(self, function: Function) -> dict[str, Any] | None:
        """The schema of one row of a function's result, or ``None`` when it answers values
        (a scalar, an untyped record) or nothing."""
        if function.return_kind == "composite":
            if function.return_type_schema == self.model.schema and function.return_type in (
                self.rows
            ):
                return _ref("schemas", self.rows[function.return_type])
            qualified = f"{function.return_type_schema}.{function.return_type}"
            return {"type": "object", "x-pgrst-type": qualified}
        if function.out_params:
            types = function.out_types
            if len(types) != len(function.out_params):  # a model built without the types
                types = (function.return_type if len(function.out_params) == 1 else "",) * len(
                    function.out_params
                )
            return {
                "type": "object",
                "properties": {
                    name: _typed(_or_null(_value_schema(pg_type)), pg_type) if pg_type else {}
                    for name, pg_type in zip(function.out_params, types, strict=True)
                },
            }
        return None

    def _result(self, function: Function) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The schema of the whole result (``None`` for void) and of a singular row."""
        row = self._result_row(function)
        if row is None:
            if function.return_kind == "void":
                return None, None
            if function.return_kind == "record":
                value: dict[str, Any] = {}
            else:
                value = _typed(_or_null(_value_schema(function.return_type)), function.return_type)
            return ({"type": "array", "items": value} if function.returns_set else value), None
        return ({"type": "array", "items": row} if function.returns_set else row), row

    def _function_path(self, function: Function, tags: dict[str, dict[str, Any]]) -> dict[str, Any]:
        tag = "(rpc) " + function.name
        tags.setdefault(tag, _tag(tag, function.description))
        params = self.params
        result, row = self._result(function)
        responses: dict[str, Any]
        if result is None:
            responses = {"204": {"description": "No Content"}}
        else:
            content = {_JSON: {"schema": result}}
            if row is not None:
                content[_OBJECT] = {"schema": row}
            found = {"headers": _content_range(), "content": content}
            responses = {"200": {"description": "OK", **found}}
            if function.returns_set:
                responses["206"] = {"description": "Partial Content", **found}
        shared: list[dict[str, Any]] = []
        if row is not None:
            shared += [params["select"], params["order"]]
        if function.returns_set:
            shared += [params[k] for k in ("limit", "offset", "range", "rangeUnit")]
        shared.append(params["preferCallSet" if function.returns_set else "preferCall"])
        item: dict[str, Any] = {}
        if "post" in function.methods:
            item["post"] = self._operation(
                ("/rpc/" + function.name, "post"),
                tag,
                function.description,
                shared,
                responses,
                _arguments_body(function),
            )
        if "get" in function.methods:
            arguments = [
                _query_argument(a)
                for a in function.arguments
                if a.name and a.name not in _RESERVED_KEYS and "." not in a.name
            ]
            item["get"] = self._operation(
                ("/rpc/" + function.name, "get"),
                tag,
                function.description,
                arguments + shared,
                responses,
            )
        return {m: item[m] for m in ("get", "post") if m in item}


def _tag(name: str, comment: str | None) -> dict[str, Any]:
    tag: dict[str, Any] = {"name": name}
    if comment is not None:
        tag["description"] = comment
    return tag


def _arguments_body(function: Function) -> dict[str, Any] | None:
    """A function's arguments as a JSON object; a single unnamed one as the raw body."""
    args = function.arguments
    if not args:
        return None
    if len(args) == 1 and not args[0].name:
        arg = args[0]
        media = _RAW_BODY_MEDIA.get(arg.pg_type, _JSON)
        raw: dict[str, Any] = (
            {} if media in (_JSON, "application/octet-stream") else {"type": "string"}
        )
        return {"required": arg.required, "content": {media: {"schema": _typed(raw, arg.pg_type)}}}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {a.name: _argument_schema(a) for a in args},
    }
    required = [a.name for a in args if a.required]
    if required:
        schema["required"] = required
    return {"required": bool(required), "content": {_JSON: {"schema": schema}}}
