"""Every file in examples/ is imported and exercised against the real database."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

import httpx

from pgrest_asgi import Settings
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import app_settings, client_for, strict_loads

EXAMPLES = sorted(
    p.stem for p in (Path(__file__).parents[2] / "examples").glob("*.py") if p.stem != "__init__"
)


def test_every_example_is_covered() -> None:
    assert EXAMPLES == ["custom_auth", "django_asgi", "fastapi_mount", "soft_delete_pass"]
    for name in EXAMPLES:
        importlib.import_module(f"examples.{name}")


def _settings(cluster: PostgresCluster) -> Settings:
    return Settings.from_mapping(app_settings(cluster))


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
    from examples.fastapi_mount import create_app

    app = create_app(_settings(api_db))
    async with app.router.lifespan_context(app), client_for(app) as http:
        assert (await http.get("/health")).json() == {"ok": True}
        resp = await http.get("/api/items?select=id&id=eq.3")
        assert resp.json() == [{"id": 3}]
        assert resp.headers["content-location"] == "/items?id=eq.3&select=id"
        # REL-44: Location points at the row through the mount.
        resp = await http.post(
            "/api/w_authors",
            json={"id": 970, "name": "mounted"},
            headers={"Prefer": "return=headers-only"},
        )
        assert (resp.status_code, resp.headers["location"]) == (201, "/api/w_authors?id=eq.970")


async def test_django_combine(api_db: PostgresCluster) -> None:
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

    application = create_application(get_asgi_application(), _settings(api_db))
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
    assert sent[0] == {"type": "lifespan.startup.complete"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://test"
    ) as http:
        ours = await http.get("/api/items?select=id&id=eq.1")
        assert ours.json() == [{"id": 1}]
        assert (await http.get("/apix/items")).status_code == 404
        assert "PGRST" not in (await http.get("/apix/items")).text
        django_page = await http.get("/hello/")
        assert (django_page.status_code, django_page.text) == (200, "hello from django")
    stop.set()
    await task
    assert sent[-1] == {"type": "lifespan.shutdown.complete"}


def _hello(request: object) -> object:
    from django.http import HttpResponse

    return HttpResponse("hello from django")


def _urlpatterns() -> list[object]:
    from django.urls import path

    return [path("hello/", _hello)]


def __getattr__(name: str) -> object:
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)
