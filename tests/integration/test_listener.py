"""The NOTIFY listener against a real database (``fresh_db``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest

from pgrest_asgi.observe import Event
from pgrest_asgi.schema.listener import SchemaListener

pytestmark = pytest.mark.db


#: Generous: a wait ends as soon as what it waits for happens; this only bounds a failure.
WAIT = 60.0


class Recorder:
    """Reload callbacks and observer that record what happened, and a spy on the listener's
    reload requests (each one recorded the moment its notification is dispatched, so once a
    later notification's request is seen, every earlier one was handled)."""

    def __init__(self) -> None:
        #: For each schema reload: how many requests had been made when it started.
        self.schema_reloads: list[int] = []
        self.config_reloads: list[int] = []
        self.requests: list[str] = []
        self.events: list[Event] = []
        self.fail_next = 0
        #: When set, a schema reload waits for it (a reload that is still running).
        self.gate: asyncio.Event | None = None
        self.changed = asyncio.Event()

    def spy(self, listener: SchemaListener) -> SchemaListener:
        request = listener._request

        def recording(kind: Any) -> None:
            self.requests.append(kind)
            self.changed.set()
            request(kind)

        listener._request = recording  # type: ignore[method-assign]
        return listener

    async def reload_schema(self) -> None:
        self.schema_reloads.append(len(self.requests))
        self.changed.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("boom")

    async def reload_config(self) -> None:
        self.config_reloads.append(len(self.requests))
        self.changed.set()

    def observe(self, event: Event) -> None:
        self.events.append(event)
        self.changed.set()

    def names(self) -> list[str]:
        return [e.name for e in self.events]

    async def until(self, predicate: Callable[[], bool]) -> bool:
        """Wait until ``predicate()`` holds (checked on every recorded change)."""
        async with asyncio.timeout(WAIT):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()
        return True


@pytest.fixture
async def admin(fresh_db: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(fresh_db, autocommit=True) as conn:
        yield conn


async def _notify(conn: psycopg.AsyncConnection[Any], payload: str, channel: str = "pgrst") -> None:
    await conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))


def _listener(dsn: str, rec: Recorder, **kw: Any) -> SchemaListener:
    kw.setdefault("on_reload_config", rec.reload_config)
    return rec.spy(
        SchemaListener(dsn, on_reload_schema=rec.reload_schema, observer=rec.observe, **kw)
    )


async def test_reload_schema_on_notify(fresh_db: str, admin: psycopg.AsyncConnection[Any]) -> None:
    rec = Recorder()
    listener = _listener(fresh_db, rec)
    await listener.start()
    try:
        assert listener.listening and listener.backend_pid is not None
        assert "listener.listening" in rec.names()
        assert rec.schema_reloads == []  # no reload on the first connection

        await _notify(admin, "reload schema")
        assert await rec.until(lambda: len(rec.schema_reloads) == 1)
        # An empty payload reloads the schema too (a request during the first reload or its
        # debounce window is folded into one more reload: still one more).
        await admin.execute("NOTIFY pgrst")
        assert await rec.until(lambda: len(rec.schema_reloads) == 2)

        await _notify(admin, "something else")
        await _notify(admin, "reload schema", channel="other_channel")
        await _notify(admin, "reload config")  # dispatched after both of those
        assert await rec.until(lambda: rec.config_reloads == [3])
        assert rec.requests == ["schema", "schema", "config"]
        ignored = [e.message for e in rec.events if e.name == "listener.ignored"]
        assert ignored == ["unknown notification payload 'something else'"]
        assert len(rec.schema_reloads) == 2
    finally:
        await listener.stop()


async def test_reload_config(fresh_db: str, admin: psycopg.AsyncConnection[Any]) -> None:
    rec = Recorder()
    listener = _listener(fresh_db, rec)
    await listener.start()
    try:
        await _notify(admin, "reload config")
        assert await rec.until(lambda: rec.config_reloads == [1])
        assert rec.requests == ["config"] and rec.schema_reloads == []
    finally:
        await listener.stop()

    # without a config callback, 'reload config' is ignored
    rec = Recorder()
    listener = rec.spy(
        SchemaListener(fresh_db, on_reload_schema=rec.reload_schema, observer=rec.observe)
    )
    await listener.start()
    try:
        await _notify(admin, "reload config")
        assert await rec.until(lambda: "listener.ignored" in rec.names())
        assert rec.requests == [] and rec.schema_reloads == [] and rec.config_reloads == []
    finally:
        await listener.stop()


async def test_burst_is_debounced(fresh_db: str, admin: psycopg.AsyncConnection[Any]) -> None:
    rec = Recorder()
    rec.gate = asyncio.Event()  # the first reload runs until the whole burst is in
    listener = _listener(fresh_db, rec)
    await listener.start()
    try:
        # 100 notifications at once: one statement, distinct payloads (identical notifications
        # of one transaction collapse into one; trailing spaces are ignored by the listener).
        await admin.execute(
            "SELECT pg_notify('pgrst', 'reload schema' || repeat(' ', i))"
            " FROM generate_series(0, 99) AS i"
        )
        assert await rec.until(lambda: len(rec.requests) == 100 and len(rec.schema_reloads) == 1)
        rec.gate.set()
        # Requests made before the first reload started are served by it; all the others,
        # made while it ran, are folded into exactly one more.
        (seen_by_first,) = rec.schema_reloads
        expected = 1 if seen_by_first == 100 else 2
        assert await rec.until(lambda: len(rec.schema_reloads) == expected)

        # a later notification still gets its own reload
        await _notify(admin, "reload schema")
        assert await rec.until(lambda: len(rec.schema_reloads) == expected + 1)
        assert len(rec.requests) == 101
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

        assert await rec.until(lambda: "listener.connection_lost" in rec.names())
        # backoff starts at 1 s; after reconnecting, the schema is reloaded
        assert await rec.until(lambda: len(rec.schema_reloads) == 1)
        assert listener.listening and listener.backend_pid not in (None, first_pid)
        assert listener.connections == 2
        lost = next(e for e in rec.events if e.name == "listener.connection_lost")
        assert lost.level == "error"

        # and it is listening again
        await _notify(admin, "reload schema")
        assert await rec.until(lambda: len(rec.schema_reloads) == 2)
        assert rec.requests == ["schema", "schema"]  # the reconnection's, then ours
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
        assert await rec.until(lambda: "listener.reload_failed" in rec.names())
        failed = next(e for e in rec.events if e.name == "listener.reload_failed")
        assert failed.level == "error" and "boom" in failed.message

        await _notify(admin, "reload schema")
        assert await rec.until(lambda: len(rec.schema_reloads) == 2)
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
        assert await rec.until(lambda: len(rec.schema_reloads) == 1)
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
        await _notify(admin, "reload config", channel=channel)  # after both
        assert await rec.until(lambda: rec.config_reloads == [2])
        assert rec.requests == ["schema", "config"]
        assert await rec.until(lambda: len(rec.schema_reloads) == 1)
    finally:
        await listener.stop()


async def _backend(admin: psycopg.AsyncConnection[Any], pid: int | None) -> tuple[Any, ...] | None:
    """The backend's last statement and when it started, or None once it is gone."""
    cur = await admin.execute(
        "SELECT query, query_start FROM pg_stat_activity WHERE pid = %s", (pid,)
    )
    return await cur.fetchone()


async def _poll(check: Callable[[], Awaitable[bool]]) -> bool:
    """Poll PostgreSQL until ``check()`` holds (it has no event to wait on)."""
    async with asyncio.timeout(WAIT):
        while not await check():
            await asyncio.sleep(0.02)
    return True


async def test_stop_closes_connection(fresh_db: str, admin: psycopg.AsyncConnection[Any]) -> None:
    rec = Recorder()
    listener = _listener(fresh_db, rec)
    before = {t for t in asyncio.all_tasks() if "listener" in t.get_name()}
    await listener.start()
    pid = listener.backend_pid
    assert await _backend(admin, pid) is not None
    await listener.stop()
    assert not listener.listening

    async def gone() -> bool:
        return await _backend(admin, pid) is None

    assert await _poll(gone)
    await listener.stop()  # idempotent
    # Other apps (the session-wide test app) may run listeners of their own.
    pending = [t for t in asyncio.all_tasks() if "listener" in t.get_name() and t not in before]
    assert pending == []


async def test_start_does_not_block_when_unreachable(tmp_path: Any) -> None:
    rec = Recorder()
    dsn = f"host={tmp_path} port=1 dbname=nope user=nobody connect_timeout=2"
    listener = _listener(dsn, rec)
    await listener.start()  # returns after the first attempt failed
    try:
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
    pid = listener.backend_pid
    last_probe: list[Any] = [None]

    async def probed() -> bool:
        """A probe (``SELECT 1`` after an idle period) newer than the last one seen."""
        row = await _backend(admin, pid)
        assert row is not None, "the listener's connection is gone"
        query, started = row
        if query == "SELECT 1" and started != last_probe[0]:
            last_probe[0] = started
            return True
        return False

    try:
        for n in range(1, 4):
            assert await _poll(probed)  # an idle period ended with a probe
            await _notify(admin, "reload schema")
            assert await rec.until(lambda n=n: len(rec.schema_reloads) == n)
        assert await _poll(probed)
        assert listener.listening and listener.connections == 1 and listener.backend_pid == pid
        assert rec.requests == ["schema"] * 3
        assert "listener.connection_lost" not in rec.names()
    finally:
        await listener.stop()
