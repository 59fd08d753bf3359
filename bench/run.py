"""One-command benchmark: pgrest_asgi against the same requests written by hand.

    python bench/run.py [--duration 8] [--rounds 3] [--connections 50] [--only ROWS] [--scale]

Every row is a ratio of pgrest_asgi (``bench/pgrest_app.py``) to its hand-written counterpart
(``bench/handwritten.py``: bare ASGI + psycopg, the same pool settings, JSON built in
PostgreSQL and passed through as bytes, values always bound as parameters), measured in the
same run. Both serve one throwaway PostgreSQL (100 000 items, 300 000 reviews) under the same
server (uvicorn, 1 worker, no access log), driven by ``wrk -t1`` on loopback. Rounds alternate
between the apps so that drift on a shared machine hits both alike; the median round of each
is reported.

  a  jwt      GET /items?id=eq.N with a JWT and role switch, vs the naive hand-written
              transaction (BEGIN; set_config role and claims; the query; COMMIT)
  b  get      the same GET, anonymous, vs one statement (no transaction, no role switch)
  c  reviews  GET /items?select=id,name,reviews(stars,body)&id=eq.N vs one statement
  d  embed    the two-level embed (to-one + to-many) vs one statement
  e  planning planning on an SQL-cache hit (µs per request, no database, no ratio)
  f  insert   POST /items_w, one row, return=minimal, vs INSERT … VALUES
  f  bulk     POST /items_w, 1 000 rows, return=minimal, vs json_populate_recordset (+ rows/s)
  g  rpc      POST /rpc/item_total (two arguments, a scalar) vs SELECT to_json(fn($1, $2))
  h  memory   peak RSS increase of the server for a 100 000-row insert and read
  i  scale    (only with --scale or --only scale) `pgrest-asgi serve`: 1 and 2 workers,
              pools of 5, 10, 20, req/s of row b's request
  j  replicas (only with --scale or --only replicas) `serve --workers 2` on the primary
              alone and with a streaming replica (db-replica-uris), row b's request

The default run (rows a to h) takes about 6 minutes. Needs ``wrk`` (apt-get install wrk). It
is a benchmark, not a test: numbers swing 20-40 % on a shared 2-core machine; compare within
one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    EMPTY_WRITES,
    ROOT,
    SCHEMA,
    Summary,
    compare,
    http_request,
    machine_note,
    start_server,
    stop_process,
)
from scenarios import JWT_SECRET, WRK_SCENARIOS, Scenario, lua_script, tokens

ROWS = [s.key for s in WRK_SCENARIOS] + ["planning", "memory", "scale", "replicas"]


def planning_cost(iterations: int = 20000) -> dict[str, float]:
    """µs per request for grammar + planner + SQL-cache lookup on a cache hit (no I/O)."""
    from pgrest_asgi.context import RequestContext
    from pgrest_asgi.plan.planner import SqlglotPlanner
    from pgrest_asgi.request.grammar import PostgrestGrammar
    from pgrest_asgi.request.model import Target
    from pgrest_asgi.schema.model import Column, QualifiedName, SchemaCache, Table
    from pgrest_asgi.settings import Settings
    from pgrest_asgi.sql.build import SqlCache, build_read, read_sql_cache

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

    plan, _ = planner.plan(grammar.parse(context, [("id", "eq.1")]), cache, context)
    start = time.perf_counter()
    for _ in range(500):
        build_read(plan, SqlCache())
    miss_us = (time.perf_counter() - start) / 500 * 1e6
    return {"hit_us": hit_us, "sqlglot_us": miss_us}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="seconds of wrk before timing")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        help="also run pgrest_asgi from another checkout (e.g. a `git worktree` of an older "
        "commit), interleaved with the others, to measure a change",
    )
    parser.add_argument(
        "--only",
        metavar="ROWS",
        help="comma-separated rows to run, of: " + ", ".join(ROWS),
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="also run row i (`pgrest-asgi serve` with 1 and 2 workers, pools of 5/10/20)",
    )
    args = parser.parse_args()
    if args.only:
        args.rows = [row.strip() for row in args.only.split(",") if row.strip()]
        unknown = set(args.rows) - set(ROWS)
        if unknown:
            parser.error(f"--only: unknown rows {', '.join(sorted(unknown))}; rows: {ROWS}")
        if args.scale:
            args.rows += [row for row in ("scale", "replicas") if row not in args.rows]
    else:
        args.rows = [row for row in ROWS if row not in ("scale", "replicas") or args.scale]
    return args


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        print("bench: `wrk` is not installed (apt-get install wrk)", file=sys.stderr)
        return 2

    from pgrest_asgi.testing import PostgresCluster

    started = time.monotonic()
    print(
        f"{machine_note()}; {args.rounds} interleaved round(s) of "
        f"{args.duration} s per app, wrk -t1 -c{args.connections}, pool {args.pool}",
        flush=True,
    )
    results: dict[str, object] = {}
    if "planning" in args.rows:
        results["planning"] = costs = planning_cost()
        print(
            f"\n== e. planning on an SQL-cache hit: {costs['hit_us']:.1f} µs/request "
            f"(sqlglot build+generate on a miss: {costs['sqlglot_us']:.0f} µs)",
            flush=True,
        )

    cluster = PostgresCluster(settings={"max_connections": "100"})
    cluster.start()
    try:
        cluster.create_database("bench")
        cluster.run_sql(SCHEMA, dbname="bench")
        dsn = cluster.dsn("bench", user="authenticator")
        env = dict(
            os.environ,
            BENCH_DSN=dsn,
            BENCH_POOL=str(args.pool),
            BENCH_JWT_SECRET=JWT_SECRET,
            PYTHONPATH=str(ROOT),
        )

        def empty_writes() -> None:
            cluster.run_sql(EMPTY_WRITES, dbname="bench")

        scenarios = [s for s in WRK_SCENARIOS if s.key in args.rows]
        if scenarios:
            results.update(run_wrk_rows(scenarios, env, empty_writes, args))
        if "memory" in args.rows:
            from memory import run_memory

            print("\n== h. memory: the server's peak RSS over its idle RSS, one request")
            apps = {
                "pgrest_asgi": ("pgrest_app:app", env),
                "hand-written": ("handwritten:app", env),
            }
            results["memory"] = run_memory(apps, empty_writes)
        if "scale" in args.rows:
            from scale import run_scale

            print("\n== i. pgrest-asgi serve: workers and pool sizes, GET /items?id=eq.N")
            with lua_file(lua_script(WRK_SCENARIOS[1])) as script:
                results["scale"] = run_scale(dsn, env, script, args)
        if "replicas" in args.rows:
            from scale import run_replicas

            print("\n== j. serve --workers 2: the primary alone, and with a streaming replica")
            with lua_file(lua_script(WRK_SCENARIOS[1])) as script:
                results["replicas"] = run_replicas(cluster, dsn, env, script, args)
    finally:
        cluster.stop()
    report(results, args)
    print(f"\n({time.monotonic() - started:.0f} s in all)")
    return 0


def run_wrk_rows(
    scenarios: list[Scenario],
    env: dict[str, str],
    empty_writes: Callable[[], None],
    args: argparse.Namespace,
) -> dict[str, Summary]:
    """Rows a-d, f, g: both apps started once, each scenario in interleaved rounds."""
    runs = [("pgrest_asgi", "pgrest_app:app", env), ("hand-written", "handwritten:app", env)]
    if args.baseline:
        older = dict(env, PYTHONPATH=str(Path(args.baseline).resolve()))
        runs.insert(1, ("baseline", "pgrest_app:app", older))
    procs: list[subprocess.Popen[bytes]] = []
    servers: dict[str, int] = {}
    summaries: dict[str, Summary] = {}
    try:
        for name, module, server_env in runs:
            proc, port = start_server(module, server_env)
            procs.append(proc)
            servers[name] = port
        for scenario in scenarios:
            print(f"\n== {scenario.row}. {scenario.title}", flush=True)
            print(f"   pgrest_asgi:  {scenario.ours}\n   hand-written: {scenario.theirs}")
            same_answer(scenario, servers)
            before = empty_writes if scenario.writes else None
            with lua_file(lua_script(scenario)) as script:
                summaries[scenario.key] = compare(servers, script, args, before_run=before)
            if scenario.writes:
                empty_writes()
    finally:
        for proc in procs:
            stop_process(proc)
    return summaries


def same_answer(scenario: Scenario, servers: dict[str, int]) -> None:
    """The scenario's probe request to every app: a 2xx, and the same status and JSON."""
    method, path, body = scenario.probe
    headers = {"Content-Type": "application/json", "Prefer": "return=minimal"}
    if scenario.jwt:
        headers["Authorization"] = f"Bearer {tokens(users=1)[0]}"
    answers = {}
    for name, port in servers.items():
        status, data = http_request(port, method, path, body and body.encode(), headers)
        answers[name] = (status, json.loads(data) if data else None)
        if not 200 <= status < 300:
            raise RuntimeError(f"{name}: {method} {path} answered {status}: {data[:300]!r}")
    first = next(iter(answers.values()))
    if any(answer != first for answer in answers.values()):
        raise RuntimeError(f"the apps answer {method} {path} differently: {answers}")
    shown = json.dumps(first[1])
    print(f"   both answer {first[0]} {shown[:70] + '…' if len(shown) > 70 else shown}")


@contextlib.contextmanager
def lua_file(text: str) -> Iterator[str]:
    """A wrk script in a temporary file, removed afterwards."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(text)
    try:
        yield f.name
    finally:
        os.unlink(f.name)


def report(results: dict[str, object], args: argparse.Namespace) -> None:
    """Every row measured, one line each: pgrest_asgi against hand-written."""
    print(f"\n== summary: pgrest_asgi / hand-written, median of {args.rounds} round(s)")
    measured = [s for s in WRK_SCENARIOS if isinstance(results.get(s.key), dict)]
    if measured:
        print(f"{'':3}{'request':<68}{'ours':>9}{'theirs':>9}  ratio  p50 ratio")
    for scenario in measured:
        summary = results[scenario.key]
        assert isinstance(summary, dict)
        ours, theirs = summary["pgrest_asgi"], summary["hand-written"]
        print(
            f"{scenario.row:<3}{scenario.title[:67]:<68}{ours['rps']:9.0f}{theirs['rps']:9.0f}"
            f"  {ours['rps'] / theirs['rps']:.3f}  {ours['p50'] / theirs['p50']:.2f}"
        )
        if scenario.rows_per_request:
            n = scenario.rows_per_request
            print(
                f"{'':3}{'  rows/s':<68}{ours['rps'] * n:9.0f}{theirs['rps'] * n:9.0f}"
                f"  {ours['rps'] / theirs['rps']:.3f}"
            )
    if measured:
        print("   (ours, theirs: req/s; ratio: of throughputs; p50 ratio: of median latencies)")
    costs = results.get("planning")
    if isinstance(costs, dict):
        print(f"e  planning on an SQL-cache hit: {costs['hit_us']:.1f} µs/request (no database)")
    memory = results.get("memory")
    if isinstance(memory, dict):
        print(
            "h  memory: the server process's peak RSS during one request minus its idle RSS "
            "(uvicorn, 1 worker)"
        )
        for what, by_app in memory.items():
            ours, theirs = by_app["pgrest_asgi"], by_app["hand-written"]
            size = ours.body_bytes / 1e6
            print(
                f"   100 000-row {what:<6} ({size:4.1f} MB body): pgrest_asgi "
                f"+{ours.growth_mb:5.1f} MB ({ours.growth_mb / size:4.1f} x the body), "
                f"hand-written +{theirs.growth_mb:5.1f} MB, ratio "
                f"{ours.growth_mb / max(theirs.growth_mb, 0.1):.2f}"
            )
    for key, title, base in (
        ("scale", "i  pgrest-asgi serve (uvloop)", "1 worker, pool 10"),
        ("replicas", "j  serve --workers 2", "2 workers, primary only"),
    ):
        servers = results.get(key)
        if isinstance(servers, dict):
            print(f"{title}, GET /items?id=eq.N anonymous, req/s:")
            first = servers.get(base)
            for name, row in servers.items():
                versus = f"  {row['rps'] / first['rps']:.2f} x {base}" if first else ""
                print(f"   {name:<30}{row['rps']:8.0f}  p50 {row['p50']:6.2f} ms{versus}")


if __name__ == "__main__":
    raise SystemExit(main())
