"""Row i (``--scale``): ``pgrest-asgi serve`` at 1 and 2 workers, and at pools of 5, 10, 20.

The real command, configured as a PostgREST deployment is: ``PGRST_*`` variables only
(``db-uri``, ``db-schemas``, ``db-anon-role``, ``db-pool`` with ``db-pool-min`` equal to it
so every pool is full from the start, the listener off as in the other rows, ``server-host``
127.0.0.1 and a free ``server-port``). Row b's request (``GET /items?id=eq.N``, anonymous).
All the configurations run at once and take their wrk runs in turn, round after round.

``serve`` runs uvicorn on uvloop when it is installed (as here), like rows a to g, which run
``python -m uvicorn``; its own HTTP limits (``server-*``) are on, so compare these figures with
each other rather than with the other rows.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from harness import Summary, compare, free_port, start_process, stop_process

#: (workers, pool size) → the name printed
CONFIGS = {(1, 5): "1 worker, pool 5", (1, 10): "1 worker, pool 10", (1, 20): "1 worker, pool 20"}
CONFIGS[(2, 10)] = "2 workers, pool 10 each"


def serve_command() -> list[str]:
    script = Path(sys.executable).with_name("pgrest-asgi")
    if script.exists():
        return [str(script)]
    found = shutil.which("pgrest-asgi")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from pgrest_asgi.cli import main; sys.exit(main())"]


def start_serve(
    dsn: str, workers: int, pool: int, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = dict(
        env,
        PGRST_DB_URI=dsn,
        PGRST_DB_SCHEMAS="api",
        PGRST_DB_ANON_ROLE="web_anon",
        PGRST_DB_POOL=str(pool),
        PGRST_DB_POOL_MIN=str(pool),
        PGRST_DB_CHANNEL_ENABLED="false",
        PGRST_SERVER_HOST="127.0.0.1",
        PGRST_SERVER_PORT=str(port),
    )
    argv = [*serve_command(), "serve", "--workers", str(workers)]
    return start_process(argv, env, port), port


def run_scale(dsn: str, env: dict[str, str], script: str, args: argparse.Namespace) -> Summary:
    configs = {name: (workers, pool, env) for (workers, pool), name in CONFIGS.items()}
    return compare_servers(dsn, configs, script, args, base="1 worker, pool 10")


def compare_servers(
    dsn: str,
    configs: dict[str, tuple[int, int, dict[str, str]]],
    script: str,
    args: argparse.Namespace,
    base: str,
) -> Summary:
    """Start one ``serve`` per configuration (name → workers, pool, environment), all at
    once, and take their wrk runs in turn (``compare``)."""
    procs: list[subprocess.Popen[bytes]] = []
    servers: dict[str, int] = {}
    try:
        for name, (workers, pool, env) in configs.items():
            proc, port = start_serve(dsn, workers, pool, env)
            procs.append(proc)
            servers[name] = port
        return compare(servers, script, args, base=base)
    finally:
        for proc in procs:
            stop_process(proc)


def run_replicas(
    primary: object, dsn: str, env: dict[str, str], script: str, args: argparse.Namespace
) -> Summary:
    """Row j (``--only replicas``): ``serve --workers 2`` on the primary alone, and with a
    streaming replica of it in ``db-replica-uris`` (made with ``pg_basebackup``, as the
    read-replica tests make theirs), on row b's request. Both PostgreSQL servers share the
    machine's cores with the load generator and the workers."""
    from tests.replica import ReplicaCluster

    replica = ReplicaCluster(primary)  # type: ignore[arg-type]
    replica.start()
    try:
        replica.wait_caught_up()
        # The replica's connection string: the same database and role, its own socket.
        params = dict(part.split("=", 1) for part in dsn.split())
        uri = (
            f"postgresql://{params['user']}@/{params['dbname']}"
            f"?host={replica.host}&port={replica.port}"
        )
        replica_env = dict(env, PGRST_DB_REPLICA_URIS=uri)
        configs = {
            "2 workers, primary only": (2, 10, env),
            "2 workers, primary + replica": (2, 10, replica_env),
        }
        count = (
            "SELECT xact_commit FROM pg_catalog.pg_stat_database WHERE datname = %s",
            (params["dbname"],),
        )
        before = replica.query(*count)
        summary = compare_servers(dsn, configs, script, args, base="2 workers, primary only")
        # Proof that the replica served the reads (statistics lag by up to a second).
        time.sleep(1.5)
        print(f"transactions the replica ran: {replica.query(*count) - before}")
        return summary
    finally:
        replica.stop()
