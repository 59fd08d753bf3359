"""Nothing one request leaves in its database session reaches the next request (SEC-38 … SEC-3B).

Every test runs a pool of one connection, so the second request is served by the very session
the first one used. The functions doing the damage are in tests/fixtures/session_state.sql.
Where a test asserts the backend pid, it pins which way the executor cleaned up: ``DISCARD
TEMP`` keeps the connection, anything else closes it and the pool opens another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg

from pgrest_asgi.observe import Event
from pgrest_asgi.schema.model import QualifiedName
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import API_DB, make_token

USER_A = {"Authorization": "Bearer " + make_token({"role": "web_user"})}
USER_B = {"Authorization": "Bearer " + make_token({"role": "other_user"})}


@asynccontextmanager
async def one_connection(
    app_factory: Callable[..., Any],
) -> AsyncIterator[tuple[Any, httpx.AsyncClient, list[Event]]]:
    async with app_factory(db_pool=1, db_pool_min=1) as (app, http):
        events: list[Event] = []
        app.executor.observer = events.append
        yield app, http, events


def names(events: list[Event]) -> list[tuple[str, Any]]:
    """The executor's own events, as (name, what they carry)."""
    return [
        (e.name, e.fields.get("reasons", e.fields.get("reason")))
        for e in events
        if e.name in ("db.session_discarded", "db.retry")
    ]


async def rpc(http: httpx.AsyncClient, name: str, headers: dict[str, str], **args: Any) -> Any:
    resp = await http.post(f"/rpc/{name}", json=args, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def backend(http: httpx.AsyncClient) -> int:
    resp = await http.get("/rpc/ss_backend")
    assert resp.status_code == 200
    pid = resp.json()
    assert isinstance(pid, int)
    return pid


async def superuser(cluster: PostgresCluster) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(cluster.dsn(API_DB), autocommit=True)


async def wait_gone(cluster: PostgresCluster, pid: int) -> None:
    """Wait (bounded) until backend ``pid`` has exited: closing a connection is asynchronous
    on the server's side."""
    async with await superuser(cluster) as conn:
        deadline = time.monotonic() + 30
        while True:
            cur = await conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
            row = await cur.fetchone()
            if row == (0,):
                return
            assert time.monotonic() < deadline, f"backend {pid} is still there"
            await asyncio.sleep(0.05)


# -- temporary objects ---------------------------------------------------------------------


async def test_a_temp_table_made_by_one_user_is_gone_for_the_next(app_factory: Any) -> None:
    """SEC-38: the table is dropped (DISCARD TEMP) and the connection kept."""
    async with one_connection(app_factory) as (_, http, events):
        before = await backend(http)
        assert await rpc(http, "ss_make_temp", USER_A, secret="A's secret") == "made"
        assert await rpc(http, "ss_read_temp", USER_B) == "absent"
        resp = await http.get("/rpc/ss_read_temp", headers=USER_B)
        assert (resp.status_code, resp.json()) == (200, "absent")
        assert await backend(http) == before
        assert names(events) == []


async def test_temp_tables_dropped_at_commit_cost_nothing(app_factory: Any) -> None:
    async with one_connection(app_factory) as (_, http, events):
        before = await backend(http)
        for _ in range(3):
            assert await rpc(http, "ss_scratch_temp", USER_A) == "scratched"
        assert await backend(http) == before
        assert names(events) == []


# -- advisory locks ------------------------------------------------------------------------


async def _advisory_locks(cluster: PostgresCluster) -> int:
    async with await superuser(cluster) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 424242"
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


async def test_session_advisory_locks_are_released_after_the_response(
    app_factory: Any, api_db: PostgresCluster
) -> None:
    """SEC-39, on both transaction paths (a read's implicit one and an explicit one) and
    after a failure (a session lock survives a rollback)."""
    async with one_connection(app_factory) as (_, http, events):
        before = await backend(http)
        resp = await http.get("/rpc/ss_lock")
        assert resp.status_code == 200
        assert await _advisory_locks(api_db) == 0
        resp = await http.post("/rpc/ss_lock", json={}, headers={"Prefer": "tx=commit"})
        assert resp.status_code == 200
        assert await _advisory_locks(api_db) == 0
        resp = await http.get("/rpc/ss_lock?fail=true")
        assert resp.status_code == 400
        assert resp.json()["message"] == "failing while holding a session lock"
        assert await _advisory_locks(api_db) == 0
        # Released in place: the connection is kept.
        assert await backend(http) == before
        assert names(events) == []


# -- prepared statements -------------------------------------------------------------------


async def test_deallocate_all_in_a_function_costs_no_later_request(app_factory: Any) -> None:
    """SEC-3A: the function drops the server's statements. In a read the session check rides
    in the main statement, so only the next request finds them gone: before anything of it
    commits; it is retried on a new connection. In a write the check (a statement of its own,
    after COMMIT) is gone too: it fails, so the connection is closed at once."""
    async with one_connection(app_factory) as (_, http, events):
        before = await backend(http)
        resp = await http.get("/rpc/ss_deallocate_all")
        assert (resp.status_code, resp.json()) == (200, "deallocated")
        for i in (1, 2, 3):
            resp = await http.get(f"/items?select=id&id=eq.{i}")
            assert (resp.status_code, resp.json()) == (200, [{"id": i}])
        after = await backend(http)
        assert after != before
        assert names(events) == [
            ("db.session_discarded", "a prepared statement of this connection vanished"),
            ("db.retry", "prepared statement missing"),
        ]
        events.clear()
        # A write first, so that the write's check is among the statements dropped.
        assert await rpc(http, "ss_scratch_temp", USER_A) == "scratched"
        resp = await http.post("/rpc/ss_deallocate_all", json={})
        assert (resp.status_code, resp.json()) == (200, "deallocated")
        assert names(events) == [("db.session_discarded", "the session check failed")]
        assert await backend(http) != after


async def test_a_vanished_statement_is_noticed_by_the_next_request(app_factory: Any) -> None:
    """SEC-3A: statements dropped behind the check's back fail the next transaction before
    anything in it commits; that request is retried on a new connection."""
    async with one_connection(app_factory) as (_, http, events):
        before = await backend(http)
        resp = await http.get("/rpc/ss_deallocate_some")
        assert (resp.status_code, resp.json()) == (200, "deallocated")
        assert names(events) == []
        resp = await http.get("/items?select=id&id=eq.2")
        assert (resp.status_code, resp.json()) == (200, [{"id": 2}])
        assert names(events) == [
            ("db.session_discarded", "a prepared statement of this connection vanished"),
            ("db.retry", "prepared statement missing"),
        ]
        assert await backend(http) != before


async def test_a_statement_replaced_by_sql_prepare_closes_the_connection(
    app_factory: Any,
) -> None:
    """A function that puts its own statement under the preamble's name: the next request must
    still run as its own role (PostgREST would execute the impostor)."""
    async with one_connection(app_factory) as (_, http, events):
        before = await backend(http)
        resp = await http.get("/rpc/ss_hijack", headers=USER_A)
        assert (resp.status_code, resp.json()) == (200, "hijacked")
        assert names(events) == [("db.session_discarded", "prepare")]
        who = await http.get("/whoami?select=role", headers=USER_B)
        assert who.json() == [{"role": "other_user"}]
        assert await backend(http) != before


async def test_statements_prepared_by_a_function_close_the_connection(app_factory: Any) -> None:
    async with one_connection(app_factory) as (_, http, events):
        resp = await http.get("/rpc/ss_prepare")
        assert (resp.status_code, resp.json()) == (200, "prepared")
        assert names(events) == [("db.session_discarded", "prepare")]


# -- LISTEN and cursors --------------------------------------------------------------------


async def test_a_listening_session_is_closed(app_factory: Any, api_db: PostgresCluster) -> None:
    """A LISTEN would make the server buffer every notification on that channel, for ever;
    on both transaction paths the session is closed and the next one listens to nothing."""
    async with one_connection(app_factory) as (_, http, events):
        pid = await rpc(http, "ss_listen", USER_A)
        await wait_gone(api_db, pid)
        resp = await http.get("/rpc/ss_listen_read_only")
        assert resp.status_code == 200
        # A read's LISTEN takes effect at its commit, after its own check: the next request
        # on that connection finds it and closes the connection.
        assert await backend(http) == resp.json()
        await wait_gone(api_db, resp.json())
        resp = await http.get("/rpc/ss_channels")
        assert (resp.status_code, resp.json()) == (200, "")
        assert names(events) == [("db.session_discarded", "listen")] * 2


async def test_a_cursor_held_open_is_not_left_to_the_next_user(app_factory: Any) -> None:
    async with one_connection(app_factory) as (_, http, events):
        resp = await http.get("/rpc/ss_cursor?secret=mine", headers=USER_A)
        assert resp.status_code == 200
        resp = await http.get("/rpc/ss_fetch", headers=USER_B)
        assert (resp.status_code, resp.json()) == (200, "absent")
        assert names(events) == [("db.session_discarded", "cursor")]


# -- settings and role ---------------------------------------------------------------------


async def test_session_settings_reach_neither_requests_nor_the_schema_reload(
    app_factory: Any,
) -> None:
    """SEC-3B / SEC-31: statement_timeout = 1ms, search_path and a custom setting set at
    session level; later requests and the schema reload run with their own settings."""
    async with one_connection(app_factory) as (app, http, events):
        assert await rpc(http, "ss_session_settings", USER_A) == "set"
        who = await http.get("/whoami?select=tenant,statement_timeout,search_path")
        assert who.json() == [
            {"tenant": "", "statement_timeout": "0", "search_path": '"api", "public"'}
        ]
        assert await rpc(http, "ss_session_settings", USER_A) == "set"
        app.schema_cache = None
        assert await app.reload_schema() is True
        assert app.schema_cache is not None
        resp = await http.get("/items?select=id&id=eq.1")
        assert (resp.status_code, resp.json()) == (200, [{"id": 1}])
        assert names(events) == []


async def test_a_session_level_role_reaches_neither_requests_nor_the_reload(
    app_factory: Any,
) -> None:
    """SEC-31: ``set_config('role', …, false)`` outlives the transaction (``RESET ALL`` leaves
    the role alone), but every transaction sets its own role and the schema reload starts from
    ``DISCARD ALL``, so the connection is kept."""
    async with one_connection(app_factory) as (app, http, events):
        before = await backend(http)
        assert await rpc(http, "ss_session_role", USER_A) == "set"
        who = await http.get("/whoami?select=role", headers=USER_B)
        assert who.json() == [{"role": "other_user"}]
        app.schema_cache = None
        assert await app.reload_schema() is True
        assert app.schema_cache is not None
        assert QualifiedName("api", "secrets") in app.schema_cache.tables
        assert await backend(http) == before
        assert names(events) == []
