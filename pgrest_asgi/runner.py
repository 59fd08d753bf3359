"""``pgrest-asgi serve``: sockets, the database check, worker processes, the admin server.

The listening sockets are bound first, in the parent process, so that a taken port is one
clear line before anything else happens (and ``server-port = 0`` names the port the kernel
chose). Then the database is tried once, with a short timeout: a connection string that cannot
be read or credentials the server refuses end the start-up with one line saying what to fix,
because retrying cannot help; an unreachable database is one line too, and the server starts
anyway, answering 503 until the database is back (as PostgREST does).

With ``--workers N`` the parent forks N processes that serve the same sockets, each with its
own pool and NOTIFY listener; the parent forwards SIGTERM/SIGINT (stop), SIGUSR1 (reload the
schema cache) and SIGUSR2 (reload the configuration) to them and starts a worker again if one
dies. The admin server runs in the first worker; with it, every other worker writes a
snapshot of its metrics to a directory of the parent's every ``SNAPSHOT_EVERY`` seconds, and
the first worker's ``/metrics`` adds the others' to its own (``metrics.merge``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .settings import Settings

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from .metrics import Metrics

__all__ = ["StartupError", "bind_socket", "check_database", "display_address", "run"]

#: Seconds between two metrics snapshots of a worker (``serve --workers`` with an admin
#: server): ``/metrics`` shows the other workers' figures at most this old.
SNAPSHOT_EVERY = 1.0

#: PostgREST's special host names → the address to bind.
_SPECIAL_HOSTS = {"*": "0.0.0.0", "*4": "0.0.0.0", "!4": "0.0.0.0", "*6": "::", "!6": "::"}  # noqa: S104


class StartupError(Exception):
    """Start-up cannot go on; the message is one line saying what to do."""


def bind_address(host: str) -> str:
    return _SPECIAL_HOSTS.get(host, host)


def bind_socket(
    host: str, port: int, unix: str | None, mode: str, *, what: str, reuse_port: bool = False
) -> socket.socket:
    """A listening socket on ``unix`` (file mode ``mode``, octal) or ``host:port``."""
    if unix:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            if _is_stale_socket(unix):
                os.unlink(unix)
        try:
            sock.bind(unix)
            os.chmod(unix, int(mode, 8))
        except OSError as exc:
            sock.close()
            raise StartupError(
                f"cannot listen on the Unix socket {unix} ({what}): {exc.strerror or exc}"
            ) from None
    else:
        address = bind_address(host)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            infos = socket.getaddrinfo(address, port, family, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise StartupError(
                f"cannot listen on {host}:{port} ({what}): the host name {host!r} does not"
                f" resolve ({exc.strerror}); set it to an address of this machine"
            ) from None
        family, kind, proto, _, sockaddr = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port and hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind(sockaddr)
        except OSError as exc:
            sock.close()
            reason = exc.strerror or str(exc)
            hint = (
                "; another server is using it: stop it, or choose another port"
                if exc.errno == 98
                else ""
            )
            raise StartupError(
                f"cannot listen on {host}:{port} ({what}): {reason.lower()}{hint}"
            ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _is_stale_socket(path: str) -> bool:
    """A socket file nobody listens on (left by a server that died) may be replaced."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    else:
        return False
    finally:
        probe.close()


def display_address(sock: socket.socket) -> str:
    """``http://127.0.0.1:3000`` or ``unix:/path``, as the banner shows it."""
    if sock.family == socket.AF_UNIX:
        return f"unix:{sock.getsockname()}"
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


# --------------------------------------------------------------------------------------------
# The database check


def check_database(settings: Settings, *, timeout: float = 2.0) -> str | None:
    """Try the database once. Raises ``StartupError`` when retrying cannot succeed (the
    connection string cannot be read, the server refuses the credentials); returns a one-line
    warning when the database cannot be reached now (the server will retry), else ``None``."""
    import psycopg

    try:
        conn = psycopg.connect(settings.db_uri, connect_timeout=max(1, round(timeout)))
    except psycopg.ProgrammingError as exc:
        raise StartupError(
            f"db-uri: not a connection string PostgreSQL can read ({_first_line(exc)}); write"
            " postgresql://user:password@host:5432/dbname or host=… dbname=… user=…"
        ) from None
    except psycopg.OperationalError as exc:
        message = _first_line(exc)
        where = _where(settings.db_uri)
        if message.startswith("database ") and message.endswith(" does not exist"):
            raise StartupError(
                f"the database at {where} does not exist ({message}); create it or fix db-uri"
            ) from None
        if any(sign in message for sign in _CREDENTIALS_REFUSED):
            raise StartupError(
                f"the database at {where} refused the credentials ({message}); fix the user or"
                " password in db-uri"
            ) from None
        return f"cannot reach the database at {where} ({message}); retrying in the background"
    conn.close()
    return None


#: What the server says when it refuses who connects (SQLSTATE class 28, which libpq's
#: connection errors do not carry as a code).
_CREDENTIALS_REFUSED = (
    "password authentication failed",
    "authentication failed for user",
    "no pg_hba.conf entry",
    "does not exist",  # the role (the database's own message is handled before)
    "is not permitted to log in",
    "password is required",
)


def _first_line(exc: BaseException) -> str:
    """The reason in a driver message: ``connection failed: connection to server at "h",
    port 1 failed: Connection refused`` (and a hint on the next line) → ``Connection
    refused``."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    reason = lines[0].rsplit("failed: ", 1)[-1]
    return reason.removeprefix("FATAL:").strip()


def _where(dsn: str) -> str:
    """``user@host:port/dbname`` from a connection string, for messages (never the password)."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(dsn)
    except Exception:  # an unreadable string was refused before; say something anyway
        return "db-uri"
    host = str(info.get("host") or os.environ.get("PGHOST") or "localhost")
    port = str(info.get("port") or os.environ.get("PGPORT") or "5432")
    user = str(info.get("user") or os.environ.get("PGUSER") or "")
    dbname = str(info.get("dbname") or os.environ.get("PGDATABASE") or user)
    where = f"{host}:{port}" if not host.startswith("/") else f"{host} (port {port})"
    return f"{user + '@' if user else ''}{where}/{dbname}"


# --------------------------------------------------------------------------------------------
# Serving


def _uvicorn_log_level(settings: Settings) -> str:
    return {"crit": "critical", "warn": "warning"}.get(settings.log_level, settings.log_level)


def serve_sockets(
    settings: Settings,
    sock: socket.socket,
    admin: socket.socket | None,
    config_source: Callable[[], Settings],
    shared: tuple[Path, int] | None = None,
) -> None:
    """Serve the app on ``sock`` (and its admin endpoints on ``admin``) in this process until
    SIGTERM/SIGINT. ``shared``: (the workers' metrics directory, this worker's index)."""
    import uvicorn

    from .app import PgRestApp
    from .hooks import Hooks
    from .observe import Event, LoggingObserver, configure_logging
    from .server import http_protocol

    # log-level applies to the library's loggers (one logfmt line per event on stderr), and
    # again after every reload; the pool's own retry warnings repeat what db.unreachable says.
    configure_logging(settings)
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    lost: list[str] = []

    def database_lost(event: Event) -> None:
        if not app.settings.db_pool_automatic_recovery:
            # PostgREST exits when it loses the database with automatic recovery off (its
            # supervisor restarts it); stop gracefully and exit with status 1.
            lost.append(str(event.fields.get("reason", event.message)))
            for server, _ in servers:
                server.should_exit = True

    def reloaded(event: Event) -> None:
        configure_logging(app.settings)  # a new log-level

    observer = LoggingObserver({"db.unreachable": database_lost, "config.loaded": reloaded})
    app = PgRestApp(settings=settings, config_source=config_source, hooks=Hooks(observer=observer))
    app.lifecycle.handle_signals = True
    common: dict[str, Any] = {
        "log_level": _uvicorn_log_level(settings),
        "access_log": False,  # the app's own access log replaces uvicorn's
        "server_header": False,
        "proxy_headers": False,
        "ws": "none",
    }
    main = uvicorn.Config(
        app,
        lifespan="on",
        http=http_protocol(settings),
        headers=[("server", f"pgrest-asgi/{__version__}")],
        **common,
    )
    main_server = uvicorn.Server(main)
    servers = [(main_server, sock)]
    if admin is not None:
        # /live and /ready also say whether the API server itself is up.
        app.admin.alive = lambda: main_server.started and not main_server.should_exit
        admin_config = uvicorn.Config(app.admin, lifespan="off", **common)
        servers.append((uvicorn.Server(admin_config), admin))

    if shared is not None and admin is not None:
        app.metrics.peers = lambda: _peer_metrics(shared[0], shared[1])

    async def serve_all() -> None:
        # The admin server starts second, so it takes the stop signal first and passes it on
        # (uvicorn restores the previous handler and raises the signal again when it exits).
        tasks = [asyncio.ensure_future(server.serve(sockets=[s])) for server, s in servers]
        # The other workers leave their figures for the one with the admin server.
        snapshots = None
        if shared is not None and admin is None:
            snapshots = asyncio.ensure_future(_write_snapshots(app.metrics, *shared))
        try:
            await asyncio.gather(*tasks)
        finally:
            if snapshots is not None:
                snapshots.cancel()

    # uvloop when installed (the `server` extra brings it), as uvicorn's own runner would
    # choose: 8-25 % more requests per second in bench/http_servers.py.
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(serve_all())
    if lost:
        raise StartupError(
            f"the database connection was lost ({lost[0]}) and db-pool-automatic-recovery is"
            " off: exiting"
        )


async def _write_snapshots(metrics: Metrics, directory: Path, index: int) -> None:
    """Every ``SNAPSHOT_EVERY`` seconds, this worker's metrics into ``worker-<index>.json``
    (written aside and renamed, so a reader never sees half a file)."""
    path = directory / f"worker-{index}.json"
    aside = directory / f".worker-{index}.json"
    while True:
        # OSError: the parent removed the directory (stopping). Anything else a source of
        # figures raised leaves the last snapshot in place; the next second tries again.
        with contextlib.suppress(Exception):
            aside.write_bytes(metrics.snapshot())
            os.replace(aside, path)
        await asyncio.sleep(SNAPSHOT_EVERY)


def _peer_metrics(directory: Path, index: int) -> list[list[Metric]]:
    """The other workers' last snapshots (one that cannot be read is left out)."""
    from .metrics import read_snapshot

    found = []
    for path in sorted(directory.glob("worker-*.json")):
        if path.name == f"worker-{index}.json":
            continue
        with contextlib.suppress(OSError, ValueError):
            found.append(read_snapshot(path.read_bytes()))
    return found


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(
    settings: Settings,
    config_source: Callable[[], Settings],
    *,
    workers: int = 1,
    host: str | None = None,
    port: int | None = None,
    banner: Callable[[str], None] | None = None,
) -> int:
    """Bind, check the database, then serve (in ``workers`` processes). Raises
    ``StartupError``; returns the exit status."""
    say = banner or (lambda line: print(line, file=sys.stderr, flush=True))
    # Several workers on a TCP port: a socket each in one SO_REUSEPORT group, so the kernel
    # spreads connections over them (one shared socket wakes every worker for each).
    spread = workers > 1 and not settings.server_unix_socket and hasattr(socket, "SO_REUSEPORT")
    sock = bind_socket(
        host or settings.server_host,
        settings.server_port if port is None else port,
        settings.server_unix_socket,
        settings.server_unix_socket_mode,
        what="server-port",
        reuse_port=settings.server_reuseport or spread,
    )
    sockets = [sock]
    if spread:
        address, bound_port = sock.getsockname()[:2]
        for _ in range(workers - 1):
            sockets.append(
                bind_socket(address, bound_port, None, "660", what="server-port", reuse_port=True)
            )
    admin = None
    if settings.admin_server_port is not None or settings.admin_server_unix_socket:
        admin = bind_socket(
            settings.admin_server_host or settings.server_host,
            settings.admin_server_port or 0,
            settings.admin_server_unix_socket,
            settings.admin_server_unix_socket_mode,
            what="admin-server-port",
        )
    warning = check_database(settings)
    if warning is not None:
        if not settings.db_pool_automatic_recovery:
            raise StartupError(
                warning.replace("; retrying in the background", "")
                + "; db-pool-automatic-recovery is off, so not retrying"
            )
        say(f"pgrest-asgi: {warning}")
    say(f"pgrest-asgi {__version__}: API server running on {display_address(sock)}")
    if admin is not None:
        say(f"pgrest-asgi {__version__}: admin server running on {display_address(admin)}")
    if workers <= 1:
        serve_sockets(settings, sock, admin, config_source)
        return 0
    return _supervise(settings, sockets, admin, config_source, workers, say)


def _supervise(
    settings: Settings,
    sockets: list[socket.socket],
    admin: socket.socket | None,
    config_source: Callable[[], Settings],
    workers: int,
    say: Callable[[str], None],
) -> int:
    """Fork ``workers`` processes and keep them running until SIGTERM/SIGINT."""
    children: dict[int, int] = {}  # pid → worker index
    stopping = False
    # With an admin server: where the workers leave their metrics for the first one's.
    shared = Path(tempfile.mkdtemp(prefix="pgrest-metrics-")) if admin is not None else None

    def start(index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2):
                    signal.signal(signum, signal.SIG_DFL)
                sock = sockets[index % len(sockets)]
                serve_sockets(
                    settings,
                    sock,
                    admin if index == 0 else None,
                    config_source,
                    (shared, index) if shared is not None else None,
                )
            except StartupError as exc:
                print(f"pgrest-asgi: {exc}", file=sys.stderr, flush=True)
                code = 1
            except BaseException:  # a worker reports and exits, never returns
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        children[pid] = index

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        if signum in (signal.SIGTERM, signal.SIGINT):
            stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(signum, forward)
    for index in range(workers):
        start(index)
    say(f"pgrest-asgi: {workers} workers (pids {', '.join(str(p) for p in children)})")
    restarts: dict[int, float] = {}
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid not in children or stopping:
            children.pop(pid, None)
            continue
        index = children.pop(pid)
        if stopping:
            continue
        # A worker died on its own: start it again, at most once a second.
        say(f"pgrest-asgi: worker {pid} exited ({_status(status)}); starting another")
        wait = restarts.get(index, 0.0) + 1.0 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        restarts[index] = time.monotonic()
        start(index)
    if shared is not None:
        shutil.rmtree(shared, ignore_errors=True)
    return 0


def _status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"status {os.WEXITSTATUS(status)}"
