"""Row h: how much memory one very large request costs the server process.

Two requests, each sent once to a freshly started uvicorn process (1 worker) of each app:

- a 100 000-row insert, ``POST /items_w`` with one JSON array body, ``Prefer: return=minimal``
  (the hand-written app binds the body as one json parameter, as in row f);
- a 100 000-row read, ``GET /items`` with no filter (``db-max-rows`` unset: every row).

What is measured: the server process's peak resident memory during the request minus its
resident memory just before it, when idle (after a small warm-up request of the same kind).
The peak is ``VmHWM`` after resetting it (``/proc/<pid>/clear_refs``); where the reset is not
allowed, the highest ``VmRSS`` sampled every 5 ms. A fresh process per measurement: memory a
process has once taken stays with it, which would hide the cost of a second request.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness import http_request, memory_kb, reset_peak, start_server, stop_process

BIG_ROWS = 100_000


def insert_body(rows: int) -> bytes:
    items = [{"name": f"item {i}", "price": i % 1000 + 0.5} for i in range(rows)]
    return json.dumps(items, separators=(",", ":")).encode()


@dataclass
class Measure:
    idle_mb: float
    peak_mb: float
    seconds: float
    body_bytes: int  # the request's body for the insert, the response's for the read
    how: str  # VmHWM or sampled VmRSS

    @property
    def growth_mb(self) -> float:
        return self.peak_mb - self.idle_mb


class Sampler(threading.Thread):
    """The highest ``VmRSS`` of a process while it runs (fallback for ``VmHWM``)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak_kb = max(self.peak_kb, memory_kb(self.pid, "VmRSS"))
            time.sleep(0.005)


def request(port: int, method: str, path: str, body: bytes | None) -> tuple[int, int]:
    """Send one request; return its status and the size of the response body."""
    headers = {"Content-Type": "application/json", "Prefer": "return=minimal"} if body else {}
    status, data = http_request(port, method, path, body, headers)
    return status, len(data)


def measure(
    module: str,
    env: dict[str, str],
    warm: Callable[[int], None],
    big: Callable[[int], int],
) -> Measure:
    proc, port = start_server(module, env)
    try:
        warm(port)
        time.sleep(0.5)
        pid = proc.pid
        idle = memory_kb(pid, "VmRSS")
        exact = reset_peak(pid)
        sampler = Sampler(pid)
        sampler.start()
        started = time.perf_counter()
        size = big(port)
        seconds = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
        peak = memory_kb(pid, "VmHWM") if exact else sampler.peak_kb
        mb = 1024 / 1e6  # KiB → MB
        return Measure(idle * mb, peak * mb, seconds, size, "VmHWM" if exact else "VmRSS")
    finally:
        stop_process(proc)


def run_memory(
    apps: dict[str, tuple[str, dict[str, str]]], empty_writes: Callable[[], None]
) -> dict[str, dict[str, Measure]]:
    """Both requests against every app (``name → (module, env)``); prints a line each."""
    body = insert_body(BIG_ROWS)
    small = insert_body(10)

    def warm_insert(port: int) -> None:
        check(request(port, "POST", "/items_w", small)[0], 201)

    def big_insert(port: int) -> int:
        check(request(port, "POST", "/items_w", body)[0], 201)
        return len(body)

    def warm_read(port: int) -> None:
        check(request(port, "GET", "/items?id=eq.1", None)[0], 200)

    def big_read(port: int) -> int:
        status, size = request(port, "GET", "/items", None)
        check(status, 200)
        return size

    results: dict[str, dict[str, Measure]] = {"insert": {}, "read": {}}
    for name, (module, env) in apps.items():
        empty_writes()
        results["insert"][name] = m = measure(module, env, warm_insert, big_insert)
        print(describe(f"100 000-row insert, {name}", m), flush=True)
        empty_writes()
        results["read"][name] = m = measure(module, env, warm_read, big_read)
        print(describe(f"100 000-row read, {name}", m), flush=True)
    return results


def check(status: int, expected: int) -> None:
    if status != expected:
        raise RuntimeError(f"expected {expected}, got {status}")


def describe(what: str, m: Measure) -> str:
    return (
        f"{what}: idle {m.idle_mb:.0f} MB, peak {m.peak_mb:.0f} MB ({m.how}), "
        f"+{m.growth_mb:.1f} MB for a {m.body_bytes / 1e6:.1f} MB body, {m.seconds:.2f} s"
    )
