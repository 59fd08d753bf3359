"""Lifecycle scenarios: an exhausted pool (REL-06), a wrong database password (REL-29), a
column dropped behind the schema cache's back (REL-34), two apps in one process (REL-43) and
shutdown while requests are in flight (REL-45).

Waits end as soon as what they wait for happens (an event, a lock, a pool statistic); ``WAIT``
only bounds a failure. Time is asserted only to tell "at once" from "after a timeout" (the
acquisition timeouts here are 30 s or more), never as a figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool

from pgrest_asgi import Event, Hooks, PgRestApp
from pgrest_asgi.db.executor import PsycopgExecutor
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import API_DB, app_settings, client_for

#: Generous: a wait ends as soon as what it waits for happens; this only bounds a failure.
WAIT = 60.0


async def until(check: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    """Poll ``check`` (something no event announces: a pool statistic, a server view) until it
    holds; fail after ``WAIT`` seconds."""
    deadline = time.monotonic() + WAIT
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.01)


@contextlib.contextmanager
def loop_errors() -> Iterator[list[dict[str, Any]]]:
    """What the event loop reports to its exception handler meanwhile ("Task was destroyed but
    it is pending!", "Task exception was never retrieved", …): those are logged, not warned,
    so ``filterwarnings = error`` would not catch them. Garbage is collected before the end,
    so a task dropped while pending is reported here."""
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        yield reported
        gc.collect()
    finally:
        loop.set_exception_handler(previous)


def executor(app: PgRestApp) -> PsycopgExecutor:
    assert isinstance(app.executor, PsycopgExecutor)
    return app.executor


def open_pool(app: PgRestApp) -> AsyncConnectionPool[Any]:
    pool = executor(app).pool
    assert pool is not None, "the app's pool is not open"
    return pool


def dbname(dsn: str) -> str:
    return str(conninfo_to_dict(dsn)["dbname"])


def error_body(code: str, message: str, details: str | None = None) -> dict[str, Any]:
    return {"code": code, "details": details, "hint": None, "message": message}


# -- REL-06 -----------------------------------------------------------------------------------

#: (method, path, request arguments) → (status, body, headers that must be present).
NO_CONNECTION_NEEDED: list[tuple[str, str, dict[str, Any], int, Any, dict[str, str]]] = [
    (
        "OPTIONS",
        "/items",
        {},
        200,
        b"",
        {"allow": "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"},
    ),
    (
        "OPTIONS",
        "/items",
        {
            "headers": {
                "Origin": "http://example.com",
                "Access-Control-Request-Method": "POST",
            }
        },
        200,
        b"",
        {"access-control-allow-origin": "*"},
    ),
    (
        "GET",
        "/nope",
        {},
        404,
        error_body("PGRST205", "Could not find the table 'api.nope' in the schema cache"),
        {"proxy-status": "PostgREST; error=PGRST205"},
    ),
    (
        "OPTIONS",
        "/nope",
        {},
        404,
        error_body("PGRST205", "Could not find the table 'api.nope' in the schema cache"),
        {},
    ),
    (
        "GET",
        "/a/b/c",
        {},
        404,
        error_body("PGRST125", "Invalid path specified in request URL"),
        {},
    ),
    (
        "GET",
        "/rpc/nope",
        {},
        404,
        error_body(
            "PGRST202",
            "Could not find the function api.nope without parameters in the schema cache",
            "Searched for the function api.nope without parameters, but no matches were "
            "found in the schema cache.",
        ),
        {},
    ),
    (
        "TRACE",
        "/items",
        {},
        405,
        error_body("PGRST117", "Unsupported HTTP method: TRACE"),
        {"proxy-status": "PostgREST; error=PGRST117"},
    ),
    (
        "PUT",
        "/items",
        {"json": {"id": 1}},
        405,
        error_body(
            "PGRST105",
            "Filters must include all and only primary key columns with 'eq' operators",
        ),
        {},
    ),
    (
        "GET",
        "/items?select=id,nonexistent(*)",
        {},
        400,
        error_body(
            "PGRST200",
            "Could not find a relationship between 'items' and 'nonexistent' in the schema cache",
            "Searched for a foreign key relationship between 'items' and 'nonexistent' in the "
            "schema 'api', but no matches were found.",
        ),
        {},
    ),
    (
        "GET",
        "/items",
        {"headers": {"Authorization": "Bearer a.b.c"}},
        401,
        error_body("PGRST301", "JWT cryptographic operation failed"),
        {
            "www-authenticate": 'Bearer error="invalid_token", '
            'error_description="JWT cryptographic operation failed"'
        },
    ),
]


async def test_answers_that_need_no_connection_while_the_pool_is_exhausted(
    app_factory: Any,
) -> None:
    """REL-06: the pool's only connection is held and a normal GET is queued for it; OPTIONS
    (plain and a CORS preflight), unknown tables, paths and functions (404), an unsupported
    method and a PUT without its key filters (405), a bad embed (400) and a bad JWT (401) are
    all answered exactly, at once, without asking the pool for a connection. The queued GET
    is served once the connection is back."""
    async with app_factory(db_pool=1, db_pool_acquisition_timeout=120.0) as (app, http):
        pool = open_pool(app)
        executed = 0
        execute = app.executor.execute

        async def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal executed
            executed += 1
            return await execute(*args, **kwargs)

        app.executor.execute = counting
        async with pool.connection():
            waiting = asyncio.create_task(http.get("/items?id=eq.1&select=id"))
            await until(lambda: pool.get_stats().get("requests_waiting") == 1, "a queued GET")
            asked = pool.get_stats()["requests_num"]
            for method, path, kwargs, status, body, headers in NO_CONNECTION_NEEDED:
                case = f"{method} {path} {kwargs}"
                # Had it asked the pool, it would wait behind the GET for 120 s.
                resp = await asyncio.wait_for(http.request(method, path, **kwargs), WAIT)
                assert resp.status_code == status, case
                if isinstance(body, bytes):
                    assert resp.content == body, case
                else:
                    assert resp.json() == body, case
                for name, value in headers.items():
                    assert resp.headers[name] == value, case
            assert pool.get_stats()["requests_num"] == asked
            assert pool.get_stats()["requests_waiting"] == 1
            assert not waiting.done()
            assert executed == 1  # the queued GET only
        resp = await asyncio.wait_for(waiting, WAIT)
        assert (resp.status_code, resp.json()) == (200, [{"id": 1}])


# -- REL-29 -----------------------------------------------------------------------------------

AUTH_SCHEMA = """
CREATE ROLE web_anon NOLOGIN;
CREATE SCHEMA api;
GRANT USAGE ON SCHEMA api TO web_anon;
CREATE TABLE api.items (id int PRIMARY KEY);
INSERT INTO api.items VALUES (1);
GRANT SELECT ON api.items TO web_anon;
"""
AUTH_DB = "auth"


@pytest.fixture(scope="module")
def password_cluster() -> Iterator[PostgresCluster]:
    """A cluster of its own where every role but the superuser logs in with a password."""
    own = PostgresCluster(hba=["local all postgres trust", "local all all scram-sha-256"])
    own.start()
    try:
        own.create_database(AUTH_DB)
        own.run_sql(AUTH_SCHEMA, dbname=AUTH_DB)
        yield own
    finally:
        own.stop()


def test_hba_entries_are_single_lines() -> None:
    """REL-29's cluster takes ``pg_hba.conf`` lines; anything else is refused before initdb."""
    with pytest.raises(ValueError, match=r"not one pg_hba\.conf line"):
        PostgresCluster(hba=["local all all trust\nhost all all 0.0.0.0/0 trust"])
    with pytest.raises(ValueError, match=r"not one pg_hba\.conf line"):
        PostgresCluster(hba=["  "])
    with pytest.raises(TypeError):
        PostgresCluster(hba="local all all trust")


def new_login_role(cluster: PostgresCluster, password: str) -> str:
    """A role of this test's own (so server log lines name it alone) that may become
    web_anon."""
    role = "auth_" + uuid.uuid4().hex[:10]
    cluster.run_sql(
        f"CREATE ROLE {role} LOGIN NOINHERIT PASSWORD '{password}'; GRANT web_anon TO {role}"
    )
    return role


def auth_failures(cluster: PostgresCluster, role: str) -> int:
    """Connection attempts the server refused for ``role`` so far (its log says why)."""
    text = Path(cluster.log_path).read_text(errors="replace")
    return text.count(f'FATAL:  password authentication failed for user "{role}"')


def wrong_password_reason(cluster: PostgresCluster, role: str) -> str:
    return (
        f'connection failed: connection to server on socket "{cluster.socket_path}" failed: '
        f'FATAL:  password authentication failed for user "{role}"'
    )


async def test_wrong_password_answers_503_naming_it_and_backs_off(
    password_cluster: PostgresCluster,
) -> None:
    """REL-29: the app starts (no db_fail_fast) and answers 503 PGRST002 at once (not after
    the 30 s acquisition timeout) with Retry-After and the server's reason (password
    authentication failed) in ``details``. It keeps trying without a tight loop: over a few
    seconds the server sees a few attempts a second at most (while the server refuses the
    credentials, the outage probe backs off 0.1, 0.2, 0.4 … s up to 32 s; the listener 1, 2,
    4 … s). Once the role's password matches, it
    serves without a restart."""
    role = new_login_role(password_cluster, "the-right-one")
    events: list[Event] = []
    app = PgRestApp(
        password_cluster.dsn(AUTH_DB, user=role, password="a-wrong-one"),
        schemas=["api"],
        db_anon_role="web_anon",
        db_pool_acquisition_timeout=30.0,
        hooks=Hooks(observer=events.append),
    )
    reason = wrong_password_reason(password_cluster, role)
    try:
        with loop_errors() as reported:
            started = time.monotonic()
            async with app.lifespan(), client_for(app) as http:
                resp = await http.get("/items")
                assert time.monotonic() - started < 15.0
                assert resp.status_code == 503
                assert resp.json() == error_body(
                    "PGRST002",
                    "Could not query the database for the schema cache. Retrying.",
                    reason,
                )
                assert resp.headers["retry-after"] == "1"
                assert resp.headers["proxy-status"] == "PostgREST; error=PGRST002"
                assert [e.fields for e in events if e.name == "db.unreachable"] == [
                    {"reason": reason}
                ]

                # A measuring window, not a synchronisation: how often the server is asked.
                before, since = auth_failures(password_cluster, role), time.monotonic()
                await asyncio.sleep(3.0)
                attempts = auth_failures(password_cluster, role) - before
                window = time.monotonic() - since
                assert 1 <= attempts <= 3 * window + 3, (attempts, window)
                again = await http.get("/items")
                assert (again.status_code, again.json()["details"]) == (503, reason)

                password_cluster.run_sql(f"ALTER ROLE {role} PASSWORD 'a-wrong-one'")
                await until(lambda: app.schema_cache is not None, "the schema cache after the fix")
                resp = await http.get("/items")
                assert (resp.status_code, resp.json()) == (200, [{"id": 1}])
                assert [e.name for e in events if e.name.startswith("db.")] == [
                    "db.unreachable",
                    "db.recovered",
                ]
        assert reported == []
    finally:
        password_cluster.run_sql(f"DROP ROLE {role}")


async def test_wrong_password_with_fail_fast_stops_start_up(
    password_cluster: PostgresCluster,
) -> None:
    """REL-29 with db_fail_fast: start-up fails at once with an error that names the
    authentication failure, through ``lifespan()`` and through the ASGI lifespan protocol
    (``lifespan.startup.failed``); nothing is left retrying (no pool, no outage probe)."""
    role = new_login_role(password_cluster, "the-right-one")
    reason = wrong_password_reason(password_cluster, role)
    expected = f"pgrest_asgi: could not load the schema cache: {reason}"
    try:
        with loop_errors() as reported:
            app = PgRestApp(
                password_cluster.dsn(AUTH_DB, user=role, password="a-wrong-one"),
                schemas=["api"],
                db_anon_role="web_anon",
                db_fail_fast=True,
                db_pool_acquisition_timeout=30.0,
            )
            started = time.monotonic()
            with pytest.raises(RuntimeError) as failed:
                async with app.lifespan():
                    pytest.fail("started with a wrong password")
            assert time.monotonic() - started < 15.0
            assert str(failed.value) == expected
            assert executor(app).pool is None
            assert executor(app).outage is None

            inbox: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
            sent: list[MutableMapping[str, Any]] = []

            async def send(message: MutableMapping[str, Any]) -> None:
                sent.append(message)

            await inbox.put({"type": "lifespan.startup"})
            await asyncio.wait_for(app({"type": "lifespan"}, inbox.get, send), WAIT)
            assert sent == [{"type": "lifespan.startup.failed", "message": expected}]
            assert executor(app).pool is None
            assert executor(app).outage is None
        assert reported == []
    finally:
        password_cluster.run_sql(f"DROP ROLE {role}")


# -- REL-34 -----------------------------------------------------------------------------------


@contextlib.contextmanager
def own_table(api_db: PostgresCluster, columns: str, prefix: str) -> Iterator[str]:
    """A table of this test's own in the fixture database (``api.<prefix>_<hex>``), readable
    and writable by web_anon, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(api_db.dsn(API_DB), autocommit=True) as conn:
        conn.execute(f"CREATE TABLE api.{name} ({columns})")
        try:
            conn.execute(f"GRANT SELECT, INSERT, UPDATE ON api.{name} TO web_anon")
            yield name
        finally:
            conn.execute(f"DROP TABLE IF EXISTS api.{name}")


async def test_a_column_dropped_without_notify_is_postgresqls_42703(
    app_factory: Any, api_db: PostgresCluster
) -> None:
    """REL-34: the schema cache still lists a dropped column (no NOTIFY, no reload). Selecting,
    filtering, ordering or writing it is answered with PostgreSQL's own 400 ``42703``, never a
    500 — also by the connection that prepared the select before the column went (pool of 1).
    A plain read just loses the column. Once reloaded, a write naming it is refused before the
    database (PGRST204)."""
    events: list[Event] = []
    with (
        own_table(api_db, "id int PRIMARY KEY, doomed text, kept text", "rel34") as table,
        psycopg.connect(api_db.dsn(API_DB), autocommit=True) as admin,
    ):
        admin.execute(f"INSERT INTO api.{table} VALUES (1, 'x', 'k')")
        async with app_factory(db_pool=1, hooks=Hooks(observer=events.append)) as (app, http):
            resp = await http.get(f"/{table}?select=id,doomed")
            assert (resp.status_code, resp.json()) == (200, [{"id": 1, "doomed": "x"}])

            admin.execute(f"ALTER TABLE api.{table} DROP COLUMN doomed")
            missing = error_body("42703", f"column {table}.doomed does not exist")
            for query in ("select=id,doomed", "doomed=eq.x", "order=doomed.desc"):
                resp = await http.get(f"/{table}?{query}")
                assert (resp.status_code, resp.json()) == (400, missing), query
                assert resp.headers["proxy-status"] == "PostgREST; error=42703"
            resp = await http.get(f"/{table}")
            assert (resp.status_code, resp.json()) == (200, [{"id": 1, "kept": "k"}])

            of_relation = error_body(
                "42703", f'column "doomed" of relation "{table}" does not exist'
            )
            resp = await http.post(f"/{table}", json={"id": 2, "doomed": "y"})
            assert (resp.status_code, resp.json()) == (400, of_relation)
            resp = await http.patch(f"/{table}?id=eq.1", json={"doomed": "z"})
            assert (resp.status_code, resp.json()) == (400, of_relation)
            resp = await http.post(
                f"/{table}",
                json={"id": 3, "kept": "y"},
                headers={"Prefer": "return=representation"},
            )
            assert (resp.status_code, resp.json()) == (201, [{"id": 3, "kept": "y"}])

            names = [e.name for e in events]
            assert names.count("schema_cache.loaded") == 1  # the start-up's only
            assert "app.unhandled" not in names

            assert await app.reload_schema() is True
            resp = await http.post(f"/{table}", json={"id": 4, "doomed": "y"})
            assert (resp.status_code, resp.json()) == (
                400,
                error_body(
                    "PGRST204",
                    f"Could not find the 'doomed' column of '{table}' in the schema cache",
                ),
            )
            resp = await http.get(f"/{table}?select=id,doomed")
            assert (resp.status_code, resp.json()) == (400, missing)


# -- REL-43 -----------------------------------------------------------------------------------

OTHER_SCHEMA = """
CREATE SCHEMA api;
GRANT USAGE ON SCHEMA api TO web_anon;
CREATE TABLE api.rel43_only_here (id int PRIMARY KEY);
INSERT INTO api.rel43_only_here VALUES (43);
GRANT SELECT ON api.rel43_only_here TO web_anon;
"""


@contextlib.asynccontextmanager
async def other_app(
    dsn: str, **settings: Any
) -> AsyncIterator[tuple[PgRestApp, httpx.AsyncClient]]:
    """An app on the fresh database (``OTHER_SCHEMA``), logged in as the fixture's
    authenticator (roles belong to the cluster)."""
    conninfo = make_conninfo(dsn, user="authenticator")
    app = PgRestApp(conninfo, schemas=["api"], db_anon_role="web_anon", **settings)
    async with app.lifespan(), client_for(app) as http:
        yield app, http


async def test_two_apps_on_two_databases_have_their_own_pools_and_caches(
    app_factory: Any, api_db: PostgresCluster, fresh_db: str
) -> None:
    """REL-43: two apps in one process, on two databases: each serves its own tables and not
    the other's (404 PGRST205); each pool connects to its own database, and while one app's
    only connection is held the other still serves; shutting one down leaves the other
    serving."""
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(OTHER_SCHEMA)
    single = {"db_pool": 1, "db_pool_acquisition_timeout": 120.0}
    async with app_factory(**single) as (first, first_http):
        async with other_app(fresh_db, **single) as (second, second_http):
            assert executor(first).pool is not executor(second).pool
            assert first.schema_cache is not second.schema_cache

            resp = await second_http.get("/rel43_only_here")
            assert (resp.status_code, resp.json()) == (200, [{"id": 43}])
            resp = await first_http.get("/rel43_only_here")
            assert (resp.status_code, resp.json()) == (
                404,
                error_body(
                    "PGRST205", "Could not find the table 'api.rel43_only_here' in the schema cache"
                ),
            )
            resp = await second_http.get("/items")
            assert (resp.status_code, resp.json()) == (
                404,
                error_body("PGRST205", "Could not find the table 'api.items' in the schema cache"),
            )
            resp = await first_http.get("/items?id=eq.1&select=id")
            assert (resp.status_code, resp.json()) == (200, [{"id": 1}])

            async with open_pool(first).connection() as held:
                assert held.info.dbname == API_DB
                resp = await asyncio.wait_for(second_http.get("/rel43_only_here"), WAIT)
                assert resp.status_code == 200
            async with open_pool(second).connection() as held:
                assert held.info.dbname == dbname(fresh_db)
                resp = await asyncio.wait_for(first_http.get("/items?id=eq.1&select=id"), WAIT)
                assert resp.status_code == 200
        assert executor(second).pool is None
        assert executor(first).pool is not None
        resp = await first_http.get("/items?id=eq.2&select=id")
        assert (resp.status_code, resp.json()) == (200, [{"id": 2}])


async def test_a_notify_reloads_only_the_app_of_its_database(
    app_factory: Any, api_db: PostgresCluster, fresh_db: str
) -> None:
    """REL-43: both apps listen on the same channel name, each on its own database; a NOTIFY
    in one database reloads that app's schema cache and not the other's (a table created in
    both is served by the notified app only); then a NOTIFY in the other reloads it."""
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(OTHER_SCHEMA)
    suffix = uuid.uuid4().hex[:10]
    channel, table = f"pgrst_{suffix}", f"rel43_new_{suffix}"
    first_events: list[Event] = []
    second_events: list[Event] = []
    second_loaded = asyncio.Event()
    first_loaded = asyncio.Event()

    def observer(events: list[Event], loaded: asyncio.Event) -> Hooks:
        def observe(event: Event) -> None:
            events.append(event)
            if event.name == "schema_cache.loaded":
                loaded.set()

        return Hooks(observer=observe)

    def loads(events: list[Event]) -> int:
        return [e.name for e in events].count("schema_cache.loaded")

    with psycopg.connect(api_db.dsn(API_DB), autocommit=True) as first_db:
        try:
            async with (
                app_factory(db_channel=channel, hooks=observer(first_events, first_loaded)) as (
                    first,
                    first_http,
                ),
                other_app(
                    fresh_db, db_channel=channel, hooks=observer(second_events, second_loaded)
                ) as (second, second_http),
            ):
                # Each listener is a session on its own database.
                pids = {first.lifecycle.listener.backend_pid: API_DB}
                pids[second.lifecycle.listener.backend_pid] = dbname(fresh_db)
                for pid, database in pids.items():
                    row = first_db.execute(
                        "SELECT datname FROM pg_stat_activity WHERE pid = %s", (pid,)
                    ).fetchone()
                    assert row == (database,)
                assert (loads(first_events), loads(second_events)) == (1, 1)
                first_loaded.clear()
                second_loaded.clear()

                with psycopg.connect(fresh_db, autocommit=True) as second_db:
                    for db in (first_db, second_db):
                        db.execute(f"CREATE TABLE api.{table} (id int)")
                        db.execute(f"INSERT INTO api.{table} VALUES (7)")
                        db.execute(f"GRANT SELECT ON api.{table} TO web_anon")
                    second_db.execute(f"NOTIFY {channel}, 'reload schema'")
                await asyncio.wait_for(second_loaded.wait(), WAIT)
                resp = await second_http.get(f"/{table}")
                assert (resp.status_code, resp.json()) == (200, [{"id": 7}])
                resp = await first_http.get(f"/{table}")
                assert (resp.status_code, resp.json()["code"]) == (404, "PGRST205")
                assert (loads(first_events), loads(second_events)) == (1, 2)

                first_db.execute(f"NOTIFY {channel}, 'reload schema'")
                await asyncio.wait_for(first_loaded.wait(), WAIT)
                resp = await first_http.get(f"/{table}")
                assert (resp.status_code, resp.json()) == (200, [{"id": 7}])
                assert (loads(first_events), loads(second_events)) == (2, 2)
        finally:
            first_db.execute(f"DROP TABLE IF EXISTS api.{table}")


# -- REL-45 -----------------------------------------------------------------------------------


async def test_shutdown_with_requests_in_flight(api_db: PostgresCluster) -> None:
    """REL-45: pool of 2; a read and a write hold its connections, blocked on a table lock the
    test holds, and two more reads wait for a connection. The lifespan is left meanwhile:
    shutdown returns without waiting for them, the two waiting reads get 503 PGRST000 at
    once, the pool is closed. Once the lock is released the read and the write in flight
    finish (200, 201: the write committed) and their connections are closed. The event loop
    reports no destroyed pending task and no unretrieved exception."""
    with (
        loop_errors() as reported,
        own_table(api_db, "id int PRIMARY KEY", "rel45") as table,
    ):
        app = PgRestApp(**app_settings(api_db, db_pool=2, db_pool_acquisition_timeout=120.0))
        async with (
            await psycopg.AsyncConnection.connect(api_db.dsn(API_DB), autocommit=True) as admin,
            client_for(app) as http,
        ):
            await admin.execute(f"INSERT INTO api.{table} VALUES (1)")
            async with app.lifespan():
                pool = open_pool(app)
                listener_pid = app.lifecycle.listener.backend_pid
                await admin.execute("BEGIN")
                await admin.execute(f"LOCK TABLE api.{table} IN ACCESS EXCLUSIVE MODE")
                read = asyncio.create_task(http.get(f"/{table}?id=eq.1&select=id"))
                write = asyncio.create_task(http.post(f"/{table}", json={"id": 2}))

                async def blocked() -> list[int]:
                    cursor = await admin.execute(
                        "SELECT pid FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
                        (f"api.{table}",),
                    )
                    return [pid for (pid,) in await cursor.fetchall()]

                async def both_blocked() -> bool:
                    return len(await blocked()) == 2

                await until(both_blocked, "the read and the write to wait for the lock")
                in_flight = await blocked()
                queued = [asyncio.create_task(http.get(f"/{table}?select=id")) for _ in range(2)]
                await until(
                    lambda: pool.get_stats().get("requests_waiting") == 2, "two queued reads"
                )
            # The lifespan has ended: shutdown did not wait for the requests in flight.
            assert pool.closed
            assert executor(app).pool is None
            assert app.lifecycle.listener is None
            for task in queued:
                resp = await asyncio.wait_for(task, WAIT)
                assert resp.status_code == 503
                assert resp.json() == error_body(
                    "PGRST000", "Database connection error.", "The connection pool is closed"
                )
                assert resp.headers["retry-after"] == "1"
            assert not read.done() and not write.done()

            await admin.execute("COMMIT")
            resp = await asyncio.wait_for(read, WAIT)
            assert (resp.status_code, resp.json()) == (200, [{"id": 1}])
            resp = await asyncio.wait_for(write, WAIT)
            assert (resp.status_code, resp.content) == (201, b"")
            cursor = await admin.execute(f"SELECT id FROM api.{table} ORDER BY id")
            assert await cursor.fetchall() == [(1,), (2,)]

            async def sessions_gone() -> bool:
                cursor = await admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)",
                    ([*in_flight, listener_pid],),
                )
                row = await cursor.fetchone()
                return row == (0,)

            await until(sessions_gone, "the connections of the requests in flight to close")
    assert reported == []


async def test_a_request_after_shutdown_starts_the_app_again(api_db: PostgresCluster) -> None:
    """REL-45, after the shutdown (current behaviour, pinned): a request that arrives once the
    lifespan has ended is not refused; it starts the app again as if nobody had (lazy start,
    with its warning), and the pool stays open until the next shutdown."""
    events: list[Event] = []
    app = PgRestApp(**app_settings(api_db), hooks=Hooks(observer=events.append))
    async with client_for(app) as http:
        async with app.lifespan():
            assert (await http.get("/items?id=eq.1&select=id")).status_code == 200
        assert executor(app).pool is None
        try:
            resp = await http.get("/items?id=eq.1&select=id")
            assert (resp.status_code, resp.json()) == (200, [{"id": 1}])
            assert executor(app).pool is not None
            assert [e.name for e in events if e.name == "app.lazy_start"] == ["app.lazy_start"]
        finally:
            await app.shutdown()
        assert executor(app).pool is None
