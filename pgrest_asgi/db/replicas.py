"""Read replicas (``db-replica-uris``): which one takes a read, and which may. I/O.

An extension over PostgREST. The executor asks ``ReplicaSet.choose`` where a read-only
transaction runs: one of the healthy replicas (the least busy, ties taken in turn), or
``None`` for the primary. A replica is healthy when the last background check (every
``CHECK_INTERVAL`` seconds, on a connection of its own, outside the request path) found it
reachable and at most ``db-replica-max-lag`` seconds of replay behind. Lag is measured on the
replica the usual way: 0 when everything received has been replayed
(``pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()``), else the time since the last
replayed transaction committed on the primary; a server that is not in recovery (a promoted
replica) has none. A lag that cannot be measured (nothing replayed since the replica
started, while it is behind) counts as too much. A lag over the bound is measured again
``CONFIRM_AFTER`` seconds later before the replica is skipped (see there).

A replica leaves the rotation at once when a request finds it broken, or when its pool cannot
connect (its pool is then closed: requests waiting on it are woken and go to the primary),
and comes back when a check finds it healthy again.

Read-your-writes: after a write, the executor calls ``pin``, which adds a cookie
(``pgrst_primary``, the time until which to read from the primary) to the response; a read
carrying that cookie with a time still to come, or the ``Pgrst-Read-Primary`` header, runs on
the primary. Nothing of this is trusted for anything else: it only chooses where a read runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol

import msgspec
import psycopg
import psycopg_pool
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict

from ..context import RequestContext
from ..observe import Event, Level, Observer
from ..plan.model import TxSpec
from ..settings import Settings
from ..sql.build import DbResult

__all__ = [
    "CHECK_INTERVAL",
    "PIN_COOKIE",
    "PIN_HEADER",
    "Replica",
    "ReplicaSet",
    "pinned",
]

#: The cookie a write's response sets: until when (seconds since the epoch) to read from
#: the primary.
PIN_COOKIE = "pgrst_primary"
#: A request header (any value) that makes a read run on the primary, for clients that keep
#: no cookies.
PIN_HEADER = "pgrst-read-primary"
#: Seconds between two checks of every replica.
CHECK_INTERVAL = 1.0
#: A check that takes longer than this (connecting included) finds the replica down.
CHECK_TIMEOUT = 3.0
#: A lag over the bound is measured again this many seconds later before the replica is
#: skipped: a replica that has just received a write it has not replayed yet looks as far
#: behind as the primary was idle before it, for the moment replay takes.
CONFIRM_AFTER = 0.1
#: Replay lag in seconds; ``NULL`` when it cannot be measured. (Constant text.)
LAG_SQL = (
    "SELECT CASE WHEN NOT pg_catalog.pg_is_in_recovery() THEN 0"
    " WHEN pg_catalog.pg_last_wal_receive_lsn() = pg_catalog.pg_last_wal_replay_lsn() THEN 0"
    " ELSE extract(epoch FROM pg_catalog.now()"
    " - pg_catalog.pg_last_xact_replay_timestamp())::float8 END"
)
#: PostgreSQL's text for a query on a standby cancelled because replay needed what it held.
_RECOVERY_CONFLICT = "conflict with recovery"
#: PostgreSQL's texts for a server that is up but has no connection slot left.
_SERVER_FULL = ("too many clients already", "connection slots are reserved")

State = Literal["unknown", "healthy", "lagging", "suspect", "down"]
Pool = psycopg_pool.AsyncConnectionPool[AsyncConnection[Any]]
#: Builds a replica's pool: (conninfo, what to call when a connection attempt fails, name).
PoolFactory = Callable[[str, Callable[[psycopg.OperationalError], None], str], Pool]


class _Owner(Protocol):
    """What the replica set reads of its executor: the running settings and observer."""

    settings: Settings
    observer: Observer


class Replica:
    """One replica: its pool (``None`` while down), its state and how busy it is."""

    __slots__ = ("busy", "generation", "index", "label", "lag", "pool", "probe", "reason", "state")

    def __init__(self, index: int, uri: str) -> None:
        self.index = index
        #: For events and metrics: where it is, never a password.
        self.label = _label(uri)
        self.pool: Pool | None = None
        #: Counts the pools made, so that a failure reported by an old one is ignored.
        self.generation = 0
        self.state: State = "unknown"
        self.lag: float | None = None
        self.reason = ""
        #: Transactions running on it now.
        self.busy = 0
        #: The background check's own connection.
        self.probe: AsyncConnection[Any] | None = None

    def __repr__(self) -> str:
        return f"<Replica {self.label} {self.state}>"


class ReplicaSet:
    """The replicas of one executor, their pools and the background check."""

    def __init__(
        self,
        uris: Sequence[str],
        owner: _Owner,
        new_pool: PoolFactory,
        *,
        application_name: str,
    ) -> None:
        self.uris = tuple(uris)
        self.replicas = tuple(Replica(i, uri) for i, uri in enumerate(self.uris))
        #: The replicas that take reads now (rebuilt on every change of state).
        self.healthy: tuple[Replica, ...] = ()
        self._owner = owner
        self._new_pool = new_pool
        self._application_name = application_name
        self._turn = 0
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._closing: set[asyncio.Task[None]] = set()
        #: Completed rounds of checks (a test can wait for one).
        self.rounds = 0

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        """Start the background check; each replica takes reads once a check finds it
        healthy (its pool is opened then)."""
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._monitor())

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.healthy = ()
        for replica in self.replicas:
            replica.state = "unknown"
            pool, replica.pool = replica.pool, None
            if pool is not None:
                await pool.close()
            probe, replica.probe = replica.probe, None
            if probe is not None:
                await probe.close()
        for closing in list(self._closing):
            with contextlib.suppress(Exception):
                await closing

    # -- routing ---------------------------------------------------------------------------
    def choose(self, tx: TxSpec, context: RequestContext | None) -> Replica | None:
        """Where a read-only transaction runs: a replica, or ``None`` for the primary."""
        healthy = self.healthy
        if not healthy:
            return None
        if tx.isolation is not None and tx.isolation.strip().lower() == "serializable":
            return None  # a standby refuses serializable transactions
        if context is not None and pinned(context.headers):
            return None
        if len(healthy) == 1:
            return healthy[0]
        self._turn = turn = (self._turn + 1) % len(healthy)
        best = healthy[turn]
        for replica in healthy:
            if replica.busy < best.busy:
                best = replica
        return best

    def pin(self, result: DbResult, context: RequestContext | None) -> None:
        """After a write: the cookie that sends this client's reads to the primary for
        ``db-replica-read-your-writes`` seconds, joined to the response's headers."""
        seconds = self._owner.settings.db_replica_read_your_writes
        if seconds <= 0:
            return
        until = time.time() + seconds
        path = _cookie_path(context.mount_path if context is not None else "")
        secure = context is not None and context.scope.get("scheme") == "https"
        cookie = (
            f"{PIN_COOKIE}={until:.3f}; Max-Age={math.ceil(seconds)}; Path={path}; HttpOnly;"
            f" SameSite=Lax{'; Secure' if secure else ''}"
        )
        result.response_headers = _with_header(result.response_headers, "Set-Cookie", cookie)

    @staticmethod
    def retry_on_primary(error: Exception) -> bool:
        """Whether a replica's error is one the primary would not give: a query cancelled
        because replay needed what it held (a read, safe to run again)."""
        return getattr(error, "code", None) == "40001" and _RECOVERY_CONFLICT in str(error)

    # -- failures reported by requests and pools -------------------------------------------
    def failed(self, replica: Replica, reason: str) -> None:
        """A request found a connection of ``replica`` broken: no reads go there until a
        check finds it healthy (soon: the check runs now)."""
        if replica.state != "healthy":
            return
        replica.reason = reason
        self._set(replica, "suspect")
        self._emit(
            "db.replica_suspect",
            f"a connection to the replica {replica.label} broke ({reason}); checking it,"
            " its reads go elsewhere meanwhile",
            replica,
            level="warning",
        )
        if self._wake is not None:
            self._wake.set()

    def _connect_failed(
        self, replica: Replica, generation: int, exc: psycopg.OperationalError
    ) -> None:
        """A pool could not open a connection to ``replica``: down, unless merely full."""
        if generation != replica.generation or any(text in str(exc) for text in _SERVER_FULL):
            return
        self._down(replica, _first_line(exc))

    def _down(self, replica: Replica, reason: str) -> None:
        replica.reason = reason
        replica.lag = None
        if replica.state == "down":
            return
        self._set(replica, "down")
        pool, replica.pool = replica.pool, None
        if pool is not None:
            # Requests waiting on it are woken (PoolClosed) and go to the primary; the pool
            # stops reconnecting. In a task: this may run in one of the pool's own workers.
            task = asyncio.get_running_loop().create_task(pool.close(timeout=0))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        self._emit(
            "db.replica_down",
            f"the replica {replica.label} cannot be reached: {reason}; its reads go elsewhere",
            replica,
            level="warning",
        )

    # -- the background check --------------------------------------------------------------
    async def _monitor(self) -> None:
        assert self._wake is not None
        while True:
            await asyncio.gather(*(self._check(r) for r in self.replicas))
            self.rounds += 1
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CHECK_INTERVAL):
                    await self._wake.wait()

    async def _check(self, replica: Replica) -> None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                lag = await self._measure(replica)
                limit = self._owner.settings.db_replica_max_lag
                if (lag is None or lag > limit) and replica.state != "lagging":
                    await asyncio.sleep(CONFIRM_AFTER)
                    lag = await self._measure(replica)
                if lag is None or lag > limit:
                    replica.lag = lag
                    self._lagging(replica, lag, limit)
                    return
                if replica.pool is None:
                    replica.generation += 1
                    generation = replica.generation

                    def report(exc: psycopg.OperationalError) -> None:
                        self._connect_failed(replica, generation, exc)

                    # Kept before it opens: ``close`` closes it even if this is cancelled.
                    pool = replica.pool = self._new_pool(
                        self.uris[replica.index], report, replica.label
                    )
                    await pool.open(wait=False)
                elif replica.state == "suspect":
                    # Drop the connections that died with the one a request found broken.
                    await replica.pool.check()
        except Exception as exc:  # never let the check die: the replica would stay as it is
            if replica.probe is not None:
                with contextlib.suppress(Exception):
                    await replica.probe.close()
                replica.probe = None
            self._down(replica, _first_line(exc) or "the check timed out")
            return
        replica.lag = lag
        if replica.state != "healthy":
            self._set(replica, "healthy")
            self._emit(
                "db.replica_ready",
                f"the replica {replica.label} takes reads (replay lag {lag:.1f}s)",
                replica,
            )

    async def _measure(self, replica: Replica) -> float | None:
        """The replica's replay lag in seconds, on the check's own connection (made again
        once when the one kept from the last check no longer works)."""
        probe = replica.probe
        if probe is not None and not probe.closed:
            try:
                return await _lag(probe)
            except psycopg.Error:
                with contextlib.suppress(Exception):
                    await probe.close()
        replica.probe = None
        probe = await AsyncConnection.connect(
            self.uris[replica.index],
            autocommit=True,
            connect_timeout=math.ceil(CHECK_TIMEOUT),
            application_name=self._application_name,
        )
        replica.probe = probe
        return await _lag(probe)

    def _lagging(self, replica: Replica, lag: float | None, limit: float) -> None:
        if replica.state == "lagging":
            return
        self._set(replica, "lagging")
        behind = "an unknown time" if lag is None else f"{lag:.1f}s"
        self._emit(
            "db.replica_lagging",
            f"the replica {replica.label} is {behind} behind the primary (more than"
            f" db-replica-max-lag, {limit:g}s); its reads go elsewhere until it catches up",
            replica,
            level="warning",
        )

    def _set(self, replica: Replica, state: State) -> None:
        replica.state = state
        self.healthy = tuple(r for r in self.replicas if r.state == "healthy")

    def _emit(self, name: str, message: str, replica: Replica, *, level: Level = "info") -> None:
        fields: dict[str, Any] = {"replica": replica.label, "state": replica.state}
        if replica.lag is not None:
            fields["lag"] = replica.lag
        if replica.reason and replica.state != "healthy":
            fields["reason"] = replica.reason
        self._owner.observer(Event(name=name, message=message, level=level, fields=fields))

    # -- metrics ---------------------------------------------------------------------------
    def stats(self) -> list[dict[str, Any]]:
        """Per replica, read when scraped: ``replica`` (its label), ``state`` (``healthy``,
        ``lagging``, ``suspect``, ``down``, or ``unknown`` before the first check),
        ``healthy`` (1 when it takes reads), ``lag`` (seconds, ``None`` when unknown),
        ``available``, ``waiting`` and ``max`` (its pool's, as ``pool_stats``), ``busy``
        (transactions running on it)."""
        out = []
        for replica in self.replicas:
            pool = replica.pool
            stats = pool.get_stats() if pool is not None else {}
            out.append(
                {
                    "replica": replica.label,
                    "state": replica.state,
                    "healthy": int(replica.state == "healthy"),
                    "lag": replica.lag,
                    "available": stats.get("pool_available", 0),
                    "waiting": stats.get("requests_waiting", 0),
                    "max": stats.get("pool_max", self._owner.settings.db_pool),
                    "busy": replica.busy,
                }
            )
        return out


def pinned(headers: Mapping[str, str]) -> bool:
    """Whether a request asks to read from the primary: the ``Pgrst-Read-Primary`` header,
    or a ``pgrst_primary`` cookie whose time has not passed."""
    if PIN_HEADER in headers:
        return True
    cookies = headers.get("cookie")
    if cookies is None or PIN_COOKIE not in cookies:
        return False
    now = time.time()
    for part in cookies.split(";"):
        name, _, value = part.partition("=")
        if name.strip() != PIN_COOKIE:
            continue
        try:
            if float(value.strip()) > now:
                return True
        except ValueError:
            continue
    return False


async def _lag(conn: AsyncConnection[Any]) -> float | None:
    cursor = await conn.execute(LAG_SQL, prepare=False)
    row = await cursor.fetchone()
    if row is None or row[0] is None:
        return None
    return max(0.0, float(row[0]))


_encode = msgspec.json.Encoder()


def _with_header(headers: bytes | None, name: str, value: str) -> bytes | None:
    """``response.headers`` (a JSON array of one-field objects) with one more field. Left
    as it is when it is not an array: the response answers that with PGRST111 anyway."""
    if headers is None:
        return _encode.encode([{name: value}])
    try:
        items = msgspec.json.decode(headers)
    except msgspec.DecodeError:
        return headers
    if not isinstance(items, list):
        return headers
    items.append({name: value})
    return _encode.encode(items)


def _cookie_path(mount_path: str) -> str:
    """The app's mount path as a cookie ``Path`` (``/`` when it is not one that a cookie
    attribute can carry as it is)."""
    if (
        not mount_path.startswith("/")
        or any(c in mount_path for c in ";,\\\"'")
        or not all(" " < c < "\x7f" for c in mount_path)
    ):
        return "/"
    return mount_path


def _label(uri: str) -> str:
    """``host:port/dbname`` of a conninfo, for messages (never its password)."""
    try:
        parts = conninfo_to_dict(uri)
    except psycopg.Error:
        return "(a malformed conninfo)"
    host = str(parts.get("host") or parts.get("hostaddr") or "localhost")
    port = str(parts.get("port") or "5432")
    dbname = str(parts.get("dbname") or parts.get("user") or "")
    return f"{host}:{port}/{dbname}" if dbname else f"{host}:{port}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
