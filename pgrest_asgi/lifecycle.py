"""Start-up and shutdown of an app: the pool, the schema cache and the NOTIFY listener. I/O.

Four doors lead to the same start-up, run once: ASGI lifespan when the app is the root app;
``async with app.lifespan():`` for hosts; ``app.mount_into(parent, "/api")`` for
Starlette/FastAPI; or lazily, under a lock, on the first request when nobody started it (with
a one-time warning event). Nested and repeated entries share one start-up; the last exit
shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .asgi import ASGIReceiveCallable, ASGISendCallable
from .observe import Event, Observer
from .schema.state import SchemaState
from .settings import Settings

if TYPE_CHECKING:
    from .hooks import Executor

__all__ = ["Lifecycle"]


class Lifecycle:
    """Owns what an app starts: the executor, the schema cache's first load, the listener."""

    def __init__(
        self, settings: Settings, executor: Executor, schema: SchemaState, observer: Observer
    ) -> None:
        self.settings = settings
        self.executor = executor
        self.schema = schema
        self.observer = observer
        # Loop-bound objects are created on start, never here (forks, per-test loops).
        self._lock: asyncio.Lock | None = None
        self.started = False
        self._warned_lazy = False
        self.users = 0
        self.listener: Any = None

    async def startup(self) -> None:
        """Open the pool, load the schema cache and start the listener (idempotent)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.started:
                return
            await self.executor.open(wait=False)
            if not await self.schema.reload():
                if self.settings.db_fail_fast:
                    reason = self.executor.unavailable_reason() or self.schema.failure
                    await self.executor.close()
                    raise RuntimeError(f"pgrest_asgi: could not load the schema cache: {reason}")
                self.schema.retry_in_background()
            if self.settings.db_channel_enabled:
                from .schema.listener import SchemaListener

                self.listener = SchemaListener(
                    self.settings.db_uri,
                    channel=self.settings.db_channel,
                    on_reload_schema=self._reload,
                    observer=self.observer,
                )
                await self.listener.start()
            self.started = True

    async def _reload(self) -> None:
        await self.schema.reload()

    async def shutdown(self) -> None:
        if not self.started:
            return
        self.started = False
        await self.schema.stop()
        if self.listener is not None:
            await self.listener.stop()
            self.listener = None
        await self.executor.close()

    @contextlib.asynccontextmanager
    async def entered(self) -> AsyncIterator[None]:
        """One user of the app: the first starts it, the last out shuts it down."""
        self.users += 1
        try:
            await self.startup()
            yield
        finally:
            self.users -= 1
            if self.users == 0:
                await self.shutdown()

    async def ensure_started(self) -> None:
        """Before a request: start lazily when no lifespan did (warned once)."""
        if self.started:
            return
        await self.startup()
        if self.users == 0 and not self._warned_lazy:  # nobody entered the lifespan
            self._warned_lazy = True
            self.observer(
                Event(
                    name="app.lazy_start",
                    message="started on the first request: no lifespan reached this app; "
                    "use `async with app.lifespan()` or `app.mount_into(parent)`",
                    level="warning",
                )
            )

    async def serve_lifespan(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        """The ASGI lifespan protocol, when the app is the root app."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.users += 1
                    await self.startup()
                except Exception as exc:
                    self.users -= 1
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.users = max(0, self.users - 1)
                if self.users == 0:
                    await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
