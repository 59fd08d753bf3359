"""The admin endpoints, PostgREST's admin server as an ASGI app: ``app.admin``.

    GET /live           200 while the app is running (started), else 500; empty body
    GET /ready          200 when the schema cache is loaded and the database reachable,
                        503 while not (starting, recovering from an outage), 500 when the
                        app is not running; empty body
    GET /metrics        the app's metrics, Prometheus text format 0.0.4 (OpenMetrics when
                        the scraper asks for it)
    GET /schema_cache   the schema cache as JSON (503 PGRST002 until it is loaded)
    GET /config         the running settings in config-file syntax, the password of
                        ``db-uri`` and ``jwt-secret`` replaced by ``********``

HEAD answers as GET without the body; another method on these paths 405, any other path 404.
Nothing here touches the database or waits for the pool: the answers come from the app's
state (``lifecycle.started``, the schema cache, the executor's outage), so they are immediate
while PostgreSQL is down. ``/ready`` runs no query, as PostgREST's does not: an outage is
known from the connections that fail (a request's, or the pool's), and recovery from the
executor's probes.

``pgrest-asgi serve`` runs it on ``admin-server-port``; a host mounts it wherever it likes
(``Mount("/admin", app=rest.admin)``). It answers the ASGI lifespan protocol without
starting anything: the API app's own lifespan starts the app.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import msgspec

from .asgi import ASGIReceiveCallable, ASGISendCallable, Scope, request_headers, send_response
from .config import dump_value
from .errors import DbConnectionError
from .hooks import Executor
from .lifecycle import Lifecycle
from .metrics import Metrics
from .response.build import Response
from .router import route_path
from .schema.model import QualifiedName, SchemaCache
from .schema.state import SchemaState
from .settings import Settings

__all__ = ["MASK", "AdminApp", "redact_dsn", "redacted_config", "schema_cache_json"]

#: What stands in for a secret in ``/config``.
MASK = "********"
#: Prometheus' text format, the one PostgREST answers.
CONTENT_TYPE_TEXT = b"text/plain; version=0.0.4; charset=utf-8"
_PATHS = frozenset({"/live", "/ready", "/metrics", "/schema_cache", "/config"})


class Served(Protocol):
    """What the admin endpoints read of an app (``PgRestApp`` has it all)."""

    settings: Settings
    lifecycle: Lifecycle
    schema: SchemaState
    executor: Executor
    metrics: Metrics


class AdminApp:
    """The admin endpoints of one app, as an ASGI app. ``alive``, when set, is asked too by
    ``/live`` and ``/ready``: ``pgrest-asgi serve`` sets it to whether its API server is
    still serving, as PostgREST's admin server checks its API socket."""

    def __init__(self, app: Served) -> None:
        self.app = app
        self.alive: Callable[[], bool] | None = None

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _serve_lifespan(receive, send)
            return
        if kind != "http":
            raise RuntimeError(f"the admin endpoints do not handle {kind!r} connections")
        http: Mapping[str, Any] = scope
        response = self.answer(http["method"], route_path(http).decode("latin-1"), http)
        await send_response(send, response)

    def answer(self, method: str, path: str, scope: Mapping[str, Any]) -> Response:
        """The response to ``method path`` (``path`` below the mount point)."""
        if path not in _PATHS:
            return Response(404, [])
        if method not in ("GET", "HEAD"):
            return Response(405, [(b"allow", b"GET, HEAD")])
        if path == "/live":
            response = Response(200 if self.running() else 500, [])
        elif path == "/ready":
            response = Response(self.readiness(), [])
        elif path == "/metrics":
            response = self.metrics(request_headers(scope).get("accept", ""))
        elif path == "/schema_cache":
            response = self.schema_cache()
        else:
            config = redacted_config(self.app.settings).encode()
            response = Response(200, [(b"content-type", b"text/plain; charset=utf-8")], config)
        if method == "HEAD":
            response.head = True
        return response

    def running(self) -> bool:
        """The app is started (and, under ``pgrest-asgi serve``, its server serving)."""
        return self.app.lifecycle.started and (self.alive is None or self.alive())

    def readiness(self) -> int:
        """200 ready; 503 not yet (starting, the schema cache not loaded, the database
        unreachable); 500 not running."""
        app = self.app
        if not self.running():
            return 500
        if app.schema.cache is None or app.executor.unavailable_reason() is not None:
            return 503
        return 200

    def metrics(self, accept: str) -> Response:
        registry = self.app.metrics.registry
        if "application/openmetrics-text" in accept:
            from prometheus_client.exposition import choose_encoder

            encode, content_type = choose_encoder(accept)
            return Response(200, [(b"content-type", content_type.encode())], encode(registry))
        from prometheus_client.exposition import generate_latest

        return Response(200, [(b"content-type", CONTENT_TYPE_TEXT)], generate_latest(registry))

    def schema_cache(self) -> Response:
        app = self.app
        cache = app.schema.cache
        if cache is None:
            reason = app.executor.unavailable_reason() or app.schema.failure
            error = DbConnectionError.schema_cache_not_loaded(reason)
            body = error.body(verbose=True)
            headers = [*error.response_headers(len(body)), (b"retry-after", b"1")]
            return Response(error.status, headers, body)
        return Response(
            200,
            [(b"content-type", b"application/json; charset=utf-8")],
            schema_cache_json(cache),
        )


async def _serve_lifespan(receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """Start-up and shutdown succeed at once: the admin endpoints own nothing."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def schema_cache_json(cache: SchemaCache) -> bytes:
    """The schema cache as JSON: its fields, with relations and functions keyed by
    ``"schema.name"`` (JSON keys are strings). Like PostgREST's ``--dump-schema``, for
    people and debugging: the structure may change between versions."""
    data: dict[str, Any] = {}
    for name in cache.__struct_fields__:
        value = getattr(cache, name)
        if isinstance(value, Mapping):
            value = {str(k) if isinstance(k, QualifiedName) else k: v for k, v in value.items()}
        data[name] = value
    return msgspec.json.encode(data)


def redacted_config(settings: Settings) -> str:
    """``settings.dump()`` (config-file syntax) with the password of ``db-uri`` and the
    ``jwt-secret`` replaced by ``MASK``."""
    lines = []
    for line in settings.dump().splitlines():
        key = line.partition(" = ")[0]
        if key == "db-uri":
            line = f"db-uri = {dump_value(redact_dsn(settings.db_uri))}"
        elif key == "db-listen-uri" and settings.db_listen_uri is not None:
            line = f"db-listen-uri = {dump_value(redact_dsn(settings.db_listen_uri))}"
        elif key == "db-replica-uris":
            uris = " ".join(redact_dsn(uri) for uri in settings.db_replica_uris)
            line = f"db-replica-uris = {dump_value(uris)}"
        elif key == "jwt-secret" and settings.jwt_secret is not None:
            line = f"jwt-secret = {dump_value(MASK)}"
        lines.append(line)
    return "\n".join(lines) + "\n"


_URI = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<netloc>[^/?#]*)(?P<rest>.*)", re.S)
_URI_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.I)
_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^\s']\S*|'[^']*$)", re.S)


def redact_dsn(dsn: str) -> str:
    """A libpq connection string (URI or ``key=value`` form) with any password replaced by
    ``MASK``: the user info's, a ``password=`` query parameter's, a ``password=`` keyword's."""
    uri = _URI.fullmatch(dsn)
    if uri is None:
        return _KEYWORD_PASSWORD.sub(lambda m: m.group(1) + MASK, dsn)
    netloc = uri["netloc"]
    userinfo, at, hosts = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:{MASK}@{hosts}"
    rest = _URI_PASSWORD.sub(lambda m: m.group(1) + MASK, uri["rest"])
    return uri["scheme"] + netloc + rest
