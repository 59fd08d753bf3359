"""The executor hook: run one request's transaction on a pooled connection. I/O.

One transaction per request, sent in psycopg pipeline mode so it costs one round trip::

    BEGIN ISOLATION LEVEL … READ ONLY|READ WRITE
    RESET ALL; RESET ROLE            -- extension: drop session-level leftovers (db_reset_session)
    SELECT set_config(…), …          -- search_path, role, claims, request.*, app.settings.*
    SELECT "schema"."pre_request"()  -- when db_pre_request is set
    <main statement>                 -- also returns response.headers / response.status
    COMMIT | ROLLBACK

All values travel as ``$n`` parameters (``AsyncRawCursor``: no client-side interpolation, so a
``%`` in an identifier is harmless). ``json``/``jsonb``/``text`` results are loaded as ``bytes``
and handed to the response untouched.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import msgspec
import psycopg
import psycopg_pool
from psycopg import AsyncConnection, AsyncRawCursor
from psycopg.adapt import Loader
from psycopg.pq import TransactionStatus

from ..errors import ConnectionError, PgRestError
from ..observe import Event, Observer, log_observer
from ..plan.model import TxSpec
from ..settings import Settings
from ..sql.build import Statement
from ..sql.gucs import begin_sql, guc_statement, pre_request_sql
from .errors import database_error

__all__ = ["DbResult", "PsycopgExecutor"]

APPLICATION_NAME = "pgrest_asgi"
#: Connections idle longer than this are pinged before use (catches server restarts).
IDLE_CHECK_AFTER = 1.0


class DbResult(msgspec.Struct, kw_only=True):
    """The main statement's single row."""

    total: int | None
    page_total: int
    body: bytes
    response_headers: bytes | None = None
    response_status: bytes | None = None


class BytesLoader(Loader):
    """Return the server's text as bytes: JSON bodies are never decoded in Python."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


def register_bytes_loaders(conn: AsyncConnection[Any]) -> None:
    for name in ("json", "jsonb", "text"):
        conn.adapters.register_loader(name, BytesLoader)


class PsycopgExecutor:
    """Owns the connection pool and runs transactions. Subclass ``run`` to add statements."""

    def __init__(self, settings: Settings, *, observer: Observer = log_observer) -> None:
        self.settings = settings
        self.observer = observer
        self.pool: psycopg_pool.AsyncConnectionPool[AsyncConnection[Any]] | None = None
        self._last_used: weakref.WeakKeyDictionary[AsyncConnection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self, *, wait: bool = False) -> None:
        s = self.settings
        self.pool = psycopg_pool.AsyncConnectionPool(
            s.db_uri,
            min_size=min(s.db_pool_min, s.db_pool),
            max_size=s.db_pool,
            timeout=s.db_pool_acquisition_timeout,
            max_idle=s.db_pool_max_idletime,
            max_lifetime=s.db_pool_max_lifetime,
            max_waiting=s.db_pool_max_waiting,
            reconnect_timeout=300.0,
            kwargs={
                "autocommit": True,
                "prepare_threshold": 0 if s.db_prepared_statements else None,
                "application_name": APPLICATION_NAME,
            },
            configure=self._configure,
            check=self._check,
            reset=self._reset,
            open=False,
            name="pgrest_asgi",
        )
        await self.pool.open(wait=wait, timeout=s.db_pool_acquisition_timeout)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def _configure(self, conn: AsyncConnection[Any]) -> None:
        register_bytes_loaders(conn)
        conn.cursor_factory = AsyncRawCursor

    async def _check(self, conn: AsyncConnection[Any]) -> None:
        last = self._last_used.get(conn)
        if last is None or time.monotonic() - last > IDLE_CHECK_AFTER:
            await conn.execute("")

    async def _reset(self, conn: AsyncConnection[Any]) -> None:
        self._last_used[conn] = time.monotonic()

    # -- hook API --------------------------------------------------------------------------
    async def execute(self, statement: Statement, tx: TxSpec) -> DbResult:
        """Run the transaction; on a stale connection (nothing ran) retry once."""
        try:
            return await self._with_connection(statement, tx)
        except _Retryable:
            return await self._with_connection(statement, tx, retry=False)

    async def _with_connection(
        self, statement: Statement, tx: TxSpec, *, retry: bool = True
    ) -> DbResult:
        if self.pool is None:
            raise ConnectionError.unreachable("The connection pool is not open")
        try:
            async with self.pool.connection() as conn:
                return await self.run(conn, statement, tx, retry=retry)
        except psycopg_pool.PoolTimeout:
            self.observer(
                Event(name="pool.timeout", message="acquisition timed out", level="warning")
            )
            raise ConnectionError.pool_timeout() from None
        except psycopg_pool.TooManyRequests:
            raise ConnectionError(
                "Too many requests are waiting for a database connection.",
                code="PGRST003",
                status=503,
                headers=[("Retry-After", "1")],
            ) from None
        except psycopg.OperationalError as exc:
            if exc.sqlstate is None:
                raise ConnectionError.unreachable(_first_line(exc)) from None
            raise

    async def run(
        self,
        conn: AsyncConnection[Any],
        statement: Statement,
        tx: TxSpec,
        *,
        retry: bool = True,
    ) -> DbResult:
        """Send the whole transaction in one pipeline and read the main statement's row."""
        anonymous = tx.role == self.settings.db_anon_role
        guc_sql, guc_params = guc_statement(tx)
        cur = conn.cursor()
        main = conn.cursor()
        try:
            async with conn.pipeline():
                await cur.execute(begin_sql(tx.isolation, tx.read_only), prepare=False)
                if self.settings.db_reset_session:
                    await cur.execute("RESET ALL", prepare=False)
                    await cur.execute("RESET ROLE", prepare=False)
                await cur.execute(guc_sql, guc_params)
                if tx.pre_request is not None:
                    await cur.execute(pre_request_sql(tx.pre_request))
                await main.execute(statement.sql, statement.params)
                await cur.execute("ROLLBACK" if tx.rollback else "COMMIT", prepare=False)
            row = await main.fetchone()
        except psycopg.Error as exc:
            await _abort(conn)
            # Only reads are retried: a write whose COMMIT may have been sent must not run twice.
            if retry and tx.read_only and conn.broken and isinstance(exc, psycopg.OperationalError):
                raise _Retryable from exc
            raise self.translate(exc, anonymous=anonymous) from None
        assert row is not None
        return DbResult(
            total=row[0],
            page_total=row[1],
            body=row[2],
            response_headers=row[3],
            response_status=row[4],
        )

    def translate(self, exc: psycopg.Error, *, anonymous: bool) -> PgRestError:
        diag = exc.diag
        sqlstate = exc.sqlstate
        message = diag.message_primary or _first_line(exc)
        if sqlstate is None and isinstance(exc, psycopg.DataError) and "NUL" in str(exc):
            # psycopg refuses NUL bytes in text parameters before PostgreSQL sees them.
            sqlstate, message = "22021", 'invalid byte sequence for encoding "UTF8": 0x00'
        return database_error(
            sqlstate, message, diag.message_detail, diag.message_hint, anonymous=anonymous
        )

    # -- utilities for hosts and the schema cache ---------------------------------------
    async def connection_stats(self) -> dict[str, int]:
        return dict(self.pool.get_stats()) if self.pool is not None else {}


class _Retryable(Exception):
    """The connection died before anything ran; safe to try once more on another one."""


async def _abort(conn: AsyncConnection[Any]) -> None:
    """Leave the connection idle after a failure (or let the pool discard it if broken)."""
    if conn.broken or conn.closed:
        return
    if conn.info.transaction_status != TransactionStatus.IDLE:
        try:
            await conn.execute("ROLLBACK", prepare=False)
        except psycopg.Error:
            await conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
