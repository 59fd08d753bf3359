"""The admin endpoints (``app.admin``) through ``httpx.ASGITransport``: /live, /ready across a
database outage, /metrics after real requests, /schema_cache, /config without secrets, 404s.

The outage is made without stopping the shared cluster: the app logs in as a role of its own,
which is refused (``NOLOGIN``) and its sessions terminated; the executor then marks the
database unreachable until the role may log in again. The app's events say when each state
is reached, so nothing waits a fixed time."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Mount

from pgrest_asgi import Hooks, PgRestApp
from pgrest_asgi.admin import redact_dsn
from pgrest_asgi.observe import Event
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import client_for, loaded_database, make_token

pytestmark = pytest.mark.db


def metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) → value, parsed as Prometheus parses the text format."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(values: dict[Any, float], name: str, **labels: str) -> float:
    return values[(name, tuple(sorted(labels.items())))]


async def scrape(admin: httpx.AsyncClient) -> dict[Any, float]:
    resp = await admin.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return metrics(resp.text)


# -- a running app ---------------------------------------------------------------------------
async def test_live_and_ready_while_serving(app_factory: Any) -> None:
    async with app_factory(db_pool=2) as (app, _), client_for(app.admin) as admin:
        for path in ("/live", "/ready"):
            resp = await admin.get(path)
            assert (resp.status_code, resp.content) == (200, b"")


async def test_metrics_follow_the_requests_made(app_factory: Any) -> None:
    async with app_factory(db_pool=2) as (app, http), client_for(app.admin) as admin:
        token = make_token({"role": "web_user"})
        for _ in range(3):
            resp = await http.get("/items?id=eq.1", headers={"Authorization": f"Bearer {token}"})
            assert resp.status_code == 200
        assert (await http.post("/items", json={"id": 1})).status_code == 401  # web_anon
        assert (await http.get("/nope")).status_code == 404
        values = await scrape(admin)
        assert sample(values, "pgrst_requests_total", method="GET", status="200") == 3
        assert sample(values, "pgrst_requests_total", method="POST", status="401") == 1
        assert sample(values, "pgrst_requests_total", method="GET", status="404") == 1
        get_ok = {"method": "GET", "status": "200"}
        assert sample(values, "pgrst_request_duration_seconds_count", **get_ok) == 3
        assert sample(values, "pgrst_request_duration_seconds_bucket", le="+Inf", **get_ok) == 3
        assert sample(values, "pgrst_request_duration_seconds_sum", **get_ok) > 0
        # The same token three times: looked up three times, found twice.
        assert sample(values, "pgrst_jwt_cache_requests_total") == 3
        assert sample(values, "pgrst_jwt_cache_hits_total") == 2
        assert sample(values, "pgrst_jwt_cache_evictions_total") == 0
        assert sample(values, "pgrst_schema_cache_loads_total", status="SUCCESS") == 1
        assert sample(values, "pgrst_schema_cache_loads_total", status="FAIL") == 0
        assert sample(values, "pgrst_schema_cache_query_time_seconds") > 0
        assert sample(values, "pgrst_db_pool_max") == 2
        assert sample(values, "pgrst_db_pool_waiting") == 0
        assert sample(values, "pgrst_db_pool_timeouts_total") == 0
        assert 1 <= sample(values, "pgrst_db_pool_available") <= 2
        # Reloading the schema cache counts as a load.
        assert await app.reload_schema()
        values = await scrape(admin)
        assert sample(values, "pgrst_schema_cache_loads_total", status="SUCCESS") == 2


async def test_requests_waiting_for_a_connection(app_factory: Any) -> None:
    async with app_factory(db_pool=1, db_pool_min=1) as (app, http), client_for(app.admin) as admin:
        assert app.executor.pool is not None
        await app.executor.pool.wait()
        async with app.executor.pool.connection():  # the only connection, taken
            values = await scrape(admin)
            assert sample(values, "pgrst_db_pool_available") == 0
            waiting = asyncio.create_task(http.get("/items?id=eq.1"))
            deadline = time.monotonic() + 30
            while sample(values, "pgrst_db_pool_waiting") != 1:
                assert time.monotonic() < deadline, "the request never waited for the pool"
                await asyncio.sleep(0.01)
                values = await scrape(admin)
        resp = await waiting
        assert resp.status_code == 200
        assert sample(await scrape(admin), "pgrst_db_pool_waiting") == 0


async def test_pool_timeouts_are_counted(app_factory: Any) -> None:
    async with (
        app_factory(db_pool=1, db_pool_min=1, db_pool_acquisition_timeout=0.2) as (app, http),
        client_for(app.admin) as admin,
    ):
        assert app.executor.pool is not None
        async with app.executor.pool.connection():
            resp = await http.get("/items?id=eq.1")
        assert (resp.status_code, resp.json()["code"]) == (504, "PGRST003")
        assert sample(await scrape(admin), "pgrst_db_pool_timeouts_total") == 1


async def test_metrics_head_and_openmetrics(app_factory: Any) -> None:
    async with app_factory() as (app, _), client_for(app.admin) as admin:
        head = await admin.head("/metrics")
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        resp = await admin.get("/metrics", headers={"Accept": "application/openmetrics-text"})
        assert resp.headers["content-type"].startswith("application/openmetrics-text")
        assert resp.text.endswith("# EOF\n")
        assert "pgrst_db_pool_max 4.0" in resp.text


async def test_schema_cache(app_factory: Any) -> None:
    async with app_factory() as (app, _), client_for(app.admin) as admin:
        resp = await admin.get("/schema_cache")
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/json; charset=utf-8"
        body = resp.json()
        assert body["schemas"] == ["api", "v2"]
        items = body["tables"]["api.items"]
        assert (items["schema"], items["name"], items["kind"]) == ("api", "items", "table")
        assert "id" in [c["name"] for c in items["columns"]]
        assert body["pg_version"] >= 130000
        head = await admin.head("/schema_cache")
        assert (head.status_code, head.content) == (200, b"")


async def test_unknown_paths_and_methods(app_factory: Any) -> None:
    async with app_factory() as (app, _), client_for(app.admin) as admin:
        for path in ("/", "/nope", "/live/", "/items", "/metrics/x"):
            resp = await admin.get(path)
            assert (resp.status_code, resp.content) == (404, b""), path
        resp = await admin.post("/live")
        assert (resp.status_code, resp.headers["allow"]) == (405, "GET, HEAD")


async def test_mounted_in_a_host(app_factory: Any) -> None:
    async with app_factory() as (app, _):
        host = Starlette(routes=[Mount("/admin", app=app.admin)])
        async with client_for(host) as http:
            assert (await http.get("/admin/ready")).status_code == 200
            assert (await http.get("/admin/live")).status_code == 200
            assert "pgrst_requests" in (await http.get("/admin/metrics")).text
            assert (await http.get("/admin/nope")).status_code == 404


# -- an app that is not running ----------------------------------------------------------------
DSN = "postgresql://authenticator:s3cr3t-pw@localhost:5432/app?sslmode=disable"
SECRET = "a-secret-of-at-least-thirty-two-characters"


async def test_before_start() -> None:
    app = PgRestApp(DSN, schemas=["api"], db_anon_role="web_anon", jwt_secret=SECRET)
    async with client_for(app.admin) as admin:
        assert (await admin.get("/live")).status_code == 500
        assert (await admin.get("/ready")).status_code == 500
        resp = await admin.get("/schema_cache")
        assert resp.status_code == 503
        assert resp.json() == {
            "code": "PGRST002",
            "details": None,
            "hint": None,
            "message": "Could not query the database for the schema cache. Retrying.",
        }
        assert resp.headers["retry-after"] == "1"
        # Nothing was started by asking.
        assert app.lifecycle.started is False
        # The admin app answers its own lifespan without starting the API app.
        assert (await admin.get("/metrics")).status_code == 200


async def test_config_without_secrets() -> None:
    app = PgRestApp(DSN, schemas=["api"], db_anon_role="web_anon", jwt_secret=SECRET, db_max_rows=5)
    async with client_for(app.admin) as admin:
        resp = await admin.get("/config")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/plain; charset=utf-8"
    lines = resp.text.splitlines()
    assert 'db-uri = "postgresql://authenticator:********@localhost:5432/app?sslmode=disable"' in (
        lines
    )
    assert 'jwt-secret = "********"' in lines
    assert 'db-schemas = "api"' in lines
    assert "db-max-rows = 5" in lines
    assert "s3cr3t" not in resp.text
    assert SECRET not in resp.text
    # The rest is the running configuration, as --dump-config prints it.
    secret = ("db-uri", "jwt-secret =")
    expected = [line for line in app.settings.dump().splitlines() if not line.startswith(secret)]
    assert [line for line in lines if not line.startswith(secret)] == expected


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:********@h/db"),
        ("postgres://u@h/db", "postgres://u@h/db"),
        ("postgresql://u:p@ss@h:5432,h2:5433/db", "postgresql://u:********@h:5432,h2:5433/db"),
        (
            "postgresql:///db?user=u&password=pw&host=/tmp",
            "postgresql:///db?user=u&password=********&host=/tmp",
        ),
        ("host=h user=u password=pw dbname=db", "host=h user=u password=******** dbname=db"),
        ("host=h password = 'p w\\' x' dbname=db", "host=h password = ******** dbname=db"),
        ("host=/tmp dbname=db", "host=/tmp dbname=db"),
        ("postgresql://", "postgresql://"),
    ],
)
def test_redact_dsn(dsn: str, shown: str) -> None:
    assert redact_dsn(dsn) == shown


# -- across an outage ---------------------------------------------------------------------------
SQL = """
CREATE SCHEMA api;
CREATE TABLE api.items (id int PRIMARY KEY);
INSERT INTO api.items SELECT generate_series(1, 3);
GRANT USAGE ON SCHEMA api TO web_anon;
GRANT SELECT ON api.items TO web_anon;
"""


class Events:
    """The app's events, and a way to wait for one without sleeping a fixed time."""

    def __init__(self) -> None:
        self.seen: list[Event] = []
        self._new = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.seen.append(event)
        self._new.set()

    async def wait_for(self, name: str) -> Event:
        async def found() -> Event:
            while True:
                self._new.clear()
                for event in self.seen:
                    if event.name == name:
                        return event
                await self._new.wait()

        return await asyncio.wait_for(found(), timeout=30)


class Database(msgspec.Struct):
    cluster: PostgresCluster
    dbname: str
    role: str

    def refuse(self) -> None:
        """The role may no longer log in, and its sessions end: the database is gone for
        the app."""
        self.cluster.run_sql(
            f"ALTER ROLE {self.role} NOLOGIN;"
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{self.role}'"
        )

    def accept(self) -> None:
        self.cluster.run_sql(f"ALTER ROLE {self.role} LOGIN")


@pytest.fixture
def database(api_db: PostgresCluster) -> Iterator[Database]:
    role = "adm_" + uuid.uuid4().hex[:10]
    api_db.run_sql(f"CREATE ROLE {role} LOGIN NOINHERIT; GRANT web_anon TO {role};")
    try:
        with loaded_database(api_db, "adm", SQL) as dbname:
            yield Database(api_db, dbname, role)
    finally:
        api_db.run_sql(f"DROP ROLE {role};")


@asynccontextmanager
async def running(
    database: Database, events: Events
) -> AsyncIterator[tuple[PgRestApp, httpx.AsyncClient, httpx.AsyncClient]]:
    app = PgRestApp(
        database.cluster.dsn(database.dbname, user=database.role),
        schemas=["api"],
        db_anon_role="web_anon",
        db_pool=1,
        db_channel_enabled=False,
        hooks=Hooks(observer=events),
    )
    async with app.lifespan(), client_for(app) as http, client_for(app.admin) as admin:
        yield app, http, admin


async def test_ready_across_an_outage(database: Database) -> None:
    events = Events()
    async with running(database, events) as (_, http, admin):
        assert (await admin.get("/ready")).status_code == 200
        database.refuse()
        resp = await http.get("/items")
        assert (resp.status_code, resp.json()["code"]) == (503, "PGRST000")
        await events.wait_for("db.unreachable")
        started = time.monotonic()
        assert (await admin.get("/ready")).status_code == 503
        assert (await admin.get("/live")).status_code == 200
        assert (await admin.get("/schema_cache")).status_code == 200  # still the one loaded
        values = await scrape(admin)
        assert time.monotonic() - started < 5, "the admin endpoints waited for the database"
        assert sample(values, "pgrst_db_pool_available") == 0
        assert sample(values, "pgrst_requests_total", method="GET", status="503") == 1

        database.accept()
        await events.wait_for("db.recovered")
        assert (await admin.get("/ready")).status_code == 200
        assert (await http.get("/items")).status_code == 200


async def test_ready_once_the_schema_cache_loads(database: Database) -> None:
    """Started while the database refuses the app: running (live) but not ready, and
    /schema_cache says why, until the first load succeeds."""
    events = Events()
    database.refuse()
    async with running(database, events) as (_, http, admin):
        assert (await admin.get("/live")).status_code == 200
        assert (await admin.get("/ready")).status_code == 503
        resp = await admin.get("/schema_cache")
        assert (resp.status_code, resp.json()["code"]) == (503, "PGRST002")
        assert "not permitted to log in" in resp.json()["details"]
        values = await scrape(admin)
        assert sample(values, "pgrst_schema_cache_loads_total", status="FAIL") >= 1
        assert sample(values, "pgrst_schema_cache_loads_total", status="SUCCESS") == 0

        database.accept()
        await events.wait_for("schema_cache.loaded")
        assert (await admin.get("/ready")).status_code == 200
        assert (await http.get("/items")).status_code == 200
        values = await scrape(admin)
        assert sample(values, "pgrst_schema_cache_loads_total", status="SUCCESS") == 1
