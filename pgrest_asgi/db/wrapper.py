"""``ExecutorWrapper``: an executor in front of another (a cache, tracing, metrics). I/O.

Every method of the ``Executor`` protocol forwards to the wrapped executor, so a subclass
overrides only what it changes.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from ..hooks import Executor, SettingsAware
from ..observe import Observer
from ..settings import Settings
from .executor import PsycopgExecutor

if TYPE_CHECKING:
    from ..context import RequestContext
    from ..plan.model import TxSpec
    from ..sql.build import DbResult, Statement

__all__ = ["ExecutorWrapper"]


class ExecutorWrapper:
    """An executor in front of another: every method forwards to ``inner``, so a subclass
    overrides only what it changes — a cache overrides ``execute``, tracing wraps it.

    ``ExecutorWrapper()`` without ``inner`` wraps the default ``PsycopgExecutor``, built with
    the app's settings when the app binds them.
    """

    def __init__(self, inner: Executor | None = None) -> None:
        self._inner = inner

    @property
    def inner(self) -> Executor:
        if self._inner is None:
            raise RuntimeError("ExecutorWrapper has no executor: give one, or let the app bind")
        return self._inner

    def bind(self, settings: Settings, observer: Observer) -> None:
        if self._inner is None:
            self._inner = PsycopgExecutor(settings, observer=observer)
        elif isinstance(self._inner, SettingsAware):
            self._inner.bind(settings, observer)

    async def open(self, *, wait: bool = False) -> None:
        await self.inner.open(wait=wait)

    async def close(self) -> None:
        await self.inner.close()

    async def execute(
        self, statement: Statement, tx: TxSpec, context: RequestContext | None = None
    ) -> DbResult:
        return await self.inner.execute(statement, tx, context)

    def maintenance_connection(self) -> AbstractAsyncContextManager[Any]:
        return self.inner.maintenance_connection()

    def unavailable_reason(self) -> str | None:
        return self.inner.unavailable_reason()

    async def wait_available(self, timeout: float) -> bool:
        return await self.inner.wait_available(timeout)
