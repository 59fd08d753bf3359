"""Read replicas (``db-replica-uris``) against real streaming replicas.

A primary of this module's own (the tests pause replay, stop replicas and write freely) and
two hot standbys made from it with ``pg_basebackup`` (tests/replica.py). Where a request ran
is read exactly: the ``api.server`` view and the ``where_*`` functions answer the server's
``port`` and ``pg_is_in_recovery()``, and ``api.notes`` rows keep the port of the server
that inserted them.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
import pytest

from pgrest_asgi import Hooks, PgRestApp
from pgrest_asgi.db.executor import PsycopgExecutor
from pgrest_asgi.db.replicas import PIN_COOKIE, Replica, ReplicaSet
from pgrest_asgi.db.wrapper import ExecutorWrapper
from pgrest_asgi.observe import Event
from pgrest_asgi.testing import PostgresCluster
from tests.replica import ReplicaCluster

DB = "replicas"
SCHEMA = """
CREATE ROLE authenticator LOGIN NOINHERIT;
CREATE ROLE web_anon NOLOGIN;
CREATE ROLE web_serial NOLOGIN;
ALTER ROLE web_serial SET default_transaction_isolation = 'serializable';
GRANT web_anon, web_serial TO authenticator;
CREATE SCHEMA api;
GRANT USAGE ON SCHEMA api TO web_anon, web_serial;
CREATE TABLE api.notes (
    id serial PRIMARY KEY,
    body text NOT NULL,
    port int NOT NULL DEFAULT pg_catalog.current_setting('port')::int
);
GRANT SELECT, INSERT, UPDATE, DELETE ON api.notes TO web_anon;
GRANT USAGE ON SEQUENCE api.notes_id_seq TO web_anon;
CREATE VIEW api.server AS
    SELECT pg_catalog.current_setting('port')::int AS port,
           pg_catalog.pg_is_in_recovery() AS replica;
GRANT SELECT ON api.server TO web_anon, web_serial;
CREATE FUNCTION api.where_stable() RETURNS json STABLE LANGUAGE sql AS $$
    SELECT pg_catalog.json_build_object('port', pg_catalog.current_setting('port')::int,
                                        'replica', pg_catalog.pg_is_in_recovery())
$$;
CREATE FUNCTION api.where_immutable() RETURNS json IMMUTABLE LANGUAGE sql AS $$
    SELECT pg_catalog.json_build_object('port', pg_catalog.current_setting('port')::int,
                                        'replica', pg_catalog.pg_is_in_recovery())
$$;
CREATE FUNCTION api.where_volatile() RETURNS json VOLATILE LANGUAGE sql AS $$
    SELECT pg_catalog.json_build_object('port', pg_catalog.current_setting('port')::int,
                                        'replica', pg_catalog.pg_is_in_recovery())
$$;
"""
#: Bounded waits: generous, for a loaded 2-core machine.
WAIT = 60.0
COOKIE = re.compile(
    r"pgrst_primary=(\d+\.\d{3}); Max-Age=(\d+); Path=(/[^;]*); HttpOnly; SameSite=Lax"
)


@pytest.fixture(scope="module")
def primary() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    cluster.start()
    try:
        cluster.create_database(DB)
        cluster.run_sql(SCHEMA, dbname=DB)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def standbys(primary: PostgresCluster) -> Iterator[tuple[ReplicaCluster, ReplicaCluster]]:
    first = ReplicaCluster(primary)
    second = ReplicaCluster(primary)
    try:
        first.start()
        second.start()
        first.wait_caught_up(WAIT)
        second.wait_caught_up(WAIT)
        yield first, second
    finally:
        first.stop()
        second.stop()


@pytest.fixture
def replicas(
    standbys: tuple[ReplicaCluster, ReplicaCluster],
) -> Iterator[tuple[ReplicaCluster, ReplicaCluster]]:
    """Both standbys, running and replaying again after the test whatever it did."""
    try:
        yield standbys
    finally:
        for standby in standbys:
            standby.start_server()
            standby.resume_replay()
        for standby in standbys:
            standby.wait_caught_up(WAIT)


@asynccontextmanager
async def served(
    primary: PostgresCluster, replicas: tuple[PostgresCluster, ...], **settings: Any
) -> AsyncIterator[tuple[PgRestApp, httpx.AsyncClient, list[Event]]]:
    """An app with ``replicas``; returns once every running one takes reads."""
    events: list[Event] = []
    options: dict[str, Any] = {
        "db_anon_role": "web_anon",
        "db_pool": 4,
        # Nothing in these tests lags but what a test makes lag.
        "db_replica_max_lag": 3600,
        "db_replica_uris": tuple(r.dsn(DB, user="authenticator") for r in replicas),
    }
    options.update(settings)
    executor = options.pop("executor", None)
    app = PgRestApp(
        primary.dsn(DB, user="authenticator"),
        schemas=["api"],
        hooks=Hooks(observer=events.append, executor=executor),
        **options,
    )
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            running = sum(1 for r in replicas if r.running)
            await until(lambda: len(replica_set(app).healthy) == running, "replicas to be healthy")
            yield app, http, events


def replica_set(app: PgRestApp) -> ReplicaSet:
    executor = app.executor
    while isinstance(executor, ExecutorWrapper):
        executor = executor.inner
    assert isinstance(executor, PsycopgExecutor)
    assert executor.replicas is not None
    return executor.replicas


async def until(check: Any, what: str, timeout: float = WAIT) -> None:
    """Poll ``check()`` on the event loop until it is true (bounded)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.02)


async def where(http: httpx.AsyncClient, path: str = "/server", **kwargs: Any) -> int:
    """The port of the server that answered a read of ``path``, checked against its
    ``pg_is_in_recovery()``."""
    resp = await http.request(kwargs.pop("method", "GET"), path, **kwargs)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    row = body[0] if isinstance(body, list) else body
    assert set(row) == {"port", "replica"}
    return int(row["port"])


def state_of(app: PgRestApp, cluster: PostgresCluster) -> Replica:
    """The app's view of the replica ``cluster``."""
    (found,) = [r for r in replica_set(app).replicas if f":{cluster.port}/" in r.label]
    return found


def ports(*clusters: PostgresCluster) -> set[int]:
    return {c.port for c in clusters}


def insert_directly(primary: PostgresCluster, body: str) -> None:
    with psycopg.connect(primary.dsn(DB), autocommit=True) as conn:
        conn.execute("INSERT INTO api.notes (body) VALUES (%s)", (body,))


def pin_cookie(resp: httpx.Response) -> tuple[str, int, str]:
    """The read-your-writes cookie of a response: (value, Max-Age, Path)."""
    cookies = resp.headers.get_list("set-cookie")
    assert len(cookies) == 1, cookies
    match = COOKIE.fullmatch(cookies[0])
    assert match is not None, cookies[0]
    return match.group(1), int(match.group(2)), match.group(3)


# -- routing ----------------------------------------------------------------------------------


async def test_reads_run_on_the_replicas_in_turn(
    primary: PostgresCluster, replicas: tuple[ReplicaCluster, ReplicaCluster]
) -> None:
    async with served(primary, replicas) as (app, http, _):
        seen = [await where(http) for _ in range(8)]
        # Sequential requests: nobody is busy, so the replicas take turns.
        assert set(seen) == ports(*replicas)
        assert all(a != b for a, b in itertools.pairwise(seen))
        resp = await http.head("/server")
        assert resp.status_code == 200
        assert "set-cookie" not in resp.headers
        stats = replica_set(app).stats()
        assert [(s["state"], s["healthy"]) for s in stats] == [("healthy", 1)] * 2
        assert [s["max"] for s in stats] == [4, 4]
        # The OpenAPI document's privileges query runs as a read too.
        resp = await http.get("/")
        assert resp.status_code == 200
        assert "/server" in resp.json()["paths"]


async def test_calls_run_where_their_volatility_says(
    primary: PostgresCluster, replicas: tuple[ReplicaCluster, ReplicaCluster]
) -> None:
    standby_ports = ports(*replicas)
    async with served(primary, replicas) as (_, http, _):
        for name in ("where_stable", "where_immutable"):
            assert await where(http, f"/rpc/{name}") in standby_ports
            assert await where(http, f"/rpc/{name}", method="POST", json={}) in standby_ports
        # A call by GET runs read only whatever the function says: a replica takes it too.
        assert await where(http, "/rpc/where_volatile") in standby_ports
        # POST of a volatile function may write: the primary.
        resp = await http.post("/rpc/where_volatile", json={})
        assert resp.status_code == 200
        assert resp.json() == {"port": primary.port, "replica": False}
        pin_cookie(resp)


async def test_writes_run_on_the_primary(
    primary: PostgresCluster, replicas: tuple[ReplicaCluster, ReplicaCluster]
) -> None:
    async with served(primary, replicas) as (_, http, _):
        resp = await http.post(
            "/notes", json={"body": "w1"}, headers={"Prefer": "return=representation"}
        )
        assert resp.status_code == 201, resp.text
        (row,) = resp.json()
        assert (row["body"], row["port"]) == ("w1", primary.port)
        value, max_age, path = pin_cookie(resp)
        assert (max_age, path) == (5, "/")
        assert time.time() < float(value) <= time.time() + 5.5
        resp = await http.patch(
            f"/notes?id=eq.{row['id']}",
            json={"body": "w2"},
            headers={"Prefer": "return=representation"},
        )
        assert resp.status_code == 200
        assert resp.json() == [{"id": row["id"], "body": "w2", "port": primary.port}]
        pin_cookie(resp)
        resp = await http.delete(f"/notes?id=eq.{row['id']}")
        assert resp.status_code == 204
        pin_cookie(resp)


async def test_a_serializable_role_reads_from_the_primary(
    primary: PostgresCluster, replicas: tuple[ReplicaCluster, ReplicaCluster]
) -> None:
    """A standby refuses serializable transactions: such a read runs on the primary."""
    async with served(primary, replicas, db_anon_role="web_serial") as (_, http, _):
        assert await where(http) == primary.port


async def test_a_wrapping_executor_still_routes(
    primary: PostgresCluster, replicas: tuple[ReplicaCluster, ReplicaCluster]
) -> None:
    async with served(primary, replicas, executor=ExecutorWrapper()) as (_, http, _):
        assert await where(http) in ports(*replicas)
        resp = await http.post("/rpc/where_volatile", json={})
        assert resp.json() == {"port": primary.port, "replica": False}
        pin_cookie(resp)


async def test_the_schema_cache_loads_from_the_primary(
    primary: PostgresCluster, replicas: tuple[ReplicaCluster, ReplicaCluster]
) -> None:
    """A function created while no replica replays is in the schema cache (read from the
    primary, on the primary's NOTIFY) and callable on the primary."""
    name = f"made_later_{uuid.uuid4().hex[:8]}"
    async with served(primary, replicas) as (_, http, _):
        for standby in replicas:
            standby.pause_replay()
        primary.run_sql(
            f"CREATE FUNCTION api.{name}() RETURNS int VOLATILE LANGUAGE sql"
            " AS $$ SELECT pg_catalog.current_setting('port')::int $$;"
            " NOTIFY pgrst, 'reload schema';",
            dbname=DB,
        )
        answers: list[httpx.Response] = []

        async def found() -> bool:
            answers.append(await http.post(f"/rpc/{name}", json={}))
            return answers[-1].status_code != 404

        deadline = time.monotonic() + WAIT
        while not await found():
            assert time.monotonic() < deadline, "the schema cache was not reloaded"
            await asyncio.sleep(0.05)
        assert (answers[-1].status_code, answers[-1].json()) == (200, primary.port)


# -- read-your-writes -------------------------------------------------------------------------


async def test_a_client_reads_its_own_write(
    primary: PostgresCluster, replicas: tuple[ReplicaCluster, ReplicaCluster]
) -> None:
    """With replay paused on both replicas the new row is only on the primary: the cookie
    (or the header) finds it at once; without them a replica answers, without the row,
    until replication catches up."""
    # A transaction replayed since the replica started: its lag can be measured (behind
    # with none, it would count as lagging).
    insert_directly(primary, "replayed")
    for standby in replicas:
        standby.wait_caught_up(WAIT)
    async with served(primary, replicas, db_replica_max_lag=3600) as (_, http, _):
        for standby in replicas:
            standby.pause_replay()
        resp = await http.post(
            "/notes", json={"body": "mine"}, headers={"Prefer": "return=representation"}
        )
        assert resp.status_code == 201
        note = resp.json()[0]
        value, _, _ = pin_cookie(resp)
        query = f"/notes?id=eq.{note['id']}"
        # The client keeps the cookie, as a browser does, and sends it back.
        assert http.cookies.get(PIN_COOKIE) == value
        resp = await http.get(query)
        assert (resp.status_code, resp.json()) == (200, [note])
        http.cookies.clear()
        pinned = {"Cookie": f"theme=dark; {PIN_COOKIE}={value}"}
        resp = await http.get(query, headers=pinned)
        assert (resp.status_code, resp.json()) == (200, [note])
        assert await where(http, headers=pinned) == primary.port
        assert "set-cookie" not in resp.headers  # a read does not pin
        header = {"Pgrst-Read-Primary": "true"}
        resp = await http.get(query, headers=header)
        assert (resp.status_code, resp.json()) == (200, [note])
        # Without: a replica, which has not replayed the write.
        resp = await http.get(query)
        assert (resp.status_code, resp.json()) == (200, [])
        assert await where(http) in ports(*replicas)
        # A time that has passed, or no time at all, pins nothing (and fails nothing).
        for stale in (f"{time.time() - 1:.3f}", "soon", ""):
            resp = await http.get(query, headers={"Cookie": f"{PIN_COOKIE}={stale}"})
            assert (resp.status_code, resp.json()) == (200, [])
        for standby in replicas:
            standby.resume_replay()
            await asyncio.to_thread(standby.wait_caught_up, WAIT)
        for _ in range(4):
            resp = await http.get(query)
            assert (resp.status_code, resp.json()) == (200, [note])
        assert await where(http) in ports(*replicas)


async def test_the_cookie_follows_the_settings(
    primary: PostgresCluster, replicas: tuple[ReplicaCluster, ReplicaCluster]
) -> None:
    async with served(primary, replicas, db_replica_read_your_writes=0.5) as (_, http, _):
        resp = await http.post("/notes", json={"body": "half"})
        assert resp.status_code == 201
        value, max_age, _ = pin_cookie(resp)
        assert max_age == 1
        assert float(value) <= time.time() + 0.6
        # A read-only call by POST is no write.
        resp = await http.post("/rpc/where_stable", json={})
        assert resp.status_code == 200
        assert "set-cookie" not in resp.headers
    async with served(primary, replicas, db_replica_read_your_writes=0) as (_, http, _):
        resp = await http.post("/notes", json={"body": "never"})
        assert resp.status_code == 201
        assert "set-cookie" not in resp.headers
    # Without replicas nothing is pinned, and no cookie is set.
    app = PgRestApp(primary.dsn(DB, user="authenticator"), schemas=["api"], db_anon_role="web_anon")
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            resp = await http.post("/notes", json={"body": "alone"})
            assert resp.status_code == 201
            assert "set-cookie" not in resp.headers


async def test_the_cookie_path_is_the_mount_path(
    primary: PostgresCluster, replicas: tuple[ReplicaCluster, ReplicaCluster]
) -> None:
    async with served(primary, replicas) as (app, _, _):
        transport = httpx.ASGITransport(app=app, root_path="/api")
        async with httpx.AsyncClient(transport=transport, base_url="https://test") as http:
            resp = await http.post("/notes", json={"body": "mounted"})
            assert resp.status_code == 201
            (cookie,) = resp.headers.get_list("set-cookie")
            assert cookie.endswith("; Path=/api; HttpOnly; SameSite=Lax; Secure"), cookie


async def test_a_function_cookie_and_ours_are_both_sent(
    primary: PostgresCluster, replicas: tuple[ReplicaCluster, ReplicaCluster]
) -> None:
    primary.run_sql(
        """
        CREATE OR REPLACE FUNCTION api.with_cookie() RETURNS int VOLATILE LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_catalog.set_config('response.headers',
                '[{"Set-Cookie": "theme=dark; Path=/"}]', true);
            RETURN 1;
        END $$;
        """,
        dbname=DB,
    )
    async with served(primary, replicas) as (_, http, _):
        resp = await http.post("/rpc/with_cookie", json={})
        assert resp.status_code == 200, resp.text
        cookies = resp.headers.get_list("set-cookie")
        assert cookies[0] == "theme=dark; Path=/"
        assert COOKIE.fullmatch(cookies[1]), cookies


# -- lag and failures -------------------------------------------------------------------------


async def test_a_lagging_replica_is_skipped(
    primary: PostgresCluster, replicas: tuple[ReplicaCluster, ReplicaCluster]
) -> None:
    first, second = replicas
    async with served(primary, replicas, db_replica_max_lag=1) as (app, http, events):
        lagging_one, other = state_of(app, first), state_of(app, second)
        first.pause_replay()
        insert_directly(primary, "behind")
        await until(lambda: lagging_one.state == "lagging", "the paused replica to lag")
        assert lagging_one.lag is None or lagging_one.lag > 1
        assert [await where(http) for _ in range(6)] == [second.port] * 6
        # Both behind: the primary answers.
        second.pause_replay()
        insert_directly(primary, "behind again")
        await until(lambda: other.state == "lagging", "the second replica to lag")
        assert [await where(http) for _ in range(4)] == [primary.port] * 4
        assert [e.name for e in events].count("db.replica_lagging") == 2
        # Caught up: back in turn.
        first.resume_replay()
        second.resume_replay()
        await until(lambda: len(replica_set(app).healthy) == 2, "the replicas to catch up")
        assert {await where(http) for _ in range(6)} == ports(*replicas)


async def test_replicas_stopped_under_load_fail_no_request(
    primary: PostgresCluster, replicas: tuple[ReplicaCluster, ReplicaCluster]
) -> None:
    """Many concurrent reads while one replica, then the other, is stopped as if it crashed
    (``pg_ctl stop -m immediate``): every request is answered 200 (a request its replica
    failed is retried on the primary); each comes back into rotation once running again."""
    first, second = replicas
    standby_ports = ports(*replicas)
    async with served(primary, replicas) as (app, http, events):
        answered: list[tuple[int, int | None]] = []
        done = asyncio.Event()

        async def reader(n: int) -> None:
            path = "/server" if n % 2 else "/rpc/where_stable"
            while not done.is_set():
                resp = await http.get(path)
                port = None
                if resp.status_code == 200:
                    body = resp.json()
                    port = (body[0] if isinstance(body, list) else body)["port"]
                answered.append((resp.status_code, port))

        async def after(count: int) -> None:
            target = len(answered) + count
            await until(lambda: len(answered) >= target, f"{count} more answers")

        workers = [asyncio.create_task(reader(n)) for n in range(16)]
        try:
            await after(100)
            await asyncio.to_thread(first.stop_server, "immediate")
            await after(200)
            await asyncio.to_thread(second.stop_server, "immediate")
            await after(200)
        finally:
            done.set()
            await asyncio.gather(*workers)
        failed = [a for a in answered if a[0] != 200]
        assert failed == [], f"{len(failed)} of {len(answered)} failed: {failed[:5]}"
        seen = {port for _, port in answered}
        assert seen >= standby_ports
        assert [await where(http) for _ in range(4)] == [primary.port] * 4
        await until(
            lambda: [r.state for r in replica_set(app).replicas] == ["down", "down"],
            "both replicas to be found down",
        )
        assert "db.replica_down" in [e.name for e in events]
        # Back: each takes reads again once a check finds it healthy.
        for standby in replicas:
            await asyncio.to_thread(standby.start_server)
            # A transaction replayed since it started: its lag can be measured again.
            await asyncio.to_thread(standby.wait_caught_up, WAIT)
        await until(lambda: len(replica_set(app).healthy) == 2, "the replicas to come back")
        assert {await where(http) for _ in range(6)} == standby_ports
        assert "db.replica_ready" in [e.name for e in events]


async def test_a_replica_down_at_start_is_skipped(
    primary: PostgresCluster, replicas: tuple[ReplicaCluster, ReplicaCluster]
) -> None:
    first, second = replicas
    await asyncio.to_thread(first.stop_server, "fast")
    async with served(primary, replicas) as (app, http, events):
        await until(lambda: replica_set(app).rounds >= 1, "a round of checks")
        assert [await where(http) for _ in range(4)] == [second.port] * 4
        assert [e.name for e in events if e.name.startswith("db.replica")].count(
            "db.replica_down"
        ) == 1
        await asyncio.to_thread(first.start_server)
        await asyncio.to_thread(first.wait_caught_up, WAIT)
        await until(lambda: len(replica_set(app).healthy) == 2, "the replica to come back")
        assert {await where(http) for _ in range(6)} == ports(*replicas)
