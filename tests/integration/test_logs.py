"""The access log and ``log-query`` through a real app (``ASGITransport``), read back from
``LogfmtFormatter`` lines: the fields a request's line carries, PostgREST's ``log-level``
filter, and how a host's observer gets the same events."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from pgrest_asgi import Event, Hooks, LogfmtFormatter, Settings, configure_logging
from tests.conftest import make_token
from tests.unit.test_observe import UTC, parse

pytestmark = pytest.mark.db


class Captured:
    """The ``pgrest_asgi`` logger writing logfmt lines to memory, at a level of the test's."""

    def __init__(self) -> None:
        self.out = io.StringIO()
        self.logger = logging.getLogger("pgrest_asgi")

    def level(self, level: int) -> None:
        self.logger.setLevel(level)

    def lines(self, event: str | None = None) -> list[dict[str, str]]:
        parsed = [parse(line) for line in self.out.getvalue().splitlines()]
        return [p for p in parsed if event is None or p.get("event") == event]

    def clear(self) -> None:
        self.out.seek(0)
        self.out.truncate()


@pytest.fixture
def captured() -> Iterator[Captured]:
    capture = Captured()
    logger = capture.logger
    level, handlers = logger.level, list(logger.handlers)
    handler = logging.StreamHandler(capture.out)
    handler.setFormatter(LogfmtFormatter(UTC))
    logger.handlers = [handler]
    try:
        yield capture
    finally:
        logger.handlers = handlers
        logger.setLevel(level)


# -- the access log ----------------------------------------------------------------------------
async def test_one_line_per_request_with_role_size_and_client(
    app_factory: Any, captured: Captured
) -> None:
    captured.level(logging.INFO)
    async with app_factory() as (_, http):
        agent = {"User-Agent": "test agent/1.0"}
        ok = await http.get("/items?id=eq.1&select=id", headers=agent)
        token = make_token({"role": "web_user"})
        user = await http.get("/items?id=eq.2", headers={"Authorization": f"Bearer {token}"})
        missing = await http.get("/nope")
        bad = await http.get("/items", headers={"Authorization": "Bearer not.a.token"})
        head = await http.head("/items")
    assert [r.status_code for r in (ok, user, missing, bad, head)] == [200, 200, 404, 401, 200]
    lines = captured.lines("request")
    assert len(lines) == 5
    first = lines[0]
    duration = float(first.pop("duration_ms"))
    assert 0 < duration < 60_000
    assert first.pop("time")
    assert first == {
        "level": "info",
        "event": "request",
        "msg": "GET /items?id=eq.1&select=id 200",
        "method": "GET",
        "path": "/items?id=eq.1&select=id",
        "status": "200",
        "bytes": str(len(ok.content)),
        "role": "web_anon",
        "client": "127.0.0.1",
        "user_agent": "test agent/1.0",
    }
    assert (lines[1]["role"], lines[1]["bytes"]) == ("web_user", str(len(user.content)))
    assert (lines[2]["level"], lines[2]["status"], lines[2]["role"]) == (
        "warning",
        "404",
        "web_anon",
    )
    # Refused before a role was known.
    assert (lines[3]["level"], lines[3]["status"], lines[3]["role"]) == ("warning", "401", "-")
    # HEAD: no body was sent.
    assert (lines[4]["method"], lines[4]["bytes"]) == ("HEAD", "0")


@pytest.mark.parametrize(
    ("level", "logged"),
    [
        (logging.DEBUG, ["200", "404"]),
        (logging.INFO, ["200", "404"]),  # log-level = info
        (logging.WARNING, ["404"]),  # warn: 4xx and 5xx, as PostgREST
        (logging.ERROR, []),  # error: 5xx only
        (logging.CRITICAL, []),  # crit: no request
    ],
)
async def test_log_level_filters_requests_as_postgrest(
    app_factory: Any, captured: Captured, level: int, logged: list[str]
) -> None:
    captured.level(level)
    async with app_factory() as (_, http):
        await http.get("/items?id=eq.1")
        await http.get("/nope")
    assert [line["status"] for line in captured.lines("request")] == logged


async def test_no_event_is_built_for_a_quiet_logger(
    app_factory: Any, captured: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Event] = []
    original = Event.request

    def counting(**fields: Any) -> Event:
        event = original(**fields)
        built.append(event)
        return event

    monkeypatch.setattr(Event, "request", counting)
    captured.level(logging.ERROR)
    async with app_factory() as (_, http):
        for _ in range(3):
            assert (await http.get("/items?id=eq.1")).status_code == 200
        assert built == []
        assert (await http.get("/nope")).status_code == 404
        assert built == []
        captured.level(logging.WARNING)
        assert (await http.get("/nope")).status_code == 404
        assert [e.fields["status"] for e in built] == [404]


async def test_a_hosts_observer_gets_every_request(app_factory: Any, captured: Captured) -> None:
    captured.level(logging.CRITICAL)  # the logger's level is not the host's business
    seen: list[Event] = []
    async with app_factory(hooks=Hooks(observer=seen.append)) as (_, http):
        resp = await http.get("/items?id=eq.1", headers={"User-Agent": "ua"})
    (request,) = [e for e in seen if e.name == "request"]
    assert request.level == "info"
    assert {k: v for k, v in request.fields.items() if k != "duration_ms"} == {
        "method": "GET",
        "path": "/items?id=eq.1",
        "status": 200,
        "bytes": len(resp.content),
        "role": "web_anon",
        "client": "127.0.0.1",
        "user_agent": "ua",
    }
    assert captured.lines() == []


# -- log-query -----------------------------------------------------------------------------------
async def test_log_query_sql_and_duration(app_factory: Any, captured: Captured) -> None:
    captured.level(logging.INFO)
    async with app_factory(log_query=True) as (_, http):
        assert (await http.get("/items?id=eq.1", headers={"Prefer": "count=planned"})).status_code
    queries = captured.lines("query")
    assert [q["what"] for q in queries] == ["settings", "main", "count"]
    assert all(q["level"] == "info" and float(q["duration_ms"]) > 0 for q in queries)
    assert "set_config" in queries[0]["sql"]
    assert '"api"."items"' in queries[1]["sql"] and "$1" in queries[1]["sql"]
    assert "params" not in queries[1]  # values only at debug
    # The request's own line follows its statements.
    assert [line["event"] for line in captured.lines()][-1] == "request"


async def test_log_query_parameters_at_debug(app_factory: Any, captured: Captured) -> None:
    captured.level(logging.DEBUG)
    async with app_factory(log_query=True) as (_, http):
        await http.get("/items?id=eq.1")
    main = next(q for q in captured.lines("query") if q["what"] == "main")
    assert "1" in parse(f"p={main['params']}")["p"]
    settings = next(q for q in captured.lines("query") if q["what"] == "settings")
    assert "web_anon" in settings["params"]


async def test_log_query_follows_the_outcome(app_factory: Any, captured: Captured) -> None:
    captured.level(logging.WARNING)  # log-level = warn: statements of failed requests only
    async with app_factory(log_query=True) as (_, http):
        assert (await http.get("/items?id=eq.1")).status_code == 200
        assert captured.lines("query") == []
        denied = await http.post("/items", json={"id": 99})
        assert denied.status_code == 401
    queries = captured.lines("query")
    assert [q["what"] for q in queries] == ["settings", "main"]
    assert {q["level"] for q in queries} == {"warning"}
    assert "INSERT INTO" in queries[1]["sql"]


async def test_without_log_query_no_sql(app_factory: Any, captured: Captured) -> None:
    captured.level(logging.DEBUG)
    async with app_factory() as (_, http):
        await http.get("/items?id=eq.1")
    assert captured.lines("query") == []
    assert len(captured.lines("request")) == 1


# -- configure_logging ---------------------------------------------------------------------------
async def test_configure_logging_as_pgrest_asgi_serve_does(app_factory: Any) -> None:
    logger = logging.getLogger("pgrest_asgi")
    level, handlers = logger.level, list(logger.handlers)
    logger.handlers = []
    out = io.StringIO()
    try:
        configure_logging(Settings(log_level="info"), stream=out)
        configure_logging(Settings(log_level="info"), stream=out)  # a reload: no second handler
        async with app_factory() as (_, http):
            out.seek(0)
            out.truncate()
            await http.get("/items?id=eq.1")
        lines = [parse(line) for line in out.getvalue().splitlines()]
        assert [(line["event"], line["status"]) for line in lines if "status" in line] == [
            ("request", "200")
        ]
    finally:
        logger.handlers = handlers
        logger.setLevel(level)
