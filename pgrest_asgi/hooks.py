"""The extension points: one ``Protocol`` per pipeline stage, and the bundle passed to the app.

Each default class is meant to be subclassed one method at a time::

    class ApiKeyAuth(JwtAuthenticator):
        async def authenticate(self, scope, headers):
            if headers.get("x-api-key") == KEY:
                return AuthResult(role="service", claims_json='{"role":"service"}',
                                  anonymous=False, claims={"role": "service"})
            return await super().authenticate(scope, headers)

    app = PgRestApp(dsn, schemas=["api"], hooks=Hooks(authenticator=ApiKeyAuth(settings)))

A field left as ``None`` gets the default built from the app's settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import msgspec

from .observe import Observer
from .request.model import ApiRequest, Target

if TYPE_CHECKING:
    from .auth import AuthResult
    from .context import RequestContext
    from .db.executor import DbResult
    from .plan.model import Plan, TxSpec
    from .schema.model import SchemaCache
    from .settings import Settings
    from .sql.build import Statement

__all__ = ["Authenticator", "Executor", "Grammar", "Hooks", "Planner", "Router", "SettingsAware"]


@runtime_checkable
class Router(Protocol):
    def match(self, method: str, path: bytes, headers: Mapping[str, str]) -> Target: ...


@runtime_checkable
class Grammar(Protocol):
    def parse(
        self,
        context: RequestContext,
        params: Sequence[tuple[str, str]],
        body: bytes | None = None,
    ) -> ApiRequest: ...


@runtime_checkable
class Planner(Protocol):
    def plan(
        self, request: ApiRequest, schema: SchemaCache, context: RequestContext
    ) -> tuple[Plan, list[Any]]: ...

    def build(self, plan: Plan, params: Sequence[Any]) -> Statement: ...


@runtime_checkable
class Executor(Protocol):
    async def open(self, *, wait: bool = False) -> None: ...

    async def close(self) -> None: ...

    async def execute(self, statement: Statement, tx: TxSpec) -> DbResult: ...


@runtime_checkable
class Authenticator(Protocol):
    async def authenticate(
        self, scope: Mapping[str, Any], headers: Mapping[str, str]
    ) -> AuthResult: ...


@runtime_checkable
class SettingsAware(Protocol):
    """A hook built without settings takes the app's: the app calls ``bind`` once, when it
    is constructed, on every hook that has it. A hook given settings of its own keeps them."""

    def bind(self, settings: Settings) -> None: ...


class Hooks(msgspec.Struct, kw_only=True):
    """Replacements for the default stages; ``None`` means "use the default"."""

    router: Router | None = None
    grammar: Grammar | None = None
    planner: Planner | None = None
    executor: Executor | None = None
    authenticator: Authenticator | None = None
    observer: Observer | None = None
