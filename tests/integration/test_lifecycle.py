"""Lifespan, lazy start, NOTIFY reload, OPTIONS and CORS."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from pgrest_asgi import Event, Hooks, PgRestApp
from pgrest_asgi.schema import listener as listener_module
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import API_DB, app_settings, client_for

#: Generous: a wait ends as soon as what it waits for happens; this only bounds a failure.
WAIT = 60.0


async def test_lazy_start_opens_one_pool_for_many_first_requests(
    api_db: PostgresCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REL-35 / REL-41: 50 concurrent first requests, no lifespan: one start-up, one warning;
    one pool is opened and one listener started. In PostgreSQL, the sessions of the app (its
    own ``application_name``) are then exactly the pool's connections and one listener."""
    events: list[Event] = []
    name = f"rel35_{uuid.uuid4().hex[:8]}"
    dsn = api_db.dsn(API_DB, user="authenticator", application_name=name)
    app = PgRestApp(**app_settings(api_db, db_uri=dsn), hooks=Hooks(observer=events.append))
    opened = 0
    original = app.executor.open

    async def counting_open(**kwargs: Any) -> None:
        nonlocal opened
        opened += 1
        await original(**kwargs)

    app.executor.open = counting_open  # type: ignore[method-assign]
    started: list[listener_module.SchemaListener] = []

    class CountingListener(listener_module.SchemaListener):
        async def start(self) -> None:
            started.append(self)
            await super().start()

    monkeypatch.setattr(listener_module, "SchemaListener", CountingListener)
    try:
        async with client_for(app) as http:
            results = await asyncio.gather(
                *(http.get("/items?id=eq.1&select=id") for _ in range(50))
            )
        assert {(r.status_code, r.content) for r in results} == {(200, b'[{"id":1}]')}
        assert opened == 1
        assert [e.name for e in events].count("app.lazy_start") == 1
        assert started == [app.lifecycle.listener]
        listener_pid = app.lifecycle.listener.backend_pid
        assert listener_pid is not None
        pool = app.executor.pool  # type: ignore[attr-defined]

        def settled() -> bool:
            """Every connection of the pool is open and idle (none being opened)."""
            stats = pool.get_stats()
            return bool(stats["pool_size"] == stats["pool_available"])

        deadline = time.monotonic() + WAIT
        while not settled():
            assert time.monotonic() < deadline, pool.get_stats()
            await asyncio.sleep(0.01)
        pooled = {conn.info.backend_pid for conn in pool._pool}
        assert 1 <= len(pooled) <= 4
        with psycopg.connect(api_db.dsn(API_DB)) as admin:
            sessions = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [name]
            ).fetchall()
        assert sorted(pid for (pid,) in sessions) == sorted({*pooled, listener_pid})
    finally:
        await app.shutdown()


async def test_asgi_lifespan_protocol(api_db: PostgresCluster) -> None:
    app = PgRestApp(**app_settings(api_db))
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []
    answered = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        answered.set()

    task = asyncio.create_task(app({"type": "lifespan"}, inbox.get, send))  # type: ignore[arg-type]
    await inbox.put({"type": "lifespan.startup"})
    await asyncio.wait_for(answered.wait(), WAIT)
    assert sent == [{"type": "lifespan.startup.complete"}]
    assert app.schema_cache is not None
    await inbox.put({"type": "lifespan.shutdown"})
    await task
    assert sent[-1] == {"type": "lifespan.shutdown.complete"}
    assert app.executor.pool is None  # type: ignore[attr-defined]


async def test_database_down_serves_503_then_recovers(tmp_path: Any) -> None:
    """REL-26: no database at start-up → 503 PGRST002 with Retry-After, not a crash."""
    app = PgRestApp(
        f"host={tmp_path} port=1 dbname=x connect_timeout=1",
        schemas=["api"],
        db_anon_role="web_anon",
        db_pool_acquisition_timeout=1.0,
    )
    async with app.lifespan(), client_for(app) as http:
        resp = await http.get("/items")
        assert resp.status_code == 503
        assert resp.json()["code"] == "PGRST002"
        assert "retry-after" in resp.headers


async def test_notify_reload(app_factory: Any, api_db: PostgresCluster) -> None:
    """REL-30: a table created later is served after NOTIFY <db-channel>, 'reload schema'.
    The app listens on a channel of its own, so no other app of the session reloads, and the
    table is dropped again."""
    suffix = uuid.uuid4().hex[:8]
    table, channel = f"fresh_{suffix}", f"pgrst_{suffix}"
    loaded = asyncio.Event()

    def observe(event: Event) -> None:
        if event.name == "schema_cache.loaded":
            loaded.set()

    hooks = Hooks(observer=observe)
    async with app_factory(db_channel=channel, hooks=hooks) as (_, http):
        assert (await http.get(f"/{table}")).status_code == 404
        loaded.clear()
        with psycopg.connect(api_db.dsn(API_DB), autocommit=True) as conn:
            conn.execute(f"CREATE TABLE api.{table} (id int)")
            try:
                conn.execute(f"INSERT INTO api.{table} VALUES (7)")
                conn.execute(f"GRANT SELECT ON api.{table} TO web_anon")
                conn.execute(f"NOTIFY {channel}, 'reload schema'")
                await asyncio.wait_for(loaded.wait(), WAIT)
                resp = await http.get(f"/{table}")
                assert (resp.status_code, resp.json()) == (200, [{"id": 7}])
            finally:
                conn.execute(f"DROP TABLE api.{table}")


async def test_options(client: httpx.AsyncClient) -> None:
    resp = await client.options("/items")
    assert resp.status_code == 200
    assert resp.headers["allow"] == "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"
    assert resp.content == b""
    view = await client.options("/whoami")
    assert view.headers["allow"] == "OPTIONS,GET,HEAD"
    root = await client.options("/")
    assert root.headers["allow"] == "OPTIONS,GET,HEAD"
    missing = await client.options("/nope")
    assert missing.status_code == 404


async def test_cors(client: httpx.AsyncClient) -> None:
    pre = await client.options(
        "/items",
        headers={
            "Origin": "http://example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type",
        },
    )
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "*"
    assert pre.headers["access-control-allow-methods"] == (
        "GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD"
    )
    assert pre.headers["access-control-allow-headers"] == (
        "Authorization, Content-Type, Accept, Accept-Language, Content-Language"
    )
    assert pre.headers["access-control-max-age"] == "86400"
    normal = await client.get("/items?id=eq.1", headers={"Origin": "http://example.com"})
    assert normal.headers["access-control-allow-origin"] == "*"
    assert "Content-Range" in normal.headers["access-control-expose-headers"]
    no_origin = await client.get("/items?id=eq.1")
    assert "access-control-allow-origin" not in no_origin.headers


async def test_cors_allowed_origins(app_factory: Any) -> None:
    async with app_factory(server_cors_allowed_origins=("http://good.example",)) as (_, http):
        good = await http.get("/items?id=eq.1", headers={"Origin": "http://good.example"})
        assert good.headers["access-control-allow-origin"] == "http://good.example"
        assert good.headers["access-control-allow-credentials"] == "true"
        bad = await http.get("/items?id=eq.1", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in bad.headers


async def test_server_timing(app_factory: Any) -> None:
    async with app_factory(server_timing_enabled=True) as (_, http):
        resp = await http.get("/items?id=eq.1")
        names = [part.split(";")[0] for part in resp.headers["server-timing"].split(", ")]
        assert names == ["jwt", "parse", "plan", "transaction", "response"]


async def test_unexpected_exception_is_a_json_500(api_db: PostgresCluster) -> None:
    """A bug in a hook never reaches the client as a traceback."""
    from pgrest_asgi import SqlglotPlanner

    class BrokenPlanner(SqlglotPlanner):
        def plan(self, request: Any, schema: Any) -> Any:
            raise RuntimeError("secret internal detail")

    events: list[Event] = []
    settings = app_settings(api_db)
    app = PgRestApp(**settings, hooks=Hooks(observer=events.append))
    app.planner = BrokenPlanner(app.settings)
    async with app.lifespan(), client_for(app) as http:
        resp = await http.get("/items")
    assert resp.status_code == 500
    assert resp.content == (
        b'{"code":"PGRSTX00","details":null,"hint":null,"message":"Internal server error"}'
    )
    assert b"secret" not in resp.content
    # The error event, and the access log's record of the answer (5xx: at error level).
    assert [e.name for e in events if e.level == "error" and e.name != "request"] == [
        "app.unhandled"
    ]
    assert [e.fields["status"] for e in events if e.name == "request"] == [500]


async def test_failed_reload_keeps_the_old_cache(app_factory: Any, monkeypatch: Any) -> None:
    """REL-33: when a reload fails, the previous schema cache keeps serving."""
    import pgrest_asgi.schema.loader as loader

    async with app_factory() as (app, http):
        before = app.schema_cache

        async def failing(*args: Any, **kwargs: Any) -> Any:
            raise psycopg.OperationalError("catalog query timed out")

        monkeypatch.setattr(loader, "load_schema_cache", failing)
        assert await app.reload_schema() is False
        assert app.schema_cache is before
        assert (await http.get("/items?select=id&id=eq.1")).json() == [{"id": 1}]
