"""``LISTEN`` for reload requests: ``NOTIFY pgrst, 'reload schema'`` / ``'reload config'``.

One dedicated autocommit connection (never a pool connection: a pooled connection would drop
the ``LISTEN`` when returned) iterates ``conn.notifies()``. Payloads:

* ``reload schema`` or an empty payload: call ``on_reload_schema``;
* ``reload config``: call ``on_reload_config`` (if given);
* anything else is ignored (a debug event).

Reloads are debounced per kind: the first request runs at once; requests arriving while it runs
or within ``debounce`` seconds after it finished are folded into one more reload. A burst of
notifications therefore causes at most two reloads, and a request is never lost: every request
is followed by a reload that starts after it.

When the connection is lost the listener reconnects with exponential backoff (1, 2, 4 … s,
capped at ``max_backoff``) and, once ``LISTEN`` is active again, reloads the schema, because
notifications sent while it was disconnected are gone. A failing reload callback, or observer,
never stops the listener.

``LISTEN`` needs a session of its own. Through a connection pooler in transaction mode
(PgBouncer's ``pool_mode = transaction``) it lasts only as long as the server connection it
ran on stays with that server, which is one transaction: PgBouncer hands that server
connection to other clients (whose ``DISCARD ALL`` or ``UNLISTEN`` drops it) and discards a
notification that arrives while the server connection is not lent to a client ("got packet
'A' from server when not linked"). The listener notices a pooler after ``LISTEN``: the backend
pid the connection reported at start-up (a pooler makes one up) is not the one
``pg_backend_pid()`` answers. It then says so (``listener.pooler``, a warning: in session
pooling ``LISTEN`` works) and its idle-time probe checks, instead of ``SELECT 1``, that the same
backend still serves it and still listens; when not, it reports ``listener.not_listening``
(an error naming ``db-listen-uri``, the direct connection it needs) and reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgrest_asgi.observe import Event, Level, Observer, log_observer

__all__ = ["SchemaListener"]

ReloadKind = Literal["schema", "config"]

#: How long one ``notifies()`` wait lasts before the connection is probed with ``SELECT 1``
#: (detects a silently dropped connection, where no error ever arrives).
_HEALTH_INTERVAL = 30.0
_HEALTH_TIMEOUT = 10.0
_CONNECT_TIMEOUT = 10.0


class _NotListening(Exception):
    """``LISTEN`` is not (or no longer) in effect on the listener's connection."""


class SchemaListener:
    """Listen on ``channel`` and call the reload callbacks; see the module docstring."""

    def __init__(
        self,
        conninfo: str,
        *,
        channel: str = "pgrst",
        on_reload_schema: Callable[[], Awaitable[None]],
        on_reload_config: Callable[[], Awaitable[None]] | None = None,
        observer: Observer = log_observer,
        debounce: float = 0.1,
        max_backoff: float = 32.0,
        initial_backoff: float = 1.0,
        health_interval: float = _HEALTH_INTERVAL,
        connect_timeout: float = _CONNECT_TIMEOUT,
        pause: Callable[[float], Awaitable[object]] | None = None,
    ) -> None:
        params = conninfo_to_dict(conninfo)
        extra: dict[str, Any] = {}
        if "application_name" not in params:
            extra["application_name"] = "pgrest_asgi listener"
        if "target_session_attrs" not in params:
            # LISTEN fails on a standby: look for the primary among several hosts
            extra["target_session_attrs"] = "read-write"
        self._conninfo = make_conninfo(conninfo, **extra) if extra else conninfo
        self.channel = channel
        #: Waits between connection attempts (default ``asyncio.sleep``); the app gives one
        #: that ends early when the pool sees the database come back, so the listener does
        #: not sit out the rest of a long back-off while notifications are lost.
        self._pause = pause or asyncio.sleep
        self._callbacks: dict[ReloadKind, Callable[[], Awaitable[None]] | None] = {
            "schema": on_reload_schema,
            "config": on_reload_config,
        }
        self._observer = observer
        self._debounce = debounce
        self._max_backoff = max_backoff
        self._initial_backoff = initial_backoff
        self._health_interval = health_interval
        self._connect_timeout = connect_timeout

        self._task: asyncio.Task[None] | None = None
        self._workers: dict[ReloadKind, asyncio.Task[None]] = {}
        self._wakeups: dict[ReloadKind, asyncio.Event] = {}
        self._first_attempt: asyncio.Event | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None
        #: PID of the listening backend while connected (for diagnostics and tests).
        self.backend_pid: int | None = None
        #: Whether ``LISTEN`` is active right now.
        self.listening = False
        #: Successful (re)connections so far.
        self.connections = 0
        #: Whether the connection goes through a pooler (see the module docstring).
        self.pooled = False
        self._server_pid = 0

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start listening in the running loop. Returns once ``LISTEN`` is active, or after the
        first connection attempt failed (the listener then keeps retrying in the background)."""
        if self._task is not None:
            return
        loop = asyncio.get_running_loop()
        self.connections = 0
        self._first_attempt = asyncio.Event()
        for kind in ("schema", "config"):
            if self._callbacks[kind] is None:
                continue
            self._wakeups[kind] = asyncio.Event()
            self._workers[kind] = loop.create_task(
                self._reload_worker(kind), name=f"pgrest_asgi listener {kind} reloads"
            )
        self._task = loop.create_task(self._run(), name="pgrest_asgi listener")
        first = loop.create_task(self._first_attempt.wait())
        try:
            await asyncio.wait(
                {first, self._task},
                timeout=self._connect_timeout + 1.0,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            first.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await first

    async def stop(self) -> None:
        """Stop listening and close the connection; waits for the background tasks to end."""
        tasks = {t for t in (self._task, *self._workers.values()) if t is not None}
        self._task = None
        self._workers = {}
        # A cancellation can be swallowed when it meets an operation finishing at the same
        # moment (asyncio.wait_for before Python 3.12 does that): cancel again until they end.
        ending = set(tasks)
        while tasks:
            for task in tasks:
                task.cancel()
            _, tasks = await asyncio.wait(tasks, timeout=1.0)
        for task in ending:  # retrieved, so never reported as "never retrieved"
            if not task.cancelled():
                task.exception()
        await self._close()

    # -- connection loop -----------------------------------------------------------------------
    async def _run(self) -> None:
        backoff = self._initial_backoff
        while True:
            try:
                async with asyncio.timeout(self._connect_timeout):
                    conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            except (psycopg.Error, OSError, TimeoutError) as exc:
                self._emit(
                    "listener.connect_failed",
                    f"listener could not connect, retrying in {backoff:g}s: {exc}",
                    "error",
                    retry_in=backoff,
                )
                self._signal_first_attempt()
                await self._pause(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue

            self._conn = conn
            try:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                self.backend_pid = await self._check_pooler(conn)
                self.listening = True
                self.connections += 1
                reconnected = self.connections > 1
                self._emit(
                    "listener.listening",
                    f"listening for notifications on channel {self.channel!r}",
                    "info",
                    channel=self.channel,
                    backend_pid=self.backend_pid,
                    reconnected=reconnected,
                )
                self._signal_first_attempt()
                backoff = self._initial_backoff
                if reconnected:  # what was sent while disconnected is lost: reload anyway
                    self._request("schema")
                await self._listen(conn)
            except _NotListening as exc:
                self._emit(
                    "listener.not_listening",
                    f"{exc}; reconnecting in {backoff:g}s",
                    "error",
                    retry_in=backoff,
                    channel=self.channel,
                )
            except Exception as exc:  # any failure: drop the connection, retry
                self._emit(
                    "listener.connection_lost",
                    f"listener connection lost, reconnecting in {backoff:g}s: {exc}",
                    "error",
                    retry_in=backoff,
                )
            finally:
                self.listening = False
                self.backend_pid = None
                await self._close()
            self._signal_first_attempt()
            await self._pause(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _listen(self, conn: psycopg.AsyncConnection[Any]) -> None:
        while True:
            gen = conn.notifies(timeout=self._health_interval)
            async with contextlib.aclosing(gen):
                async for notify in gen:
                    self._dispatch(notify.payload)
            # Nothing for a while: make sure the connection is still there (and, through a
            # pooler, that it is still the listening session).
            async with asyncio.timeout(_HEALTH_TIMEOUT):
                if self.pooled:
                    await self._check_listening(conn)
                else:
                    await conn.execute("SELECT 1")

    async def _check_pooler(self, conn: psycopg.AsyncConnection[Any]) -> int:
        """After ``LISTEN``: the backend's pid; warns (``listener.pooler``) and sets
        ``pooled`` when the connection goes through a pooler, then checks at once that the
        next transaction is still served by that backend, listening."""
        cur = await conn.execute("SELECT pg_catalog.pg_backend_pid()")
        row = await cur.fetchone()
        server_pid = int(row[0]) if row is not None else 0
        reported = conn.info.backend_pid
        self.pooled = server_pid != reported
        if not self.pooled:
            return server_pid
        self._emit(
            "listener.pooler",
            "the listener's connection goes through a connection pooler (PostgreSQL backend "
            f"{server_pid}, the connection reported {reported}): LISTEN works through it only "
            "in session pooling; in transaction pooling "
            "notifications are lost. Set db-listen-uri to a direct connection to PostgreSQL",
            "warning",
            backend_pid=server_pid,
            reported_pid=reported,
            channel=self.channel,
        )
        self._server_pid = server_pid
        await self._check_listening(conn)
        return server_pid

    async def _check_listening(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Raise :class:`_NotListening` unless this transaction runs on the backend that
        ran ``LISTEN`` and that backend still listens on the channel."""
        cur = await conn.execute(
            "SELECT pg_catalog.pg_backend_pid(), ARRAY(SELECT pg_catalog.pg_listening_channels())"
        )
        row = await cur.fetchone()
        if row is None:  # pragma: no cover - a SELECT without FROM gives one row
            raise _NotListening("the listener's probe returned no row")
        pid, channels = int(row[0]), list(row[1] or ())
        hint = (
            "the connection goes through a pooler in transaction mode, where LISTEN lasts "
            "one transaction and notifications are lost: set db-listen-uri to a direct "
            "connection to PostgreSQL"
        )
        if pid != self._server_pid:
            raise _NotListening(
                f"the listener's connection moved from PostgreSQL backend {self._server_pid} "
                f"to {pid} between two transactions: {hint}"
            )
        if self.channel not in channels:
            raise _NotListening(
                f"LISTEN on {self.channel!r} is no longer active in the listener's session "
                f"(an UNLISTEN or DISCARD ALL ran in it, e.g. another client's): {hint}"
            )

    def _dispatch(self, payload: str) -> None:
        command = payload.strip().lower()
        if command in ("", "reload schema"):
            self._request("schema")
        elif command == "reload config":
            if self._callbacks["config"] is None:
                self._emit("listener.ignored", "'reload config' received, no handler", "debug")
            else:
                self._request("config")
        else:
            self._emit("listener.ignored", f"unknown notification payload {payload!r}", "debug")

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    def _signal_first_attempt(self) -> None:
        if self._first_attempt is not None:
            self._first_attempt.set()

    # -- debounced reloads ---------------------------------------------------------------------
    def _request(self, kind: ReloadKind) -> None:
        wakeup = self._wakeups.get(kind)
        if wakeup is not None:
            wakeup.set()

    async def _reload_worker(self, kind: ReloadKind) -> None:
        wakeup = self._wakeups[kind]
        callback = self._callbacks[kind]
        assert callback is not None
        while True:
            await wakeup.wait()
            wakeup.clear()
            self._emit(f"listener.reload_{kind}", f"reloading {kind}", "info")
            try:
                await callback()
            except Exception as exc:  # a failed reload must not stop listening
                self._emit(
                    "listener.reload_failed",
                    f"{kind} reload failed: {exc!r}",
                    "error",
                    kind=kind,
                )
            # Requests during the reload or this window are folded into one more reload.
            await asyncio.sleep(self._debounce)

    # -- events --------------------------------------------------------------------------------
    def _emit(self, name: str, message: str, level: Level, **fields: Any) -> None:
        with contextlib.suppress(Exception):  # a broken observer must not stop listening
            self._observer(Event(name=name, message=message, level=level, fields=fields))
