"""The NOTIFY listener against a real database (``fresh_db``)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest

from pgrest_asgi.observe import Event
from pgrest_asgi.schema.listener import SchemaListener

pytestmark = pytest.mark.db


class Recorder:
    """Reload callbacks and observer that record what happened."""

    def __init__(self) -> None:
        self.schema_reloads: list[float] = []
        self.config_reloads: list[float] = []
        self.events: list[Event] = []
        self.fail_next = 0
        self.changed = asyncio.Event()

    async def reload_schema(self) -> None:
        self.schema_reloads.append(time.monotonic())
        self.changed.set()
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("boom")

    async def reload_config(self) -> None:
        self.config_reloads.append(time.monotonic())
        self.changed.set()

    def observe(self, event: Event) -> None:
        self.events.append(event)
        self.changed.set()

    def names(self) -> list[str]:
        return [e.name for e in self.events]

    async def until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.05))
        return True


@pytest.fixture
async def admin(fresh_db: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(fresh_db, autocommit=True) as conn:
        yield conn


async def _notify(conn: psycopg.AsyncConnection[Any], payload: str, channel: str = "pgrst") -> None:
    await conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))


def _listener(dsn: str, rec: Recorder, **kw: Any) -> SchemaListener:
    kw.setdefault("on_reload_config", rec.reload_config)
    return SchemaListener(dsn, on_reload_schema=rec.reload_schema, observer=rec.observe, **kw)


async def test_reload_schema_on_notify(fresh_db: str, admin: psycopg.AsyncConnection[Any]) -> None:
    rec = Recorder()
    listener = _listener(fresh_db, rec)
    await listener.start()
    try:
        assert listener.listening and listener.backend_pid is not None
        assert "listener.listening" in rec.names()
        assert rec.schema_reloads == []  # no reload on the first connection

        sent = time.monotonic()
        await _notify(admin, "reload schema")
        assert await rec.until(lambda: len(rec.schema_reloads) == 1, timeout=1.0)
        assert rec.schema_reloads[0] - sent < 1.0

        await asyncio.sleep(0.2)  # past the debounce window
        await admin.execute("NOTIFY pgrst")  # an empty payload reloads the schema too
        assert await rec.until(lambda: len(rec.schema_reloads) == 2, timeout=1.0)

        await asyncio.sleep(0.2)
        await _notify(admin, "something else")
        await _notify(admin, "reload schema", channel="other_channel")
        await asyncio.sleep(0.3)
        assert len(rec.schema_reloads) == 2 and rec.config_reloads == []
    finally:
        await listener.stop()


async def test_reload_config(fresh_db: str, admin: psycopg.AsyncConnection[Any]) -> None:
    rec = Recorder()
    listener = _listener(fresh_db, rec)
    await listener.start()
    try:
        await _notify(admin, "reload config")
        assert await rec.until(lambda: len(rec.config_reloads) == 1, timeout=1.0)
        await asyncio.sleep(0.2)
        assert rec.schema_reloads == []
    finally:
        await listener.stop()

    # without a config callback, 'reload config' is ignored
    rec = Recorder()
    listener = SchemaListener(fresh_db, on_reload_schema=rec.reload_schema, observer=rec.observe)
    await listener.start()
    try:
        await _notify(admin, "reload config")
        assert await rec.until(lambda: "listener.ignored" in rec.names(), timeout=1.0)
        assert rec.schema_reloads == [] and rec.config_reloads == []
    finally:
        await listener.stop()


async def test_burst_is_debounced(fresh_db: str, admin: psycopg.AsyncConnection[Any]) -> None:
    rec = Recorder()
    listener = _listener(fresh_db, rec)
    await listener.start()
    try:
        # 100 separate transactions (identical notifications in one transaction collapse)
        started = time.monotonic()
        async with admin.pipeline():
            for _ in range(100):
                await admin.execute("SELECT pg_notify('pgrst', 'reload schema')")
        assert time.monotonic() - started < 0.5
        assert await rec.until(lambda: len(rec.schema_reloads) >= 1, timeout=1.0)
        await asyncio.sleep(0.6)
        assert 1 <= len(rec.schema_reloads) <= 2, rec.schema_reloads

        # a later notification still gets its own reload
        before = len(rec.schema_reloads)
        await _notify(admin, "reload schema")
        assert await rec.until(lambda: len(rec.schema_reloads) == before + 1, timeout=1.0)
    finally:
        await listener.stop()


async def test_reconnects_and_reloads(fresh_db: str, admin: psycopg.AsyncConnection[Any]) -> None:
    rec = Recorder()
    listener = _listener(fresh_db, rec)
    await listener.start()
    try:
        first_pid = listener.backend_pid
        assert first_pid is not None
        cur = await admin.execute("SELECT pg_terminate_backend(%s)", (first_pid,))
        assert (await cur.fetchone()) == (True,)

        assert await rec.until(lambda: "listener.connection_lost" in rec.names(), timeout=2.0)
        # backoff starts at 1 s; after reconnecting, the schema is reloaded
        assert await rec.until(lambda: len(rec.schema_reloads) == 1, timeout=5.0)
        assert listener.listening and listener.backend_pid not in (None, first_pid)
        assert listener.connections == 2
        lost = next(e for e in rec.events if e.name == "listener.connection_lost")
        assert lost.level == "error"

        # and it is listening again
        await asyncio.sleep(0.2)
        await _notify(admin, "reload schema")
        assert await rec.until(lambda: len(rec.schema_reloads) == 2, timeout=1.0)
    finally:
        await listener.stop()


async def test_failing_callback_keeps_listening(
    fresh_db: str, admin: psycopg.AsyncConnection[Any]
) -> None:
    rec = Recorder()
    rec.fail_next = 1
    listener = _listener(fresh_db, rec)
    await listener.start()
    try:
        await _notify(admin, "reload schema")
        assert await rec.until(lambda: "listener.reload_failed" in rec.names(), timeout=1.0)
        failed = next(e for e in rec.events if e.name == "listener.reload_failed")
        assert failed.level == "error" and "boom" in failed.message

        await asyncio.sleep(0.2)
        await _notify(admin, "reload schema")
        assert await rec.until(lambda: len(rec.schema_reloads) == 2, timeout=1.0)
        assert listener.listening
    finally:
        await listener.stop()


async def test_broken_observer_does_not_stop_listener(
    fresh_db: str, admin: psycopg.AsyncConnection[Any]
) -> None:
    rec = Recorder()

    def bad_observer(event: Event) -> None:
        raise ValueError("observer broke")

    listener = SchemaListener(fresh_db, on_reload_schema=rec.reload_schema, observer=bad_observer)
    await listener.start()
    try:
        assert listener.listening
        await _notify(admin, "reload schema")
        assert await rec.until(lambda: len(rec.schema_reloads) == 1, timeout=1.0)
    finally:
        await listener.stop()


async def test_quoted_channel(fresh_db: str, admin: psycopg.AsyncConnection[Any]) -> None:
    rec = Recorder()
    channel = 'My "Chan"; DROP'
    listener = _listener(fresh_db, rec, channel=channel)
    await listener.start()
    try:
        await _notify(admin, "reload schema")  # the default channel is not ours
        await _notify(admin, "reload schema", channel=channel)
        assert await rec.until(lambda: len(rec.schema_reloads) == 1, timeout=1.0)
        await asyncio.sleep(0.3)
        assert len(rec.schema_reloads) == 1
    finally:
        await listener.stop()


async def test_stop_closes_connection(fresh_db: str, admin: psycopg.AsyncConnection[Any]) -> None:
    rec = Recorder()
    listener = _listener(fresh_db, rec)
    before = {t for t in asyncio.all_tasks() if "listener" in t.get_name()}
    await listener.start()
    pid = listener.backend_pid
    cur = await admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
    assert (await cur.fetchone()) == (1,)
    await listener.stop()
    assert not listener.listening

    async def gone() -> bool:
        cur = await admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
        return (await cur.fetchone()) == (0,)

    for _ in range(50):
        if await gone():
            break
        await asyncio.sleep(0.02)
    assert await gone()
    await listener.stop()  # idempotent
    # Other apps (the session-wide test app) may run listeners of their own.
    pending = [t for t in asyncio.all_tasks() if "listener" in t.get_name() and t not in before]
    assert pending == []


async def test_start_does_not_block_when_unreachable(tmp_path: Any) -> None:
    rec = Recorder()
    dsn = f"host={tmp_path} port=1 dbname=nope user=nobody connect_timeout=2"
    listener = _listener(dsn, rec)
    started = time.monotonic()
    await listener.start()
    try:
        assert time.monotonic() - started < 3.0
        assert not listener.listening
        assert "listener.connect_failed" in rec.names()
        failed = next(e for e in rec.events if e.name == "listener.connect_failed")
        assert failed.level == "error" and failed.fields["retry_in"] == 1.0
    finally:
        await listener.stop()
    assert rec.schema_reloads == []


async def test_health_checks_keep_listening(
    fresh_db: str, admin: psycopg.AsyncConnection[Any]
) -> None:
    rec = Recorder()
    listener = _listener(fresh_db, rec, health_interval=0.1)
    await listener.start()
    try:
        await asyncio.sleep(0.45)  # several idle periods, each ending with a SELECT 1 probe
        assert listener.listening and listener.connections == 1
        for n in range(1, 4):
            await _notify(admin, "reload schema")
            assert await rec.until(lambda: len(rec.schema_reloads) >= n, timeout=1.0)
            await asyncio.sleep(0.25)
        assert len(rec.schema_reloads) == 3
        assert "listener.connection_lost" not in rec.names()
    finally:
        await listener.stop()
