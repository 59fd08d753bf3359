"""``PgRestApp``: the ASGI callable that composes the pipeline.

    router → auth → grammar → planner → sql → executor → response

``handle`` reads top to bottom as that pipeline. Requests that need no database (OPTIONS,
CORS preflight, parse/plan/auth errors) never borrow a connection.

Start-up (pool, schema cache, NOTIFY listener) happens behind four doors, all running the same
code once: ASGI lifespan when this is the root app; ``async with app.lifespan():`` for hosts;
``app.mount_into(parent, "/api")`` for Starlette/FastAPI; or lazily, under a lock, on the first
request when nobody started it (with a one-time warning event).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from ._version import __version__
from .auth import AuthResult, JwtAuthenticator
from .context import RequestContext
from .db.executor import DbResult, PsycopgExecutor
from .errors import ApiRequestError, ConnectionError, PgRestError
from .hooks import Authenticator, Executor, Grammar, Hooks, Planner, Router, SettingsAware
from .observe import Event, Observer, log_observer
from .plan.calls import resolve_routine
from .plan.model import CallPlan, MutatePlan, Plan, ReadPlan, TxSpec
from .plan.planner import SqlglotPlanner
from .plan.read import find_table
from .request.grammar import PostgrestGrammar
from .request.model import ApiRequest
from .response.build import (
    Response,
    allow_header,
    apply_response_gucs,
    cors_headers,
    legacy_names_warning,
    plan_response,
    preflight,
    read_response,
    resolve_total,
    with_vary,
    write_response,
)
from .router import DefaultRouter, route_path
from .schema.model import QualifiedName, SchemaCache
from .settings import Settings
from .sql.build import Statement
from .sql.gucs import search_path_value

__all__ = ["PgRestApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_encode = msgspec.json.Encoder()
#: Seconds a transaction runs before the app starts watching for the client's disconnect.
WATCH_AFTER = 0.25
_BODY_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_RELOAD_RETRY_CAP = 32.0


class PgRestApp:
    """A PostgREST-compatible REST API over a PostgreSQL database, as an ASGI app.

    ``PgRestApp(dsn, schemas=["api"], db_anon_role="web_anon", jwt_secret=...)``; any
    PostgREST setting may be given as a keyword (``-`` → ``_``), or pass ``settings=``.
    """

    def __init__(
        self,
        dsn: str | None = None,
        schemas: list[str] | tuple[str, ...] | None = None,
        *,
        settings: Settings | None = None,
        hooks: Hooks | None = None,
        **options: Any,
    ) -> None:
        values: dict[str, Any] = dict(options)
        if dsn is not None:
            values["db_uri"] = dsn
        if schemas is not None:
            values["db_schemas"] = tuple(schemas)
        if settings is None:
            settings = Settings.from_mapping(values)
        elif values:
            settings = msgspec.structs.replace(settings, **values)
        self.settings = settings
        hooks = hooks or Hooks()
        self.observer: Observer = hooks.observer or log_observer
        self.router: Router = hooks.router or DefaultRouter(settings.db_schemas)
        self.grammar: Grammar = hooks.grammar or PostgrestGrammar()
        self.planner: Planner = hooks.planner or SqlglotPlanner(settings)
        self.executor: Executor = hooks.executor or PsycopgExecutor(
            settings, observer=self.observer
        )
        self.authenticator: Authenticator = hooks.authenticator or JwtAuthenticator(settings)
        for hook in (self.router, self.grammar, self.planner, self.executor, self.authenticator):
            if isinstance(hook, SettingsAware):
                hook.bind(settings)
        self.schema_cache: SchemaCache | None = None
        self._pre_request = _qualified(settings.db_pre_request)
        # Per-request constants, computed once.
        self._app_settings = tuple(
            ("app.settings." + k, v) for k, v in settings.app_settings.items()
        )
        self._search_paths = {
            schema: search_path_value((schema, *settings.db_extra_search_path))
            for schema in settings.db_schemas
        }
        # Loop-bound objects are created on start, never here (forks, per-test loops).
        self._start_lock: asyncio.Lock | None = None
        self._started = False
        self._warned_lazy = False
        self._users = 0
        self._listener: Any = None
        self._reload_task: asyncio.Task[None] | None = None
        #: Why the last schema cache load failed (for the fail-fast error).
        self._load_failure: str | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def startup(self) -> None:
        """Open the pool, load the schema cache and start the listener (idempotent)."""
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:
                return
            await self.executor.open(wait=False)
            loaded = await self.reload_schema()
            if not loaded:
                if self.settings.db_fail_fast:
                    reason = self._outage_reason() or self._load_failure
                    await self.executor.close()
                    raise RuntimeError(f"pgrest_asgi: could not load the schema cache: {reason}")
                self._reload_task = asyncio.create_task(self._retry_schema_load())
            if self.settings.db_channel_enabled:
                from .schema.listener import SchemaListener

                self._listener = SchemaListener(
                    self.settings.db_uri,
                    channel=self.settings.db_channel,
                    on_reload_schema=self._reload_from_listener,
                    observer=self.observer,
                )
                await self._listener.start()
            self._started = True

    async def shutdown(self) -> None:
        if not self._started:
            return
        self._started = False
        if self._reload_task is not None:
            self._reload_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reload_task
            self._reload_task = None
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        await self.executor.close()

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[PgRestApp]:
        """``async with app.lifespan():`` — for hosts that run their own lifespan.

        Re-entrant: nested or repeated entries share one start-up; the last exit shuts down.
        """
        self._users += 1
        try:
            await self.startup()
            yield self
        finally:
            self._users -= 1
            if self._users == 0:
                await self.shutdown()

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
        from .schema.loader import load_schema_cache

        connection = getattr(self.executor, "maintenance_connection", None)
        started = time.perf_counter()
        try:
            if connection is None:
                raise ConnectionError.unreachable("no connection pool")
            async with connection() as conn:
                cache = await load_schema_cache(
                    conn, self.settings.db_schemas, self.settings.db_extra_search_path
                )
        except Exception as exc:
            self._load_failure = str(exc).strip() or type(exc).__name__
            self.observer(
                Event(
                    name="schema_cache.failed",
                    message=f"schema cache load failed: {exc}",
                    level="error",
                )
            )
            return False
        self.schema_cache = cache
        self.observer(
            Event(
                name="schema_cache.loaded",
                message=f"schema cache loaded in {time.perf_counter() - started:.3f}s",
                fields={"tables": len(cache.tables)},
            )
        )
        return True

    def _outage_reason(self) -> str | None:
        """Why the database cannot be reached, while the executor reports an outage."""
        reason = getattr(getattr(self.executor, "outage", None), "reason", None)
        return reason if isinstance(reason, str) else None

    async def _reload_from_listener(self) -> None:
        await self.reload_schema()

    async def _retry_schema_load(self) -> None:
        attempt = 0
        while self.schema_cache is None:
            delay = min(_RELOAD_RETRY_CAP, 0.5 * 2**attempt)
            wait_available = getattr(self.executor, "wait_available", None)
            if getattr(self.executor, "outage", None) is not None and wait_available:
                # The database is down: load as soon as it is back, not at the next step of
                # the back-off.
                await wait_available(delay)
            else:
                await asyncio.sleep(delay)
            attempt += 1
            await self.reload_schema()

    async def _ensure_started(self) -> None:
        if self._started:
            return
        await self.startup()
        if self._users == 0 and not self._warned_lazy:  # nobody entered the lifespan
            self._warned_lazy = True
            self.observer(
                Event(
                    name="app.lazy_start",
                    message="started on the first request: no lifespan reached this app; "
                    "use `async with app.lifespan()` or `app.mount_into(parent)`",
                    level="warning",
                )
            )

    # -- ASGI ------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            raise RuntimeError(f"pgrest_asgi does not handle {kind!r} connections")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self._users += 1
                    await self.startup()
                except Exception as exc:
                    self._users -= 1
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._users = max(0, self._users - 1)
                if self._users == 0:
                    await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        clock = Stopwatch() if self.settings.server_timing_enabled else _NO_STOPWATCH
        try:
            response = await self.handle(scope, receive, headers, clock)
        except PgRestError as exc:
            response = self.error_response(exc)
        except ClientGone:
            self.observer(
                Event(
                    name="request.cancelled",
                    message="the client disconnected; its transaction was cancelled",
                    fields={"path": scope.get("path")},
                )
            )
            return
        except Exception as exc:
            self.observer(
                Event(
                    name="app.unhandled",
                    message=repr(exc),
                    level="error",
                    fields={"path": scope.get("path")},
                )
            )
            response = self.error_response(PgRestError("Internal server error"))
        if not any(name == b"access-control-allow-origin" for name, _ in response.headers):
            response.headers += cors_headers(
                headers.get("origin"), self.settings.server_cors_allowed_origins
            )
        if self.settings.server_timing_enabled:
            response.headers.append((b"server-timing", clock.header()))
        trace = self.settings.server_trace_header
        if trace:
            response.headers.append(
                (trace.lower().encode("latin-1"), headers.get(trace.lower(), "").encode("latin-1"))
            )
        await _send(send, response)

    def error_response(self, exc: PgRestError) -> Response:
        body = exc.body(verbose=self.settings.client_error_verbosity == "verbose")
        headers = exc.response_headers(len(body))
        if exc.status == 503 and not any(k == b"retry-after" for k, _ in headers):
            headers.append((b"retry-after", b"1"))
        return Response(exc.status, with_vary(headers), body, reason=exc.reason)

    # -- the pipeline ----------------------------------------------------------------------
    async def handle(
        self,
        scope: Scope,
        receive: Receive,
        headers: Mapping[str, str],
        clock: Stopwatch | None = None,
    ) -> Response:
        clock = clock or _NO_STOPWATCH
        method: str = scope["method"]
        path = route_path(scope)
        query: bytes = scope.get("query_string", b"")
        if len(path) + len(query) > self.settings.server_max_url_length:
            raise ApiRequestError.too_long("URL", self.settings.server_max_url_length)
        if (
            method == "OPTIONS"
            and "origin" in headers
            and ("access-control-request-method" in headers)
        ):
            return preflight(headers, self.settings.server_cors_allowed_origins)

        target = self.router.match(method, path, headers)
        clock.reset()
        auth = await self.authenticator.authenticate(scope, headers)
        clock.lap("jwt")

        await self._ensure_started()
        schema = self.schema_cache
        if schema is None:
            # While the database cannot be reached, say why (e.g. a wrong password).
            raise ConnectionError.schema_cache_not_loaded(self._outage_reason())

        clock.reset()
        body = (
            await _read_body(
                receive, self.settings.server_max_body_size, headers.get("content-length")
            )
            if (method in _BODY_METHODS)
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
        request = self.grammar.parse(context, _query_params(query), body)
        clock.lap("parse")
        if method == "OPTIONS":
            return self.options(request, schema)
        self.check_supported(request)
        request = self.check_preferences(request)

        plan, params = self.planner.plan(request, schema, context)
        statement = self.planner.build(plan, params)
        tx = self.transaction(request, auth, schema, path, headers, plan=plan)
        clock.lap("plan")
        result = await self.execute_watching(statement, tx, receive)
        clock.lap("transaction")

        assert isinstance(plan, ReadPlan)
        if plan.explain is not None:
            response = plan_response(plan, result.body)
            with_vary(response.headers)
            return response
        schema_header = len(self.settings.db_schemas) > 1
        tx_applied = request.preferences.tx if self.settings.tx_allow_override else None
        if isinstance(plan.source, MutatePlan):
            response = write_response(
                request,
                media=plan.media,
                strip_nulls=plan.strip_nulls,
                representation=plan.representation,
                page_total=result.page_total,
                body=result.body,
                inserted=result.inserted,
                resolution=plan.source.resolution is not None and request.method == "POST",
                location=result.location,
                schema_header=schema_header,
                tx_applied=tx_applied,
                mount_path=str(scope.get("root_path") or ""),
            )
        else:
            # The offset is a parameter of the plan: read its value back from the list.
            offset = int(params[plan.offset.index - 1]) if plan.offset is not None else 0
            response = read_response(
                request,
                media=plan.media,
                strip_nulls=plan.strip_nulls,
                offset=offset,
                total=resolve_total(plan.count, plan.count_cap, result.total, result.planned_total),
                page_total=result.page_total,
                body=result.body,
                schema_header=schema_header,
                tx_applied=tx_applied,
                representation=plan.representation,
            )
        if plan.legacy_names:
            response.headers.append(
                (b"warning", legacy_names_warning(plan.legacy_names, f"pgrest_asgi/{__version__}"))
            )
        response = apply_response_gucs(response, result.response_headers, result.response_status)
        with_vary(response.headers)
        clock.lap("response")
        return response

    async def execute_watching(
        self, statement: Statement, tx: TxSpec, receive: Receive
    ) -> DbResult:
        """Run the transaction; if the client disconnects meanwhile, cancel it.

        Most transactions end within milliseconds, so watching starts only once one has run
        for ``WATCH_AFTER`` seconds: a timer per request instead of a task (a task per request
        cost 10 % of the GET benchmark's throughput under uvicorn). The watcher then waits on
        ``receive`` — the body has been read by now, so only the disconnect is left to come (a
        bodiless request's empty ``http.request`` is skipped) — and cancels the request's
        task. That interrupts the pipeline, which closes the connection and sends PostgreSQL a
        cancel request: the statement stops and its transaction rolls back.
        """
        task = asyncio.current_task()
        if task is None or not self.settings.server_cancel_on_disconnect:
            return await self.executor.execute(statement, tx)
        gone = running = False
        watcher: asyncio.Task[None] | None = None

        async def watch() -> None:
            nonlocal gone
            ended = False
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    break
                if ended:  # a second final body message: this receive never blocks
                    return
                ended = not message.get("more_body", False)
            if running:  # only ever interrupt the transaction, nothing after it
                gone = True
                task.cancel()

        def start_watching() -> None:
            nonlocal watcher
            watcher = loop.create_task(watch())

        loop = asyncio.get_running_loop()
        timer = loop.call_later(WATCH_AFTER, start_watching)
        running = True
        try:
            return await self.executor.execute(statement, tx)
        except asyncio.CancelledError:
            if gone and task.uncancel() == 0:
                raise ClientGone from None
            raise
        finally:
            running = False
            timer.cancel()
            if watcher is not None:
                watcher.cancel()

    def check_supported(self, request: ApiRequest) -> None:
        """What this version serves: tables, views and functions (not yet the OpenAPI root)."""
        if request.target.kind != "root":
            return
        raise ApiRequestError(
            "Feature not implemented",
            code="PGRST127",
            details="The OpenAPI root endpoint is not available in this version of pgrest_asgi",
        )

    def check_preferences(self, request: ApiRequest) -> ApiRequest:
        """The request with the preferences this app will not apply taken out: with
        ``db-exact-count`` off, ``count=exact`` is an invalid preference (ignored, or 400
        ``PGRST122`` under ``handling=strict``)."""
        prefs = request.preferences
        if prefs.count == "exact" and not self.settings.db_exact_count:
            prefs = msgspec.structs.replace(
                prefs, count=None, invalid=(*prefs.invalid, "count=exact")
            )
            request = msgspec.structs.replace(request, preferences=prefs)
        if prefs.handling == "strict" and prefs.invalid:
            raise ApiRequestError.invalid_preferences(prefs.invalid)
        return request

    def options(self, request: ApiRequest, schema: SchemaCache) -> Response:
        target = request.target
        if target.kind == "root":
            allow = allow_header(None)
        elif target.kind == "rpc":
            # The function is found as a GET would find it (its query-string arguments).
            allow = allow_header((resolve_routine(request, schema).routine,))
        else:
            table = find_table(schema, target)
            allow = allow_header(table)
        return Response(200, [(b"allow", allow), (b"access-control-allow-origin", b"*")])

    def transaction(
        self,
        request: ApiRequest,
        auth: AuthResult,
        schema: SchemaCache,
        path: bytes,
        headers: Mapping[str, str],
        *,
        plan: Plan | None = None,
    ) -> TxSpec:
        """The transaction settings for this request (PostgREST's per-request GUCs).

        GET/HEAD run READ ONLY, writes READ WRITE, and a POST to a function READ WRITE only
        when the function is VOLATILE. A function's hoisted settings join the preamble, and
        its ``default_transaction_isolation`` wins over the role's.
        """
        settings = self.settings
        rollback = settings.tx_rollback_default
        prefer_tx = request.preferences.tx
        if settings.tx_allow_override and prefer_tx is not None:
            rollback = prefer_tx == "rollback"
        read_only = request.method in ("GET", "HEAD")
        if plan is not None and plan.explain is not None:
            # EXPLAIN (ANALYZE) of a write runs it: only the plan is wanted, never the write.
            rollback = True
        isolation = schema.role_isolation.get(auth.role)
        extra = self._app_settings
        call = plan.source if plan is not None else None
        if isinstance(call, CallPlan):
            read_only = read_only or not call.volatile
            if call.settings:
                extra = call.settings + extra
                for name, value in call.settings:
                    if name.lower() == "default_transaction_isolation":
                        isolation = value
        return TxSpec(
            read_only=read_only,
            role=auth.role,
            claims_json=auth.claims_json,
            method=request.method,
            path=path.decode("utf-8", "replace"),
            headers_json=_encode.encode(
                {k: v for k, v in headers.items() if k != "cookie"}
            ).decode(),
            cookies_json=_cookies_json(headers.get("cookie")),
            search_path=self._search_paths[request.target.schema],
            isolation=isolation,
            rollback=rollback,
            timezone=request.preferences.timezone,
            role_settings=tuple(schema.role_settings.get(auth.role, ())),
            settings=extra,
            pre_request=self._pre_request,
            jit_off=not settings.db_jit,
        )


class ClientGone(Exception):
    """The client disconnected before the response was ready: nothing is sent."""


# -- helpers ---------------------------------------------------------------------------------
def _headers(scope: Scope) -> dict[str, str]:
    """Lower-cased header names → values (repeated headers joined with ``, ``)."""
    out: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name in out:
            out[name] = out[name] + ("; " if name == "cookie" else ", ") + value
        else:
            out[name] = value
    return out


def _cookies_json(raw: str | None) -> str:
    if not raw:
        return "{}"
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return "{}"
    return _encode.encode({k: m.value for k, m in jar.items()}).decode()


def _query_params(query: bytes) -> list[tuple[str, str]]:
    if not query:
        return []
    try:
        text = query.decode("ascii")
        return parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeError:
        raise ApiRequestError(
            "Invalid query string",
            details="The query string is not valid UTF-8 after percent-decoding",
        ) from None


async def _read_body(receive: Receive, limit: int, declared: str | None = None) -> bytes:
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _body_too_large(limit)  # refused before a byte of it is read
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiRequestError("Client disconnected", status=400)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _body_too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _body_too_large(limit: int) -> ApiRequestError:
    error = ApiRequestError.too_long("request body", limit)
    # The rest of the body stays unread: the server closes the connection instead of
    # reading it on to reach the next request.
    error.headers.append(("Connection", "close"))
    return error


def _qualified(name: str | None) -> QualifiedName | None:
    if not name:
        return None
    schema, _, fn = name.rpartition(".")
    return QualifiedName(schema, fn)


class Stopwatch:
    """Stage durations for ``Server-Timing`` (PostgREST's names, milliseconds)."""

    __slots__ = ("laps", "since")

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self.since = time.perf_counter()

    def reset(self) -> None:
        self.since = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = (now - self.since) * 1000
        self.since = now

    def header(self) -> bytes:
        return ", ".join(f"{k};dur={v:.1f}" for k, v in self.laps.items()).encode()


class _NoStopwatch(Stopwatch):
    """Server-Timing disabled: laps cost one no-op call."""

    def __init__(self) -> None:
        self.laps = {}
        self.since = 0.0

    def reset(self) -> None:
        pass

    def lap(self, name: str) -> None:
        pass


_NO_STOPWATCH = _NoStopwatch()


async def _send(send: Send, response: Response) -> None:
    # Content-Length is ours to set: never on HEAD (PostgREST omits it) nor on a 204 (which
    # has no body by definition).
    headers = [h for h in response.headers if h[0] != b"content-length"]
    if not response.head and response.status != 204:
        headers.append((b"content-length", str(len(response.body)).encode()))
    start: dict[str, Any] = {
        "type": "http.response.start",
        "status": response.status,
        "headers": headers,
    }
    await send(start)
    await send({"type": "http.response.body", "body": b"" if response.head else response.body})
