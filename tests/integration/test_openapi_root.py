"""``GET /``: the Swagger 2.0 document over HTTP (negotiation, modes, privileges, profiles)."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from tests.conftest import make_token

ANON: dict[str, str] = {}
USER = {"Authorization": "Bearer " + make_token({"role": "web_user"})}


@pytest.mark.parametrize("accept", [None, "application/openapi+json", "application/json", "*/*"])
async def test_the_root_is_the_swagger_document(client: Any, accept: str | None) -> None:
    headers = {"Accept": accept} if accept else {}
    resp = await client.get("/", headers=headers)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/openapi+json; charset=utf-8"
    assert resp.headers["content-profile"] == "api"  # two schemas are exposed
    document = resp.json()
    assert document["swagger"] == "2.0"
    assert document["paths"]["/items"]["get"]["tags"] == ["items"]


async def test_head_and_unacceptable_types(client: Any) -> None:
    head = await client.head("/")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-type"] == "application/openapi+json; charset=utf-8"
    resp = await client.get("/", headers={"Accept": "text/csv"})
    assert (resp.status_code, resp.json()) == (
        406,
        {
            "code": "PGRST107",
            "details": None,
            "hint": None,
            "message": "None of these media types are available: text/csv",
        },
    )
    # The OpenAPI media type means nothing on a table.
    resp = await client.get("/items", headers={"Accept": "application/openapi+json"})
    assert (resp.status_code, resp.json()["code"]) == (406, "PGRST107")
    resp = await client.post("/", json={})
    assert (resp.status_code, resp.json()["code"]) == (405, "PGRST117")


async def test_follow_privileges(client: Any) -> None:
    """What the caller may use: ``api.secrets`` is web_user's alone."""
    anon = (await client.get("/", headers=ANON)).json()
    user = (await client.get("/", headers=USER)).json()
    assert "/secrets" not in anon["paths"] and "secrets" not in anon["definitions"]
    assert "/secrets" in user["paths"] and "secrets" in user["definitions"]
    assert "/items" in anon["paths"]


async def test_ignore_privileges_and_disabled(app_factory: Any) -> None:
    async with app_factory(openapi_mode="ignore-privileges") as (_, http):
        document = (await http.get("/")).json()
        assert "/secrets" in document["paths"]
    async with app_factory(openapi_mode="disabled") as (_, http):
        resp = await http.get("/")
        assert (resp.status_code, resp.json()) == (
            404,
            {
                "code": "PGRST126",
                "details": None,
                "hint": None,
                "message": "Root endpoint metadata is disabled",
            },
        )


async def test_accept_profile_chooses_the_schema(client: Any) -> None:
    resp = await client.get("/", headers={"Accept-Profile": "v2"})
    assert resp.headers["content-profile"] == "v2"
    document = resp.json()
    assert set(document["paths"]) >= {"/", "/items", "/reviews", "/rpc/schema_name"}
    assert "/films" not in document["paths"]  # an api table
    assert set(document["definitions"]["items"]["properties"]) == {"id", "label"}


async def test_the_fixture_document_is_valid_swagger(client: Any) -> None:
    document = (await client.get("/", headers=USER)).json()
    try:
        validate(document)
    except OpenAPIValidationError as exc:  # pragma: no cover - the message is the point
        pytest.fail(f"invalid Swagger 2.0: {exc}")


async def test_the_demo_documents_are_valid() -> None:
    """The demo's schema (its own cluster: the demo creates roles the fixture has too)."""
    from importlib import resources

    from joserfc import jwt
    from joserfc.jwk import OctKey

    from pgrest_asgi import PgRestApp
    from pgrest_asgi.cli import DEMO_JWT_SECRET
    from pgrest_asgi.testing import PostgresCluster
    from tests.conftest import client_for

    cluster = PostgresCluster()
    cluster.start()
    try:
        cluster.create_database("demo")
        cluster.run_sql(resources.files("pgrest_asgi").joinpath("demo.sql").read_text(), "demo")
        app = PgRestApp(
            cluster.dsn("demo", user="authenticator"),
            schemas=["api"],
            db_anon_role="web_anon",
            jwt_secret=DEMO_JWT_SECRET,
        )
        token = jwt.encode(
            {"alg": "HS256"}, {"role": "todo_user"}, OctKey.import_key(DEMO_JWT_SECRET)
        )
        async with app.lifespan(), client_for(app) as http:
            anon = (await http.get("/")).json()
            user = (await http.get("/", headers={"Authorization": f"Bearer {token}"})).json()
            oas31 = {"Accept": "application/vnd.oai.openapi+json;version=3.1"}
            anon31 = (await http.get("/", headers=oas31)).json()
    finally:
        cluster.stop()
    validate(anon31)
    assert anon31["openapi"] == "3.1.0"
    for document in (anon, user):
        validate(document)
        assert {"/films", "/directors", "/todos"} <= set(document["paths"])
    assert anon["info"]["title"] != ""


async def test_openapi_31_by_accept_or_setting(client: Any, app_factory: Any) -> None:
    resp = await client.get("/", headers={"Accept": "application/vnd.oai.openapi+json;version=3.1"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == (
        "application/vnd.oai.openapi+json;version=3.1; charset=utf-8"
    )
    document = resp.json()
    assert document["openapi"] == "3.1.0"
    validate(document)
    assert "/items" in document["paths"]
    # Relative to where the app is mounted (here: not mounted), so "Try it out" works anywhere.
    assert document["servers"] == [{"url": "/"}]
    # A version we do not produce is not acceptable.
    resp = await client.get("/", headers={"Accept": "application/vnd.oai.openapi+json;version=3.0"})
    assert (resp.status_code, resp.json()["code"]) == (406, "PGRST107")
    async with app_factory(openapi_version="3.1") as (_, http):
        assert (await http.get("/")).json()["openapi"] == "3.1.0"
        swagger = await http.get("/", headers={"Accept": "application/openapi+json"})
        assert swagger.json()["openapi"] == "3.1.0"  # the configured default document


async def test_the_docs_page_setting(app_factory: Any) -> None:
    """``openapi-docs-path``: the app serves Swagger UI there (the page's own tests are in
    test_docs_page.py); without it the path is an ordinary table name."""
    async with app_factory(openapi_docs_path="/docs") as (_, http):
        page = await http.get("/docs/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert (await http.get("/items?id=eq.1&select=id")).json() == [{"id": 1}]
    async with app_factory() as (_, http):
        resp = await http.get("/docs/")
        assert (resp.status_code, resp.json()["code"]) == (404, "PGRST205")


async def test_db_root_spec_answers_the_root_with_a_function(app_factory: Any) -> None:
    expected = {"swagger": "2.0", "info": {"title": "hand-written", "version": "1"}}
    async with app_factory(db_root_spec="custom_root") as (_, http):
        for accept in (None, "application/json", "application/openapi+json"):
            resp = await http.get("/", headers={"Accept": accept} if accept else {})
            assert (resp.status_code, resp.json()) == (200, expected), accept
            assert resp.headers["content-type"] == "application/json; charset=utf-8"
        resp = await http.get("/", headers={"Accept": "application/xml"})
        assert (resp.status_code, resp.json()["code"]) == (406, "PGRST107")


async def test_the_31_server_is_the_mount(api_db: Any) -> None:
    """Mounted under /api, the 3.1 document's server is /api (2.0 keeps PostgREST's
    server-host/port); openapi-server-proxy-uri wins over both."""
    import httpx
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from pgrest_asgi import PgRestApp
    from tests.conftest import app_settings

    oas31 = {"Accept": "application/vnd.oai.openapi+json;version=3.1"}
    for proxy, expected in ((None, "/api"), ("https://api.example.com:8443/v1", None)):
        cfg = app_settings(api_db, openapi_server_proxy_uri=proxy)
        rest = PgRestApp(cfg.pop("db_uri"), **cfg)
        host = Starlette(routes=[Mount("/api", app=rest)])
        async with (
            rest.lifespan(),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=host), base_url="http://test"
            ) as http,
        ):
            servers = (await http.get("/api/", headers=oas31)).json()["servers"]
            swagger = (await http.get("/api/")).json()
        if expected is not None:
            assert servers == [{"url": expected}]
            assert swagger["basePath"] == "/"
        else:
            assert servers == [{"url": "https://api.example.com:8443/v1"}]
