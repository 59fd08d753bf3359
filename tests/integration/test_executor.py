"""The pipelined executor: prepared statements, failures, cancellation, dead connections."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import psycopg
import pytest

from pgrest_asgi.db import executor as executor_module
from pgrest_asgi.observe import Event
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import API_DB


async def _prepared_names(app: Any) -> list[str]:
    async with app.executor.pool.connection() as conn:
        cur = await conn.execute("SELECT name FROM pg_prepared_statements ORDER BY name")
        return [row[0] for row in await cur.fetchall()]


async def test_shapes_are_prepared_once_per_connection(app_factory: Any) -> None:
    async with app_factory(db_pool=1) as (app, http):
        for i in range(1, 6):
            assert (await http.get(f"/items?select=id&id=eq.{i}")).json() == [{"id": i}]
        # The preamble and the main statement (which carries a read's session check): one
        # prepared statement each, reused.
        assert await _prepared_names(app) == ["pgrst_1", "pgrst_2"]
        await http.get("/items?select=name&id=eq.1")
        assert len(await _prepared_names(app)) == 3


async def test_prepared_statements_can_be_disabled(app_factory: Any) -> None:
    async with app_factory(db_pool=1, db_prepared_statements=False) as (app, http):
        assert (await http.get("/items?select=id&id=eq.2")).json() == [{"id": 2}]
        assert await _prepared_names(app) == []


async def test_a_failed_statement_does_not_poison_its_statement_name(app_factory: Any) -> None:
    async with app_factory(db_pool=1) as (_, http):
        bad = await http.get("/items?select=qqqq")
        assert bad.json()["code"] == "42703"
        again = await http.get("/items?select=qqqq")
        assert again.json()["code"] == "42703"
        assert (await http.get("/items?select=id&id=eq.3")).json() == [{"id": 3}]


async def test_connection_is_clean_after_a_failure(app_factory: Any) -> None:
    """SEC-32: after an error mid-transaction, the next request on the same connection runs
    with its own role and settings, outside any leftover transaction."""
    async with app_factory(db_pool=1) as (app, http):
        assert (await http.get("/boom")).status_code == 400
        who = await http.get("/whoami?select=role,claims,read_only")
        assert who.json() == [
            {"role": "web_anon", "claims": '{"role":"web_anon"}', "read_only": "on"}
        ]
        async with app.executor.pool.connection() as conn:
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            cur = await conn.execute("SELECT current_user")
            assert await cur.fetchone() == ("authenticator",)


async def test_cancelled_request_releases_its_connection(app_factory: Any) -> None:
    """A request cancelled mid-query (client gone) must not return a busy connection."""
    async with app_factory(db_pool=1) as (app, http):
        task = asyncio.create_task(http.get("/sleepy"))
        await asyncio.sleep(0.2)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        resp = await http.get("/items?select=id&id=eq.4")
        assert resp.json() == [{"id": 4}]
        stats = app.executor.pool.get_stats()
        assert stats["pool_size"] <= 1


async def _pids(app: Any, n: int) -> list[int]:
    """The backend pids of ``n`` pooled connections of this app (not of any other app),
    marked as just used by a request (so a retry test is not turned into a ping test)."""
    conns = [await app.executor.pool.getconn() for _ in range(n)]
    try:
        return [c.info.backend_pid for c in conns]
    finally:
        for c in conns:
            app.executor._last_used[c] = time.monotonic()
            await app.executor.pool.putconn(c)


def _terminate(cluster: PostgresCluster, pids: list[int]) -> None:
    """Terminate those backends and wait (bounded) until they are gone."""
    with psycopg.connect(cluster.dsn(API_DB), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", [pids])
        deadline = time.monotonic() + 30
        while admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids]
        ).fetchone() != (0,):
            assert time.monotonic() < deadline, f"backends {pids} are still there"
            time.sleep(0.02)


@pytest.mark.parametrize(("idle_check_after", "retried"), [(3600.0, True), (0.0, False)])
async def test_idle_connection_terminated_by_the_server(
    app_factory: Any,
    api_db: PostgresCluster,
    monkeypatch: pytest.MonkeyPatch,
    idle_check_after: float,
    retried: bool,
) -> None:
    """REL-21: pg_terminate_backend on an idle pooled connection; the next request succeeds,
    either by a retry on a new connection (the dead one was used recently, so not pinged) or
    because the ping found it dead first."""
    monkeypatch.setattr(executor_module, "IDLE_CHECK_AFTER", idle_check_after)
    async with app_factory(db_pool=1) as (app, http):
        events: list[Event] = []
        app.executor.observer = events.append
        assert (await http.get("/items?select=id&id=eq.1")).status_code == 200
        _terminate(api_db, await _pids(app, 1))
        resp = await http.get("/items?select=id&id=eq.1")
        assert (resp.status_code, resp.json()) == (200, [{"id": 1}])
        assert [e.name for e in events] == (["db.retry"] if retried else [])


async def test_pool_timeout_is_504(app_factory: Any) -> None:
    """REL-04: no free connection within db-pool-acquisition-timeout → 504 PGRST003."""
    async with app_factory(db_pool=1, db_pool_acquisition_timeout=0.3) as (app, http):
        async with app.executor.pool.connection():
            resp = await http.get("/items?id=eq.1")
        assert resp.status_code == 504
        assert resp.json() == {
            "code": "PGRST003",
            "details": None,
            "hint": None,
            "message": "Timed out acquiring connection from connection pool.",
        }


async def test_reads_are_read_only(client: Any) -> None:
    """A GET whose query writes fails: 25006 → 405, and nothing is written."""
    resp = await client.get("/writer")
    assert resp.status_code == 405
    assert resp.json() == {
        "code": "25006",
        "details": None,
        "hint": None,
        "message": "cannot execute INSERT in a read-only transaction",
    }
    assert (await client.get("/audit")).json() == []


async def test_explicit_transaction_paths(app_factory: Any) -> None:
    """Non-default isolation and rollback use BEGIN …; they behave the same for reads."""
    async with app_factory(db_tx_end="rollback") as (_, http):
        who = await http.get("/whoami?select=role,read_only")
        assert who.json() == [{"role": "web_anon", "read_only": "on"}]
        assert (await http.get("/writer")).status_code == 405


async def test_prepared_statements_respect_the_profile_search_path(app_factory: Any) -> None:
    """`::num_t` means api.num_t (integer) or v2.num_t (text) depending on the profile. One
    connection reuses one prepared statement for both: PostgreSQL re-analyses a prepared
    statement whose search_path changed, so the cast follows the profile."""
    async with app_factory(db_pool=1) as (_, http):
        for _ in range(2):
            api = await http.get("/items?select=id::num_t&id=eq.1")
            assert api.json() == [{"id": 1}]
            v2 = await http.get("/items?select=id::num_t&id=eq.1", headers={"Accept-Profile": "v2"})
            assert v2.json() == [{"id": "1"}]


async def test_every_pooled_connection_terminated(
    app_factory: Any, api_db: PostgresCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After all backends die at once (as in a server restart), the next read succeeds:
    the retry runs only after the pool has dropped its dead connections."""
    monkeypatch.setattr(executor_module, "IDLE_CHECK_AFTER", 3600.0)
    async with app_factory(db_pool=4, db_pool_min=4) as (app, http):
        events: list[Event] = []
        app.executor.observer = events.append
        await app.executor.pool.wait()
        _terminate(api_db, await _pids(app, 4))
        resp = await http.get("/items?select=id&id=eq.2")
        assert (resp.status_code, resp.json()) == (200, [{"id": 2}])
        assert [e.name for e in events] == ["db.retry"]


async def test_load_shedding_past_max_waiting(app_factory: Any) -> None:
    """REL-05: with the only connection busy and one request already waiting, the next one is
    refused at once with 503 and Retry-After instead of queueing."""
    async with app_factory(db_pool=1, db_pool_max_waiting=1, db_pool_acquisition_timeout=5.0) as (
        app,
        http,
    ):
        async with app.executor.pool.connection():
            waiting = asyncio.create_task(http.get("/items?select=id&id=eq.1"))
            await asyncio.sleep(0.2)
            refused = await http.get("/items?select=id&id=eq.2")
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["code"] == "PGRST003"
        assert (await waiting).json() == [{"id": 1}]


async def test_many_slow_requests_on_a_small_pool(app_factory: Any) -> None:
    """REL-04: more slow requests than connections: each is answered 200 or 504 PGRST003,
    never anything else, and the pool serves again afterwards."""
    import asyncio

    async with app_factory(db_pool=2, db_pool_acquisition_timeout=1.0) as (_, http):
        warm = await asyncio.gather(*(http.get("/items?id=eq.1") for _ in range(2)))
        assert [r.status_code for r in warm] == [200, 200]
        answers = await asyncio.gather(
            *(http.post("/rpc/sleep_for", json={"seconds": 3}) for _ in range(8))
        )
        statuses = sorted(r.status_code for r in answers)
        assert set(statuses) == {200, 504}, statuses
        assert statuses.count(200) == 2
        for resp in answers:
            if resp.status_code == 504:
                assert resp.json() == {
                    "code": "PGRST003",
                    "details": None,
                    "hint": None,
                    "message": "Timed out acquiring connection from connection pool.",
                }
        assert (await http.get("/items?id=eq.1&select=id")).json() == [{"id": 1}]
