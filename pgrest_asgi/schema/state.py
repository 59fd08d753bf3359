"""The schema cache an app serves from, and how it is (re)loaded. I/O.

``SchemaState`` holds the current ``SchemaCache`` (``None`` until the first load succeeds),
loads it through a ``SchemaLoader`` — the seam between the app and the catalog queries — and,
when the first load fails, keeps retrying in the background with back-off, or as soon as the
executor says the database is reachable again. A failed reload keeps the old cache serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from ..observe import Event, Observer
from ..settings import Settings
from .model import SchemaCache

if TYPE_CHECKING:
    from ..hooks import Executor, SchemaLoader

__all__ = ["CatalogLoader", "SchemaState"]

_RETRY_CAP = 32.0


class CatalogLoader:
    """The default loader: PostgREST's catalog queries, on the executor's maintenance
    connection (``Executor.maintenance_connection``), in one read-only transaction. Built
    without schemas, it takes the app's (``db-schemas``, ``db-extra-search-path``)."""

    def __init__(
        self, schemas: Sequence[str] | None = None, extra_search_path: Sequence[str] = ()
    ) -> None:
        self._own = schemas is not None
        self.schemas = tuple(schemas) if schemas is not None else ("public",)
        self.extra_search_path = tuple(extra_search_path)

    def bind(self, settings: Settings, observer: Observer | None = None) -> None:
        """Take the app's schemas, unless built with its own."""
        if not self._own:
            self.schemas = settings.db_schemas
            self.extra_search_path = settings.db_extra_search_path

    async def load(self, executor: Executor) -> SchemaCache:
        from .loader import load_schema_cache

        async with executor.maintenance_connection() as conn:
            return await load_schema_cache(conn, self.schemas, self.extra_search_path)


class SchemaState:
    """The current schema cache, its loads and reloads."""

    def __init__(self, loader: SchemaLoader, executor: Executor, observer: Observer) -> None:
        self.loader = loader
        self.executor = executor
        self.observer = observer
        self.cache: SchemaCache | None = None
        #: Why the last load failed (for the fail-fast error and PGRST002).
        self.failure: str | None = None
        self._retry: asyncio.Task[None] | None = None
        #: Awaited before each retry of a failed first load (the in-database configuration is
        #: read again once the database is back, as PostgREST does on recovery).
        self.before_retry: Callable[[], Awaitable[object]] | None = None
        #: For metrics (read when scraped): loads by outcome, and the seconds the last
        #: successful load took (``pgrst_schema_cache_loads_total``,
        #: ``pgrst_schema_cache_query_time_seconds``).
        self.loads: dict[str, int] = {"SUCCESS": 0, "FAIL": 0}
        self.load_seconds: float | None = None

    async def reload(self) -> bool:
        """Load the cache; on failure keep serving the old one. Returns success."""
        started = time.perf_counter()
        try:
            cache = await self.loader.load(self.executor)
        except Exception as exc:
            self.failure = str(exc).strip() or type(exc).__name__
            self.loads["FAIL"] += 1
            self.observer(
                Event(
                    name="schema_cache.failed",
                    message=f"schema cache load failed: {exc}",
                    level="error",
                )
            )
            return False
        seconds = time.perf_counter() - started
        self.cache = cache
        self.failure = None
        self.loads["SUCCESS"] += 1
        self.load_seconds = seconds
        self.observer(
            Event(
                name="schema_cache.loaded",
                message=f"schema cache loaded in {seconds:.3f}s",
                fields={"tables": len(cache.tables), "seconds": round(seconds, 6)},
            )
        )
        return True

    def retry_in_background(self) -> None:
        """Keep loading until a load succeeds (after a failed first load)."""
        if self._retry is None or self._retry.done():
            self._retry = asyncio.create_task(self._retry_until_loaded())

    async def _retry_until_loaded(self) -> None:
        attempt = 0
        while self.cache is None:
            delay = min(_RETRY_CAP, 0.5 * 2**attempt)
            if self.executor.unavailable_reason() is not None:
                # The database is down: load as soon as it is back, not at the next step of
                # the back-off.
                await self.executor.wait_available(delay)
            else:
                await asyncio.sleep(delay)
            attempt += 1
            if self.before_retry is not None and self.executor.unavailable_reason() is None:
                await self.before_retry()
            await self.reload()

    async def stop(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry
            self._retry = None
