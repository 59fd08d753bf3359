"""Every file in examples/ is imported and exercised against the real database."""

from __future__ import annotations

import asyncio
import importlib
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
from starlette.routing import Mount

from pgrest_asgi import Event, PgRestApp, Settings
from pgrest_asgi.db.executor import PsycopgExecutor
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import API_DB, app_settings, client_for, strict_loads
from tests.integration.test_lifecycle_scenarios import loop_errors, until

EXAMPLES = sorted(
    p.stem for p in (Path(__file__).parents[2] / "examples").glob("*.py") if p.stem != "__init__"
)


def test_every_example_is_covered() -> None:
    assert EXAMPLES == [
        "custom_auth",
        "custom_endpoint",
        "custom_operator",
        "django_asgi",
        "fastapi_mount",
        "response_cache",
        "soft_delete_pass",
        "tenant_isolation",
    ]
    for name in EXAMPLES:
        importlib.import_module(f"examples.{name}")


def _settings(cluster: PostgresCluster, application_name: str | None = None) -> Settings:
    """The fixture settings; with ``application_name``, the app's connections carry it."""
    if application_name is None:
        return Settings.from_mapping(app_settings(cluster))
    dsn = cluster.dsn(API_DB, user="authenticator", application_name=application_name)
    return Settings.from_mapping(app_settings(cluster, db_uri=dsn))


def _connections(cluster: PostgresCluster, application_name: str) -> int:
    """The open connections (pool and listener) of the app named ``application_name``."""
    with psycopg.connect(cluster.dsn(API_DB)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            [application_name],
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_custom_authenticator(api_db: PostgresCluster) -> None:
    from examples.custom_auth import create_app

    app = create_app(_settings(api_db))
    async with app.lifespan(), client_for(app) as http:
        as_service = await http.get("/secrets", headers={"X-Api-Key": "svc-reporting-4f9a2c"})
        assert as_service.json() == [{"id": 1, "secret": "s3cr3t"}]
        wrong_key = await http.get("/secrets", headers={"X-Api-Key": "nope"})
        assert wrong_key.status_code == 401
        who = await http.get("/whoami?select=claims", headers={"X-Api-Key": "svc-reporting-4f9a2c"})
        assert strict_loads(who.json()[0]["claims"]) == {
            "role": "web_user",
            "auth": "api-key",
        }


async def test_planner_pass(api_db: PostgresCluster) -> None:
    from examples.soft_delete_pass import create_app

    cfg = app_settings(api_db)
    app = create_app(cfg.pop("db_uri"), **cfg)
    async with app.lifespan(), client_for(app) as http:
        resp = await http.get("/posts?select=id,title&order=id")
        assert resp.json() == [{"id": 1, "title": "kept"}, {"id": 3, "title": "also kept"}]
        # Tables without deleted_at are untouched.
        assert len((await http.get("/items?select=id")).json()) == 20


async def test_fastapi_mount(api_db: PostgresCluster) -> None:
    """REL-40: mounted with ``mount_into``, the app starts in the parent's lifespan (pool,
    schema cache and listener ready before the first request, no lazy start) and is closed
    by it: its PostgreSQL sessions end, no task of its own is left running, and the event
    loop reports no destroyed pending task or unretrieved exception."""
    from fastapi import FastAPI
    from openapi_spec_validator import validate

    from examples.fastapi_mount import create_app
    from pgrest_asgi.contrib.fastapi import include_in_openapi

    name = f"rel40_{uuid.uuid4().hex[:8]}"
    events: list[Event] = []
    app = create_app(_settings(api_db, name))
    (rest,) = [route.app for route in app.routes if isinstance(route, Mount)]
    assert isinstance(rest, PgRestApp)
    rest.observer = events.append
    tasks_before = asyncio.all_tasks()
    with loop_errors() as reported:
        async with app.router.lifespan_context(app), client_for(app) as http:
            # Started by the parent's lifespan, before any request.
            assert rest.schema_cache is not None
            assert isinstance(rest.executor, PsycopgExecutor) and rest.executor.pool is not None
            assert rest.lifecycle.listener is not None
            await until(
                lambda: _connections(api_db, name) >= 2, "the pool and the listener to connect"
            )
            assert (await http.get("/health")).json() == {"ok": True}
            resp = await http.get("/api/items?select=id&id=eq.3")
            assert (resp.status_code, resp.content) == (200, b'[{"id":3}]')
            assert resp.headers["content-location"] == "/items?id=eq.3&select=id"
            # REL-44: Location points at the row through the mount.
            resp = await http.post(
                "/api/w_authors",
                json={"id": 970, "name": "mounted"},
                headers={"Prefer": "return=headers-only"},
            )
            assert (resp.status_code, resp.headers["location"]) == (201, "/api/w_authors?id=eq.970")
            # FastAPI's own document (its /docs) describes the host's routes and, under the
            # mount path, the database's as the anonymous role may use them.
            doc = app.openapi()
            validate(doc)
            paths, schemas = doc["paths"], doc["components"]["schemas"]
            assert {"/health", "/api/items", "/api/w_authors", "/api/rpc/brew"} <= set(paths)
            assert {"api.items", "api.w_authors"} <= set(schemas)
            refs: list[str] = []

            def collect(node: Any) -> None:
                if isinstance(node, dict):
                    refs.extend(v for k, v in node.items() if k == "$ref" and isinstance(v, str))
                    node = list(node.values())
                for child in node if isinstance(node, list) else ():
                    collect(child)

            collect(doc)
            assert "#/components/schemas/api.items" in refs
            for ref in refs:  # every one resolves, in the merged document
                node: Any = doc
                for part in ref.removeprefix("#/").split("/"):
                    node = node[part.replace("~1", "/").replace("~0", "~")]
            assert "/api/secrets" not in paths and "api.secrets" not in schemas  # web_user's
            assert app.openapi() is doc and (await http.get("/openapi.json")).json() == doc
            # The role a host passes sees its own view.
            host = FastAPI()
            docs = include_in_openapi(host, rest, "/api", role="web_user")
            await docs.refresh()
            assert "/api/secrets" in host.openapi()["paths"]
        # Shut down with the parent.
        assert rest.executor.pool is None and rest.lifecycle.listener is None
        # No task left running for good. Tasks of the session's other apps may come and go
        # meanwhile: wait for them rather than fail on them. A pool's scheduler (psycopg_pool)
        # waits with asyncio.wait_for(event.wait(), delay), which on Python 3.11 makes a new
        # Event.wait task at every wake-up, so while the session's other pools live there is
        # always a new one: those are not ours (our pool is closed, and its PostgreSQL sessions
        # end, as checked here).

        def left() -> list[asyncio.Task[Any]]:
            return [
                t
                for t in asyncio.all_tasks() - tasks_before
                if getattr(t.get_coro(), "__qualname__", "") != "Event.wait"
            ]

        await until(lambda: not left(), f"tasks to end: {[t.get_coro() for t in left()]}")
        await until(lambda: _connections(api_db, name) == 0, "the app's connections to close")
    assert reported == []
    assert [e.name for e in events if e.name == "app.lazy_start"] == []


async def test_django_combine(api_db: PostgresCluster) -> None:
    """REL-42: ``combine`` sends ``/api/items`` and ``/api`` itself to us, ``/apix`` and
    ``/admin/`` to Django, and answers the lifespan without Django ever seeing it."""
    import django
    from django.conf import settings as dj

    if not dj.configured:
        dj.configure(
            ROOT_URLCONF=__name__,
            ALLOWED_HOSTS=["*"],
            DEBUG=False,
            SECRET_KEY="tests-only-" + "x" * 40,
        )
        django.setup()
    from django.core.asgi import get_asgi_application

    from examples.django_asgi import create_application

    django_app = get_asgi_application()
    #: (type, path, root_path) of every scope that reached Django.
    seen_by_django: list[tuple[object, object, object]] = []

    async def recording_django(scope: Any, receive: Any, send: Any) -> None:
        seen_by_django.append((scope["type"], scope.get("path"), scope.get("root_path")))
        await django_app(scope, receive, send)

    name = f"rel42_{uuid.uuid4().hex[:8]}"
    application = create_application(recording_django, _settings(api_db, name))
    messages = iter([{"type": "lifespan.startup"}])
    sent: list[dict[str, object]] = []
    answered = asyncio.Event()

    async def send(message: dict[str, object]) -> None:
        sent.append(message)
        answered.set()

    # Start the lifespan in the background; Django must never see it.
    stop = asyncio.Event()

    async def receive_then_stop() -> dict[str, object]:
        try:
            return next(messages)
        except StopIteration:
            await stop.wait()
            return {"type": "lifespan.shutdown"}

    task = asyncio.create_task(application({"type": "lifespan"}, receive_then_stop, send))
    await asyncio.wait_for(answered.wait(), 60)  # generous: it ends at start-up
    assert sent == [{"type": "lifespan.startup.complete"}]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://test"
    ) as http:
        ours = await http.get("/api/items?select=id&id=eq.1")
        assert (ours.status_code, ours.content) == (200, b'[{"id":1}]')
        assert ours.headers["content-location"] == "/items?id=eq.1&select=id"
        # /api itself is our root: PostgREST's OpenAPI document.
        for root in ("/api", "/api/"):
            resp = await http.get(root)
            assert resp.status_code == 200, root
            assert resp.headers["content-type"] == "application/openapi+json; charset=utf-8"
            assert resp.json()["swagger"] == "2.0"
            assert "/items" in resp.json()["paths"]
        resp = await http.options("/api")
        assert (resp.status_code, resp.content) == (200, b"")
        assert resp.headers["allow"] == "OPTIONS,GET,HEAD"
        resp = await http.post(
            "/api/w_authors",
            json={"id": 971, "name": "combined"},
            headers={"Prefer": "return=headers-only"},
        )
        assert (resp.status_code, resp.headers["location"]) == (201, "/api/w_authors?id=eq.971")
        assert seen_by_django == []

        for path in ("/apix/items", "/apix", "/admin/"):
            resp = await http.get(path)
            assert resp.status_code == 404, path
            assert resp.headers["content-type"] == "text/html; charset=utf-8", path
            assert "proxy-status" not in resp.headers and "PGRST" not in resp.text, path
        admin = await http.get("/admin/login/")
        assert (admin.status_code, admin.text) == (200, "django admin login")
        django_page = await http.get("/hello/")
        assert (django_page.status_code, django_page.text) == (200, "hello from django")
    stop.set()
    await asyncio.wait_for(task, 60)
    assert sent[-1] == {"type": "lifespan.shutdown.complete"}
    assert seen_by_django == [
        ("http", "/apix/items", ""),
        ("http", "/apix", ""),
        ("http", "/admin/", ""),
        ("http", "/admin/login/", ""),
        ("http", "/hello/", ""),
    ]
    # The lifespan closed our pool and listener.
    await until(lambda: _connections(api_db, name) == 0, "the app's connections to close")


def _hello(request: object) -> object:
    from django.http import HttpResponse

    return HttpResponse("hello from django")


def _admin_login(request: object) -> object:
    from django.http import HttpResponse

    return HttpResponse("django admin login")


def _urlpatterns() -> list[object]:
    from django.urls import path

    return [path("hello/", _hello), path("admin/login/", _admin_login)]


def __getattr__(name: str) -> object:
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)
