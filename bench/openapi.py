"""The root document (``GET /``) of a 200-table schema: how long it takes to build, and to
serve once built.

    python bench/openapi.py [--tables 200] [--hits 200]

A throwaway PostgreSQL gets ``--tables`` tables of 8 columns each (keys, foreign keys to the
previous table, comments, an enum, defaults) and a function per table; the app runs in
process (``httpx.ASGITransport``), as the anonymous role under ``openapi-mode =
follow-privileges``, so every request pays the privileges query. It prints the first
request (the document is built) and the median and 95th percentile of the following ones
(served from the document cache). A benchmark, not a test: compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def schema_sql(tables: int) -> str:
    parts = [
        "CREATE ROLE bench_auth LOGIN NOINHERIT; CREATE ROLE bench_anon NOLOGIN;",
        "GRANT bench_anon TO bench_auth;",
        "CREATE SCHEMA api; GRANT USAGE ON SCHEMA api TO bench_anon;",
        "COMMENT ON SCHEMA api IS 'Bench API\nTables generated for the OpenAPI benchmark.';",
        "CREATE TYPE api.mood AS ENUM ('low', 'mid', 'high');",
    ]
    for n in range(tables):
        parent = f", parent_id int REFERENCES api.t{n - 1}" if n else ""
        parts.append(
            f"CREATE TABLE api.t{n} (id int PRIMARY KEY, name varchar(40) NOT NULL, "
            f"price numeric(10,2) DEFAULT 0, mood api.mood, tags text[], "
            f"created timestamptz NOT NULL DEFAULT now(), data jsonb{parent});"
        )
        parts.append(f"COMMENT ON TABLE api.t{n} IS 'Table {n}';")
        parts.append(f"GRANT SELECT ON api.t{n} TO bench_anon;")
        parts.append(
            f"CREATE FUNCTION api.f{n}(a int, b text DEFAULT 'x') RETURNS SETOF api.t{n} "
            f"LANGUAGE sql STABLE AS $$ SELECT * FROM api.t{n} WHERE id = a $$;"
        )
    return "\n".join(parts)


async def measure(dsn: str, hits: int) -> tuple[float, list[float]]:
    import httpx

    from pgrest_asgi import PgRestApp

    app = PgRestApp(dsn, schemas=["api"], db_anon_role="bench_anon", db_pool=2)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            start = time.perf_counter()
            first = await http.get("/")
            built = time.perf_counter() - start
            assert first.status_code == 200, first.text
            paths = len(first.json()["paths"])
            print(f"document: {len(first.content) // 1024} KiB, {paths} paths")
            times = []
            for _ in range(hits):
                start = time.perf_counter()
                resp = await http.get("/")
                times.append(time.perf_counter() - start)
                assert resp.status_code == 200
    return built, times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=200)
    parser.add_argument("--hits", type=int, default=200)
    args = parser.parse_args()

    from pgrest_asgi.testing import PostgresCluster

    cluster = PostgresCluster()
    cluster.start()
    try:
        cluster.create_database("bench")
        cluster.run_sql(schema_sql(args.tables), dbname="bench")
        built, times = asyncio.run(measure(cluster.dsn("bench", user="bench_auth"), args.hits))
    finally:
        cluster.stop()
    times.sort()
    print(f"{args.tables} tables, {args.tables} functions")
    print(f"first GET / (builds the document): {built * 1000:.0f} ms")
    median, p95 = statistics.median(times), times[int(len(times) * 0.95)]
    print(
        f"cached GET / (privileges query + cache hit): median {median * 1000:.1f} ms, "
        f"p95 {p95 * 1000:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
