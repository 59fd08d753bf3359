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
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
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
        self,
        settings: Settings,
        executor: Executor,
        schema: SchemaState,
        observer: Observer,
        reload_config: Callable[[], Awaitable[bool]] | None = None,
        authenticator: object | None = None,
    ) -> None:
        self.settings = settings
        self.executor = executor
        self.schema = schema
        self.observer = observer
        self.reload_config = reload_config
        #: Its optional ``start()``/``stop()`` (the JWKS fetcher) run with the app.
        self.authenticator = authenticator
        #: ``pgrest-asgi`` sets this: SIGUSR1 reloads the schema cache, SIGUSR2 the
        #: configuration, as they do for PostgREST.
        self.handle_signals = False
        self._tasks: set[asyncio.Task[Any]] = set()
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
            # Listen first: a change notified from now on reloads what is read below, and a
            # change made before is in what is read (a reload it asks for waits for the end
            # of start-up). Listening after reading would lose a notification in between.
            await self._start_listener()
            if self.settings.db_config and self.reload_config is not None:
                # In-database settings first: they may change the schemas to load. (While
                # the database cannot be reached, they are read when it is back.)
                await self.reload_config()
            self._start_authenticator()
            if not await self.schema.reload():
                if self.settings.db_fail_fast:
                    reason = self.executor.unavailable_reason() or self.schema.failure
                    await self._stop_listener()
                    await self.executor.close()
                    raise RuntimeError(f"pgrest_asgi: could not load the schema cache: {reason}")
                if self.settings.db_config and self.reload_config is not None:
                    self.schema.before_retry = self.reload_config
                self.schema.retry_in_background()
            if self.handle_signals:
                self._install_signal_handlers()
            self.started = True

    def _start_authenticator(self) -> None:
        """Fetch a JWKS URL's keys in the background; a token that comes first joins the
        fetch."""
        start = getattr(self.authenticator, "start", None)
        if start is not None:
            self._spawn(start)

    async def _start_listener(self) -> None:
        if self.settings.db_channel_enabled:
            from .schema.listener import SchemaListener

            self.listener = SchemaListener(
                self.settings.db_listen_uri or self.settings.db_uri,
                channel=self.settings.db_channel,
                on_reload_schema=self._reload,
                on_reload_config=self._reload_config,
                observer=self.observer,
                pause=self._until_recovered,
            )
            await self.listener.start()

    async def _until_recovered(self, seconds: float) -> None:
        """The listener's wait between attempts: ``seconds``, or less when the pool finds
        the database unreachable meanwhile and then back (the listener may lose its
        connection before the pool notices the outage)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        recoveries = getattr(self.executor, "recoveries", None)  # PsycopgExecutor's count
        while (left := end - loop.time()) > 0:
            if self.executor.unavailable_reason() is not None:
                if await self.executor.wait_available(left):
                    return
            elif getattr(self.executor, "recoveries", None) != recoveries:
                return  # an outage began and ended while we slept
            else:
                await asyncio.sleep(min(0.25, left))

    async def _stop_listener(self) -> None:
        if self.listener is not None:
            await self.listener.stop()
            self.listener = None

    async def _reload(self) -> None:
        """``reload schema``: as in PostgREST, the in-database configuration is read again
        too, then the schema cache."""
        await self._after_startup()
        if self.settings.db_config and self.reload_config is not None:
            self._reloading_schema = True
            try:
                await self.reload_config()
            finally:
                self._reloading_schema = False
        await self.schema.reload()

    async def _reload_config(self) -> None:
        if self.reload_config is not None:
            await self._after_startup()
            await self.reload_config()

    async def _after_startup(self) -> None:
        """A reload asked for while the app starts runs after start-up's own reads."""
        if self._lock is not None and self._lock.locked() and not self.started:
            async with self._lock:
                pass

    _reloading_schema = False

    async def settings_changed(self, old: Settings, new: Settings) -> None:
        """After a configuration reload: load the schema cache when the schemas changed, and
        listen again when the channel did."""
        if not self.started:
            return  # start-up goes on to load the schema with the new settings
        if new.jwt_secret != old.jwt_secret:
            self._start_authenticator()
        channel = (new.db_channel_enabled, new.db_channel)
        if channel != (old.db_channel_enabled, old.db_channel):
            # In a task of its own: this may run in the listener's own reload worker, which
            # stopping the listener waits for.
            self._spawn(self._restart_listener)
        schemas = (new.db_schemas, new.db_extra_search_path)
        if schemas != (old.db_schemas, old.db_extra_search_path) and not self._reloading_schema:
            await self.schema.reload()

    async def _restart_listener(self) -> None:
        await self._stop_listener()
        await self._start_listener()

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum, reload in (
            (signal.SIGUSR1, self._reload),
            (signal.SIGUSR2, self._reload_config),
        ):
            loop.add_signal_handler(signum, self._spawn, reload)

    def _spawn(self, reload: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.ensure_future(reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGUSR1, signal.SIGUSR2):
            loop.remove_signal_handler(signum)

    async def shutdown(self) -> None:
        if not self.started:
            return
        self.started = False
        if self.handle_signals:
            self._remove_signal_handlers()
        for task in list(self._tasks):
            task.cancel()
        stop = getattr(self.authenticator, "stop", None)
        if stop is not None:
            await stop()
        await self.schema.stop()
        await self._stop_listener()
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
