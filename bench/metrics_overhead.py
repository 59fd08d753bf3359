"""What the request metrics and the access log cost per request, in process, without a
database: ``python bench/metrics_overhead.py [--requests N] [--rounds R]``.

The request is a CORS preflight (``OPTIONS`` with ``Origin`` and
``Access-Control-Request-Method``): the shortest path through ``PgRestApp._http`` (answered
before routing, so nothing else dilutes the difference), sent straight to the ASGI callable.
Variants, interleaved round by round (medians of the rounds):

- ``stub``: ``app.metrics`` replaced by an object whose ``observe_request`` does nothing, the
  ``pgrest_asgi`` loggers at their default level (WARNING: the access log is off);
- ``metrics``: the real ``Metrics`` (what every app runs), access log off;
- ``metrics+log``: the real ``Metrics`` and the access log on (``pgrest_asgi`` at INFO, lines
  formatted by ``LogfmtFormatter`` into memory).

It also times ``Metrics.observe_request`` alone, and, for comparison, a labelled
``prometheus_client`` counter and histogram child (``inc`` + ``observe``).

``--baseline DIR`` (a checkout of an earlier commit, e.g. ``git worktree add /tmp/base
HEAD~3``) compares the whole ``_http`` path with that commit's instead: each round runs the
same loop in a fresh process for the baseline and for this tree, alternately.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import statistics
import subprocess
import sys
import time
import timeit
from pathlib import Path
from typing import Any

from pgrest_asgi import PgRestApp

SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "OPTIONS",
    "scheme": "http",
    "path": "/items",
    "raw_path": b"/items",
    "root_path": "",
    "query_string": b"",
    "headers": [
        (b"host", b"localhost"),
        (b"origin", b"http://example.com"),
        (b"access-control-request-method", b"GET"),
        (b"user-agent", b"bench/1.0"),
    ],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 3000),
}


class StubMetrics:
    def observe_request(self, method: str, status: int, seconds: float) -> None:
        pass


async def receive() -> Any:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Any) -> None:
    pass


async def run(app: PgRestApp, n: int) -> float:
    """Microseconds per request."""
    call = app.__call__
    started = time.perf_counter()
    for _ in range(n):
        await call(SCOPE, receive, send)  # type: ignore[arg-type]
    return (time.perf_counter() - started) / n * 1e6


#: The loop, for a fresh process importing pgrest_asgi from PYTHONPATH (any version).
_CHILD = """
import asyncio, sys
sys.path.insert(0, sys.argv[2])
from metrics_overhead import SCOPE, receive, send, run
import pgrest_asgi
from pgrest_asgi import PgRestApp
print(pgrest_asgi.__file__, file=sys.stderr)
app = PgRestApp("postgresql://nobody@/nothing", schemas=["api"])
n = int(sys.argv[1])
async def main():
    await run(app, n // 10)
    print(await run(app, n))
asyncio.run(main())
"""


def compare(baseline: str, n: int, rounds: int) -> None:
    here = Path(__file__).resolve().parent
    trees = {"baseline": str(Path(baseline).resolve()), "this tree": str(here.parent)}
    results: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(rounds):
        for name, tree in trees.items():
            env = {**os.environ, "PYTHONPATH": tree}
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, str(n), str(here)],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results[name].append(float(out))
    base = statistics.median(results["baseline"])
    print(
        f"OPTIONS preflight through PgRestApp.__call__, {n} requests x {rounds} rounds, "
        "a fresh process each (median µs/request):"
    )
    for name, values in results.items():
        value = statistics.median(values)
        print(
            f"  {name:10} {value:7.2f} µs   ({value - base:+.2f} µs)   rounds: "
            + ", ".join(f"{v:.2f}" for v in values)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--baseline", metavar="DIR", help="compare with this checkout")
    args = parser.parse_args()
    if args.baseline:
        compare(args.baseline, args.requests, args.rounds)
        return
    from prometheus_client import CollectorRegistry, Counter, Histogram

    from pgrest_asgi.metrics import DURATION_BUCKETS, Metrics
    from pgrest_asgi.observe import LogfmtFormatter

    app = PgRestApp("postgresql://nobody@/nothing", schemas=["api"])
    real = app.metrics
    stub = StubMetrics()
    logger = logging.getLogger("pgrest_asgi")
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(LogfmtFormatter())

    def variant(name: str) -> None:
        app.metrics = stub if name == "stub" else real  # type: ignore[assignment]
        if name == "metrics+log":
            logger.setLevel(logging.INFO)
            logger.addHandler(handler)
        else:
            logger.setLevel(logging.NOTSET)
            logger.removeHandler(handler)
        sink.seek(0)
        sink.truncate()

    names = ("stub", "metrics", "metrics+log")
    results: dict[str, list[float]] = {name: [] for name in names}

    async def rounds() -> None:
        for name in names:  # warm-up
            variant(name)
            await run(app, args.requests // 10)
        for _ in range(args.rounds):
            for name in names:
                variant(name)
                results[name].append(await run(app, args.requests))

    asyncio.run(rounds())
    variant("stub")

    base = statistics.median(results["stub"])
    print(
        f"OPTIONS preflight through PgRestApp.__call__, {args.requests} requests x "
        f"{args.rounds} rounds (median µs/request):"
    )
    for name in names:
        value = statistics.median(results[name])
        print(f"  {name:12} {value:7.2f} µs   ({value - base:+.2f} µs vs stub)")

    metrics = Metrics()
    n = 1_000_000
    alone = timeit.timeit(lambda: metrics.observe_request("GET", 200, 0.0012), number=n)
    registry = CollectorRegistry()
    counter = Counter("c", "c", ["method", "status"], registry=registry).labels("GET", "200")
    histogram = Histogram(
        "h", "h", ["method", "status"], registry=registry, buckets=DURATION_BUCKETS
    ).labels("GET", "200")

    def children() -> None:
        counter.inc()
        histogram.observe(0.0012)

    client = timeit.timeit(children, number=n)
    noop = timeit.timeit(lambda: None, number=n)
    print(
        f"Metrics.observe_request alone: {(alone - noop) / n * 1e9:.0f} ns; "
        f"prometheus_client counter+histogram children: {(client - noop) / n * 1e9:.0f} ns "
        "(call overhead of the lambda subtracted)"
    )


if __name__ == "__main__":
    main()
