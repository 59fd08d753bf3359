"""REL-07, scaled down: a real ``pgrest-asgi serve`` under a steady mix of reads and writes.

The scenario asks for 30 minutes; CI runs ``PGREST_SOAK_SECONDS`` (20 by default, e.g.
``PGREST_SOAK_SECONDS=1800`` for the full soak). Asserted: no request fails, the server's
resident memory is flat once warm, and PostgreSQL never sees more of the server's connections
than its pool plus the schema listener.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import httpx
import psycopg

from pgrest_asgi.testing import PostgresCluster
from tests.conftest import API_DB
from tests.integration.test_serve_limits import launch

POOL = 4
CLIENTS = 8
#: Growth of resident memory allowed between the end of the warm-up and the end (MB): a leak
#: of a few KB per request over thousands of requests shows; allocator noise does not.
FLAT_MB = 25


def _server_connections(cluster: PostgresCluster, name: str) -> int:
    """Connections of the server under test (its own ``application_name``: other apps of the
    test session use the same database and role)."""
    with psycopg.connect(cluster.dsn(API_DB), autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [name]
        ).fetchone()
    assert row is not None
    return int(row[0])


def warm_start(samples: list[tuple[float, int]], started: float, seconds: float) -> int:
    return next((rss for at, rss in samples if at - started >= seconds / 4), -1)


def test_steady_mixed_load(api_db: PostgresCluster, tmp_path: Path) -> None:
    seconds = float(os.environ.get("PGREST_SOAK_SECONDS", "20"))
    name = f"pgrest-soak-{uuid.uuid4().hex[:8]}"
    dsn = api_db.dsn(API_DB, user="authenticator", application_name=name)
    with launch(api_db, tmp_path / "serve.log", db_pool=str(POOL), db_uri=dsn) as server:
        failures: list[str] = []
        done = 0
        samples: list[tuple[float, int]] = []
        most_connections = 0

        async def client(n: int, until: float) -> None:
            nonlocal done
            async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
                i = 0
                while time.monotonic() < until:
                    i += 1
                    key = 1_000_000 * (n + 1) + i  # unique in this test (rows reset after)
                    if i % 5 == 0:
                        resp = await http.post("/w_authors", json={"id": key, "name": "soak"})
                        expected = {201}
                    elif i % 5 == 1:
                        resp = await http.get(
                            "/films?select=title,directors!director_id(name)&limit=3"
                        )
                        expected = {200}
                    else:
                        resp = await http.get(f"/items?select=id,name&id=eq.{i % 20 + 1}")
                        expected = {200}
                    if resp.status_code not in expected:
                        failures.append(f"{resp.status_code} {resp.text[:200]}")
                    done += 1

        async def watch(until: float) -> None:
            nonlocal most_connections
            while time.monotonic() < until:
                samples.append((time.monotonic(), server.memory_mb("VmRSS")))
                count = await asyncio.to_thread(_server_connections, api_db, name)
                most_connections = max(most_connections, count)
                await asyncio.sleep(0.5)

        async def soak() -> None:
            until = time.monotonic() + seconds
            await asyncio.gather(watch(until), *(client(n, until) for n in range(CLIENTS)))

        started = time.monotonic()
        asyncio.run(soak())
        print(
            f"soak: {done} requests in {seconds:.0f}s from {CLIENTS} clients; RSS"
            f" {warm_start(samples, started, seconds)} MB once warm, {samples[-1][1]} MB at the"
            f" end; at most {most_connections} database connections"
        )
        assert failures == [], failures[:5]
        assert done > CLIENTS * 10
        # Flat once warm: compare the end with the end of the first quarter.
        warm = [rss for at, rss in samples if at - started >= seconds / 4]
        assert warm, samples
        assert max(warm) - warm[0] <= FLAT_MB, (warm[0], max(warm), done)
        # The pool plus the schema listener, never more (and they were seen).
        assert 1 < most_connections <= POOL + 1, most_connections
