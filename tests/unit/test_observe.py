"""Events, the default observer and the log line (logfmt): exact lines with a fixed clock."""

from __future__ import annotations

import datetime
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from pgrest_asgi import Event, LogfmtFormatter, LoggingObserver, Settings, configure_logging
from pgrest_asgi.observe import log_observer, logfmt_value, status_level, wanted

#: 2025-02-17T22:28:15.123Z
CREATED = 1739831295.123456
UTC = datetime.UTC
EST = datetime.timezone(datetime.timedelta(hours=-5))
_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)(?: |$)')


def parse(line: str) -> dict[str, str]:
    """A logfmt line back into its pairs (quoted values are JSON strings)."""
    assert "\n" not in line
    pairs = {}
    position = 0
    for match in _PAIR.finditer(line):
        assert match.start() == position, f"unparsed text at {position}: {line[position:]!r}"
        key, value = match.groups()
        pairs[key] = json.loads(value) if value.startswith('"') else value
        position = match.end()
    assert position == len(line)
    return pairs


class Fixed(logging.Filter):
    """The clock seam: every record is stamped ``CREATED``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.created = CREATED
        return True


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """``pgrest_asgi`` at DEBUG writing LogfmtFormatter lines (UTC, fixed clock) to a buffer;
    the logger is put back as it was afterwards."""
    logger = logging.getLogger("pgrest_asgi")
    level, handlers = logger.level, list(logger.handlers)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(LogfmtFormatter(UTC))
    handler.addFilter(Fixed())
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        logger.handlers = handlers
        logger.setLevel(level)


def written(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


# -- values -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", "plain"),
        ("/items", "/items"),
        # "=" is quoted: strict logfmt parsers read it as the start of a value.
        ("/items?id=eq.1", '"/items?id=eq.1"'),
        ("two words", '"two words"'),
        ("", '""'),
        (None, ""),
        (True, "true"),
        (False, "false"),
        (200, "200"),
        (1.5, "1.5"),
        (["db-max-rows", "db-schemas"], "db-max-rows,db-schemas"),
        ('say "hi"', '"say \\"hi\\""'),
        ("a=b", '"a=b"'),
        ("back\\slash", '"back\\\\slash"'),
        ("line\nbreak", '"line\\nbreak"'),
        ("tab\there", '"tab\\there"'),
        ("bell\x07", '"bell\\u0007"'),
        ("nel\x85sep\u2028par\u2029", '"nel\\u0085sep\\u2028par\\u2029"'),
        ("ünïcode", "ünïcode"),
        (b"bytes", "bytes"),
    ],
)
def test_logfmt_values(value: Any, text: str) -> None:
    assert logfmt_value(value) == text


@pytest.mark.parametrize(
    "hostile", ["x\ny=1", 'a" b="c', "\r\n", "\u2028injected", "\\", " ", "=", '"']
)
def test_a_value_never_breaks_the_line_or_makes_a_pair(hostile: str) -> None:
    line = LogfmtFormatter(UTC).format(_record(Event(name="e", message=hostile)))
    assert parse(line)["msg"] == hostile
    assert len(line.splitlines()) == 1


def _record(event: Event, name: str = "pgrest_asgi") -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, "%s", ("x",), None)
    record.created = CREATED
    record.event = event
    return record


# -- the formatter ------------------------------------------------------------------------------
def test_an_event_line() -> None:
    event = Event.request(
        method="GET",
        path="/items?select=id,name&id=eq.1",
        status=200,
        size=56,
        role="web_anon",
        seconds=0.0015234,
        client="127.0.0.1",
        user_agent="curl/8.7.1",
    )
    assert LogfmtFormatter(UTC).format(_record(event)) == (
        "time=2025-02-17T22:28:15.123+00:00 level=info event=request"
        ' msg="GET /items?select=id,name&id=eq.1 200" method=GET'
        ' path="/items?select=id,name&id=eq.1" status=200 bytes=56 role=web_anon'
        " duration_ms=1.523 client=127.0.0.1 user_agent=curl/8.7.1"
    )


def test_the_time_has_the_zone_offset_and_milliseconds() -> None:
    line = LogfmtFormatter(EST).format(_record(Event(name="e", message="m")))
    assert line == "time=2025-02-17T17:28:15.123-05:00 level=info event=e msg=m"
    # The local zone by default: the same instant.
    local = parse(LogfmtFormatter().format(_record(Event(name="e", message="m"))))["time"]
    assert datetime.datetime.fromisoformat(local).timestamp() == pytest.approx(1739831295.123)


def test_a_record_that_is_not_an_event() -> None:
    record = logging.LogRecord(
        "pgrest_asgi.config",
        logging.WARNING,
        __file__,
        1,
        "retired: %s",
        ("db-pool-timeout",),
        None,
    )
    record.created = CREATED
    assert LogfmtFormatter(UTC).format(record) == (
        "time=2025-02-17T22:28:15.123+00:00 level=warning logger=pgrest_asgi.config"
        ' msg="retired: db-pool-timeout"'
    )


def test_an_exception_stays_on_the_line() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        import sys

        record = logging.LogRecord("h", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    record.created = CREATED
    line = LogfmtFormatter(UTC).format(record)
    fields = parse(line)
    assert fields["msg"] == "failed"
    assert fields["exc"].startswith("Traceback (most recent call last):")
    assert fields["exc"].endswith("ValueError: boom\nsecond line")


# -- events -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "level"),
    [
        (200, "info"),
        (204, "info"),
        (301, "info"),
        (404, "warning"),
        (401, "warning"),
        (500, "error"),
        (503, "error"),
    ],
)
def test_requests_log_at_postgrests_levels(status: int, level: str) -> None:
    assert status_level(status) == level
    event = Event.request(method="GET", path="/", status=status, size=0, role="-", seconds=0.0)
    assert event.level == level


def test_query_event() -> None:
    event = Event.query(sql="SELECT 1", seconds=0.002, status=404, what="main", params='["1"]')
    assert (event.name, event.level, event.message) == ("query", "warning", "main statement")
    assert event.fields == {
        "what": "main",
        "duration_ms": 2.0,
        "sql": "SELECT 1",
        "params": '["1"]',
    }
    quiet = Event.query(sql="SELECT 1", seconds=0.002, status=200)
    assert "params" not in quiet.fields


def test_existing_constructors_keep_their_shape() -> None:
    assert Event.config_loaded(("db-schemas",)).fields == {"changed": ["db-schemas"]}
    assert Event.config_needs_restart(("db-pool",)).level == "warning"
    assert Event.unhandled(RuntimeError("x"), "/p").level == "error"
    assert Event.request_cancelled("/p").name == "request.cancelled"
    assert Event.config_reload_failed(RuntimeError("why")).message.endswith(": why")


# -- the default observer ------------------------------------------------------------------------
def test_log_observer_writes_one_line_per_event_on_its_logger(lines: io.StringIO) -> None:
    names: list[str] = []

    class Names(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            names.append(record.name)
            return True

    logging.getLogger("pgrest_asgi").handlers[0].addFilter(Names())
    log_observer(Event(name="schema_cache.loaded", message="loaded", fields={"tables": 3}))
    log_observer(
        Event.request(method="HEAD", path="/x", status=404, size=0, role="web_anon", seconds=0.001)
    )
    log_observer(Event.query(sql="SELECT $1", seconds=0.001, status=200))
    assert written(lines) == [
        "time=2025-02-17T22:28:15.123+00:00 level=info event=schema_cache.loaded msg=loaded"
        " tables=3",
        'time=2025-02-17T22:28:15.123+00:00 level=warning event=request msg="HEAD /x 404"'
        " method=HEAD path=/x status=404 bytes=0 role=web_anon duration_ms=1.0 client="
        " user_agent=",
        'time=2025-02-17T22:28:15.123+00:00 level=info event=query msg="main statement"'
        ' what=main duration_ms=1.0 sql="SELECT $1"',
    ]
    assert names == ["pgrest_asgi", "pgrest_asgi.access", "pgrest_asgi.query"]


def test_fields_become_record_attributes_unless_they_clash(lines: io.StringIO) -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            seen.append(record)
            return True

    logging.getLogger("pgrest_asgi").handlers[0].addFilter(Keep())
    # "name", "msg" and "message" are LogRecord's own: logging would raise on them.
    log_observer(
        Event(name="e", message="m", fields={"name": "x", "msg": "y", "message": "z", "k": 1})
    )
    (record,) = seen
    assert (record.name, record.getMessage(), record.k) == ("pgrest_asgi", "e: m", 1)  # type: ignore[attr-defined]
    assert parse(written(lines)[0])["name"] == "x"


def test_the_level_filters_events(lines: io.StringIO) -> None:
    logging.getLogger("pgrest_asgi").setLevel(logging.WARNING)
    log_observer(Event(name="quiet", message="m"))
    log_observer(Event(name="loud", message="m", level="error"))
    assert [parse(line)["event"] for line in written(lines)] == ["loud"]


def test_wanted() -> None:
    access = logging.getLogger("pgrest_asgi.access")
    logger = logging.getLogger("pgrest_asgi")
    level = logger.level
    try:
        logger.setLevel(logging.ERROR)
        assert not wanted(log_observer, access, logging.INFO)
        assert wanted(log_observer, access, logging.ERROR)
        # A host's observer takes every event: it routes them itself.
        assert wanted(lambda event: None, access, logging.DEBUG)
        # A LoggingObserver logs: like log_observer, it takes what would be written.
        assert not wanted(LoggingObserver(), access, logging.INFO)
        assert wanted(LoggingObserver(), access, logging.ERROR)
    finally:
        logger.setLevel(level)


def test_logging_observer_logs_then_hands_over(lines: io.StringIO) -> None:
    handled: list[Event] = []
    observer = LoggingObserver({"config.loaded": handled.append})
    loaded = Event.config_loaded(("log-level",))
    observer(loaded)
    observer(Event(name="other", message="m"))
    assert handled == [loaded]
    assert [parse(line)["event"] for line in written(lines)] == ["config.loaded", "other"]


# -- configure_logging ---------------------------------------------------------------------------
@pytest.fixture
def bare_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("pgrest_asgi")
    level, handlers = logger.level, list(logger.handlers)
    logger.handlers = []
    try:
        yield logger
    finally:
        logger.handlers = handlers
        logger.setLevel(level)


@pytest.mark.parametrize(
    ("log_level", "level"),
    [
        ("crit", logging.CRITICAL),
        ("error", logging.ERROR),
        ("warn", logging.WARNING),
        ("info", logging.INFO),
        ("debug", logging.DEBUG),
    ],
)
def test_configure_logging_maps_postgrests_levels(
    bare_logger: logging.Logger, log_level: Any, level: int
) -> None:
    configure_logging(Settings(log_level=log_level), stream=io.StringIO())
    assert bare_logger.level == level


def test_configure_logging_twice_adds_no_handler(bare_logger: logging.Logger) -> None:
    out = io.StringIO()
    handler = configure_logging(Settings(log_level="error"), stream=out)
    assert isinstance(handler.formatter, LogfmtFormatter)
    # A configuration reload: the level changes, the handler stays the only one.
    assert configure_logging(Settings(log_level="info"), stream=io.StringIO()) is handler
    assert bare_logger.handlers == [handler]
    assert bare_logger.level == logging.INFO
    log_observer(Event(name="config.loaded", message="configuration reloaded: db-schemas"))
    fields = parse(out.getvalue().strip())
    assert (fields["level"], fields["event"]) == ("info", "config.loaded")


def test_configure_logging_keeps_a_hosts_handler(bare_logger: logging.Logger) -> None:
    theirs = logging.NullHandler()
    bare_logger.addHandler(theirs)
    assert configure_logging(Settings(log_level="warn")) is theirs
    assert bare_logger.handlers == [theirs]
    assert bare_logger.level == logging.WARNING
