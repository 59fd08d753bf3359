"""One event type for logs and metrics: every notable thing the library does emits an ``Event``.

A host passes ``hooks=Hooks(observer=...)`` to ``PgRestApp`` to route events to its metrics
or audit system; the default writes them to the ``pgrest_asgi`` logger.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

import msgspec

__all__ = ["Event", "Observer", "log_observer"]

Level = Literal["debug", "info", "warning", "error"]


class Event(msgspec.Struct, frozen=True, kw_only=True):
    #: A stable dotted name, e.g. ``schema_cache.loaded``, ``pool.timeout``, ``app.lazy_start``.
    name: str
    message: str
    level: Level = "info"
    fields: dict[str, Any] = msgspec.field(default_factory=dict)

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
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def log_observer(event: Event) -> None:
    """The default observer: one log line per event on the ``pgrest_asgi`` logger."""
    _logger.log(_LEVELS[event.level], "%s: %s", event.name, event.message, extra=event.fields)
