"""``PgRestApp``: the ASGI callable that composes the pipeline.

    router → auth → grammar → planner → sql → executor → response

``handle`` reads top to bottom as that pipeline; each stage lives in its own module and the
app only composes them. Requests that need no database (OPTIONS, CORS preflight,
parse/plan/auth errors) never borrow a connection.

Start-up and shutdown (pool, schema cache, NOTIFY listener) are ``lifecycle.py``'s.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar, cast

from . import reconfigure
from .admin import AdminApp
from .asgi import (
    NO_STOPWATCH,
    ASGIReceiveCallable,
    ASGISendCallable,
    ClientGone,
    Scope,
    Stopwatch,
    cancel_on_disconnect,
    query_params,
    read_body,
    request_headers,
    send_response,
)
from .auth import AuthResult, JwtAuthenticator
from .context import RequestContext
from .db.executor import PsycopgExecutor
from .docs_page import DocsPage
from .endpoints import EndpointRequest
from .errors import ApiRequestError, DbConnectionError, PgRestError
from .hooks import (
    Authenticator,
    Executor,
    Grammar,
    Hooks,
    Planner,
    Router,
    SchemaLoader,
    SettingsAware,
)
from .lifecycle import Lifecycle
from .metrics import Metrics
from .observe import Event, Observer, access_logger, log_observer, wanted
from .plan.planner import SqlglotPlanner
from .plan.tx import TransactionPlanner
from .request.checks import applicable
from .request.grammar import PostgrestGrammar
from .response.build import Response, build, error_response, finish, preflight
from .response.options import options_response
from .root import RootDocument, root_spec_context
from .router import DefaultRouter, route_path
from .schema.model import SchemaCache
from .schema.state import CatalogLoader, SchemaState
from .settings import Settings

__all__ = ["PgRestApp"]

T = TypeVar("T")
_BODY_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


class PgRestApp:
    """A PostgREST-compatible REST API over a PostgreSQL database, as an ASGI app.

    ``PgRestApp(dsn, schemas=["api"], db_anon_role="web_anon", jwt_secret=...)``; any
    PostgREST setting may be given as a keyword (``-`` → ``_``), or pass ``settings=``.
    ``hooks=Hooks(...)`` replaces any stage; hooks built without settings take the app's.
    """

    def __init__(
        self,
        dsn: str | None = None,
        schemas: str | list[str] | tuple[str, ...] | None = None,
        *,
        settings: Settings | None = None,
        hooks: Hooks | None = None,
        config_source: Callable[[], Settings] | None = None,
        **options: Any,
    ) -> None:
        settings = Settings.for_app(dsn, schemas, settings, options)
        #: What a configuration reload reads again before the in-database settings: by
        #: default the settings given here; ``pgrest-asgi`` passes a reader of its config
        #: file and ``PGRST_*`` variables.
        self.config_source: Callable[[], Settings] = config_source or (lambda: settings)
        hooks = hooks or Hooks()
        self.observer: Observer = hooks.observer or log_observer
        self.router: Router = hooks.router or DefaultRouter()
        self.grammar: Grammar = hooks.grammar or PostgrestGrammar()
        self.planner: Planner = hooks.planner or SqlglotPlanner()
        self.executor: Executor = hooks.executor or PsycopgExecutor(observer=self.observer)
        self.authenticator: Authenticator = hooks.authenticator or JwtAuthenticator()
        self.schema_loader: SchemaLoader = hooks.schema_loader or CatalogLoader()
        self.schema = SchemaState(self.schema_loader, self.executor, self.observer)
        self.lifecycle = Lifecycle(
            settings,
            self.executor,
            self.schema,
            self.observer,
            self.reload_config,
            authenticator=self.authenticator,
        )
        #: The app's metrics (``/metrics`` on ``app.admin``), in a registry of its own; a
        #: host joins its registry with ``REGISTRY.register(app.metrics.collector)``.
        self.metrics = Metrics(self.executor, self.schema, self.authenticator)
        self._configure(settings)

    def _configure(self, settings: Settings) -> None:
        """Make ``settings`` the app's: bind the hooks to them and rebuild what depends on
        them. Requests already running finish with what they started with."""
        self.settings = settings
        hooks_used = (self.router, self.grammar, self.planner, self.executor, self.authenticator)
        for hook in (*hooks_used, self.schema_loader):
            if isinstance(hook, SettingsAware):
                hook.bind(settings, self.observer)
        self.lifecycle.settings = settings
        self.transactions = TransactionPlanner(settings)
        self.root = RootDocument(settings, self.executor, self.transactions)
        docs_path = settings.openapi_docs_path
        self.docs = DocsPage(docs_path) if docs_path else None

    @property
    def schema_cache(self) -> SchemaCache | None:
        """The schema cache requests are served from (``None`` until loaded)."""
        return self.schema.cache

    @schema_cache.setter
    def schema_cache(self, cache: SchemaCache | None) -> None:
        self.schema.cache = cache

    @functools.cached_property
    def admin(self) -> AdminApp:
        """The admin endpoints (``/live``, ``/ready``, ``/metrics``, ``/schema_cache``,
        ``/config``) as an ASGI app of their own: ``pgrest-asgi serve`` runs it on
        ``admin-server-port``; a host mounts it (``Mount("/admin", app=rest.admin)``)."""
        return AdminApp(self)

    # -- lifecycle (see lifecycle.py) ------------------------------------------------------
    async def startup(self) -> None:
        """Open the pool, load the schema cache and start the listener (idempotent)."""
        await self.lifecycle.startup()

    async def shutdown(self) -> None:
        await self.lifecycle.shutdown()

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[PgRestApp]:
        """``async with app.lifespan():`` — for hosts that run their own lifespan.
        Re-entrant: nested or repeated entries share one start-up; the last exit shuts down."""
        async with self.lifecycle.entered():
            yield self

    def mount_into(self, parent: Any, path: str = "/api") -> None:
        """Mount into a Starlette/FastAPI app and chain this app's start-up into its lifespan."""
        parent.mount(path, self)
        previous = parent.router.lifespan_context

        @contextlib.asynccontextmanager
        async def chained(app: Any) -> AsyncIterator[Any]:
            async with self.lifespan(), previous(app) as state:
                yield state

        parent.router.lifespan_context = chained

    async def reload_schema(self) -> bool:
        """Load the schema cache; on failure keep serving the old one. Returns success."""
        return await self.schema.reload()

    async def reload_config(self) -> bool:
        """Read the configuration again and apply it (``NOTIFY pgrst, 'reload config'`` and
        ``SIGUSR2`` under ``pgrest-asgi`` do the same): ``config_source`` — the settings the
        app was built with, or ``pgrest-asgi``'s config file and ``PGRST_*`` variables — then,
        with ``db-config``, the in-database settings over them. When anything fails the
        running configuration stays, and an event says why. Settings that only a restart can
        change (the pool's size, where ``pgrest-asgi`` listens, ``db-uri``) keep their running
        values; an event names them. Returns success."""
        try:
            settings = await reconfigure.read(self.config_source, self.executor)
            # Refuse what binding would refuse (a bad secret, JWKS URL, role claim key)
            # before anything is re-bound: a failed reload changes nothing.
            JwtAuthenticator(settings)
        except Exception as exc:  # keep serving with the running configuration
            self.observer(Event.config_reload_failed(exc))
            return False
        settings, waiting = reconfigure.keep_restart_only(self.settings, settings)
        if waiting:
            self.observer(Event.config_needs_restart(waiting))
        previous = self.settings
        self._configure(settings)
        self.observer(Event.config_loaded(reconfigure.changed(previous, settings)))
        await self.lifecycle.settings_changed(previous, settings)
        return True

    # -- ASGI ------------------------------------------------------------------------------
    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(cast(Mapping[str, Any], scope), receive, send)
        elif kind == "lifespan":
            await self.lifecycle.serve_lifespan(receive, send)
        else:
            raise RuntimeError(f"pgrest_asgi does not handle {kind!r} connections")

    async def _http(
        self, scope: Mapping[str, Any], receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        started = time.perf_counter()
        headers = request_headers(scope)
        settings = self.settings
        clock = Stopwatch() if settings.server_timing_enabled else NO_STOPWATCH
        caller: list[AuthResult] = []
        try:
            response = await self.handle(scope, receive, headers, clock, send, caller)
        except PgRestError as exc:
            clock.interrupted()
            response = error_response(exc, settings)
        except ClientGone:
            return self.observer(Event.request_cancelled(scope.get("path")))
        except Exception as exc:
            clock.interrupted()
            self.observer(Event.unhandled(exc, scope.get("path")))
            response = error_response(PgRestError.internal(), settings)
        if response is not None:  # else a host ASGI app answered
            timing = clock.header() if settings.server_timing_enabled else None
            await send_response(send, finish(response, headers, settings, timing))
            self._answered(scope, headers, response, caller, time.perf_counter() - started)

    def _answered(
        self,
        scope: Mapping[str, Any],
        headers: Mapping[str, str],
        response: Response,
        caller: list[AuthResult],
        seconds: float,
    ) -> None:
        """After a response: the request metrics, and the access log's ``request`` event
        (built only when an observer takes it: see ``observe.wanted``). Its level follows
        the status as PostgREST's access log does: 5xx error, 4xx warning, else info."""
        method: str = scope["method"]
        status = response.status
        self.metrics.observe_request(method, status, seconds)
        level = (
            logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
        )
        if not wanted(self.observer, access_logger, level):
            return
        path = scope.get("raw_path") or str(scope.get("path", "")).encode()
        query: bytes = scope.get("query_string", b"")
        target = (path + b"?" + query if query else path).decode("latin-1")
        client = scope.get("client")
        self.observer(
            Event.request(
                method=method,
                path=target,
                status=status,
                size=0 if response.head else len(response.body),
                role=caller[0].role if caller else "-",
                seconds=seconds,
                client=str(client[0]) if client else None,
                user_agent=headers.get("user-agent"),
            )
        )

    # -- the pipeline ----------------------------------------------------------------------
    async def handle(
        self,
        scope: Mapping[str, Any],
        receive: ASGIReceiveCallable,
        headers: Mapping[str, str],
        clock: Stopwatch = NO_STOPWATCH,
        send: ASGISendCallable | None = None,
        caller: list[AuthResult] | None = None,
    ) -> Response | None:
        """One request through the pipeline; ``None`` when a host ASGI app answered it.
        ``caller``, when given, receives the ``AuthResult`` once the request is
        authenticated (the access log's role)."""
        settings = self.settings
        method: str = scope["method"]
        path = route_path(scope)
        query: bytes = scope.get("query_string", b"")
        if len(path) + len(query) > settings.server_max_url_length:
            raise ApiRequestError.too_long("URL", settings.server_max_url_length)
        if (
            method == "OPTIONS"
            and "origin" in headers
            and "access-control-request-method" in headers
        ):
            return preflight(headers, settings.server_cors_allowed_origins)

        docs = self.docs.route(path) if self.docs is not None else None
        target = docs or self.router.match(method, path, headers)
        if target.kind == "asgi":
            assert send is not None, "a host ASGI app needs the send channel"
            await target.handler(scope, receive, send)
            return None
        clock.reset()
        auth = await self.authenticator.authenticate(scope, headers)
        if caller is not None:
            caller.append(auth)
        clock.lap("jwt")

        await self.lifecycle.ensure_started()
        schema = self.schema.cache
        if schema is None:
            # While the database cannot be reached, say why (e.g. a wrong password).
            raise DbConnectionError.schema_cache_not_loaded(self.executor.unavailable_reason())

        clock.reset()
        body = (
            await read_body(receive, settings.server_max_body_size, headers.get("content-length"))
            if method in _BODY_METHODS
            else None
        )
        context = RequestContext(
            method=method,
            target=target,
            headers=headers,
            auth=auth,
            path=path.decode("utf-8", "replace"),
            mount_path=str(scope.get("root_path") or ""),
            query_string=query,
            scope=scope,
        )
        if target.kind == "endpoint":
            endpoint = EndpointRequest(context, body, self.executor, self.transactions, schema)
            return await self.watching(endpoint.answer, receive)
        pairs = query_params(query)
        if target.kind == "root" and settings.db_root_spec is not None:
            # db-root-spec: a function answers the root, called as /rpc/<name> would be.
            context = root_spec_context(context, settings.db_root_spec)
        request = self.grammar.parse(context, pairs, body)
        clock.lap("parse")
        if method == "OPTIONS":
            options = options_response(request, schema)
            clock.lap("response")
            return options
        if context.target.kind == "root":
            # The root's planning is nothing, and the document is built (or found) where
            # its privileges are read: PostgREST's stages, with that time as the transaction.
            clock.lap("plan")
            root = await self.watching(lambda: self.root.respond(request, context, schema), receive)
            clock.lap("transaction")
            clock.lap("response")
            return root
        request = applicable(request, settings)

        plan, params = self.planner.plan(request, schema, context)
        statement = self.planner.build(plan, params)
        tx = self.transactions.plan(context, schema, plan, request.preferences)
        clock.lap("plan")
        result = await self.watching(lambda: self.executor.execute(statement, tx, context), receive)
        clock.lap("transaction")
        response = build(request, plan, result, settings=settings, mount_path=context.mount_path)
        clock.lap("response")
        return response

    async def watching(self, run: Callable[[], Awaitable[T]], receive: ASGIReceiveCallable) -> T:
        """Await ``run()``, cancelling it when the client disconnects (if so configured)."""
        if not self.settings.server_cancel_on_disconnect:
            return await run()
        return await cancel_on_disconnect(run, receive)
