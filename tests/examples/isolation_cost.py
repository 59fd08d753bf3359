"""What isolating each test costs: a fresh database loaded from the SQL per test, against a
template database loaded once and cloned per test (what the pytest plugin does).

    .venv/bin/python -m tests.examples.isolation_cost [rounds]

Two schemas: pgrest_asgi/demo.sql (63 lines) and the integration tests' fixture database
(tests/fixtures/*.sql, about 2,300 lines). For each, the median time to get a loaded database
(and to drop it), then the same with an app started on it (pool, schema cache) and one request
answered: the whole cost of a test's fixtures. The numbers are in docs/how-to/testing.md.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from pgrest_asgi import PgRestApp
from pgrest_asgi.testing import Database, DatabaseTemplates, PostgresCluster, SqlSource, load_sql

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SCHEMAS: dict[str, tuple[list[SqlSource], str, str]] = {
    "demo.sql": ([ROOT / "pgrest_asgi" / "demo.sql"], "api", "/films?select=title&limit=1"),
    "tests/fixtures": (
        [
            FIXTURES / "schema.sql",
            *sorted(p for p in FIXTURES.glob("*.sql") if p.name != "schema.sql"),
        ],
        "api",
        "/items?select=id&limit=1",
    ),
}


def _roles(cluster: PostgresCluster) -> set[str]:
    import psycopg

    with psycopg.connect(cluster.dsn()) as conn:
        return {r[0] for r in conn.execute("SELECT rolname FROM pg_roles").fetchall()}


def fresh(cluster: PostgresCluster, sources: list[SqlSource]) -> Database:
    name = f"fresh_{uuid.uuid4().hex[:12]}"
    cluster.create_database(name)
    load_sql(cluster, name, sources)
    return Database(cluster, name)


def _drop(cluster: PostgresCluster, db: Database, roles_before: set[str] | None) -> None:
    cluster.drop_database(db.name)
    if roles_before is not None:  # fresh: the next load creates the roles again
        for role in sorted(_roles(cluster) - roles_before):
            cluster.run_sql(f'DROP ROLE "{role}"')


async def _serve_one(db: Database, schemas: str, path: str) -> None:
    app = PgRestApp(db.dsn(user="authenticator"), schemas, db_anon_role="web_anon", db_pool=2)
    transport = httpx.ASGITransport(app=app)
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        resp = await c.get(path)
        assert resp.status_code == 200, resp.text


def _median_ms(
    rounds: int,
    make: Callable[[], Database],
    use: Callable[[Database], None],
    drop: Callable[[Database], None],
) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        db = make()
        use(db)
        times.append(time.perf_counter() - start)
        drop(db)
    return statistics.median(times) * 1000


def main(rounds: int) -> None:
    with PostgresCluster() as cluster:
        templates = DatabaseTemplates(cluster)
        print(f"PostgreSQL in {cluster.bin_dir}, {rounds} rounds, median ms")
        for label, (sources, schemas, path) in SCHEMAS.items():
            base = _roles(cluster)
            start = time.perf_counter()
            templates.template(sources)
            first = (time.perf_counter() - start) * 1000
            templates.drop_all()
            for role in sorted(_roles(cluster) - base):
                cluster.run_sql(f'DROP ROLE "{role}"')

            def nothing(db: Database) -> None:
                pass

            def serve(db: Database, schemas: str = schemas, path: str = path) -> None:
                asyncio.run(_serve_one(db, schemas, path))

            row = [f"{label:15}"]
            for use in (nothing, serve):
                base = _roles(cluster)
                each = _median_ms(
                    rounds,
                    lambda s=sources: fresh(cluster, s),  # type: ignore[misc]
                    use,
                    lambda db, b=base: _drop(cluster, db, b),  # type: ignore[misc]
                )
                cloned = _median_ms(
                    rounds,
                    lambda s=sources: templates.clone(s),  # type: ignore[misc]
                    use,
                    lambda db: _drop(cluster, db, None),
                )
                templates.drop_all()
                for role in sorted(_roles(cluster) - base):
                    cluster.run_sql(f'DROP ROLE "{role}"')
                row.append(f"{use.__name__}: fresh {each:6.1f} template {cloned:6.1f}")
            print(" | ".join(row), f"| first template load {first:.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
