"""The extension points: one ``Protocol`` per pipeline stage, and the bundle the app takes.

Each default class is meant to be subclassed one method at a time::

    class ApiKeyAuth(JwtAuthenticator):
        async def authenticate(self, scope, headers):
            if headers.get("x-api-key") == KEY:
                return AuthResult(role="service", claims_json='{"role":"service"}',
                                  anonymous=False, claims={"role": "service"})
            return await super().authenticate(scope, headers)

    app = PgRestApp(dsn, schemas=["api"], hooks=Hooks(authenticator=ApiKeyAuth()))

Hooks are data. A field left ``None`` gets the default built from the app's settings; a hook
built without settings (every default class allows it) takes the app's: the app calls
``bind(settings)`` once, at construction, on every hook that has it (``SettingsAware``). Any
mix of defaults and custom hooks works.

The app talks to hooks only through these Protocols, and a hook never needs anything that
``pgrest_asgi`` does not export.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import msgspec

from .observe import Observer
from .request.model import ApiRequest, Target

if TYPE_CHECKING:
    from .auth import AuthResult
    from .context import RequestContext
    from .plan.model import Plan, TxSpec
    from .schema.model import SchemaCache
    from .settings import Settings
    from .sql.build import DbResult, Statement

__all__ = [
    "Authenticator",
    "Executor",
    "Grammar",
    "Hooks",
    "Planner",
    "Router",
    "SchemaLoader",
    "SettingsAware",
]


@runtime_checkable
class Router(Protocol):
    """Method, path and headers → the ``Target`` of a request."""

    def match(self, method: str, path: bytes, headers: Mapping[str, str]) -> Target:
        """``path`` is the still percent-encoded path below the mount point. Return a table,
        view or function target (``Target("relation"|"rpc", schema, name)``), the root, a host
        endpoint (``Target.endpoint``) or a host ASGI app (``Target.asgi``). Raise
        ``ApiRequestError`` for paths and profiles that are not served (404 ``PGRST125``,
        406 ``PGRST106``). Pure: no I/O, no authentication yet."""
        ...


@runtime_checkable
class Authenticator(Protocol):
    """The request → who it runs as.

    Optional: ``async start()`` and ``async stop()``, if the authenticator has them, run with
    the app (start-up in the background, and again after a reload changes ``jwt-secret``;
    shutdown); the default uses them to fetch a JWKS URL's keys before the first token."""

    async def authenticate(
        self, scope: Mapping[str, Any], headers: Mapping[str, str]
    ) -> AuthResult:
        """Return the ``AuthResult`` (the database role to switch to and the claims that
        become ``request.jwt.claims``), or raise ``JwtError`` (401/403). Runs before the
        database is touched; the role decides everything the request may do, through
        PostgreSQL's grants and row-level security."""
        ...


@runtime_checkable
class Grammar(Protocol):
    """The query string, headers and body → an ``ApiRequest`` (typed, not yet resolved)."""

    def parse(
        self,
        context: RequestContext,
        params: Sequence[tuple[str, str]],
        body: bytes | None = None,
    ) -> ApiRequest:
        """``params`` are the decoded query-string pairs in order; ``context`` has the
        method, target, headers and caller. Raise ``ApiRequestError`` (400 ``PGRST1xx``) for
        what does not parse. Pure."""
        ...


@runtime_checkable
class Planner(Protocol):
    """``ApiRequest`` + schema + caller → plan; plan → SQL."""

    def plan(
        self, request: ApiRequest, schema: SchemaCache, context: RequestContext
    ) -> tuple[Plan, list[Any]]:
        """Resolve the request against the schema cache: return the plan (frozen, values
        replaced by ``Param`` slots) and the values of its parameters, in slot order. Raise
        ``ApiRequestError``/``SchemaCacheError`` for what the schema does not have. Pure."""
        ...

    def build(self, plan: Plan, params: Sequence[Any]) -> Statement:
        """The plan as SQL text with ``$n`` placeholders and its parameter values. Every
        value must stay a parameter and every identifier quoted. Pure."""
        ...


@runtime_checkable
class Executor(Protocol):
    """Runs statements in role-switched transactions; owns the connections."""

    async def open(self, *, wait: bool = False) -> None:
        """Start (the pool); with ``wait``, until connections are ready."""
        ...

    async def close(self) -> None:
        """Stop and release every connection."""
        ...

    async def execute(
        self, statement: Statement, tx: TxSpec, context: RequestContext | None = None
    ) -> DbResult:
        """Run ``statement`` in one transaction set up as ``tx`` says (role, claims, request
        settings, pre-request function, read-only, isolation, commit or rollback) and return
        its row. Database errors are raised as ``PgRestError`` (PostgREST's mapping)."""
        ...

    def maintenance_connection(self) -> AbstractAsyncContextManager[Any]:
        """A connection for work outside requests (the schema loader's catalog queries), in
        a clean session state."""
        ...

    def unavailable_reason(self) -> str | None:
        """Why the database cannot be reached right now, or ``None``. While there is a
        reason, requests are answered 503 at once."""
        ...

    async def wait_available(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the database to be reachable again; ``True`` if
        it is believed to be."""
        ...


@runtime_checkable
class SchemaLoader(Protocol):
    """Reads the database's catalogs into a ``SchemaCache`` (default: ``CatalogLoader``)."""

    async def load(self, executor: Executor) -> SchemaCache:
        """Build the cache, e.g. on ``executor.maintenance_connection()``. Raise on failure:
        the app keeps the cache it has and reports the error."""
        ...


@runtime_checkable
class SettingsAware(Protocol):
    """A hook built without settings takes the app's: the app calls ``bind`` on every hook
    that has it, with its settings and its observer (for the hook's events), when it is
    constructed and again after each configuration reload (``reload config``), so a hook
    must accept being bound more than once. A hook given settings of its own keeps them."""

    def bind(self, settings: Settings, observer: Observer) -> None: ...


class Hooks(msgspec.Struct, kw_only=True):
    """Replacements for the default stages; ``None`` means "use the default"."""

    router: Router | None = None
    grammar: Grammar | None = None
    planner: Planner | None = None
    executor: Executor | None = None
    authenticator: Authenticator | None = None
    observer: Observer | None = None
    #: Reads the catalogs into the schema cache (default: ``CatalogLoader``).
    schema_loader: SchemaLoader | None = None
