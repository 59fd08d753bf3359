"""A configuration reload: read the sources again, and keep what only a restart can change.

``PgRestApp.reload_config`` composes these; the in-database part is ``dbconfig.py``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from .settings import RESTART_FIELDS, Settings, key_name

if TYPE_CHECKING:
    from .hooks import Executor

__all__ = ["InDatabaseConfigError", "changed", "keep_restart_only", "read"]


async def read(source: Callable[[], Settings], executor: Executor) -> Settings:
    """The settings from ``source`` with, when they say ``db-config``, the in-database
    settings over them. Raises whatever reading fails with (``ConfigError``, a database
    error)."""
    base = source()
    if not base.db_config:
        return base
    from .dbconfig import read_in_database_config

    try:
        async with executor.maintenance_connection() as conn:
            values = await read_in_database_config(conn, base.db_pre_config)
    except Exception as exc:
        reason = executor.unavailable_reason() or str(exc).strip() or type(exc).__name__
        raise InDatabaseConfigError(f"cannot read the in-database configuration: {reason}") from exc
    return base.overlaid(values)


class InDatabaseConfigError(Exception):
    """The in-database settings could not be read (the database, the pre-config function)."""


def keep_restart_only(running: Settings, new: Settings) -> tuple[Settings, tuple[str, ...]]:
    """``new`` with the running values of the settings only a restart can change, and the
    names of those that differ."""
    kept = {
        field: getattr(running, field)
        for field in sorted(RESTART_FIELDS)
        if getattr(new, field) != getattr(running, field)
    }
    if not kept:
        return new, ()
    return msgspec.structs.replace(new, **kept), tuple(key_name(f) for f in kept)


def changed(old: Settings, new: Settings) -> tuple[str, ...]:
    """The names of the settings that differ, sorted (secrets included, by name only)."""
    return tuple(
        sorted(
            key_name(field)
            for field in new.__struct_fields__
            if getattr(old, field) != getattr(new, field)
        )
    )
