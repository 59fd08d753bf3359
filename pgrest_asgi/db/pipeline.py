"""A thin driver for libpq's pipeline mode: send a request's statements, sync once, read back.

psycopg's cursor API costs tens of microseconds of Python per ``execute``; a request sends up
to seven statements, so that overhead was most of a request's CPU time. This module talks to
the connection's ``pgconn`` (psycopg's libpq binding) directly: every statement is one
``send_query_params``/``send_query_prepared`` call with server-side ``$n`` parameters, then one
``pipeline_sync`` and one flush — one round trip, and no per-statement Python machinery.

Values are sent as text with no type (OID 0), so PostgreSQL infers each parameter's type from
its use, as PostgREST does. Prepared statements are kept per connection in a bounded LRU.

Only used on connections borrowed from the pool, which are idle and in autocommit mode; the
connection is always left out of pipeline mode, and a connection interrupted mid-pipeline
(cancellation) is closed rather than returned in an unknown state.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Sequence
from typing import Any, NamedTuple

from psycopg import AsyncConnection, OperationalError, pq
from psycopg.pq import ExecStatus
from psycopg.pq.abc import PGcancel, PGconn, PGresult

__all__ = ["Message", "PipelineBroken", "PreparedRegistry", "run_pipeline"]

Params = Sequence[bytes | None]


class Message(NamedTuple):
    sql: bytes
    params: Params | None = None
    #: Prepared-statement name, or ``None`` for an unnamed (one-off) statement.
    name: bytes | None = None
    #: Send a Parse for ``name`` first (the first use on this connection).
    prepare: bool = False


class _Prepared:
    __slots__ = ("names", "next_id")

    def __init__(self) -> None:
        self.names: dict[bytes, bytes] = {}
        self.next_id = 0


class PreparedRegistry:
    """Which statements each connection has prepared, with a bound per connection.

    Statements past the bound run unnamed (parsed each time) rather than evicting: the SQL
    cache keeps request shapes few and stable, so the bound is rarely reached.
    """

    def __init__(self, max_per_connection: int = 256) -> None:
        self.max = max_per_connection
        self._by_conn: weakref.WeakKeyDictionary[Any, _Prepared] = weakref.WeakKeyDictionary()

    def lookup(self, conn: Any, sql: bytes) -> tuple[bytes | None, bool]:
        """(name, needs_prepare) for ``sql`` on ``conn``; name ``None`` means run unnamed.

        A new name is reserved at once, so two new statements in one pipeline never share it.
        """
        state = self._by_conn.get(conn)
        if state is None:
            state = self._by_conn[conn] = _Prepared()
        name = state.names.get(sql)
        if name is not None:
            return name, False
        if state.next_id >= self.max:
            return None, False
        state.next_id += 1
        return b"pgrst_%d" % state.next_id, True

    def confirm(self, conn: Any, sql: bytes, name: bytes) -> None:
        """Record a statement PostgreSQL accepted (its Parse succeeded)."""
        state = self._by_conn.get(conn)
        if state is not None:
            state.names[sql] = name

    def forget(self, conn: Any) -> None:
        self._by_conn.pop(conn, None)


async def run_pipeline(conn: AsyncConnection[Any], messages: Sequence[Message]) -> list[PGresult]:
    """Send ``messages`` and a Sync; return one result per message, in order.

    A prepared message yields two results (Parse, then Execute); callers see them in order.
    After an error PostgreSQL skips the rest: those results have status ``PIPELINE_ABORTED``.
    """
    pgconn = conn.pgconn
    pgconn.enter_pipeline_mode()
    try:
        for message in messages:
            if message.name is None:
                pgconn.send_query_params(message.sql, message.params)
            else:
                if message.prepare:
                    pgconn.send_prepare(message.name, message.sql)
                pgconn.send_query_prepared(message.name, message.params)
        pgconn.pipeline_sync()
        return await _communicate(pgconn)
    except BaseException:
        # Interrupted with results still in flight (the task was cancelled, e.g. because the
        # client went away): the connection's state is unknown. Closing it makes the pool
        # discard it; a cancel request stops the statement now rather than when the server
        # next notices the closed socket (and the transaction is rolled back).
        if pgconn.pipeline_status != pq.PipelineStatus.OFF:
            cancel = pgconn.get_cancel() if pgconn.status == pq.ConnStatus.OK else None
            pgconn.finish()
            if cancel is not None:
                _send_cancel(cancel)
        raise
    finally:
        if pgconn.status == pq.ConnStatus.OK and pgconn.pipeline_status != pq.PipelineStatus.OFF:
            pgconn.exit_pipeline_mode()


class PipelineBroken(OperationalError):
    """The connection broke while results were coming back; ``results`` holds those that
    arrived (a server that terminates the connection says why in a last error result)."""

    def __init__(self, message: str, results: list[PGresult]) -> None:
        super().__init__(message)
        self.results = results


def _send_cancel(cancel: PGcancel) -> None:
    """Fire a cancel request from a worker thread (libpq's ``PQcancel`` blocks briefly)."""

    def send() -> None:
        with contextlib.suppress(Exception):  # the statement may have finished already
            cancel.cancel()

    # Without a running loop (interpreter shutdown) the closed socket has to do.
    with contextlib.suppress(RuntimeError):
        asyncio.get_running_loop().run_in_executor(None, send)


async def _communicate(pgconn: PGconn) -> list[PGresult]:
    loop = asyncio.get_running_loop()
    fd = pgconn.socket
    while pgconn.flush() == 1:
        await _ready(loop, fd, write=True)
    results: list[PGresult] = []
    while True:
        try:
            pgconn.consume_input()
        except OperationalError as exc:
            raise PipelineBroken(str(exc), results) from exc
        while not pgconn.is_busy():
            result = pgconn.get_result()
            if result is None:
                continue
            if result.status == ExecStatus.PIPELINE_SYNC:
                return results
            results.append(result)
        await _ready(loop, fd, write=False)


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, *, write: bool) -> None:
    future: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not future.done():
            future.set_result(None)

    if write:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await future
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)
