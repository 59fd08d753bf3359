"""A throwaway PgBouncer in front of a :class:`~pgrest_asgi.testing.PostgresCluster`, for tests.

    with PgBouncer(cluster) as bouncer:
        dsn = bouncer.dsn("pgrest_test", user="authenticator")

It runs the real ``pgbouncer`` binary (Debian: ``apt-get install pgbouncer``) in a fresh temp
dir, in the foreground as a child process: ``pool_mode = transaction`` by default, listening
only on a unix socket in that dir (``listen_addr`` empty: no TCP port), one wildcard database
entry that forwards every database name to the cluster's unix socket, ``auth_type = trust``
with an ``auth_file`` naming the users that may connect (the cluster trusts them too), small
pools. PgBouncer refuses to run as root; when we are root it runs as the account the cluster's
server runs as (``cluster.run_user``), which can reach the cluster's socket. ``admin_users``
lets the cluster's superuser use the admin console (``SHOW POOLS``…) at ``dbname=pgbouncer``.
Everything is removed on :meth:`PgBouncer.stop`, on a failed start and at interpreter exit; its
log (``pgbouncer.log``, plus whatever it printed) is shown in every error.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg.conninfo import make_conninfo

from pgrest_asgi.testing import PostgresCluster

__all__ = ["PgBouncer", "find_pgbouncer"]

_NOT_FOUND = (
    "pgbouncer not found on PATH nor at /usr/sbin/pgbouncer: "
    "apt-get install pgbouncer (Debian/Ubuntu) or put the binary on PATH"
)
_LOG_TAIL_LINES = 40


def find_pgbouncer() -> str:
    """The ``pgbouncer`` binary: on ``PATH``, else Debian's ``/usr/sbin/pgbouncer``."""
    found = shutil.which("pgbouncer")
    if found:
        return found
    debian = "/usr/sbin/pgbouncer"
    if os.path.isfile(debian) and os.access(debian, os.X_OK):
        return debian
    raise RuntimeError(_NOT_FOUND)


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path.name}: not written)"
    return "\n".join(text.splitlines()[-lines:]) or f"({path.name}: empty)"


class PgBouncer:
    """A PgBouncer process for ``cluster``; see the module docstring.

    ``users``: the roles that may connect (the ``auth_file``). ``pool_size`` is
    ``default_pool_size`` (server connections per database and user pair),
    ``max_db_connections`` caps all pools of one database. ``settings`` are extra
    ``[pgbouncer]`` lines (they win over the defaults).
    """

    def __init__(
        self,
        cluster: PostgresCluster,
        *,
        users: Sequence[str] = ("postgres", "authenticator"),
        pool_mode: str = "transaction",
        pool_size: int = 2,
        max_db_connections: int = 0,
        settings: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        if pool_mode not in ("session", "transaction", "statement"):
            raise ValueError(f"pool_mode must be session, transaction or statement: {pool_mode}")
        for user in users:
            if '"' in user or not user:
                raise ValueError(f"not a user name for the auth_file: {user!r}")
        self.cluster = cluster
        self.users = tuple(users)
        self.pool_mode = pool_mode
        self.pool_size = pool_size
        self.max_db_connections = max_db_connections
        self.settings = dict(settings or {})
        self.start_timeout = start_timeout
        self._base: Path | None = None
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    # -- state ----------------------------------------------------------------------------

    def _require_base(self) -> Path:
        if self._base is None:
            raise RuntimeError("PgBouncer is not started")
        return self._base

    @property
    def host(self) -> str:
        """The unix socket directory: libpq's ``host``."""
        return str(self._require_base())

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("PgBouncer is not started")
        return self._port

    @property
    def log_path(self) -> str:
        return str(self._require_base() / "pgbouncer.log")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def dsn(self, dbname: str = "postgres", user: str | None = None, **params: str) -> str:
        """A conninfo that reaches ``dbname`` through PgBouncer as ``user`` (default: the
        cluster's superuser)."""
        return make_conninfo(
            "",
            host=self.host,
            port=str(self.port),
            dbname=dbname,
            user=user or self.cluster.superuser,
            **params,
        )

    def admin_dsn(self) -> str:
        """The admin console (``SHOW POOLS``, ``SHOW CLIENTS``…), as the cluster's superuser."""
        return self.dsn("pgbouncer")

    def show(self, what: str) -> list[dict[str, object]]:
        """``SHOW <what>`` on the admin console, as a list of dicts (column → value)."""
        if not what.replace("_", "").isalpha():
            raise ValueError(f"not an admin console SHOW command: {what!r}")
        # The admin console speaks only the simple query protocol (no parameters anyway).
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            cur = conn.execute(f"SHOW {what}".encode())
            names = [column.name for column in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> PgBouncer:
        """Write the configuration, start PgBouncer and wait until it accepts connections."""
        if self._base is not None:
            return self
        binary = find_pgbouncer()
        run_as = self.cluster.run_user
        entry = pwd.getpwnam(run_as) if run_as is not None else None
        self._base = base = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        atexit.register(self.stop)
        try:
            self._port = 20000 + secrets.randbelow(40000)
            self._write_config(base)
            if entry is not None:
                for path in (base, *base.iterdir()):
                    os.chown(path, entry.pw_uid, entry.pw_gid)
                base.chmod(0o755)
            with open(base / "stderr.log", "wb") as out:
                self._process = subprocess.Popen(  # a fixed binary, no shell
                    [binary, str(base / "pgbouncer.ini")],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=base,
                    env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
                    user=entry.pw_uid if entry else None,
                    group=entry.pw_gid if entry else None,
                    extra_groups=[] if entry else None,
                )
            self._wait_ready()
        except BaseException:
            with contextlib.suppress(Exception):
                self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop PgBouncer (SIGTERM: immediate shutdown, then SIGKILL) and remove its dir.
        Idempotent."""
        base, self._base = self._base, None
        process, self._process = self._process, None
        self._port = None
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        try:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        finally:
            if base is not None:
                shutil.rmtree(base, ignore_errors=True)

    # -- internals ------------------------------------------------------------------------

    def _write_config(self, base: Path) -> None:
        cluster = self.cluster
        settings = {
            "listen_addr": "",
            "listen_port": str(self._port),
            "unix_socket_dir": str(base),
            "unix_socket_mode": "0777",
            "auth_type": "trust",
            "auth_file": str(base / "userlist.txt"),
            "admin_users": cluster.superuser,
            "pool_mode": self.pool_mode,
            "default_pool_size": str(self.pool_size),
            "min_pool_size": "0",
            "reserve_pool_size": "0",
            "max_db_connections": str(self.max_db_connections),
            "max_client_conn": "200",
            "logfile": str(base / "pgbouncer.log"),
            "pidfile": str(base / "pgbouncer.pid"),
            "log_connections": "1",
            "log_disconnections": "1",
            "log_pooler_errors": "1",
            # The reset query runs in session pooling only (server_reset_query_always = 0).
            "server_reset_query": "DISCARD ALL",
            "server_check_delay": "0",
            "server_login_retry": "1",
            "query_wait_timeout": "60",
        }
        settings.update(self.settings)
        database = f"host={cluster.host} port={cluster.port}"
        lines = [
            "[databases]",
            f"* = {database}",
            "",
            "[pgbouncer]",
            *(f"{name} = {value}" for name, value in settings.items()),
        ]
        (base / "pgbouncer.ini").write_text("\n".join(lines) + "\n")
        users = "".join(f'"{user}" ""\n' for user in self.users)
        (base / "userlist.txt").write_text(users)

    def _fail(self, what: str) -> RuntimeError:
        base = self._require_base()
        return RuntimeError(
            f"{what}\n--- pgbouncer.log ---\n{_tail(base / 'pgbouncer.log')}\n"
            f"--- pgbouncer output ---\n{_tail(base / 'stderr.log')}"
        )

    def _wait_ready(self) -> None:
        """Poll until a query through PgBouncer (to the cluster's ``postgres`` database)
        answers; bounded by ``start_timeout``."""
        deadline = time.monotonic() + self.start_timeout
        last: Exception | None = None
        while True:
            process = self._process
            if process is not None and process.poll() is not None:
                raise self._fail(f"pgbouncer exited with code {process.returncode} at start")
            try:
                with psycopg.connect(self.dsn(), autocommit=True, connect_timeout=5) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last = exc
            if time.monotonic() >= deadline:
                raise self._fail(
                    f"pgbouncer did not accept connections within {self.start_timeout:g}s: {last}"
                )
            time.sleep(0.05)
