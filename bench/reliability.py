"""The time bounds of docs/explanation/reliability.md, measured (the tests check the answers).

    python bench/reliability.py [--only NAME] [--outage-seconds 60] [--repeat 20]

NAME is one of SEC-47, SEC-48, REL-30, REL-27, REL-07 (case does not matter). Each
measurement prints one line as it finishes; a summary follows at the end.

- SEC-47: ``or=`` nested 1 000 deep: 400 PGRST100 (goal < 50 ms). Through the started app
  (pool and schema cache on a real PostgreSQL), called straight through its ASGI interface and
  over ``httpx.ASGITransport``, and the grammar alone; medians.
- SEC-48: a flat ``or=`` of 10 000 terms and a ``select=`` of 10 000 columns: 414 with the
  default URL limit (16 384), 400 from the grammar's term limit with the URL limit raised to
  1 MB; status and median time, through the ASGI interface (httpx refuses URLs over 64 KiB).
- REL-30: a new table, then ``NOTIFY pgrst, 'reload schema'``: time until the table is served
  (goal < 1 s); an in-database setting (``ALTER ROLE … IN DATABASE … SET pgrst.db_max_rows``),
  then ``NOTIFY pgrst, 'reload config'``: time until it applies. In process, medians.
- REL-27: a real ``pgrest-asgi serve`` process read by 8 concurrent clients while PostgreSQL is
  stopped for ``--outage-seconds`` (``pg_ctl stop -m fast``), then started: the answers by
  status during the outage (only 200 and 503 expected, never 500 or 504), the time from
  PostgreSQL accepting connections again to the first 200 and to every client's first 200, the
  pool's size before and after, and when the schema listener is back. Right after the first
  200, REL-30 once more through the server: a new table and ``NOTIFY pgrst, 'reload schema'``,
  timed until the table is served (the listener reconnects on its own back-off, up to 32 s).
- REL-07: the soak is a test (``tests/integration/test_soak.py``); only the command is printed.

Everything runs against a throwaway PostgreSQL (``pgrest_asgi.testing.PostgresCluster``) with
roles and a database of its own; the server process and the cluster are stopped on the way out,
also on Ctrl+C or SIGTERM. It is a benchmark, not a test: on a shared machine the figures swing;
compare within one run. The exit status is 1 when a goal was missed (marked MISSED).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from pgrest_asgi import Hooks, PgRestApp  # noqa: E402
from pgrest_asgi.observe import Event  # noqa: E402
from pgrest_asgi.testing import PostgresCluster  # noqa: E402

DB = "reliability"
AUTH = "rel_authenticator"
ANON = "rel_anon"
SCHEMA = f"""
CREATE ROLE {AUTH} LOGIN NOINHERIT;
CREATE ROLE {ANON} NOLOGIN;
GRANT {ANON} TO {AUTH};
CREATE SCHEMA api;
GRANT USAGE ON SCHEMA api TO {ANON};
CREATE TABLE api.items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO api.items SELECT g, 'item ' || g FROM generate_series(1, 100) g;
GRANT SELECT ON api.items TO {ANON};
ANALYZE;
"""
#: Every wait has a bound: a request, a reload, a server start.
REQUEST_TIMEOUT = 30.0
RELOAD_TIMEOUT = 10.0
START_TIMEOUT = 60.0
NAMES = ("SEC-47", "SEC-48", "REL-30", "REL-27", "REL-07")


@dataclass
class Figure:
    """One line of the summary."""

    id: str
    what: str
    value: str
    goal: str = ""
    ok: bool | None = None  # None: no goal to meet

    def line(self) -> str:
        verdict = {True: "ok", False: "MISSED", None: ""}[self.ok]
        goal = f" (goal {self.goal})" if self.goal else ""
        return f"{self.id:7} {self.what}: {self.value}{goal} {verdict}".rstrip()


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)
        print(figure.line(), flush=True)


def ms(seconds: float) -> str:
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1000:.1f} ms"


def spread(samples: list[float]) -> str:
    """Median, with min and max, in ms."""
    return (
        f"median {ms(statistics.median(samples))} "
        f"(min {ms(min(samples))}, max {ms(max(samples))}, n={len(samples)})"
    )


class Events:
    """The app's events with the time each arrived (``time.perf_counter``)."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, Event]] = []

    def __call__(self, event: Event) -> None:
        self.seen.append((time.perf_counter(), event))

    def first(self, name: str, after: int = 0) -> float | None:
        return next((at for at, e in self.seen[after:] if e.name == name), None)

    async def wait_for(self, name: str, after: int = 0, timeout: float = RELOAD_TIMEOUT) -> float:
        deadline = time.perf_counter() + timeout
        while (at := self.first(name, after)) is None:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no {name} event within {timeout:.0f} s")
            await asyncio.sleep(0.005)
        return at


@contextlib.asynccontextmanager
async def in_process(
    cluster: PostgresCluster, events: Events | None = None, **settings: Any
) -> AsyncIterator[tuple[PgRestApp, httpx.AsyncClient]]:
    """The app, started (pool, schema cache) and warmed up, with an ``httpx.ASGITransport``
    client."""
    options: dict[str, Any] = {"db_anon_role": ANON, "db_pool": 4}
    options.update(settings)
    app = PgRestApp(
        cluster.dsn(DB, user=AUTH),
        schemas=["api"],
        hooks=Hooks(observer=events or Events()),
        **options,
    )
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=REQUEST_TIMEOUT
        ) as http:
            for _ in range(3):  # warm up: the pool's connection, prepared statements
                resp = await http.get("/items?id=eq.1")
                if resp.status_code != 200:
                    raise RuntimeError(f"warm-up answered {resp.status_code}: {resp.text}")
            yield app, http


async def asgi_get(app: PgRestApp, path: str, query: str) -> tuple[int, bytes]:
    """One GET straight through the ASGI interface: status and body. (httpx refuses URLs over
    64 KiB, and SEC-48's are longer; the same call is used for every timed SEC-47/48 request so
    that they compare.)"""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
    }
    done = asyncio.Event()
    sent_body = False
    status = 0
    body = bytearray()

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()  # the client never leaves before the answer is complete
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    await asyncio.wait_for(app(scope, receive, send), REQUEST_TIMEOUT)  # type: ignore[arg-type]
    done.set()
    return status, bytes(body)


async def timed_requests(
    app: PgRestApp, path: str, query: str, repeat: int
) -> tuple[list[float], Counter[str]]:
    """``repeat`` sequential GETs (after one untimed): times and counts of the answers (status,
    code and the body's size)."""
    await asgi_get(app, path, query)
    times: list[float] = []
    answers: Counter[str] = Counter()
    for _ in range(repeat):
        start = time.perf_counter()
        status, body = await asgi_get(app, path, query)
        times.append(time.perf_counter() - start)
        answers[f"{answer_of(status, body)} ({len(body)}-byte body)"] += 1
    return times, answers


def answer_of(status: int, body: bytes) -> str:
    """``200``, or the status and PostgREST's error code: ``400 PGRST100``."""
    if status < 300:
        return str(status)
    try:
        code = json.loads(body).get("code")
    except ValueError:
        code = "(not JSON)"
    return f"{status} {code}"


def grammar_times(value: list[tuple[str, str]], repeat: int) -> tuple[list[float], str]:
    """The grammar alone on ``value`` (the query string's pairs): times and what it raised."""
    from pgrest_asgi.context import RequestContext
    from pgrest_asgi.errors import ApiRequestError
    from pgrest_asgi.request.grammar import PostgrestGrammar
    from pgrest_asgi.request.model import Target

    grammar = PostgrestGrammar()
    context = RequestContext(method="GET", target=Target("relation", "api", "items"))
    times: list[float] = []
    outcome = "parsed"
    for _ in range(repeat + 1):
        start = time.perf_counter()
        try:
            grammar.parse(context, value)
        except ApiRequestError as error:
            message = error.message if len(error.message) < 60 else error.message[:50] + "…"
            outcome = f"{error.status} {error.code}: {message}"
            if error.details:
                outcome += f" ({error.details})"
        times.append(time.perf_counter() - start)
    return times[1:], outcome


def answers_text(answers: Counter[str]) -> str:
    return ", ".join(f"{n} x {answer}" for answer, n in sorted(answers.items()))


# -- SEC-47 -----------------------------------------------------------------------------------


async def sec47(cluster: PostgresCluster, report: Report, repeat: int) -> None:
    deep = "(" + "or(" * 1000 + "id.eq.1" + ")" * 1001
    times, outcome = grammar_times([("or", deep)], max(repeat, 100))
    report.add(
        Figure(
            "SEC-47",
            f"grammar alone, or= nested 1 000 deep ({outcome})",
            spread(times),
            "< 50 ms",
            statistics.median(times) < 0.050,
        )
    )
    async with in_process(cluster, db_channel_enabled=False) as (app, http):
        query = "or=" + deep
        times, answers = await timed_requests(app, "/items", query, repeat)
        report.add(
            Figure(
                "SEC-47",
                f"app, GET /items?or=<1 000 deep> ({len(query) + 7}-byte URL): "
                + answers_text(answers),
                spread(times),
                "< 50 ms, 400 PGRST100",
                statistics.median(times) < 0.050
                and all(a.startswith("400 PGRST100 ") for a in answers),
            )
        )
        # The same through httpx.ASGITransport (its own cost included).
        await http.get("/items?" + query)
        over_httpx = []
        for _ in range(repeat):
            start = time.perf_counter()
            resp = await http.get("/items?" + query)
            over_httpx.append(time.perf_counter() - start)
            if resp.status_code != 400:
                raise RuntimeError(f"over httpx: {resp.status_code}")
        report.add(Figure("SEC-47", "the same over httpx.ASGITransport", spread(over_httpx)))
        # For scale: a short malformed `or` (400 from the grammar) and a one-row read.
        for what, short in (
            ("or=(id.eq.1 (unclosed), 400", "or=(id.eq.1"),
            ("id=eq.1, 200 with one row", "id=eq.1"),
        ):
            times, answers = await timed_requests(app, "/items", short, repeat)
            report.add(Figure("SEC-47", f"for scale, app, {what}", spread(times)))


# -- SEC-48 -----------------------------------------------------------------------------------


async def sec48(cluster: PostgresCluster, report: Report, repeat: int) -> None:
    flat = "(" + ",".join(f"id.eq.{i}" for i in range(10_000)) + ")"
    columns = ",".join(f"c{i}" for i in range(10_000))
    cases = (
        ("or= of 10 000 terms", "or", flat),
        ("select= of 10 000 columns", "select", columns),
    )
    for what, name, value in cases:
        times, outcome = grammar_times([(name, value)], max(repeat, 50))
        report.add(Figure("SEC-48", f"grammar alone, {what} ({outcome})", spread(times)))
    for limit, expected in ((None, "414 PGRST100"), (1_000_000, "400 PGRST100")):
        settings: dict[str, Any] = {"db_channel_enabled": False}
        if limit is not None:
            settings["server_max_url_length"] = limit
        where = "default URL limit" if limit is None else f"URL limit {limit}"
        async with in_process(cluster, **settings) as (app, _):
            for what, name, value in cases:
                query = f"{name}={value}"
                times, answers = await timed_requests(app, "/items", query, repeat)
                report.add(
                    Figure(
                        "SEC-48",
                        f"app, {where}, {what} ({len(query) + 7}-byte URL): "
                        + answers_text(answers),
                        spread(times),
                        f"quick, {expected}",
                        all(a.startswith(expected + " ") for a in answers)
                        and statistics.median(times) < 0.050,
                    )
                )


# -- REL-30 -----------------------------------------------------------------------------------


async def rel30(cluster: PostgresCluster, report: Report, trials: int) -> None:
    events = Events()
    async with (
        in_process(cluster, events) as (_, http),
        await psycopg.AsyncConnection.connect(cluster.dsn(DB), autocommit=True) as admin,
    ):
        await events.wait_for("listener.listening")
        served: list[float] = []
        loaded: list[float] = []
        for i in range(trials):
            table = f"fresh_{i}_{os.getpid()}"
            await admin.execute(
                f"CREATE TABLE api.{table} (id int); INSERT INTO api.{table} VALUES ({i});"
                f"GRANT SELECT ON api.{table} TO {ANON}"
            )
            resp = await http.get(f"/{table}")
            if resp.status_code != 404:
                raise RuntimeError(f"/{table} before the reload: {resp.status_code}")
            mark = len(events.seen)
            start = time.perf_counter()
            await admin.execute("NOTIFY pgrst, 'reload schema'")
            while True:
                resp = await http.get(f"/{table}")
                if resp.status_code == 200:
                    served.append(time.perf_counter() - start)
                    break
                if time.perf_counter() - start > RELOAD_TIMEOUT:
                    raise TimeoutError(f"/{table} not served {RELOAD_TIMEOUT:.0f} s after NOTIFY")
                await asyncio.sleep(0.005)
            if resp.json() != [{"id": i}]:
                raise RuntimeError(f"/{table}: {resp.text}")
            at = events.first("schema_cache.loaded", mark)
            if at is not None:
                loaded.append(at - start)
            await asyncio.sleep(0.3)  # past the listener's debounce
        report.add(
            Figure(
                "REL-30",
                "reload schema: NOTIFY to the new table served",
                spread(served),
                "< 1 s",
                max(served) < 1.0,
            )
        )
        if loaded:
            report.add(
                Figure("REL-30", "reload schema: NOTIFY to schema_cache.loaded", spread(loaded))
            )

        applied: list[float] = []
        try:
            for i in range(trials):
                rows = 3 + i % 2  # 3, 4, 3, …: every trial changes the setting
                await admin.execute(
                    f"ALTER ROLE {AUTH} IN DATABASE {DB} SET pgrst.db_max_rows = '{rows}'"
                )
                start = time.perf_counter()
                await admin.execute("NOTIFY pgrst, 'reload config'")
                while True:
                    resp = await http.get("/items")
                    if resp.status_code == 200 and len(resp.json()) == rows:
                        applied.append(time.perf_counter() - start)
                        break
                    if time.perf_counter() - start > RELOAD_TIMEOUT:
                        raise TimeoutError(f"db-max-rows {rows} not applied after NOTIFY")
                    await asyncio.sleep(0.005)
                await asyncio.sleep(0.3)
        finally:
            await admin.execute(f"ALTER ROLE {AUTH} IN DATABASE {DB} RESET pgrst.db_max_rows")
        report.add(
            Figure(
                "REL-30",
                "reload config: NOTIFY to db-max-rows applied",
                spread(applied),
                "< 1 s",
                max(applied) < 1.0,
            )
        )


# -- REL-27 -----------------------------------------------------------------------------------


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    admin_port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def serve(cluster: PostgresCluster, workdir: Path) -> Iterator[Server]:
    """A real ``pgrest-asgi serve`` (its own session, so a Ctrl+C reaches only us; we stop it)."""
    env = {
        **os.environ,
        "PGRST_DB_URI": cluster.dsn(DB, user=AUTH),
        "PGRST_DB_SCHEMAS": "api",
        "PGRST_DB_ANON_ROLE": ANON,
        "PGRST_SERVER_HOST": "127.0.0.1",
        "PGRST_SERVER_PORT": "0",
        "PGRST_ADMIN_SERVER_PORT": "0",
        "PGRST_LOG_LEVEL": "warn",
        "PYTHONPATH": str(ROOT),
    }
    log = workdir / "serve.log"
    code = "from pgrest_asgi.cli import main; raise SystemExit(main(['serve']))"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=out, stderr=out, start_new_session=True
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        ports: dict[str, int] = {}
        while len(ports) < 2:
            text = log.read_bytes()
            for kind in ("API", "admin"):
                found = re.search(
                    kind.encode() + rb" server running on http://127\.0\.0\.1:(\d+)", text
                )
                if found:
                    ports[kind] = int(found.group(1))
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pgrest-asgi serve did not start:\n{log.read_text()}")
            time.sleep(0.05)
        server = Server(proc, ports["API"], ports["admin"], log)
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(server.base + "/items?limit=1", timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"pgrest-asgi serve never answered 200:\n{log.read_text()}")
            time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@dataclass
class Answer:
    client: int
    sent: float
    received: float
    status: int  # 0: no HTTP answer (connection error, timeout)
    code: str
    retry_after: str | None


@dataclass
class Sample:
    at: float
    pool: int | None  # the server's pool connections in PostgreSQL; None: not reachable
    listener: int | None
    ready: int | None  # the admin server's /ready status


def connections(cluster: PostgresCluster) -> tuple[int, int] | None:
    """The server's pooled connections and listener connections, by application_name."""
    try:
        with psycopg.connect(cluster.dsn(DB), autocommit=True, connect_timeout=2) as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE application_name = 'pgrest_asgi'),"
                " count(*) FILTER (WHERE application_name = 'pgrest_asgi listener')"
                " FROM pg_stat_activity WHERE datname = %s",
                [DB],
            ).fetchone()
    except psycopg.Error:
        return None
    assert row is not None
    return int(row[0]), int(row[1])


def ready(server: Server) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{server.admin_port}/ready", timeout=2).status_code
    except httpx.HTTPError:
        return None


def wait_accepting(cluster: PostgresCluster, stop: threading.Event, found: list[float]) -> None:
    """Connect every 5 ms until PostgreSQL accepts; the time it first did goes to ``found``."""
    dsn = cluster.dsn(DB)
    while not stop.is_set():
        try:
            with psycopg.connect(dsn, connect_timeout=2):
                found.append(time.monotonic())
                return
        except psycopg.Error:
            time.sleep(0.005)


async def notify_after_return(
    cluster: PostgresCluster, server: Server, deadline: float
) -> tuple[float | None, float | None]:
    """Create a table, ``NOTIFY pgrst, 'reload schema'`` and poll the server for the table
    until ``deadline``: when the notification was sent and when the table was first served."""
    table = f"after_outage_{os.getpid()}"
    try:
        async with await psycopg.AsyncConnection.connect(
            cluster.dsn(DB), autocommit=True, connect_timeout=5
        ) as admin:
            await admin.execute(
                f"CREATE TABLE api.{table} (id int); GRANT SELECT ON api.{table} TO {ANON}"
            )
            notified = time.monotonic()
            await admin.execute("NOTIFY pgrst, 'reload schema'")
    except psycopg.Error as error:
        print(f"REL-30  after the outage: could not notify: {error}", flush=True)
        return None, None
    async with httpx.AsyncClient(base_url=server.base, timeout=REQUEST_TIMEOUT) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"/{table}")).status_code == 200:
                    return notified, time.monotonic()
            await asyncio.sleep(0.05)
    return notified, None


async def rel27(
    cluster: PostgresCluster, report: Report, outage: float, clients: int, pause: float
) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="pgrest-reliability-") as tmp,
        serve(cluster, Path(tmp)) as server,
    ):
        answers: list[Answer] = []
        samples: list[Sample] = []
        stop = asyncio.Event()

        async def client(n: int) -> None:
            async with httpx.AsyncClient(base_url=server.base, timeout=REQUEST_TIMEOUT) as http:
                i = 0
                while not stop.is_set():
                    i += 1
                    sent = time.monotonic()
                    try:
                        resp = await http.get(f"/items?id=eq.{(n * 13 + i) % 100 + 1}")
                        status, code = resp.status_code, ""
                        if status != 200:
                            code = answer_of(status, resp.content).partition(" ")[2]
                        retry_after = resp.headers.get("retry-after")
                    except httpx.HTTPError as error:
                        status, code, retry_after = 0, type(error).__name__, None
                    answers.append(Answer(n, sent, time.monotonic(), status, code, retry_after))
                    await asyncio.sleep(pause)

        async def watch() -> None:
            while not stop.is_set():
                counts = await asyncio.to_thread(connections, cluster)
                status = await asyncio.to_thread(ready, server)
                pool, listener = counts if counts is not None else (None, None)
                samples.append(Sample(time.monotonic(), pool, listener, status))
                await asyncio.sleep(0.25)

        tasks = [asyncio.create_task(client(n)) for n in range(clients)]
        tasks.append(asyncio.create_task(watch()))
        probe_stop = threading.Event()
        try:
            await asyncio.sleep(5.0)  # steady load before the outage
            warm = [s.pool for s in samples if s.pool is not None]
            pool_before = max(warm) if warm else 0
            before = len(answers)
            print(
                f"REL-27  load: {clients} clients, {before / 5:.0f} answers/s before the outage, "
                f"pool {pool_before} connections; stopping PostgreSQL for {outage:.0f} s",
                flush=True,
            )
            stopping = time.monotonic()
            await asyncio.to_thread(cluster.stop_server, "fast")
            stopped = time.monotonic()
            while time.monotonic() < stopped + outage:
                await asyncio.sleep(min(10.0, stopped + outage - time.monotonic()))
                down = [a for a in answers if a.received >= stopping]
                print(
                    f"REL-27  down {time.monotonic() - stopped:4.0f} s: "
                    f"{answers_text(Counter(str(a.status) for a in down))}",
                    flush=True,
                )
            accepted: list[float] = []
            probe = threading.Thread(
                target=wait_accepting, args=(cluster, probe_stop, accepted), daemon=True
            )
            starting = time.monotonic()
            probe.start()
            await asyncio.to_thread(cluster.start_server)
            started = time.monotonic()
            await asyncio.to_thread(probe.join, 30.0)
            accepting = accepted[0] if accepted else started

            # REL-30 just after the return: a new table and a `reload schema` notification,
            # sent as soon as the first 200 is seen.
            deadline = time.monotonic() + 60.0
            while not any(a.status == 200 and a.sent >= accepting for a in answers):
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.01)
            notified, notify_served = await notify_after_return(cluster, server, deadline)

            # Every client served again, the pool back to its size, the listener back.
            deadline = time.monotonic() + 60.0
            while time.monotonic() < deadline:
                served = {a.client for a in answers if a.status == 200 and a.sent >= accepting}
                recent = [s for s in samples if s.at >= accepting and s.pool is not None]
                refilled = any((s.pool or 0) >= pool_before for s in recent)
                listening = any(s.listener for s in recent)
                if len(served) == clients and refilled and listening:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(3.0)  # a little steady load after the return
            log_lines = server.log.read_text(errors="replace").splitlines()
        finally:
            probe_stop.set()
            stop.set()
            await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT + 5)
            for task in tasks:
                task.cancel()

    def since(t: float, *statuses: int) -> float | None:
        hit = [a.received for a in answers if a.received >= t and a.status in statuses]
        return min(hit) - t if hit else None

    outage_answers = [a for a in answers if stopping <= a.received < accepting]
    by_status = Counter(
        f"{a.status} {a.code}".strip() if a.status != 200 else "200" for a in outage_answers
    )
    bad = [a for a in outage_answers if a.status not in (200, 503)]
    no_retry_after = [a for a in outage_answers if a.status == 503 and not a.retry_after]
    slow_503 = [a.received - a.sent for a in outage_answers if a.status == 503]
    retry_after = Counter(a.retry_after for a in outage_answers if a.status == 503)
    print(
        "REL-27  Retry-After of the 503s while down: "
        + ", ".join(f"{v!s}: {n}" for v, n in retry_after.most_common()),
        flush=True,
    )
    report.add(
        Figure(
            "REL-27",
            f"answers while down ({accepting - stopping:.1f} s from pg_ctl stop to accepting)",
            answers_text(by_status) or "none",
            "only 200 and 503 with Retry-After",
            not bad and not no_retry_after and bool(outage_answers),
        )
    )
    if slow_503:
        report.add(
            Figure(
                "REL-27",
                "time to answer a 503 while down",
                f"median {ms(statistics.median(slow_503))}, max {ms(max(slow_503))}",
            )
        )
    first = since(accepting, 200)
    if first is not None:
        between = Counter(
            f"{a.status} {a.code}".strip()
            for a in answers
            if accepting <= a.received < accepting + first and a.status != 200
        )
        print(
            f"REL-27  answers after PostgreSQL was back, before the first 200: "
            f"{answers_text(between) or 'none'}",
            flush=True,
        )
    first_each = []
    for n in range(clients):
        hit = [
            a.received for a in answers if a.client == n and a.status == 200 and a.sent >= accepting
        ]
        if hit:
            first_each.append(min(hit) - accepting)
    report.add(
        Figure(
            "REL-27",
            "PostgreSQL accepting again to the first 200",
            "never" if first is None else ms(first),
            "within the back-off cap (probes at least once a second)",
            first is not None and first < 1.5,
        )
    )
    report.add(
        Figure(
            "REL-27",
            f"to every client's first 200 ({len(first_each)} of {clients})",
            "never" if len(first_each) < clients else ms(max(first_each)),
        )
    )
    report.add(
        Figure(
            "REL-27",
            "pg_ctl start: begun to accepting / to returning",
            f"{ms(accepting - starting)} / {ms(started - starting)}",
        )
    )
    after = [s for s in samples if s.at >= accepting and s.pool is not None]
    refill = next((s.at - accepting for s in after if (s.pool or 0) >= pool_before), None)
    pool_after = max((s.pool for s in after if s.pool is not None), default=0)
    report.add(
        Figure(
            "REL-27",
            f"pool: {pool_before} connections before, {pool_after} at most after",
            "never refilled" if refill is None else f"back to {pool_before} after {refill:.2f} s",
            "refilled, at most pool + listener",
            refill is not None and pool_after <= 10,
        )
    )
    listener_back = next((s.at - accepting for s in after if s.listener), None)
    ready_back = next((s.at - accepting for s in after if s.ready == 200), None)
    report.add(
        Figure(
            "REL-27",
            "schema listener connected again / admin /ready 200 again",
            ("never" if listener_back is None else f"{listener_back:.2f} s")
            + " / "
            + ("never" if ready_back is None else f"{ready_back:.2f} s"),
            "listener within its 32 s back-off cap",
            listener_back is not None and listener_back <= 33.0,
        )
    )
    if notified is not None:
        report.add(
            Figure(
                "REL-30",
                f"after the {outage:.0f} s outage: a new table, NOTIFY sent "
                f"{notified - accepting:.2f} s after PostgreSQL was back, served",
                "never (60 s)"
                if notify_served is None
                else f"{notify_served - notified:.2f} s after the NOTIFY",
                "< 1 s",
                notify_served is not None and notify_served - notified < 1.0,
            )
        )
    total = Counter(str(a.status) for a in answers)
    print(f"REL-27  all answers of the run: {answers_text(total)}", flush=True)
    print(f"REL-27  server log ({len(log_lines)} lines), its last lines:", flush=True)
    for line in log_lines[-8:]:
        print(f"          {line[:200]}", flush=True)


# -- REL-07 -----------------------------------------------------------------------------------


def rel07(report: Report) -> None:
    report.add(
        Figure(
            "REL-07",
            "soak: a test, not measured here; run",
            "PGREST_SOAK_SECONDS=1800 .venv/bin/python -m pytest -s "
            "tests/integration/test_soak.py (prints requests, RSS and connections)",
        )
    )


# -- main -------------------------------------------------------------------------------------


def name(value: str) -> str:
    upper = value.upper()
    if upper not in NAMES:
        raise argparse.ArgumentTypeError(f"one of {', '.join(NAMES)}")
    return upper


async def measure(cluster: PostgresCluster, args: argparse.Namespace, report: Report) -> None:
    steps: dict[str, Callable[[], Any]] = {
        "SEC-47": lambda: sec47(cluster, report, args.repeat),
        "SEC-48": lambda: sec48(cluster, report, args.repeat),
        "REL-30": lambda: rel30(cluster, report, args.reloads),
        "REL-27": lambda: rel27(cluster, report, args.outage_seconds, args.clients, args.pause),
    }
    for step, run in steps.items():
        if args.only in (None, step):
            await run()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", type=name, metavar="NAME", help=", ".join(NAMES))
    parser.add_argument("--outage-seconds", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per case")
    parser.add_argument("--reloads", type=int, default=10, help="NOTIFYs per reload kind")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients in REL-27")
    parser.add_argument(
        "--pause", type=float, default=0.01, help="seconds each REL-27 client waits between reads"
    )
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl+C, so the server process and the cluster are stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    report = Report()
    started = time.monotonic()
    print(f"pgrest_asgi reliability bench; {os.cpu_count()} CPUs, load {os.getloadavg()}")
    cluster = PostgresCluster()
    try:
        if args.only in (None, "SEC-47", "SEC-48", "REL-30", "REL-27"):
            cluster.start()
            cluster.create_database(DB)
            cluster.run_sql(SCHEMA, dbname=DB)
            cluster.run_sql("CHECKPOINT", dbname=DB)
            asyncio.run(measure(cluster, args, report))
        if args.only in (None, "REL-07"):
            rel07(report)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping", file=sys.stderr)
        return 130
    finally:
        cluster.stop()
    print(f"\n== summary ({time.monotonic() - started:.0f} s, load {os.getloadavg()})")
    for figure in report.figures:
        print(figure.line())
    missed = [f for f in report.figures if f.ok is False]
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
