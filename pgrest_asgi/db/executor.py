"""The executor hook: run one request's transaction on a pooled connection. I/O.

One transaction per request, sent in psycopg pipeline mode so it costs one round trip::

    [BEGIN ISOLATION LEVEL … READ ONLY|READ WRITE]   -- reads use the pipeline's implicit one
    RESET ALL                        -- extension: drop session-level leftovers (db_reset_session)
    SELECT set_config(…), …          -- search_path, role, claims, request.*, app.settings.*
    SELECT "schema"."pre_request"()  -- when db_pre_request is set
    <main statement>                 -- also returns response.headers / response.status
    [COMMIT | ROLLBACK]
    SELECT pg_advisory_unlock_all(), <what else was left behind>   -- the session check

The session check (with ``db_reset_session``) runs after COMMIT in an explicit transaction.
In a read's implicit transaction it rides in the main statement instead, as two columns
around the read's one row (``SELECT pgrst_main.*, <check> FROM (<main>) AS pgrst_main``),
evaluated once that row is complete: a statement of its own cost 6 % of the GET benchmark's
throughput, the columns cost nothing measurable. It releases session-level advisory locks
itself and names what it cannot undo cheaply: a ``LISTEN``, a ``WITH HOLD`` cursor, a
prepared statement made with SQL ``PREPARE`` (which could stand in for one of ours) and,
after a read-write transaction, temporary objects (read-only transactions cannot create any).
Temporary objects are dropped with ``DISCARD TEMP``; for anything else the connection is
closed and the pool replaces it: a session that cannot be trusted is never reused. A
``LISTEN`` in a read only takes effect at its commit, after the check: the next request's
check (or the first notification) closes that connection. A prepared statement of ours that
vanished (``DEALLOCATE`` in a function) fails the next transaction before anything in it can
commit: that connection is closed as well and the request retried once on another one. A
failed transaction gets its check after its ROLLBACK (a session lock survives a rollback). A
session-level role needs nothing: every transaction sets its own, and the schema loader starts
from ``DISCARD ALL``.

The statements go through ``db/pipeline.py`` (libpq's pipeline mode, prepared statements):
every value is a server-side ``$n`` parameter, nothing is interpolated client-side (so a ``%``
in an identifier is harmless), and the main statement's row is read as the server sent it —
the JSON body stays ``bytes`` from the socket to the response.

With read replicas (``db-replica-uris``) a read-only transaction runs on a replica's pool,
chosen by ``db/replicas.py`` (everything else, and ``maintenance_connection``, on the
primary's); without them the only cost is a test of ``self.replicas``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import msgspec
import psycopg
import psycopg_pool
from psycopg import AsyncConnection, pq
from psycopg.adapt import Loader
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import ExecStatus, TransactionStatus
from psycopg.pq.abc import PGresult

from ..context import RequestContext
from ..errors import ApiRequestError, DbConnectionError, PgRestError
from ..observe import LEVELS, Event, Observer, log_observer, query_logger, status_level, wanted
from ..plan.model import RowCheck, TxSpec
from ..settings import Settings
from ..sql.build import DbResult, Statement
from ..sql.gucs import begin_sql, guc_statement, pre_request_sql
from .errors import database_error
from .pipeline import Message, PipelineBroken, PreparedRegistry, run_pipeline
from .replicas import Replica, ReplicaSet

__all__ = ["DbResult", "PsycopgExecutor"]

APPLICATION_NAME = "pgrest_asgi"
#: Connections idle longer than this are pinged before use (catches server restarts).
IDLE_CHECK_AFTER = 1.0

_SESSION_CHECK_COLUMNS = (
    "pg_catalog.pg_advisory_unlock_all(), pg_catalog.concat_ws(' ',"
    " CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_listening_channels()) THEN 'listen' END,"
    " CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_cursor() c WHERE c.is_holdable)"
    " THEN 'cursor' END,"
    " CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_prepared_statement() p WHERE p.from_sql)"
    " THEN 'prepare' END{temp})"
)
#: What a transaction left in the session; ``''`` when nothing. Only a read-write transaction
#: can create temporary objects (tables and views have a row type; temporary functions are
#: never found without naming ``pg_temp``, so they cannot stand in for anything).
#: (Constant text only: nothing from a request is in these statements.)
SESSION_CHECK_READ_ONLY = "SELECT " + _SESSION_CHECK_COLUMNS.format(temp="")
SESSION_CHECK_READ_WRITE = "SELECT " + _SESSION_CHECK_COLUMNS.format(  # noqa: S608
    temp=", CASE WHEN pg_catalog.pg_my_temp_schema() <> 0 AND (EXISTS (SELECT FROM"
    " pg_catalog.pg_class c WHERE c.relnamespace = pg_catalog.pg_my_temp_schema()) OR EXISTS"
    " (SELECT FROM pg_catalog.pg_type t WHERE t.typnamespace = pg_catalog.pg_my_temp_schema()))"
    " THEN 'temp' END"
)
#: The SQLSTATE of executing a prepared statement that does not exist.
_NO_SUCH_STATEMENT = b"26000"
#: libpq reports no SQLSTATE for a failed connection, only the server's message: these
#: (PostgreSQL's texts for SQLSTATE 53300) mean the server is up and merely full.
_SERVER_FULL = ("too many clients already", "connection slots are reserved")
#: …and these (28000/28P01, 3D000) that it refuses our credentials or database: a setting to
#: fix, not an outage to wait out, so it is probed at most every ``REFUSED_MAX_DELAY`` s.
_REFUSED = ("authentication failed", "does not exist", "no pg_hba.conf entry")
REFUSED_MAX_DELAY = 32.0
#: While the database is unreachable it is probed after this many seconds, then twice as
#: long each time up to ``RECOVERY_MAX_DELAY``.
RECOVERY_FIRST_PROBE = 0.1
RECOVERY_MAX_DELAY = 1.0
_PROBE_TIMEOUT = 5


class BytesLoader(Loader):
    """Return the server's text as bytes: JSON bodies are never decoded in Python."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


def register_bytes_loaders(conn: AsyncConnection[Any]) -> None:
    for name in ("json", "jsonb", "text"):
        conn.adapters.register_loader(name, BytesLoader)


class PsycopgExecutor:
    """Owns the connection pool and runs transactions. Override ``before_main`` to add
    statements to every transaction. Built without settings, it takes the app's (``bind``)."""

    def __init__(
        self, settings: Settings | None = None, *, observer: Observer = log_observer
    ) -> None:
        self.settings = settings or Settings()
        self._own = settings is not None
        self.observer = observer
        self.pool: psycopg_pool.AsyncConnectionPool[AsyncConnection[Any]] | None = None
        self._last_used: weakref.WeakKeyDictionary[AsyncConnection[Any], float] = (
            weakref.WeakKeyDictionary()
        )
        self.prepared = PreparedRegistry()
        #: SQL text → bytes; the texts come from caches, so there are few of them.
        self._encoded: dict[str, bytes] = {}
        #: A read's main statement with the session check's columns (``_folded``).
        self._folded_sql: dict[str, str] = {}
        #: Set while the database cannot be reached (see ``_connect_failed``).
        self.outage: Outage | None = None
        #: Outages ended so far (the NOTIFY listener wakes up when this changes).
        self.recoveries = 0
        self._available: asyncio.Event | None = None
        self._open = False
        self._connection_class = _reporting_connection(self._connect_failed)
        #: ``application_name`` from the DSN when it names one, else ours.
        self._application_name = _application_name(self.settings.db_uri)
        #: Requests answered PGRST003 (no connection within the acquisition timeout, or too
        #: many waiting), for ``pgrst_db_pool_timeouts_total``.
        self.pool_timeouts = 0
        #: Set when ``db-uri`` turned out to go through a pooler (``_check_pooler``).
        self.pooled = False
        #: Set with ``pooled`` while prepared statements are on: none is prepared any more,
        #: whatever ``db-prepared-statements`` says.
        self.unnamed_statements = False
        #: The read replicas (``db-replica-uris``) while open; ``None`` without any.
        self.replicas: ReplicaSet | None = None

    def bind(self, settings: Settings, observer: Observer | None = None) -> None:
        """Take the app's settings (and observer), at start-up and on every configuration
        reload, unless built with its own. The pool's size and timeouts are fixed when it
        opens; a reload changes what each transaction does."""
        if observer is not None and self.observer is log_observer:
            self.observer = observer
        if not self._own:
            self.settings = settings
            self._application_name = _application_name(settings.db_uri)

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self, *, wait: bool = False) -> None:
        self._open = True
        self._available = asyncio.Event()
        self._available.set()
        pool = self.pool = self._new_pool()
        await pool.open(wait=wait, timeout=self.settings.db_pool_acquisition_timeout)
        if self.settings.db_replica_uris:
            # Their pools open as the background check finds each one healthy: a replica
            # never delays the start, and until then reads go to the primary.
            self.replicas = ReplicaSet(
                self.settings.db_replica_uris,
                self,
                self._new_replica_pool,
                application_name=self._application_name,
            )
            self.replicas.open()

    def _new_pool(
        self,
        dsn: str | None = None,
        connection_class: type[AsyncConnection[Any]] | None = None,
        name: str = "pgrest_asgi",
    ) -> psycopg_pool.AsyncConnectionPool[AsyncConnection[Any]]:
        """A pool of ``db-pool`` connections to ``dsn`` (default: ``db-uri``)."""
        s = self.settings
        return psycopg_pool.AsyncConnectionPool(
            dsn or s.db_uri,
            connection_class=connection_class or self._connection_class,
            min_size=min(s.db_pool_min, s.db_pool),
            max_size=s.db_pool,
            timeout=s.db_pool_acquisition_timeout,
            max_idle=s.db_pool_max_idletime,
            max_lifetime=s.db_pool_max_lifetime,
            max_waiting=s.db_pool_max_waiting,
            reconnect_timeout=300.0,
            kwargs={
                "autocommit": True,
                # Requests prepare through db/pipeline.py; psycopg itself never does.
                "prepare_threshold": None,
                "application_name": self._application_name,
            },
            configure=self._check_pooler,
            open=False,
            name=name,
        )

    async def _check_pooler(self, conn: AsyncConnection[Any]) -> None:
        """A new connection, before its first use: does it go through a pooler (the backend
        pid the connection reported at start-up is made up, not the server's)? Then a
        session the check finds unclean is reported for what it is (``_discard``), and when
        prepared statements are on, say once what to set and send statements unnamed from
        now on: behind PgBouncer's transaction pooling a statement prepared on one server
        connection would be executed on another (``26000``, ``42P05``)."""
        if self.pooled:
            return
        cur = await conn.execute("SELECT pg_catalog.pg_backend_pid()", prepare=False)
        row = await cur.fetchone()
        if row is None or row[0] == conn.info.backend_pid:
            return
        self.pooled = True
        if not self.settings.db_prepared_statements or self.unnamed_statements:
            return  # (the last: another new connection found it meanwhile)
        self.unnamed_statements = True
        self.observer(
            Event(
                name="db.pooler_detected",
                message="db-uri goes through a connection pooler (PostgreSQL backend "
                f"{row[0]}, the connection reported {conn.info.backend_pid}); in transaction "
                "pooling (PgBouncer) prepared statements cannot work, so statements are sent "
                "unnamed from now on: set db-prepared-statements = false "
                "(PGRST_DB_PREPARED_STATEMENTS=false) to say so",
                level="warning",
                fields={"backend_pid": row[0], "reported_pid": conn.info.backend_pid},
            )
        )

    def _new_replica_pool(
        self, dsn: str, on_failure: Callable[[psycopg.OperationalError], None], label: str
    ) -> psycopg_pool.AsyncConnectionPool[AsyncConnection[Any]]:
        """A replica's pool: as the primary's (``db-pool`` connections), its failed
        connection attempts reported to the replica set."""
        return self._new_pool(dsn, _reporting_connection(on_failure), f"pgrest_asgi {label}")

    async def close(self) -> None:
        self._open = False
        replicas, self.replicas = self.replicas, None
        if replicas is not None:
            await replicas.close()
        outage, self.outage = self.outage, None
        if outage is not None:
            outage.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await outage.task
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    # -- outages ---------------------------------------------------------------------------
    def _connect_failed(self, exc: psycopg.OperationalError) -> None:
        """A new connection could not be made: unless the server is merely full, it is down
        (or refusing us). From now on requests are answered 503 at once instead of waiting
        for a connection, until a probe connects again."""
        if self.outage is not None or not self._open:
            return
        reason = _first_line(exc)
        if any(text in str(exc) for text in _SERVER_FULL):
            return
        self.observer(
            Event(
                name="db.unreachable",
                message=f"the database cannot be reached: {reason}",
                level="error",
                fields={"reason": reason},
            )
        )
        if self._available is not None:
            self._available.clear()
        outage = Outage(reason, retry_at=time.monotonic() + RECOVERY_FIRST_PROBE)
        outage.task = asyncio.get_running_loop().create_task(self._recover(outage))
        self.outage = outage

    async def _recover(self, outage: Outage) -> None:
        """Probe the database until it accepts a connection, then start a new pool.

        The old pool is closed at once: requests waiting on it are woken (and answered 503),
        and its reconnection attempts, which back off for up to minutes, stop. Probes back
        off from ``RECOVERY_FIRST_PROBE`` to ``RECOVERY_MAX_DELAY`` seconds, so the first
        request after the database returns is served within about that long; to
        ``REFUSED_MAX_DELAY`` while the server refuses our credentials (no log flood).
        """
        old, self.pool = self.pool, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close(timeout=0)
        delay = RECOVERY_FIRST_PROBE
        while True:
            outage.retry_at = time.monotonic() + delay
            await asyncio.sleep(delay)
            try:
                probe = await AsyncConnection.connect(
                    self.settings.db_uri,
                    autocommit=True,
                    connect_timeout=_PROBE_TIMEOUT,
                    application_name=self._application_name,
                )
            except Exception as exc:  # never let the recovery die: the app would stay down
                outage.reason = _first_line(exc)
                refused = any(text in str(exc) for text in _REFUSED)
                delay = min(delay * 2, REFUSED_MAX_DELAY if refused else RECOVERY_MAX_DELAY)
                continue
            await probe.close()
            break
        pool = self._new_pool()
        await pool.open(wait=False)
        self.pool = pool
        self.outage = None
        self.recoveries += 1
        if self._available is not None:
            self._available.set()
        self.observer(
            Event(
                name="db.recovered",
                message="the database is reachable again "
                f"(after {time.monotonic() - outage.since:.1f}s)",
                fields={"seconds": time.monotonic() - outage.since},
            )
        )

    async def wait_available(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the database to be reachable; ``True`` if it is
        believed to be (no outage)."""
        if self._available is None or self._available.is_set():
            return True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._available.wait()
        return self._available.is_set()

    @contextlib.asynccontextmanager
    async def maintenance_connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A pooled connection in the session state it had when it was opened, for work
        outside requests (the schema cache): ``DISCARD ALL`` drops whatever a request's
        function left behind (settings, role, temporary objects, locks, prepared statements)."""
        pool = self._pool()
        async with pool.connection() as conn:
            self.prepared.forget(conn)
            await conn.execute("DISCARD ALL")
            yield conn

    async def _live_connection(
        self, pool: psycopg_pool.AsyncConnectionPool[AsyncConnection[Any]]
    ) -> AsyncConnection[Any]:
        """A pooled connection that answers; one idle for a while is pinged first.

        Not the pool's ``check`` callback: that sleeps with back-off (1, 2, 4 … s) after each
        dead connection, so after a database restart the first request would walk every
        dead connection of the pool that way. Here a dead one is handed back (the pool drops
        it and opens a new one) and the next is tried at once.
        """
        for _ in range(self.settings.db_pool + 1):
            conn = await pool.getconn()
            last = self._last_used.get(conn)
            if last is not None and time.monotonic() - last <= IDLE_CHECK_AFTER:
                return conn
            try:
                await conn.execute("")
            except BaseException as exc:
                # Dead (or interrupted mid-ping, so in an unknown state): closed, the pool
                # drops it and opens another.
                self.prepared.forget(conn)
                conn.pgconn.finish()
                await pool.putconn(conn)
                if not isinstance(exc, psycopg.Error):
                    raise
                continue
            return conn
        return await pool.getconn()

    # -- hook API --------------------------------------------------------------------------
    def pool_stats(self) -> dict[str, int]:
        """For metrics, read when scraped: ``available`` (idle connections ready for a
        request), ``waiting`` (requests waiting for one), ``max`` (the pool's size) and
        ``timeouts`` (requests answered PGRST003 so far). While the database is unreachable
        there is no pool: nothing is available and nobody waits."""
        pool = self.pool
        stats = pool.get_stats() if pool is not None else {}
        return {
            "available": stats.get("pool_available", 0),
            "waiting": stats.get("requests_waiting", 0),
            "max": stats.get("pool_max", self.settings.db_pool),
            "timeouts": self.pool_timeouts,
        }

    def replica_stats(self) -> list[dict[str, Any]]:
        """For metrics, read when scraped: one dict per read replica (``ReplicaSet.stats``:
        its label, whether it takes reads, its lag and its pool's figures); none without
        replicas."""
        return self.replicas.stats() if self.replicas is not None else []

    def unavailable_reason(self) -> str | None:
        """Why the database (the primary: replicas never make it unavailable) cannot be
        reached right now, or ``None`` (no known outage)."""
        return self.outage.reason if self.outage is not None else None

    def before_main(
        self, statement: Statement, tx: TxSpec, context: RequestContext | None
    ) -> Sequence[tuple[str, Sequence[Any]]]:
        """Extra statements for a transaction, run after the request settings and the
        pre-request function, before the main statement: ``(sql, params)`` pairs with
        ``$n`` placeholders. None by default; a subclass overrides this instead of ``run``
        (e.g. ``SELECT set_config('app.tenant', $1, true)`` from ``context.auth``). A failing
        statement fails the request like the main one."""
        return ()

    async def execute(
        self, statement: Statement, tx: TxSpec, context: RequestContext | None = None
    ) -> DbResult:
        """Run the transaction; on a dead connection (a read: safe to repeat) retry once.

        One dead connection usually means others died with it (a server restart, an admin
        terminating backends), so the pool first checks its idle connections and drops the
        dead ones; the retry then gets a live one.

        With read replicas (``db-replica-uris``), a read-only transaction runs on one of them
        unless the request asks for the primary (read-your-writes, see ``db/replicas.py``);
        when its replica fails before answering, it is retried once on the primary. A write's
        response gets the cookie that sends its client's next reads to the primary.
        """
        extra = self.before_main(statement, tx, context)
        replicas = self.replicas
        replica = None
        if replicas is not None and tx.read_only:
            replica = replicas.choose(tx, context)
        if not self.settings.log_query:
            result = await self._execute(statement, tx, extra, replica)
        else:
            started = time.perf_counter()
            try:
                result = await self._execute(statement, tx, extra, replica)
            except PgRestError as exc:
                seconds = time.perf_counter() - started
                self._log_queries(statement, tx, extra, seconds, exc.status)
                raise
            except Exception:
                self._log_queries(statement, tx, extra, time.perf_counter() - started, 500)
                raise
            self._log_queries(statement, tx, extra, time.perf_counter() - started, 200)
        if replicas is not None and not tx.read_only and not tx.rollback:
            replicas.pin(result, context)
        return result

    async def _execute(
        self,
        statement: Statement,
        tx: TxSpec,
        extra: Sequence[tuple[str, Sequence[Any]]],
        replica: Replica | None = None,
    ) -> DbResult:
        try:
            if replica is not None:
                return await self._on_replica(replica, statement, tx, extra)
            return await self._with_connection(statement, tx, extra)
        except _Retryable as again:
            where = "the primary" if replica is not None else "another connection"
            self.observer(
                Event(
                    name="db.retry",
                    message=f"retrying the transaction on {where}: {again.reason}",
                    level="warning",
                    fields={"reason": again.reason},
                )
            )
            if replica is not None:
                if again.check_pool and self.replicas is not None:
                    self.replicas.failed(replica, again.reason)
            elif again.check_pool and self.pool is not None:
                with contextlib.suppress(psycopg_pool.PoolClosed):
                    await self.pool.check()
            return await self._with_connection(statement, tx, extra, retry=False)

    async def _on_replica(
        self,
        replica: Replica,
        statement: Statement,
        tx: TxSpec,
        extra: Sequence[tuple[str, Sequence[Any]]],
    ) -> DbResult:
        """A read-only transaction on ``replica``; ``_Retryable`` (for the primary) when the
        replica fails it as the primary would not.

        A standby can write nothing, so a transaction whose connection broke — before its
        main statement, or while it ran (the replica was stopped), or cancelled by a
        recovery conflict — left nothing behind: it is run again on the primary, whatever of
        it had run. A pool closed under us (the replica was found down) never ran it.
        """
        pool = replica.pool
        if pool is None:
            raise _Retryable("the replica is down", check_pool=False)
        replica.busy += 1
        try:
            conn = await self._live_connection(pool)
            try:
                return await self.run(conn, statement, tx, extra=extra)
            except (PgRestError, psycopg.OperationalError) as exc:
                if conn.pgconn.status != pq.ConnStatus.OK:
                    raise _Retryable(
                        f"the replica's connection was broken ({_first_line(exc)})",
                        check_pool=True,
                    ) from None
                if ReplicaSet.retry_on_primary(exc):
                    raise _Retryable(_first_line(exc), check_pool=False) from None
                raise
            finally:
                self._last_used[conn] = time.monotonic()
                await pool.putconn(conn)
        except psycopg_pool.PoolClosed:
            raise _Retryable("the replica was found down", check_pool=False) from None
        except (psycopg_pool.PoolTimeout, psycopg_pool.TooManyRequests) as exc:
            raise self._no_connection(exc, f" (replica {replica.label})") from None
        except psycopg.OperationalError as exc:
            if exc.sqlstate is None:
                raise _Retryable(_first_line(exc), check_pool=True) from None
            raise
        finally:
            replica.busy -= 1

    def _log_queries(
        self,
        statement: Statement,
        tx: TxSpec,
        extra: Sequence[tuple[str, Sequence[Any]]],
        seconds: float,
        status: int,
    ) -> None:
        """``log-query``: one ``query`` event per statement of the request's own (the request
        settings, the pre-request call, ``before_main``'s, the main statement, the count),
        at the level its outcome gives (PostgREST's ``log-level`` filter); the parameter
        values only when ``pgrest_asgi.query`` is enabled for debug."""
        level = status_level(status)
        if not wanted(self.observer, query_logger, LEVELS[level]):
            return
        debug = query_logger.isEnabledFor(logging.DEBUG)
        implicit = tx.read_only and tx.isolation is None and not tx.rollback
        statements: list[tuple[str, str, Sequence[Any]]] = [
            ("settings", *guc_statement(tx, set_read_only=implicit))
        ]
        if tx.pre_request is not None:
            statements.append(("pre-request", pre_request_sql(tx.pre_request), ()))
        statements += [("extra", sql, params) for sql, params in extra]
        statements.append(("main", statement.sql, statement.params))
        if statement.count_sql is not None:
            statements.append(("count", statement.count_sql, statement.count_params))
        for what, sql, params in statements:
            self.observer(
                Event.query(
                    sql=sql,
                    seconds=seconds,
                    status=status,
                    what=what,
                    params=_params_json(params) if debug else None,
                )
            )

    def _pool(self) -> psycopg_pool.AsyncConnectionPool[AsyncConnection[Any]]:
        """The pool, or the error to answer now: while the database is unreachable no request
        waits for a connection."""
        if self.outage is not None:
            raise self.outage.error()
        if self.pool is None:
            raise DbConnectionError.unreachable("The connection pool is not open")
        return self.pool

    async def _with_connection(
        self,
        statement: Statement,
        tx: TxSpec,
        extra: Sequence[tuple[str, Sequence[Any]]] = (),
        *,
        retry: bool = True,
    ) -> DbResult:
        pool = self._pool()
        try:
            conn = await self._live_connection(pool)
            try:
                return await self.run(conn, statement, tx, retry=retry, extra=extra)
            finally:
                # Not a pool `reset` callback: that sends every return through a task.
                self._last_used[conn] = time.monotonic()
                await pool.putconn(conn)
        except psycopg_pool.PoolClosed:
            # The pool was closed under us: an outage began (or the app is shutting down).
            raise self._pool_error() from None
        except (psycopg_pool.PoolTimeout, psycopg_pool.TooManyRequests) as exc:
            if self.outage is not None and isinstance(exc, psycopg_pool.PoolTimeout):
                raise self.outage.error() from None
            raise self._no_connection(exc) from None
        except psycopg.OperationalError as exc:
            if self.outage is not None:
                raise self.outage.error() from None
            if exc.sqlstate is None:
                raise DbConnectionError.unreachable(_first_line(exc)) from None
            raise

    def _no_connection(self, exc: Exception, where: str = "") -> PgRestError:
        """PGRST003: no connection within the acquisition timeout (``exc`` a ``PoolTimeout``),
        or too many requests already waiting; ``where``: which pool, for the log."""
        self.pool_timeouts += 1
        if isinstance(exc, psycopg_pool.TooManyRequests):
            return DbConnectionError.pool_queue_full()
        self.observer(
            Event(name="pool.timeout", message=f"acquisition timed out{where}", level="warning")
        )
        return DbConnectionError.pool_timeout()

    def _pool_error(self) -> PgRestError:
        if self.outage is not None:
            return self.outage.error()
        return DbConnectionError.unreachable("The connection pool is closed")

    async def run(
        self,
        conn: AsyncConnection[Any],
        statement: Statement,
        tx: TxSpec,
        *,
        retry: bool = True,
        extra: Sequence[tuple[str, Sequence[Any]]] = (),
    ) -> DbResult:
        """Send the whole transaction as one pipeline and read the main statement's row.

        A read with the default isolation that commits needs no BEGIN/COMMIT: statements up
        to a pipeline's Sync already run as one implicit transaction, made read-only by the
        preamble. Everything else gets an explicit ``BEGIN … ; … ; COMMIT|ROLLBACK``.
        """
        implicit = tx.read_only and tx.isolation is None and not tx.rollback
        guc_sql, guc_params = guc_statement(tx, set_read_only=implicit)
        messages = [] if implicit else [Message(begin_sql(tx.isolation, tx.read_only).encode())]
        clean = self.settings.db_reset_session
        if clean:
            messages.append(Message(b"RESET ALL"))
        messages.append(self._message(conn, guc_sql, guc_params))
        if tx.pre_request is not None:
            messages.append(self._message(conn, pre_request_sql(tx.pre_request), ()))
        for sql, params in extra:
            messages.append(self._message(conn, sql, params))
        main_index = len(messages)
        # A read's session check rides in its main statement: its columns are evaluated after
        # the main query's row is complete (a statement of its own cost 6 % of the GET
        # benchmark's throughput).
        folded = implicit and clean and statement.explain is None
        main_sql = self._folded(statement.sql) if folded else statement.sql
        messages.append(self._message(conn, main_sql, statement.params))
        count_index = None
        if statement.count_sql is not None:
            count_index = len(messages)
            messages.append(self._message(conn, statement.count_sql, statement.count_params))
        # Row checks need the main statement's row before the transaction may end.
        deferred_end = bool(statement.checks) and not implicit
        if not implicit and not deferred_end:
            messages += _end(tx)
        check_index = -1
        if clean and not deferred_end and not folded:
            # After COMMIT in an explicit transaction, so it sees what the transaction left.
            check_index = len(messages)
            messages.append(self._session_check(conn, tx))
        try:
            results = await run_pipeline(conn, messages)
        except psycopg.OperationalError as exc:
            self.prepared.forget(conn)
            raise self._broken(exc, tx, retry=retry) from None
        row: PGresult | None = None
        explained: PGresult | None = None
        failure: PGresult | None = None
        session: PGresult | None = None
        slots = iter(results)
        for index, message in enumerate(messages):
            if message.prepare:
                parsed = next(slots)
                if parsed.status == ExecStatus.COMMAND_OK and message.name is not None:
                    self.prepared.confirm(conn, message.sql, message.name)
                elif failure is None and parsed.status == ExecStatus.FATAL_ERROR:
                    failure = parsed
            result = next(slots)
            if index == check_index:
                session = result
            elif failure is None and result.status == ExecStatus.FATAL_ERROR:
                failure = result
            if index == main_index:
                row = result
            elif index == count_index:
                explained = result
        if failure is not None:
            raise await self._failed(conn, failure, tx, session, retry=retry)
        assert row is not None and row.status == ExecStatus.TUPLES_OK
        fields = row.nfields
        if folded:
            fields -= 2
            await self._settle_reasons(conn, row.get_value(0, fields + 1))
        elif session is not None:
            await self._settle(conn, session)
        if statement.checks:
            rows = int(row.get_value(0, 1) or 0)
            rule_ok = fields <= 7 or row.get_value(0, 7) != b"f"
            failed = next((c for c in statement.checks if c.failed(rows, rule_ok)), None)
            ending = [Message(b"ROLLBACK")] if failed is not None else _end(tx)
            if deferred_end and clean:
                ending.append(self._session_check(conn, tx))
            if deferred_end:
                ended = await run_pipeline(conn, ending)
                failure = next((r for r in ended if r.status == ExecStatus.FATAL_ERROR), None)
                if clean and (failure is None or failed is not None):
                    await self._settle(conn, ended[-1])
            if failed is not None:
                raise row_check_error(failed, rows, anonymous=tx.anonymous)
            if deferred_end and failure is not None:
                raise await self._failed(conn, failure, tx, None, retry=False)
        if statement.explain is not None:
            lines = (row.get_value(i, 0) or b"" for i in range(row.ntuples))
            return DbResult(total=None, page_total=0, body=b"\n".join(lines))
        total = row.get_value(0, 0)
        # PostgREST's columns: total, page total, [a write's Location keys,] body, response
        # headers, response status[, a write's inserted count and row-check verdict].
        write = fields > 5
        body = 3 if write else 2
        return DbResult(
            total=None if total is None else int(total),
            page_total=int(row.get_value(0, 1) or 0),
            body=row.get_value(0, body) or b"",
            response_headers=row.get_value(0, body + 1),
            response_status=row.get_value(0, body + 2),
            planned_total=_plan_rows(explained) if explained is not None else None,
            inserted=_int_or_none(row.get_value(0, 6)) if write else None,
            location=row.get_value(0, 2) if write else None,
        )

    async def _failed(
        self,
        conn: AsyncConnection[Any],
        failure: PGresult,
        tx: TxSpec,
        session: PGresult | None,
        *,
        retry: bool,
    ) -> Exception:
        """End a transaction a statement failed in, and the error to answer.

        A session-level advisory lock or a ``PREPARE`` survives a rollback, so the session
        check runs after it (unless it already ran, after the transaction's own Sync).
        """
        ending = []
        if conn.pgconn.transaction_status != TransactionStatus.IDLE:
            ending.append(Message(b"ROLLBACK"))
        ran = session is not None and session.status != ExecStatus.PIPELINE_ABORTED
        checking = self.settings.db_reset_session and not ran
        if checking:
            ending.append(self._session_check(conn, tx))
        if ending:
            ended = await run_pipeline(conn, ending)
            if checking:
                session = ended[-1]
        if session is not None and (ran or checking):
            await self._settle(conn, session)
        if failure.error_field(pq.DiagnosticField.SQLSTATE) == _NO_SUCH_STATEMENT:
            # One of our prepared statements is gone (a function ran DEALLOCATE): nothing of
            # this transaction committed, and the connection's state is not what we think.
            await self._discard(conn, "a prepared statement of this connection vanished")
            if retry:
                return _Retryable("prepared statement missing", check_pool=False)
        return self.translate(failure, anonymous=tx.anonymous)

    def _session_check(self, conn: AsyncConnection[Any], tx: TxSpec) -> Message:
        sql = SESSION_CHECK_READ_ONLY if tx.read_only else SESSION_CHECK_READ_WRITE
        return self._message(conn, sql, ())

    def _folded(self, sql: str) -> str:
        """``sql`` (one row) with the session check's columns after its own."""
        folded = self._folded_sql.get(sql)
        if folded is None:
            if len(self._folded_sql) > 4096:
                self._folded_sql.clear()
            # ``sql`` is the planner's statement (identifiers quoted, values as $n).
            folded = self._folded_sql[sql] = (
                f"SELECT pgrst_main.*, {_SESSION_CHECK_COLUMNS.format(temp='')}"  # noqa: S608
                f" FROM ({sql}) AS pgrst_main"
            )
        return folded

    async def _settle(self, conn: AsyncConnection[Any], result: PGresult) -> None:
        """Act on the session check: nothing, ``DISCARD TEMP``, or close the connection."""
        if result.status == ExecStatus.TUPLES_OK:
            await self._settle_reasons(conn, result.get_value(0, 1))
        else:  # the check itself failed (e.g. a session-level statement_timeout)
            await self._settle_reasons(conn, None)

    async def _settle_reasons(self, conn: AsyncConnection[Any], left: bytes | None) -> None:
        """``left``: the check's answer (``None``: it failed)."""
        notified = conn.pgconn.notifies() is not None
        if left == b"" and not notified:
            return
        reasons = "the session check failed" if left is None else left.decode()
        if notified and "listen" not in reasons:
            # Notifications arrived: a LISTEN the check could not see yet (it takes effect at
            # commit, and a read's check runs inside its transaction).
            reasons = f"{reasons} listen".lstrip()
        if not reasons:
            return
        if reasons == "temp" and not self.pooled:
            done = await run_pipeline(conn, [Message(b"DISCARD TEMP")])
            if done[0].status == ExecStatus.COMMAND_OK:
                return
        await self._discard(conn, reasons)

    async def _discard(self, conn: AsyncConnection[Any], reasons: str) -> None:
        """Close a connection whose session cannot be trusted; the pool replaces it. Behind
        a pooler that closes only the connection to the pooler: the server session stays as
        it was, lent to the next client, unless the pooler resets it; said as an error."""
        message = f"closing a connection a request left unclean: {reasons}"
        if self.pooled:
            message += (
                "; db-uri goes through a connection pooler, which keeps the server session as"
                " it is for its next client: set server_reset_query_always = 1 in PgBouncer"
                " (or use session pooling)"
            )
        self.observer(
            Event(
                name="db.session_discarded",
                message=message,
                level="error" if self.pooled else "warning",
                fields={"reasons": reasons},
            )
        )
        self.prepared.forget(conn)
        await conn.close()

    def _broken(self, exc: psycopg.OperationalError, tx: TxSpec, *, retry: bool) -> Exception:
        """What a connection that broke mid-transaction means for this request.

        Retried once (on another connection) only when none of the statements can have run:
        for a read, when the server answered nothing but an error; for a write, when the
        first thing it said was that the connection had been terminated (an idle connection
        killed before this request; had our statements run, their results would come first).
        Otherwise the server's own reason is answered (``57P01`` → 503), or PGRST000.
        """
        results = exc.results if isinstance(exc, PipelineBroken) else []
        errors = [r for r in results if r.status == ExecStatus.FATAL_ERROR]
        answered = [r for r in results if r.status in _RAN]
        killed_first = bool(results) and results[0].status == ExecStatus.FATAL_ERROR
        if retry and not answered and (tx.read_only or killed_first):
            return _Retryable("the connection was broken", check_pool=True)
        if errors and errors[0].error_field(pq.DiagnosticField.SQLSTATE):
            return self.translate(errors[0], anonymous=tx.anonymous)
        return DbConnectionError.unreachable(_first_line(exc))

    def _message(self, conn: AsyncConnection[Any], sql: str, params: Sequence[Any]) -> Message:
        """A statement with text parameters, prepared on first use when that is enabled."""
        data = self._encoded.get(sql)
        if data is None:
            if len(self._encoded) > 4096:
                self._encoded.clear()
            data = self._encoded[sql] = sql.encode()
        values = [
            None if v is None else v if isinstance(v, bytes) else str(v).encode() for v in params
        ]
        if any(v is not None and b"\x00" in v for v in values):
            # libpq sends text parameters as C strings: a NUL would silently cut the value.
            # Answer what PostgreSQL answers for a NUL in text.
            raise database_error(
                "22021",
                'invalid byte sequence for encoding "UTF8": 0x00',
                None,
                None,
                anonymous=False,
            )
        if not self.settings.db_prepared_statements or self.unnamed_statements:
            return Message(data, values)
        name, prepare = self.prepared.lookup(conn, data)
        return Message(data, values, name, prepare)

    def translate(self, failure: PGresult, *, anonymous: bool) -> PgRestError:
        def field(code: pq.DiagnosticField) -> str | None:
            value = failure.error_field(code)
            return None if value is None else value.decode("utf-8", "replace")

        return database_error(
            field(pq.DiagnosticField.SQLSTATE),
            field(pq.DiagnosticField.MESSAGE_PRIMARY) or "",
            field(pq.DiagnosticField.MESSAGE_DETAIL),
            field(pq.DiagnosticField.MESSAGE_HINT),
            anonymous=anonymous,
        )


def _end(tx: TxSpec) -> list[Message]:
    """COMMIT, or a rollback that first makes deferred constraints fail now (PostgREST's
    ``tx=rollback``: the client still learns about a violation)."""
    if not tx.rollback:
        return [Message(b"COMMIT")]
    if tx.read_only:
        return [Message(b"ROLLBACK")]
    return [Message(b"SET CONSTRAINTS ALL IMMEDIATE"), Message(b"ROLLBACK")]


def _int_or_none(value: bytes | None) -> int | None:
    return None if value is None else int(value)


def row_check_error(check: RowCheck, rows: int, *, anonymous: bool = False) -> PgRestError:
    if check.error == "rule":
        # As PostgreSQL answers a row that fails a row-level security WITH CHECK.
        message = f'new row violates a write rule for table "{check.table}"'
        return database_error("42501", message, None, None, anonymous=anonymous)
    if check.error == "put":
        return ApiRequestError.put_key_mismatch()
    if check.error == "max_affected":
        return ApiRequestError.max_affected_exceeded(rows)
    return ApiRequestError.singular(rows)


#: Statuses that mean the server ran (or parsed) one of the transaction's statements.
_RAN = frozenset({ExecStatus.COMMAND_OK, ExecStatus.TUPLES_OK, ExecStatus.EMPTY_QUERY})


class Outage:
    """The database could not be reached; ``retry_at`` is when it is probed next."""

    __slots__ = ("reason", "retry_at", "since", "task")

    def __init__(self, reason: str, *, retry_at: float) -> None:
        self.reason = reason
        self.since = time.monotonic()
        self.retry_at = retry_at
        self.task: asyncio.Task[None]

    def error(self) -> PgRestError:
        """503 ``PGRST000`` with ``Retry-After``: whole seconds until the next probe (at least
        one; the header counts in seconds)."""
        wait = max(1, math.ceil(self.retry_at - time.monotonic()))
        return DbConnectionError.unreachable(self.reason, retry_after=wait)


def _reporting_connection(
    on_failure: Callable[[psycopg.OperationalError], None],
) -> type[AsyncConnection[Any]]:
    """A connection class for the pool that reports failed connection attempts."""

    class ReportingConnection(AsyncConnection[Any]):
        @classmethod
        async def connect(cls, conninfo: str = "", **kwargs: Any) -> ReportingConnection:
            try:
                return await super().connect(conninfo, **kwargs)
            except psycopg.OperationalError as exc:
                on_failure(exc)
                raise

    return ReportingConnection


class _Retryable(Exception):
    """Nothing of the transaction ran or committed; safe to try once more on another
    connection. ``check_pool``: the connection died, so others may have died with it."""

    def __init__(self, reason: str, *, check_pool: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.check_pool = check_pool


class _PlanNode(msgspec.Struct):
    plan_rows: float = msgspec.field(name="Plan Rows")


class _Explained(msgspec.Struct):
    plan: _PlanNode = msgspec.field(name="Plan")


_explain_decoder = msgspec.json.Decoder(list[_Explained])


def _plan_rows(result: PGresult) -> int | None:
    """``Plan Rows`` of the top node of ``EXPLAIN (FORMAT JSON)`` output."""
    text = result.get_value(0, 0)
    if not text:
        return None
    plans = _explain_decoder.decode(text)
    return int(plans[0].plan.plan_rows) if plans else None


def _application_name(dsn: str) -> str:
    try:
        named = conninfo_to_dict(dsn).get("application_name")
    except psycopg.Error:  # a malformed DSN fails when connecting, with libpq's message
        named = None
    return str(named) if named else APPLICATION_NAME


def _params_json(params: Sequence[Any]) -> str:
    """Parameter values for the query log, as a JSON array of strings (or nulls)."""
    values = [
        None if v is None else v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
        for v in params
    ]
    return msgspec.json.encode(values).decode()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
