"""``contrib.fastapi``: the mounted API in FastAPI's own ``/docs``. The merge of two OpenAPI
documents (prefixes, renamed components and their ``$ref``s, tags, security), and how
``include_in_openapi`` keeps the host's ``app.openapi()`` in step with the schema cache and
the described role's privileges — with a stand-in renderer and executor: no database."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from fastapi import FastAPI
from openapi_spec_validator import validate
from pydantic import BaseModel
from starlette.routing import Mount

import pgrest_asgi.openapi
from pgrest_asgi import Event, Hooks, PgRestApp
from pgrest_asgi.contrib.fastapi import include_in_openapi, merge_openapi
from pgrest_asgi.openapi import Privileges
from pgrest_asgi.plan.model import TxSpec
from pgrest_asgi.schema.model import Column, QualifiedName, SchemaCache, Table
from pgrest_asgi.settings import Settings
from pgrest_asgi.sql.build import DbResult


def api_document() -> dict[str, Any]:
    """A small OpenAPI 3.1 document, shaped as the API's renderer makes them."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "PostgREST API", "version": "1"},
        "servers": [{"url": "http://0.0.0.0:3000/"}],
        "paths": {
            "/": {"get": {"tags": ["Introspection"], "responses": {"200": {"description": "OK"}}}},
            "/items": {
                "get": {
                    "operationId": "get_items",
                    "tags": ["items"],
                    "parameters": [
                        {"$ref": "#/components/parameters/select"},
                        {"$ref": "#/components/parameters/rowFilter.items.id"},
                    ],
                    "responses": {
                        "200": {
                            "description": "OK",
                            "links": {"self": {"operationId": "get_items"}},
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/items"},
                                    }
                                }
                            },
                        }
                    },
                },
                "post": {
                    "operationId": "post_items",
                    "tags": ["items"],
                    "requestBody": {"$ref": "#/components/requestBodies/items"},
                    "responses": {"201": {"description": "Created"}},
                    "security": [{"JWT": []}],
                },
            },
            "/rpc/add": {
                "post": {
                    "tags": ["(rpc) add"],
                    "responses": {"200": {"description": "OK"}},
                }
            },
        },
        "components": {
            "schemas": {
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer", "format": "integer"},
                        "owner": {"$ref": "#/components/schemas/owners"},
                    },
                },
                "owners": {"type": "object", "properties": {"name": {"type": "string"}}},
            },
            "parameters": {
                "select": {"name": "select", "in": "query", "schema": {"type": "string"}},
                "rowFilter.items.id": {"name": "id", "in": "query", "schema": {"type": "string"}},
            },
            "requestBodies": {
                "items": {
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/items"}}
                    }
                }
            },
            "securitySchemes": {"JWT": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"JWT": []}],
        "tags": [{"name": "Introspection"}, {"name": "items", "description": "the items"}],
    }


def host_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "My service", "version": "0.1.0"},
        "paths": {
            "/health": {"get": {"responses": {"200": {"description": "OK"}}}},
        },
    }


def all_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from all_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from all_refs(value)


def resolves(doc: dict[str, Any], ref: str) -> bool:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


# --------------------------------------------------------------------------------------------
# merge_openapi


def test_paths_go_under_the_prefix_next_to_the_hosts() -> None:
    merged = merge_openapi(host_document(), api_document(), "/api", namespace="api")
    assert list(merged["paths"]) == ["/health", "/api/", "/api/items", "/api/rpc/add"]
    assert merged["info"] == host_document()["info"]
    assert "servers" not in merged  # the API's own server URL is not where the host serves it


@pytest.mark.parametrize("prefix", ["/api/", "api", "/api"])
def test_the_prefix_is_normalised(prefix: str) -> None:
    merged = merge_openapi(host_document(), api_document(), prefix, namespace="api")
    assert "/api/items" in merged["paths"]


def test_an_empty_prefix_keeps_the_paths() -> None:
    merged = merge_openapi(host_document(), api_document(), "/", namespace="api")
    assert "/items" in merged["paths"] and "/health" in merged["paths"]


def test_a_host_path_of_the_same_name_wins() -> None:
    host = host_document()
    host["paths"]["/api/items"] = {"get": {"responses": {"200": {"description": "host's"}}}}
    merged = merge_openapi(host, api_document(), "/api", namespace="api")
    assert merged["paths"]["/api/items"] == host["paths"]["/api/items"]


def test_components_are_namespaced_and_every_ref_follows() -> None:
    merged = merge_openapi(host_document(), api_document(), "/api", namespace="api")
    components = merged["components"]
    assert list(components["schemas"]) == ["api.items", "api.owners"]
    assert list(components["parameters"]) == ["api.select", "api.rowFilter.items.id"]
    assert list(components["requestBodies"]) == ["api.items"]
    assert list(components["securitySchemes"]) == ["api.JWT"]
    items = merged["paths"]["/api/items"]
    assert items["get"]["parameters"] == [
        {"$ref": "#/components/parameters/api.select"},
        {"$ref": "#/components/parameters/api.rowFilter.items.id"},
    ]
    body = items["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert body["items"] == {"$ref": "#/components/schemas/api.items"}
    assert items["post"]["requestBody"] == {"$ref": "#/components/requestBodies/api.items"}
    # Within components too.
    owner = components["schemas"]["api.items"]["properties"]["owner"]
    assert owner == {"$ref": "#/components/schemas/api.owners"}
    refs = list(all_refs(merged))
    assert refs and all(resolves(merged, ref) for ref in refs)


def test_refs_elsewhere_are_left_alone() -> None:
    api = api_document()
    api["components"]["schemas"]["items"]["properties"].update(
        {
            "deep": {"$ref": "#/components/schemas/owners/properties/name"},
            "outside": {"$ref": "https://example.com/schema.json#/x"},
            "unknown": {"$ref": "#/components/schemas/nowhere"},
            # A column named like a keyword is no reference.
            "$ref": {"type": "string"},
        }
    )
    merged = merge_openapi(host_document(), api, "/api", namespace="api")
    props = merged["components"]["schemas"]["api.items"]["properties"]
    assert props["deep"] == {"$ref": "#/components/schemas/api.owners/properties/name"}
    assert props["outside"] == {"$ref": "https://example.com/schema.json#/x"}
    assert props["unknown"] == {"$ref": "#/components/schemas/nowhere"}
    assert props["$ref"] == {"type": "string"}


def test_names_no_component_may_hold_are_replaced_and_escaped_refs_follow() -> None:
    api: dict[str, Any] = {
        "paths": {
            "/odd": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/odd%20%22name%22~1x"}
                                }
                            },
                        }
                    }
                }
            }
        },
        "components": {"schemas": {'odd "name"/x': {"type": "object"}}},
    }
    merged = merge_openapi(host_document(), api, "/api", namespace="api")
    assert list(merged["components"]["schemas"]) == ["api.odd__name__x"]
    content = merged["paths"]["/api/odd"]["get"]["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {
        "$ref": "#/components/schemas/api.odd__name__x"
    }


def test_a_name_the_host_already_has_gets_a_number() -> None:
    host = host_document()
    host["components"] = {
        "schemas": {
            "items": {"type": "object", "title": "the host's items"},
            "api.items": {"type": "object", "title": "the host's api.items"},
        }
    }
    merged = merge_openapi(host, api_document(), "/api", namespace="api")
    schemas = merged["components"]["schemas"]
    assert list(schemas) == ["items", "api.items", "api.items_2", "api.owners"]
    assert schemas["items"] == host["components"]["schemas"]["items"]
    assert schemas["api.items"] == host["components"]["schemas"]["api.items"]
    body = merged["paths"]["/api/items"]["get"]["responses"]["200"]["content"]
    assert body["application/json"]["schema"]["items"] == {
        "$ref": "#/components/schemas/api.items_2"
    }
    # Names that become equal once cleaned up stay apart.
    api: dict[str, Any] = {"components": {"schemas": {"a b": {}, "a_b": {}}}}
    assert list(merge_openapi({}, api, "/api", namespace="x")["components"]["schemas"]) == [
        "x.a_b",
        "x.a_b_2",
    ]


def test_tags_join_the_hosts_and_are_renamed_only_on_a_clash() -> None:
    host = host_document()
    host["tags"] = [{"name": "items", "description": "the host's items"}]
    host["paths"]["/health"]["get"]["tags"] = ["Introspection"]  # used, not declared
    merged = merge_openapi(host, api_document(), "/api", namespace="api")
    assert merged["tags"] == [
        {"name": "items", "description": "the host's items"},
        {"name": "api.Introspection"},
        {"name": "api.items", "description": "the items"},
    ]
    paths = merged["paths"]
    assert paths["/api/"]["get"]["tags"] == ["api.Introspection"]
    assert paths["/api/items"]["get"]["tags"] == ["api.items"]
    assert paths["/api/rpc/add"]["post"]["tags"] == ["(rpc) add"]  # no clash
    assert paths["/health"]["get"]["tags"] == ["Introspection"]


def test_tags_without_a_clash_keep_their_names() -> None:
    merged = merge_openapi(host_document(), api_document(), "/api", namespace="api")
    assert merged["tags"] == api_document()["tags"]


def test_security_schemes_are_renamed_and_apply_to_the_apis_operations_only() -> None:
    host = host_document()
    host["components"] = {"securitySchemes": {"JWT": {"type": "http", "scheme": "basic"}}}
    merged = merge_openapi(host, api_document(), "/api", namespace="api")
    assert merged["components"]["securitySchemes"] == {
        "JWT": {"type": "http", "scheme": "basic"},
        "api.JWT": {"type": "http", "scheme": "bearer"},
    }
    assert "security" not in merged  # the API's would apply to the host's operations
    paths = merged["paths"]
    for op in (paths["/api/"]["get"], paths["/api/items"]["get"], paths["/api/items"]["post"]):
        assert op["security"] == [{"api.JWT": []}]
    assert "security" not in paths["/health"]["get"]


def test_the_hosts_security_does_not_apply_to_the_api() -> None:
    host = host_document()
    host["components"] = {"securitySchemes": {"basic": {"type": "http", "scheme": "basic"}}}
    host["security"] = [{"basic": []}]
    api = api_document()
    del api["security"], api["paths"]["/items"]["post"]["security"]
    del api["components"]["securitySchemes"]
    merged = merge_openapi(host, api, "/api", namespace="api")
    assert merged["security"] == [{"basic": []}]
    assert merged["paths"]["/api/items"]["get"]["security"] == []
    assert "security" not in merged["paths"]["/health"]["get"]


def test_operation_ids_the_host_has_are_renamed_and_links_follow() -> None:
    host = host_document()
    host["paths"]["/health"]["get"]["operationId"] = "get_items"
    merged = merge_openapi(host, api_document(), "/api", namespace="api")
    items = merged["paths"]["/api/items"]
    assert items["get"]["operationId"] == "api_get_items"
    assert items["get"]["responses"]["200"]["links"] == {"self": {"operationId": "api_get_items"}}
    assert items["post"]["operationId"] == "post_items"
    assert merged["paths"]["/health"]["get"]["operationId"] == "get_items"


def test_the_inputs_are_not_modified() -> None:
    host, api = host_document(), api_document()
    host["tags"] = [{"name": "items"}]
    host["components"] = {"schemas": {"api.items": {}}}
    before = copy.deepcopy((host, api))
    merged = merge_openapi(host, api, "/api", namespace="api")
    assert (host, api) == before
    # And the result shares nothing mutable with the API's document.
    merged["paths"]["/api/items"]["get"]["tags"].append("x")
    merged["components"]["schemas"]["api.items_2"]["properties"]["id"]["x"] = 1
    assert (host, api) == before


class Pet(BaseModel):
    name: str
    age: int | None = None


def fastapi_host() -> FastAPI:
    app = FastAPI(title="My service")

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/pets", tags=["items"], operation_id="get_items")
    async def add_pet(pet: Pet) -> Pet:
        return pet

    return app


def test_the_merged_document_is_valid_openapi_3_1() -> None:
    """With clashing tags and operation ids too (``validate`` checks ids are unique)."""
    merged = merge_openapi(fastapi_host().openapi(), api_document(), "/api", namespace="api")
    validate(merged)
    assert {"Pet", "api.items", "HTTPValidationError"} <= set(merged["components"]["schemas"])
    assert merged["paths"]["/api/items"]["get"]["operationId"] == "api_get_items"


# --------------------------------------------------------------------------------------------
# include_in_openapi, with a stand-in renderer and executor


class Renderer:
    """Stands for ``openapi31_object``: the hand-built document, and what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[SchemaCache, str | None, Privileges | None]] = []

    def __call__(
        self,
        source: SchemaCache,
        settings: Settings,
        *,
        schema_name: str | None = None,
        privileges: Privileges | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        self.calls.append((source, schema_name, privileges))
        return api_document()


class Executor:
    """Answers the privileges query with ``rows``, noting the transactions it ran."""

    def __init__(self, rows: list[dict[str, Any]] | Exception) -> None:
        self.rows = rows
        self.txs: list[TxSpec] = []

    async def execute(self, statement: Any, tx: TxSpec, context: Any = None) -> DbResult:
        self.txs.append(tx)
        if isinstance(self.rows, Exception):
            raise self.rows
        return DbResult(total=None, page_total=0, body=msgspec.json.encode(self.rows))


ANON_ROWS = [
    {"kind": "relation", "schema": "api", "name": "items", "privileges": ["SELECT"]},
    {"kind": "function", "schema": "api", "name": "add", "privileges": None},
]


@pytest.fixture
def renderer(monkeypatch: pytest.MonkeyPatch) -> Renderer:
    fake = Renderer()
    monkeypatch.setattr(pgrest_asgi.openapi, "openapi31_object", fake, raising=False)
    return fake


def cache() -> SchemaCache:
    return SchemaCache(schemas=("api", "v2"), tables={})


def rest_app(rows: list[dict[str, Any]] | Exception = ANON_ROWS, **options: Any) -> PgRestApp:
    options.setdefault("db_anon_role", "web_anon")
    hooks = Hooks(executor=Executor(rows))  # type: ignore[arg-type]
    return PgRestApp("postgresql://nobody@/nowhere", ["api", "v2"], hooks=hooks, **options)


def mounted(rest: PgRestApp, path: str = "/api") -> FastAPI:
    app = fastapi_host()
    app.mount(path, rest)
    return app


def test_before_the_schema_cache_loads_only_the_hosts_paths_and_not_cached(
    renderer: Renderer,
) -> None:
    rest = rest_app(openapi_mode="ignore-privileges")
    app = mounted(rest)
    include_in_openapi(app, rest)
    doc = app.openapi()
    assert list(doc["paths"]) == ["/health", "/pets"]
    assert app.openapi_schema is None and renderer.calls == []
    rest.schema_cache = cache()
    doc = app.openapi()
    assert {"/health", "/api/items", "/api/rpc/add"} <= set(doc["paths"])
    assert renderer.calls == [(rest.schema_cache, "api", None)]  # ignore-privileges: all


def test_the_merged_document_is_cached_until_the_schema_cache_or_the_routes_change(
    renderer: Renderer,
) -> None:
    rest = rest_app(openapi_mode="ignore-privileges")
    rest.schema_cache = cache()
    app = mounted(rest)
    include_in_openapi(app, rest)
    first = app.openapi()
    assert app.openapi() is first and app.openapi_schema is first
    assert len(renderer.calls) == 1
    rest.schema_cache = cache()  # a reload
    second = app.openapi()
    assert second is not first and "/api/items" in second["paths"]
    assert len(renderer.calls) == 2 and app.openapi() is second

    @app.get("/later")
    async def later() -> None: ...

    third = app.openapi()
    assert {"/later", "/api/items"} <= set(third["paths"])
    assert len(renderer.calls) == 2  # the API's document was kept
    app.openapi_schema = None  # FastAPI's documented way to regenerate
    assert "/api/items" in app.openapi()["paths"]


def test_disabled_describes_nothing(renderer: Renderer) -> None:
    rest = rest_app(openapi_mode="disabled")
    rest.schema_cache = cache()
    app = mounted(rest)
    include_in_openapi(app, rest)
    doc = app.openapi()
    assert list(doc["paths"]) == ["/health", "/pets"] and app.openapi_schema is doc
    assert renderer.calls == []


async def test_follow_privileges_describes_the_anonymous_roles_view(renderer: Renderer) -> None:
    rest = rest_app()
    rest.schema_cache = cache()
    app = mounted(rest)
    docs = include_in_openapi(app, rest)
    assert docs.prefix == "/api" and docs.schema == "api"
    await docs.refresh()
    doc = app.openapi()
    assert "/api/items" in doc["paths"]
    ((source, schema_name, privileges),) = renderer.calls
    assert (source, schema_name) == (rest.schema_cache, "api")
    assert privileges == Privileges(
        tables={QualifiedName("api", "items"): frozenset({"SELECT"})},
        routines=frozenset({QualifiedName("api", "add")}),
    )
    executor = rest.executor
    assert isinstance(executor, Executor)
    ((tx,),) = [executor.txs]
    assert (tx.role, tx.anonymous, tx.read_only) == ("web_anon", True, True)
    assert msgspec.json.decode(tx.claims_json) == {"role": "web_anon"}


async def test_a_role_the_host_passes(renderer: Renderer) -> None:
    rest = rest_app()
    rest.schema_cache = cache()
    app = mounted(rest)
    docs = include_in_openapi(app, rest, role="web_user", schema="v2")
    await docs.refresh()
    app.openapi()
    executor = rest.executor
    assert isinstance(executor, Executor)
    ((tx,),) = [executor.txs]
    assert (tx.role, tx.anonymous) == ("web_user", False)
    assert renderer.calls[0][1] == "v2"


async def test_without_known_privileges_nothing_of_the_api_is_described(
    renderer: Renderer,
) -> None:
    """And the privileges are then read in the background, for a later call."""
    rest = rest_app()
    rest.schema_cache = cache()
    app = mounted(rest)
    docs = include_in_openapi(app, rest)
    doc = app.openapi()
    assert list(doc["paths"]) == ["/health", "/pets"] and app.openapi_schema is None
    assert renderer.calls == []
    assert docs._task is not None
    await docs._task
    assert "/api/items" in app.openapi()["paths"]
    # A reload: the privileges read for the old cache say nothing about the new one.
    rest.schema_cache = cache()
    assert list(app.openapi()["paths"]) == ["/health", "/pets"]
    await docs._task
    assert "/api/items" in app.openapi()["paths"]


def test_outside_an_event_loop_nothing_is_started(renderer: Renderer) -> None:
    rest = rest_app()
    rest.schema_cache = cache()
    app = mounted(rest)
    docs = include_in_openapi(app, rest)
    assert "/api/items" not in app.openapi()["paths"]
    assert docs._task is None


async def test_a_failed_privileges_query_describes_nothing(renderer: Renderer) -> None:
    rest = rest_app(RuntimeError("connection refused"))
    events: list[Event] = []
    rest.observer = events.append
    rest.schema_cache = cache()
    app = mounted(rest)
    docs = include_in_openapi(app, rest)
    async with app.router.lifespan_context(app):
        assert [e.name for e in events] == ["openapi.privileges_failed"]
        assert "connection refused" in events[0].message
        assert list(app.openapi()["paths"]) == ["/health", "/pets"]
        assert docs._task is not None
        await docs._task  # tried again, in the background
        assert len(events) == 2 and list(app.openapi()["paths"]) == ["/health", "/pets"]
    assert app.openapi_schema is None


async def test_without_an_anonymous_role_the_anonymous_view_is_empty(renderer: Renderer) -> None:
    rest = rest_app(db_anon_role=None)
    rest.schema_cache = cache()
    app = mounted(rest)
    docs = include_in_openapi(app, rest)
    await docs.refresh()
    doc = app.openapi()
    assert list(doc["paths"]) == ["/health", "/pets"] and app.openapi_schema is doc
    executor = rest.executor
    assert isinstance(executor, Executor) and executor.txs == []
    assert renderer.calls == []


async def test_the_hosts_lifespan_reads_the_privileges(renderer: Renderer) -> None:
    rest = rest_app()
    rest.schema_cache = cache()
    app = mounted(rest)
    docs = include_in_openapi(app, rest)
    async with app.router.lifespan_context(app):
        doc = app.openapi()
        assert "/api/items" in doc["paths"] and app.openapi_schema is doc
    assert docs._task is None


def test_the_prefix_is_where_the_app_is_mounted(renderer: Renderer) -> None:
    rest = rest_app(openapi_mode="ignore-privileges")
    rest.schema_cache = cache()
    with pytest.raises(ValueError, match="mount it first"):
        include_in_openapi(fastapi_host(), rest)
    app = mounted(rest, "/db/")
    assert include_in_openapi(app, rest).prefix == "/db"
    assert "/db/items" in app.openapi()["paths"]
    app.mount("/again", rest)
    with pytest.raises(ValueError, match="pass prefix="):
        include_in_openapi(app, rest)
    with pytest.raises(ValueError, match="exposed schemas"):
        include_in_openapi(app, rest, "/again", schema="other")
    with pytest.raises(ValueError, match="already included under '/db'"):
        include_in_openapi(app, rest, "/db/")


def test_two_mounted_apis(renderer: Renderer) -> None:
    first = rest_app(openapi_mode="ignore-privileges")
    second = rest_app(openapi_mode="ignore-privileges")
    first.schema_cache = cache()
    app = mounted(first, "/one")
    app.mount("/two", second)
    include_in_openapi(app, first)
    include_in_openapi(app, second, schema="v2")
    assert sum(isinstance(r, Mount) for r in app.routes) == 2
    doc = app.openapi()
    assert "/one/items" in doc["paths"] and "/two/items" not in doc["paths"]
    assert app.openapi_schema is None  # the second is still to come
    second.schema_cache = cache()
    doc = app.openapi()
    assert {"/one/items", "/two/items"} <= set(doc["paths"])
    assert {"api.items", "v2.items"} <= set(doc["components"]["schemas"])
    assert app.openapi() is doc
    validate(doc)


# --------------------------------------------------------------------------------------------
# With the API's own OpenAPI 3.1 renderer


def schema_cache() -> SchemaCache:
    def column(name: str, data_type: str, nullable: bool = True) -> Column:
        return Column(name=name, data_type=data_type, base_type=data_type, nullable=nullable)

    rw = {"insertable": True, "updatable": True, "deletable": True}
    tables = [
        Table(
            schema="api",
            name="items",
            kind="table",
            columns=(column("id", "integer", nullable=False), column("name", "text")),
            primary_key=("id",),
            **rw,
        ),
        Table(schema="api", name='odd "name"', kind="table", columns=(column("x", "text"),), **rw),
        Table(schema="api", name="secrets", kind="table", columns=(column("s", "text"),), **rw),
    ]
    return SchemaCache(schemas=("api",), tables={t.qualified: t for t in tables})


async def test_the_apis_own_document_merges_into_fastapis() -> None:
    rest = rest_app(
        [
            {"kind": "relation", "schema": "api", "name": "items", "privileges": ["SELECT"]},
            {"kind": "relation", "schema": "api", "name": 'odd "name"', "privileges": []},
        ],
        openapi_security_active=True,
    )
    rest.schema_cache = schema_cache()
    app = mounted(rest)
    docs = include_in_openapi(app, rest)
    await docs.refresh()
    doc = app.openapi()
    validate(doc)
    paths, schemas = doc["paths"], doc["components"]["schemas"]
    assert {"/health", "/pets", "/api/", "/api/items", "/api/odd%20%22name%22"} <= set(paths)
    assert "/api/secrets" not in paths
    assert {"Pet", "api.items", "api.odd__name_"} <= set(schemas)
    assert not any("secrets" in name for name in schemas)
    refs = list(all_refs(doc))
    assert "#/components/schemas/api.items" in refs
    assert all(resolves(doc, ref) for ref in refs), [r for r in refs if not resolves(doc, r)]
    assert set(doc["components"]["securitySchemes"]) == {"api.JWT"}
    assert "security" not in doc and "security" not in paths["/health"]["get"]
    assert paths["/api/items"]["get"]["security"] == [{"api.JWT": []}, {}]
    assert paths["/api/items"]["get"]["operationId"] == "api_get_items"  # the host's /pets has it


def test_the_module_does_not_need_fastapi() -> None:
    code = (
        "import sys; sys.modules['fastapi'] = sys.modules['starlette'] = None\n"
        "import pgrest_asgi.contrib.fastapi"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
