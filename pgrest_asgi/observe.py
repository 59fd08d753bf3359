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
