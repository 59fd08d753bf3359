"""Which HTTP server should ``pgrest-asgi serve`` run? uvicorn against granian (issue 11).

    python bench/http_servers.py [--duration 10] [--rounds 3] [--connections 50]

The GET scenario of ``bench/run.py`` (``GET /items?id=eq.N``, N random per request, 100 000-row
table, primary key), the same app (``bench/pgrest_app.py``) and pool size, one worker each,
driven by ``wrk -t1`` on loopback, under:

- ``serve``: uvicorn exactly as ``pgrest-asgi serve`` runs it (``runner.serve_sockets``): a
  socket bound first by ``runner.bind_socket``, uvicorn's httptools protocol with the guard of
  ``pgrest_asgi.server.http_protocol(settings)`` (default settings), the ``Server`` header,
  no proxy headers, no websockets, no access log, and ``asyncio.run`` around
  ``Server.serve`` (so the standard asyncio loop: ``serve`` never asks uvicorn for uvloop);
- ``serve+uvloop``: the same, on a uvloop loop (separates the loop from the guard);
- ``uvicorn``: plain ``python -m uvicorn --http httptools`` (loop ``auto``: uvloop), as
  ``bench/run.py`` runs it;
- ``granian``: ``python -m granian --interface asgi --workers 1 --loop uvloop`` (its default
  runtime mode, which for ASGI is the multi-threaded one with one runtime thread).

Rounds alternate between the servers so that drift on a shared machine (other test suites,
PostgreSQL, wrk itself on the same two cores) hits them all alike; the median round of each is
reported. It is a benchmark, not a test: compare within one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, SCHEMA, free_port, machine_note, run_wrk, start_process, stop_process
from scenarios import GET_LUA

BENCH = ROOT / "bench"


def serve_child(port: int, uvloop: bool) -> None:
    """Run bench/pgrest_app.py's app the way ``runner.serve_sockets`` runs ``PgRestApp``."""
    import asyncio

    import uvicorn
    from pgrest_app import app

    from pgrest_asgi import __version__
    from pgrest_asgi.runner import bind_socket
    from pgrest_asgi.server import http_protocol
    from pgrest_asgi.settings import Settings

    settings = Settings()
    sock = bind_socket("127.0.0.1", port, None, "660", what="server-port")
    config = uvicorn.Config(
        app,
        lifespan="on",
        http=http_protocol(settings),
        headers=[("server", f"pgrest-asgi/{__version__}")],
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        ws="none",
    )
    server = uvicorn.Server(config)
    if uvloop:
        import uvloop as uv

        uv.run(server.serve(sockets=[sock]))
    else:
        asyncio.run(server.serve(sockets=[sock]))


def commands(port: int, granian_loop: str, granian_extra: list[str]) -> dict[str, list[str]]:
    me = [sys.executable, str(Path(__file__).resolve()), "--child-port", str(port)]
    return {
        "serve": [*me, "--child", "serve"],
        "serve+uvloop": [*me, "--child", "serve+uvloop"],
        "uvicorn": [
            sys.executable,
            "-m",
            "uvicorn",
            "pgrest_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
            "--lifespan",
            "on",
        ],
        "granian": [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--loop",
            granian_loop,
            "--no-ws",
            "--no-access-log",
            "--log-level",
            "warning",
            *granian_extra,
            "pgrest_app:app",
        ],
    }


def start(
    name: str, env: dict[str, str], args: argparse.Namespace
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    argv = commands(port, args.granian_loop, args.granian_option)[name]
    return start_process(argv, env, port), port


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for package in ("uvicorn", "httptools", "uvloop", "granian"):
        try:
            parts.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            parts.append(f"{package} (not installed)")
    return ", ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument(
        "--granian-loop",
        default="uvloop",
        choices=["auto", "asyncio", "uvloop", "rloop"],
        help="granian's --loop (default uvloop; auto picks rloop, else uvloop, else asyncio)",
    )
    parser.add_argument(
        "--granian-option",
        action="append",
        default=[],
        metavar="OPT",
        help="an extra granian option, e.g. --granian-option=--runtime-mode=st (repeatable)",
    )
    parser.add_argument(
        "--servers",
        default="serve,serve+uvloop,uvicorn,granian",
        help="comma-separated subset of: serve, serve+uvloop, uvicorn, granian",
    )
    parser.add_argument("--child", choices=["serve", "serve+uvloop"], help=argparse.SUPPRESS)
    parser.add_argument("--child-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        serve_child(args.child_port, uvloop=args.child == "serve+uvloop")
        return 0
    if shutil.which("wrk") is None:
        print("bench: `wrk` is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    names = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = set(names) - {"serve", "serve+uvloop", "uvicorn", "granian"}
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")

    from pgrest_asgi.testing import PostgresCluster

    granian = " ".join(["--loop", args.granian_loop, *args.granian_option])
    print(f"machine: {machine_note()}; {versions()}; granian {granian}")
    print(
        "note: wrk, the servers and PostgreSQL share this machine's cores with whatever else"
        " runs on it; rounds are interleaved (each round runs every server in turn) so that"
        " drift hits all servers alike. Compare within one run, not across runs.",
        flush=True,
    )
    cluster = PostgresCluster(settings={"max_connections": "100"})
    cluster.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        cluster.create_database("bench")
        cluster.run_sql(SCHEMA, dbname="bench")
        env = dict(
            os.environ,
            BENCH_DSN=cluster.dsn("bench", user="authenticator"),
            BENCH_POOL=str(args.pool),
            PYTHONPATH=os.pathsep.join([str(ROOT), str(BENCH)]),
        )
        servers: dict[str, int] = {}
        for name in names:
            proc, port = start(name, env, args)
            procs.append(proc)
            servers[name] = port
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
            lua.write(GET_LUA % "")
        try:
            summary = compare(servers, lua.name, args)
        finally:
            os.unlink(lua.name)
    finally:
        for proc in procs:
            stop_process(proc)
        cluster.stop()
    report(summary)
    print(f"machine after the run: {machine_note()}")
    return 0


def compare(
    servers: dict[str, int], script: str, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    results: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    for port in servers.values():  # warm-up: prepared statements, caches
        run_wrk(port, 2, args.connections, script)
    print(
        f"\n== GET /items?id=eq.N: {args.rounds} interleaved rounds x {args.duration} s, "
        f"wrk -t1 -c{args.connections}, pool {args.pool}, 1 worker each",
        flush=True,
    )
    started = time.monotonic()
    for round_no in range(args.rounds):
        for name, port in servers.items():
            r = run_wrk(port, args.duration, args.connections, script)
            results[name].append(r)
            print(
                f"round {round_no + 1} {name:>12}: {r['rps']:8.0f} req/s  "
                f"p50 {r['p50']:6.2f} ms  p99 {r['p99']:6.2f} ms",
                flush=True,
            )
    print(f"({time.monotonic() - started:.0f} s of measurement)")
    return {
        name: {k: statistics.median(r[k] for r in rows) for k in ("rps", "p50", "p99")}
        for name, rows in results.items()
    }


def report(summary: dict[str, dict[str, float]]) -> None:
    print("\nmedian of rounds    req/s    p50 ms   p99 ms")
    for name, row in summary.items():
        print(f"{name:>14}  {row['rps']:8.0f}  {row['p50']:7.2f}  {row['p99']:7.2f}")
    pairs = [
        ("granian", "serve"),
        ("granian", "uvicorn"),
        ("uvicorn", "serve"),
        ("serve+uvloop", "serve"),
        ("granian", "serve+uvloop"),
    ]
    for a, b in pairs:
        if a in summary and b in summary:
            x, y = summary[a], summary[b]
            print(
                f"ratio {a} / {b}: throughput {x['rps'] / y['rps']:.3f}, "
                f"p50 {x['p50'] / y['p50']:.2f}, p99 {x['p99'] / y['p99']:.2f}"
            )


if __name__ == "__main__":
    raise SystemExit(main())
