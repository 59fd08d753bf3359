"""REL-03: a client that disconnects mid-query gets its statement cancelled in PostgreSQL
(not left running), its transaction rolled back, and its connection out of the pool."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from pgrest_asgi import PgRestApp
from pgrest_asgi.db import executor as executor_module
from pgrest_asgi.observe import Event
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import API_DB, client_for


def scope(method: str, path: str, query: bytes = b"") -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"content-type", b"application/json")],
    }


async def call_and_leave(app: Any, method: str, path: str, body: bytes, after: float) -> list[Any]:
    """Send the request, then disconnect ``after`` seconds later; returns what was sent."""
    sent: list[Any] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.sleep(after)
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope(method, path), receive, send)
    return sent


def running_sleeps(cluster: PostgresCluster) -> int:
    with psycopg.connect(cluster.dsn(API_DB), autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE state = 'active' AND query LIKE '%sleep%' AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return int(row[0])


async def wait_for_no_sleeps(cluster: PostgresCluster, within: float) -> float:
    start = time.monotonic()
    while running_sleeps(cluster):
        assert time.monotonic() - start < within, "the statement is still running"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def test_disconnect_cancels_the_statement(app_factory: Any, api_db: PostgresCluster) -> None:
    events: list[Event] = []
    async with app_factory(db_pool=1) as (app, http):
        app.observer = events.append
        start = time.monotonic()
        sent = await call_and_leave(app, "POST", "/rpc/sleep_for", b'{"seconds": 30}', 0.3)
        # Well before the 30 s statement could have finished by itself (a generous bound: a
        # loaded machine is slow, not 10 times slower).
        assert time.monotonic() - start < 20
        assert sent == []  # nobody to answer
        await wait_for_no_sleeps(api_db, within=20)
        assert [e.name for e in events if e.name == "request.cancelled"] == ["request.cancelled"]
        # The pool serves the next request on a fresh connection.
        resp = await http.get("/items?select=id&id=eq.2")
        assert (resp.status_code, resp.json()) == (200, [{"id": 2}])
        assert app.executor.pool.get_stats()["pool_size"] <= 1


async def test_disconnect_rolls_back_a_write(app_factory: Any, api_db: PostgresCluster) -> None:
    async with app_factory() as (app, http):
        await call_and_leave(
            app, "POST", "/rpc/insert_then_sleep", b'{"id": 950, "seconds": 30}', 0.3
        )
        await wait_for_no_sleeps(api_db, within=20)
        assert (await http.get("/w_authors?id=eq.950")).json() == []


async def test_requests_that_finish_are_not_affected(app_factory: Any) -> None:
    async with app_factory() as (app, _):
        sent = await call_and_leave(app, "POST", "/rpc/sleep_for", b'{"seconds": 0.05}', 5)
        assert sent[0]["status"] == 200
        assert sent[1]["body"] == b"1"


async def test_the_setting_turns_it_off(app_factory: Any, api_db: PostgresCluster) -> None:
    async with app_factory(server_cancel_on_disconnect=False) as (app, _):
        sent = await call_and_leave(app, "POST", "/rpc/sleep_for", b'{"seconds": 0.6}', 0.1)
        # Answered (a cancelled request sends nothing): it ran to the end.
        assert sent[0]["status"] == 200


# -- the server ends the connection (reliability plan REL-22..24) ------------------------------
def terminate(cluster: PostgresCluster, where: str) -> None:
    """Terminate the backends matching ``where`` once at least one is running it (bounded
    wait: the request has to reach PostgreSQL first)."""
    with psycopg.connect(cluster.dsn(API_DB), autocommit=True) as admin:
        deadline = time.monotonic() + 30
        while True:
            row = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                f"WHERE usename = 'authenticator' AND {where} AND pid <> pg_backend_pid()"
            ).fetchone()
            if row is not None and row[0] > 0:
                return
            assert time.monotonic() < deadline, f"no backend matched {where}"
            time.sleep(0.02)


def wait_gone(cluster: PostgresCluster, pid: int) -> None:
    with psycopg.connect(cluster.dsn(API_DB), autocommit=True) as admin:
        deadline = time.monotonic() + 30
        while admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]
        ).fetchone() != (0,):
            assert time.monotonic() < deadline, f"backend {pid} is still there"
            time.sleep(0.02)


TERMINATED = {
    "code": "57P01",
    "details": None,
    "hint": None,
    "message": "terminating connection due to administrator command",
}


async def test_read_terminated_mid_query_is_503_not_rerun(
    app_factory: Any, api_db: PostgresCluster
) -> None:
    """REL-22: an administrator killing a running read means stop, not run it again."""
    async with app_factory() as (_, http):
        request = asyncio.create_task(http.get("/rpc/sleep_for?seconds=5"))
        await asyncio.to_thread(terminate, api_db, "query LIKE '%sleep_for%'")
        resp = await request
        assert (resp.status_code, resp.json()) == (503, TERMINATED)
        assert resp.headers["retry-after"] == "1"
        assert running_sleeps(api_db) == 0


async def test_write_terminated_mid_statement_is_503_and_absent(
    app_factory: Any, api_db: PostgresCluster
) -> None:
    """REL-24: the transaction never committed: 503, and the row is not there."""
    key = 500_000 + uuid.uuid4().int % 400_000
    async with app_factory() as (_, http):
        request = asyncio.create_task(
            http.post("/rpc/insert_then_sleep", json={"id": key, "seconds": 5})
        )
        await asyncio.to_thread(terminate, api_db, "query LIKE '%insert_then_sleep%'")
        resp = await request
        assert (resp.status_code, resp.json()) == (503, TERMINATED)
        assert (await http.get(f"/w_authors?id=eq.{key}")).json() == []


@pytest.mark.parametrize(("idle_check_after", "retried"), [(3600.0, True), (0.0, False)])
async def test_write_on_a_connection_killed_while_idle_is_retried(
    app_factory: Any,
    api_db: PostgresCluster,
    monkeypatch: pytest.MonkeyPatch,
    idle_check_after: float,
    retried: bool,
) -> None:
    """REL-23: the connection died before the request: nothing ran, so the write is retried
    on another connection — once: the row exists exactly once. With the idle ping on, the dead
    connection is found before use instead, and nothing needs a retry."""
    monkeypatch.setattr(executor_module, "IDLE_CHECK_AFTER", idle_check_after)
    key = 500_000 + uuid.uuid4().int % 400_000
    async with app_factory(db_pool=1) as (app, http):
        events: list[Event] = []
        app.executor.observer = events.append
        assert (await http.get("/items?select=id&id=eq.1")).status_code == 200
        async with app.executor.pool.connection() as conn:
            pid = conn.info.backend_pid
        terminate(api_db, f"pid = {pid}")
        wait_gone(api_db, pid)
        resp = await http.post("/w_authors", json={"id": key, "name": "once"})
        assert resp.status_code == 201, resp.text
        found = await http.get(f"/w_authors?id=eq.{key}&select=name")
        assert found.json() == [{"name": "once"}]
        assert [e.name for e in events] == (["db.retry"] if retried else [])


# -- SEC-57: an expensive embed fan-out, cancelled ----------------------------------------------
#: Three levels of ten rows each, and a computed field that takes 50 ms on each of the 1 000
#: rows of the last level: the read would run for about 50 s.
FAN_OUT = """
CREATE SCHEMA api;
GRANT USAGE ON SCHEMA api TO web_anon;
CREATE TABLE api.l1 (id int PRIMARY KEY);
CREATE TABLE api.l2 (id int PRIMARY KEY, l1_id int NOT NULL REFERENCES api.l1);
CREATE TABLE api.l3 (id int PRIMARY KEY, l2_id int NOT NULL REFERENCES api.l2);
INSERT INTO api.l1 SELECT g FROM generate_series(1, 10) g;
INSERT INTO api.l2 SELECT g, (g - 1) / 10 + 1 FROM generate_series(1, 100) g;
INSERT INTO api.l3 SELECT g, (g - 1) / 10 + 1 FROM generate_series(1, 1000) g;
CREATE FUNCTION api.sec57_slow(api.l3) RETURNS int LANGUAGE sql STABLE
  AS $$ SELECT $1.id FROM pg_sleep(0.05) $$;
GRANT SELECT ON ALL TABLES IN SCHEMA api TO web_anon;
GRANT EXECUTE ON FUNCTION api.sec57_slow(api.l3) TO web_anon;
"""


def fan_out_backends(dsn: str) -> list[int]:
    """The backends running the fan-out read right now."""
    with psycopg.connect(dsn, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE state = 'active'"
            " AND query LIKE '%sec57_slow%' AND pid <> pg_backend_pid()"
        ).fetchall()
    return [pid for (pid,) in rows]


async def test_disconnect_cancels_an_embed_fan_out(api_db: PostgresCluster, fresh_db: str) -> None:
    """SEC-57: a three-level embed fan-out read as the anonymous role (about 50 s of work);
    once PostgreSQL runs it, the client disconnects. The statement is cancelled: it is gone
    from ``pg_stat_activity`` within seconds, nothing is answered, and the pool (of one)
    serves the next request."""
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(FAN_OUT)
    events: list[Event] = []
    app = PgRestApp(
        make_conninfo(fresh_db, user="authenticator"),
        schemas=["api"],
        db_anon_role="web_anon",
        db_pool=1,
    )
    app.observer = events.append
    gone = asyncio.Event()
    request_sent = False
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    async with app.lifespan(), client_for(app) as http:
        read = asyncio.create_task(
            app(
                {
                    **scope("GET", "/l1"),
                    "query_string": b"select=id,l2(id,l3(id,sec57_slow))",
                    "headers": [],
                },
                receive,
                send,
            )
        )
        deadline = time.monotonic() + 60
        while not await asyncio.to_thread(fan_out_backends, fresh_db):
            assert not read.done(), sent
            assert time.monotonic() < deadline, "the read never started"
            await asyncio.sleep(0.02)
        gone.set()
        disconnected = time.monotonic()
        # Generous: the read had some 50 s of work left; the cancel takes well under 1 s.
        while await asyncio.to_thread(fan_out_backends, fresh_db):
            assert time.monotonic() - disconnected < 10, "the statement is still running"
            await asyncio.sleep(0.02)
        print(
            f"\nSEC-57: statement gone {time.monotonic() - disconnected:.3f}s after the disconnect"
        )
        await asyncio.wait_for(read, 60)
        assert sent == []
        assert [e.name for e in events if e.name == "request.cancelled"] == ["request.cancelled"]
        resp = await http.get("/l1?select=id&id=eq.1")
        assert (resp.status_code, resp.content) == (200, b'[{"id":1}]')
