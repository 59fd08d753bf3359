"""One event type for logs and metrics: every notable thing the library does emits an ``Event``.

A host passes ``hooks=Hooks(observer=...)`` to ``PgRestApp`` to route events to its metrics
or audit system; the default, ``log_observer``, writes them to the ``pgrest_asgi`` loggers:

- ``pgrest_asgi.access``: one ``request`` event per answered request (the access log);
- ``pgrest_asgi.query``: ``query`` events, the SQL of each request (``log-query``);
- ``pgrest_asgi``: everything else (schema cache, pool, listener, configuration …).

Per-request events are only built when someone takes them: always for a host's observer, and
for the default one (or a ``LoggingObserver``: the default plus handlers of chosen events)
only when its logger is enabled for the event's level (``wanted``), so a quiet logger costs
one ``isEnabledFor`` per request.

``LogfmtFormatter`` writes one line per event, ``key=value`` pairs (logfmt) that a person can
read and a machine can parse; ``configure_logging(settings)`` applies PostgREST's
``log-level`` to the ``pgrest_asgi`` logger and installs that formatter on stderr.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import msgspec

if TYPE_CHECKING:
    from .settings import Settings

__all__ = [
    "Event",
    "LogfmtFormatter",
    "LoggingObserver",
    "Observer",
    "configure_logging",
    "log_observer",
    "status_level",
    "wanted",
]

Level = Literal["debug", "info", "warning", "error", "critical"]


def status_level(status: int) -> Level:
    """The level of a request's events, as PostgREST filters its access and query logs by
    ``log-level``: 5xx at ``error``, 4xx at ``warning``, the rest at ``info``."""
    return "error" if status >= 500 else "warning" if status >= 400 else "info"


class Event(msgspec.Struct, frozen=True, kw_only=True):
    #: A stable dotted name, e.g. ``schema_cache.loaded``, ``pool.timeout``, ``app.lazy_start``.
    name: str
    message: str
    level: Level = "info"
    fields: dict[str, Any] = msgspec.field(default_factory=dict)

    @classmethod
    def request(
        cls,
        *,
        method: str,
        path: str,
        status: int,
        size: int,
        role: str,
        seconds: float,
        client: str | None = None,
        user_agent: str | None = None,
    ) -> Event:
        """The access log: a request was answered. ``path`` includes the query string,
        ``size`` is the body's length in bytes as sent, ``role`` the database role the request
        ran as (``-`` when it was answered before authentication)."""
        return cls(
            name="request",
            message=f"{method} {path} {status}",
            level=status_level(status),
            fields={
                "method": method,
                "path": path,
                "status": status,
                "bytes": size,
                "role": role,
                "duration_ms": round(seconds * 1000, 3),
                "client": client,
                "user_agent": user_agent,
            },
        )

    @classmethod
    def query(
        cls,
        *,
        sql: str,
        seconds: float,
        status: int,
        what: str = "main",
        params: str | None = None,
    ) -> Event:
        """``log-query``: a statement a request's transaction ran. ``what`` says which
        (``settings``, ``pre-request``, ``extra``, ``main``, ``count``); ``seconds`` is the
        whole transaction's time; ``status`` the outcome (sets the level as for ``request``);
        ``params`` the parameter values as JSON (given only at ``debug``)."""
        fields: dict[str, Any] = {
            "what": what,
            "duration_ms": round(seconds * 1000, 3),
            "sql": sql,
        }
        if params is not None:
            fields["params"] = params
        return cls(
            name="query",
            message=f"{what} statement",
            level=status_level(status),
            fields=fields,
        )

    @classmethod
    def request_cancelled(cls, path: object) -> Event:
        """The client left before its answer; its transaction was cancelled."""
        message = "the client disconnected; its transaction was cancelled"
        return cls(name="request.cancelled", message=message, fields={"path": path})

    @classmethod
    def unhandled(cls, exc: BaseException, path: object) -> Event:
        """An exception no stage turned into an error response (answered 500)."""
        return cls(name="app.unhandled", message=repr(exc), level="error", fields={"path": path})

    @classmethod
    def config_loaded(cls, changed: tuple[str, ...]) -> Event:
        """A configuration reload applied; ``changed`` names the settings that differ."""
        what = ", ".join(changed) if changed else "nothing changed"
        return cls(
            name="config.loaded",
            message=f"configuration reloaded: {what}",
            fields={"changed": list(changed)},
        )

    @classmethod
    def config_reload_failed(cls, exc: BaseException) -> Event:
        """A configuration reload failed; the running configuration stays."""
        reason = str(exc).strip() or type(exc).__name__
        return cls(
            name="config.failed",
            message=f"configuration reload failed, the running configuration stays: {reason}",
            level="error",
        )

    @classmethod
    def config_needs_restart(cls, names: tuple[str, ...]) -> Event:
        """Changed settings that only a restart applies."""
        return cls(
            name="config.restart_needed",
            message=f"changed settings take effect at the next start: {', '.join(names)}",
            level="warning",
            fields={"settings": list(names)},
        )


Observer = Callable[[Event], None]

_logger = logging.getLogger("pgrest_asgi")
#: The access log (``request`` events) and the SQL of requests (``query`` events): children
#: of ``pgrest_asgi``, so its level applies to them unless a host sets theirs.
access_logger = logging.getLogger("pgrest_asgi.access")
query_logger = logging.getLogger("pgrest_asgi.query")
_LOGGER_OF_EVENT = {"request": access_logger, "query": query_logger}

LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
#: PostgREST's ``log-level`` → the ``pgrest_asgi`` logger's level.
LOG_LEVELS: dict[str, int] = {
    "crit": logging.CRITICAL,
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}
#: Attributes of a ``LogRecord``: event fields by these names are not copied onto records.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime", "event"}
)


def log_observer(event: Event) -> None:
    """The default observer: one log record per event, on ``pgrest_asgi.access`` (requests),
    ``pgrest_asgi.query`` (SQL) or ``pgrest_asgi``. The record's message is ``name: message``;
    the event is ``record.event`` and its fields are attributes of the record too."""
    logger = _LOGGER_OF_EVENT.get(event.name, _logger)
    level = LEVELS[event.level]
    if not logger.isEnabledFor(level):
        return
    extra = {k: v for k, v in event.fields.items() if k not in _RECORD_ATTRIBUTES}
    extra["event"] = event
    logger.log(level, "%s: %s", event.name, event.message, extra=extra)


class LoggingObserver:
    """``log_observer`` plus handlers of chosen events, e.g.
    ``LoggingObserver({"config.loaded": on_reload, "db.unreachable": on_outage})``: every
    event is logged as ``log_observer`` logs it, then given to its handler if it has one.

    Unlike any other observer it keeps ``log_observer``'s economy: per-request events
    (``request``, ``query``) are only built when their logger would write them, so a handler
    of those sees exactly the ones that are logged.
    """

    def __init__(self, handlers: Mapping[str, Observer] | None = None) -> None:
        self.handlers = dict(handlers or {})

    def __call__(self, event: Event) -> None:
        log_observer(event)
        handler = self.handlers.get(event.name)
        if handler is not None:
            handler(event)


def wanted(observer: Observer, logger: logging.Logger, level: int) -> bool:
    """Whether a per-request event at ``level`` is worth building: always for a host's
    observer (it routes events itself); for ``log_observer`` (or a ``LoggingObserver``)
    only when ``logger`` would write it. One ``isEnabledFor`` (cached by ``logging``) per
    request."""
    if observer is log_observer or type(observer) is LoggingObserver:
        return logger.isEnabledFor(level)
    return True


# -- the log line ------------------------------------------------------------------------------
_NEEDS_QUOTES = re.compile(r'[\s"=\\\x00-\x1f\x7f-\x9f\u2028\u2029]')
_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def logfmt_value(value: Any) -> str:
    """A value as logfmt writes it: bare when it can be, else a JSON string (quotes,
    backslashes and every control or line-breaking character escaped: one line, always).
    ``None`` is empty (``key=``), lists and tuples are joined with commas."""
    kind = type(value)
    text: str
    if kind is str:
        text = value
    elif kind is int or kind is float:
        return repr(value)
    elif value is None:
        return ""
    elif kind is bool:
        return "true" if value else "false"
    elif isinstance(value, (int, float)):
        return repr(value)
    elif isinstance(value, (list, tuple)):
        text = ",".join(str(v) for v in value)
    elif isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
    else:
        text = str(value)
    if text and _NEEDS_QUOTES.search(text) is None:
        return text
    quoted = json.dumps(text, ensure_ascii=False)
    for char, escaped in _LINE_BREAKS.items():
        if char in quoted:
            quoted = quoted.replace(char, escaped)
    return quoted


def logfmt(pairs: Any) -> str:
    """``key=value`` pairs (an iterable of 2-tuples) as one logfmt line."""
    return " ".join(f"{key}={logfmt_value(value)}" for key, value in pairs)


class LogfmtFormatter(logging.Formatter):
    """One line per record: ``time=… level=… event=… msg=…`` then the event's fields.

    ``time`` is ISO 8601 with milliseconds and the UTC offset (``tz``: the local zone by
    default); a record that is not an event (another ``pgrest_asgi`` logger, a host's) gets
    ``logger=<name>`` in place of ``event``. An exception is appended as ``exc=…`` on the
    same line. For example::

        time=2025-02-17T17:28:15.123-05:00 level=info event=request msg="GET /items 200"
        method=GET path=/items status=200 bytes=56 role=web_anon duration_ms=1.52
        client=127.0.0.1 user_agent=curl/8.7.1
    """

    def __init__(self, tz: datetime.tzinfo | None = None) -> None:
        super().__init__()
        self.tz = tz
        #: (second, "YYYY-MM-DDTHH:MM:SS", "+HH:MM") of the last record: the date, time and
        #: offset are formatted once a second, the milliseconds for every record.
        self._second: tuple[int, str, str] = (-1, "", "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        created = record.created
        whole = int(created)
        second, head, offset = self._second
        if whole != second:
            moment = datetime.datetime.fromtimestamp(whole, self.tz)
            if self.tz is None:
                moment = moment.astimezone()
            text = moment.isoformat(timespec="seconds")
            head, offset = text[:19], text[19:]
            self._second = (whole, head, offset)
        return f"{head}.{int((created - whole) * 1000):03d}{offset}"

    def format(self, record: logging.LogRecord) -> str:
        pairs: list[tuple[str, Any]] = [
            ("time", self.formatTime(record)),
            ("level", record.levelname.lower()),
        ]
        event = getattr(record, "event", None)
        if isinstance(event, Event):
            pairs += [("event", event.name), ("msg", event.message), *event.fields.items()]
        else:
            pairs += [("logger", record.name), ("msg", record.getMessage())]
        if record.exc_info:
            pairs.append(("exc", self.formatException(record.exc_info)))
        elif record.exc_text:
            pairs.append(("exc", record.exc_text))
        return logfmt(pairs)


class _Handler(logging.StreamHandler[Any]):
    """The handler ``configure_logging`` installs (so a second call finds it)."""


def configure_logging(settings: Settings, *, stream: Any = None) -> logging.Handler:
    """Apply ``log-level`` to the ``pgrest_asgi`` logger (crit → CRITICAL, error → ERROR,
    warn → WARNING, info → INFO, debug → DEBUG) and, unless it already has a handler, give it
    one writing ``LogfmtFormatter`` lines to ``stream`` (stderr). Safe to call again, e.g. on
    a configuration reload: the level changes, no second handler is added. Returns the
    logger's handler."""
    logger = _logger
    logger.setLevel(LOG_LEVELS[settings.log_level])
    if logger.handlers:
        return logger.handlers[0]
    handler = _Handler(sys.stderr if stream is None else stream)
    handler.setFormatter(LogfmtFormatter())
    logger.addHandler(handler)
    return handler
