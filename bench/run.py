"""One-command benchmark: pgrest_asgi vs a hand-written ASGI + psycopg endpoint.

    python bench/run.py [--duration 10] [--rounds 3] [--connections 50]

Both apps serve GET /items?id=eq.N (N random per request, 100 000-row table, primary key)
from the same throwaway PostgreSQL, under the same server (uvicorn, 1 worker, no access log)
and pool size, driven by `wrk` on loopback. Rounds alternate between the two apps so drift on
a shared machine hits both alike; the median round of each is reported. It also measures the
per-request planning cost on an SQL-cache hit (no database).

Needs `wrk` (apt-get install wrk). It is a benchmark, not a test: numbers swing 20-40 % on a
shared 2-core machine; compare within one run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCHEMA = """
CREATE ROLE authenticator LOGIN NOINHERIT;
CREATE ROLE web_anon NOLOGIN;
GRANT web_anon TO authenticator;
CREATE SCHEMA api;
GRANT USAGE ON SCHEMA api TO web_anon, authenticator;
CREATE TABLE api.items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2),
                        created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO api.items (id, name, price) SELECT g, 'item ' || g, g % 1000 FROM
  generate_series(1, 100000) g;
GRANT SELECT ON api.items TO web_anon, authenticator;
CREATE TABLE api.categories (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO api.categories SELECT g, 'category ' || g FROM generate_series(1, 100) g;
ALTER TABLE api.items ADD COLUMN category_id int REFERENCES api.categories (id);
UPDATE api.items SET category_id = id % 100 + 1;
CREATE TABLE api.reviews (id int PRIMARY KEY, item_id int NOT NULL REFERENCES api.items (id),
                          stars int NOT NULL, body text NOT NULL);
INSERT INTO api.reviews SELECT g, (g + 2) / 3, g % 5 + 1, 'review ' || g
  FROM generate_series(1, 300000) g;
CREATE INDEX ON api.reviews (item_id);
GRANT SELECT ON api.categories, api.reviews TO web_anon, authenticator;
ANALYZE;
"""

LUA = """
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/items?%sid=eq." .. math.random(1, 100000))
end
"""
SCENARIOS = {
    "GET /items?id=eq.N": "",
    "two-level embed (to-one + to-many)": "select=id,name,category:categories(name),"
    "reviews(stars,body)&",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET /items?id=eq.1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(12).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not answer 200")


def start_server(module: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            module,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
            "--lifespan",
            "on",
        ],
        cwd=ROOT / "bench",
        env=env,
    )
    try:
        wait_http(port)
    except RuntimeError:
        proc.kill()
        proc.wait()
        raise
    return proc, port


def run_wrk(port: int, duration: int, connections: int, script: str) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            script,
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {m.group(1): _ms(m.group(2)) for m in re.finditer(r"\s+(50|99)%\s+([\d.]+\w+)", out)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} non-2xx responses:\n{out}")
    return {"rps": rps, "p50": lat["50"], "p99": lat["99"]}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def planning_cost(iterations: int = 20000) -> dict[str, float]:
    """µs per request for grammar + planner + SQL-cache lookup on a cache hit (no I/O)."""
    from pgrest_asgi.context import RequestContext
    from pgrest_asgi.plan.planner import SqlglotPlanner
    from pgrest_asgi.request.grammar import PostgrestGrammar
    from pgrest_asgi.request.model import Target
    from pgrest_asgi.schema.model import Column, QualifiedName, SchemaCache, Table
    from pgrest_asgi.settings import Settings
    from pgrest_asgi.sql.build import read_sql_cache

    cache = SchemaCache(
        schemas=("api",),
        tables={
            QualifiedName("api", "items"): Table(
                schema="api",
                name="items",
                kind="table",
                columns=(
                    Column(name="id", data_type="integer", base_type="integer", nullable=False),
                ),
            )
        },
    )
    grammar, planner = PostgrestGrammar(), SqlglotPlanner(Settings())
    target = Target("relation", "api", "items")
    context = RequestContext(method="GET", target=target)

    def once(i: int) -> None:
        request = grammar.parse(context, [("id", f"eq.{i}")])
        plan, params = planner.plan(request, cache, context)
        planner.build(plan, params)

    once(0)
    misses = read_sql_cache.misses
    start = time.perf_counter()
    for i in range(iterations):
        once(i)
    hit_us = (time.perf_counter() - start) / iterations * 1e6
    assert read_sql_cache.misses == misses, "the benchmark loop missed the SQL cache"
    from pgrest_asgi.sql.build import SqlCache, build_read

    plan, _ = planner.plan(grammar.parse(context, [("id", "eq.1")]), cache, context)
    start = time.perf_counter()
    for _ in range(500):
        build_read(plan, SqlCache())
    miss_us = (time.perf_counter() - start) / 500 * 1e6
    return {"hit_us": hit_us, "sqlglot_us": miss_us}


def compare(servers: dict[str, int], script: str, args: argparse.Namespace) -> None:
    """Interleaved rounds of every server on one request shape; prints medians and ratio."""
    results: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    for port in servers.values():  # warm-up: prepared statements, caches
        run_wrk(port, 2, args.connections, script)
    for round_no in range(args.rounds):
        for name, port in servers.items():
            r = run_wrk(port, args.duration, args.connections, script)
            results[name].append(r)
            print(
                f"round {round_no + 1} {name:>13}: {r['rps']:8.0f} req/s  "
                f"p50 {r['p50']:6.2f} ms  p99 {r['p99']:6.2f} ms",
                flush=True,
            )
    summary = {
        name: {k: statistics.median(r[k] for r in rows) for k in ("rps", "p50", "p99")}
        for name, rows in results.items()
    }
    base = summary["hand-written"]
    print("median of rounds   req/s     p50 ms   p99 ms")
    for name, row in summary.items():
        print(f"{name:>14}  {row['rps']:8.0f}  {row['p50']:8.2f} {row['p99']:8.2f}")
    for name, ours in summary.items():
        if name == "hand-written":
            continue
        print(
            f"ratio {name} / hand-written: throughput {ours['rps'] / base['rps']:.3f}, "
            f"p50 latency {ours['p50'] / base['p50']:.2f}",
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        help="also run pgrest_asgi from another checkout (e.g. a `git worktree` of an older "
        "commit), interleaved with the others, to measure a change",
    )
    parser.add_argument("--only", choices=["get", "embed"], help="run one scenario")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench: `wrk` is not installed (apt-get install wrk)", file=sys.stderr)
        return 2

    from pgrest_asgi.testing import PostgresCluster

    costs = planning_cost()
    print(
        f"planning on an SQL-cache hit: {costs['hit_us']:.1f} µs/request "
        f"(sqlglot build+generate on a miss: {costs['sqlglot_us']:.0f} µs)",
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
            PYTHONPATH=str(ROOT),
        )
        servers = {}
        runs = [("pgrest_asgi", "pgrest_app:app", env), ("hand-written", "handwritten:app", env)]
        if args.baseline:
            older = dict(env, PYTHONPATH=str(Path(args.baseline).resolve()))
            runs.insert(1, ("baseline", "pgrest_app:app", older))
        for name, module, server_env in runs:
            proc, port = start_server(module, server_env)
            procs.append(proc)
            servers[name] = port
        scenarios = list(SCENARIOS.items())
        if args.only:
            scenarios = scenarios[:1] if args.only == "get" else scenarios[1:]
        for scenario, select in scenarios:
            print(f"\n== {scenario}", flush=True)
            with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
                lua.write(LUA % select)
            try:
                compare(servers, lua.name, args)
            finally:
                os.unlink(lua.name)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
