"""The transaction a plan runs in: PostgREST's per-request settings, as a ``TxSpec``. Pure.

GET/HEAD run READ ONLY, writes READ WRITE, and a call READ WRITE only when the function is
VOLATILE and called by POST. A function's hoisted settings join the preamble, and its
``default_transaction_isolation`` wins over the role's. ``Prefer: tx=`` applies when
``db-tx-end`` allows overrides; an EXPLAIN never commits.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

import msgspec

from ..context import RequestContext
from ..request.model import Preferences
from ..schema.model import QualifiedName, SchemaCache
from ..settings import Settings
from ..sql.gucs import search_path_value
from .model import CallPlan, ReadPlan, TxSpec

__all__ = ["TransactionPlanner"]

_encode = msgspec.json.Encoder()
_NO_PREFERENCES = Preferences()


class TransactionPlanner:
    """Builds each request's ``TxSpec``; what depends only on the settings is computed once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pre_request = _qualified(settings.db_pre_request)
        self.app_settings = tuple(
            ("app.settings." + k, v) for k, v in settings.app_settings.items()
        )
        self.search_paths = {
            schema: search_path_value((schema, *settings.db_extra_search_path))
            for schema in settings.db_schemas
        }
        self.default_search_path = self.search_paths[settings.db_schemas[0]]

    def plan(
        self,
        context: RequestContext,
        schema: SchemaCache,
        plan: ReadPlan | None = None,
        preferences: Preferences = _NO_PREFERENCES,
    ) -> TxSpec:
        """The transaction for a request (``plan=None``: a host endpoint's SQL)."""
        settings = self.settings
        method = context.method
        auth = context.auth
        rollback = settings.tx_rollback_default
        if settings.tx_allow_override and preferences.tx is not None:
            rollback = preferences.tx == "rollback"
        read_only = method in ("GET", "HEAD")
        if plan is not None and plan.explain is not None:
            # EXPLAIN (ANALYZE) of a write runs it: only the plan is wanted, never the write.
            rollback = True
        isolation = schema.role_isolation.get(auth.role)
        extra = self.app_settings
        call = plan.source if plan is not None else None
        if isinstance(call, CallPlan):
            read_only = read_only or not call.volatile
            if call.settings:
                extra = call.settings + extra
                for name, value in call.settings:
                    if name.lower() == "default_transaction_isolation":
                        isolation = value
        headers = context.headers
        return TxSpec(
            read_only=read_only,
            role=auth.role,
            claims_json=auth.claims_json,
            method=method,
            path=context.path,
            headers_json=_encode.encode(
                {k: v for k, v in headers.items() if k != "cookie"}
            ).decode(),
            cookies_json=_cookies_json(headers.get("cookie")),
            # A host endpoint's target may name no schema: the first exposed one.
            search_path=self.search_paths.get(context.target.schema, self.default_search_path),
            isolation=isolation,
            rollback=rollback,
            timezone=preferences.timezone,
            role_settings=tuple(schema.role_settings.get(auth.role, ())),
            settings=extra,
            pre_request=self.pre_request,
            jit_off=not settings.db_jit,
            anonymous=auth.anonymous,
        )


def _cookies_json(raw: str | None) -> str:
    if not raw:
        return "{}"
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return "{}"
    return _encode.encode({k: m.value for k, m in jar.items()}).decode()


def _qualified(name: str | None) -> QualifiedName | None:
    if not name:
        return None
    schema, _, fn = name.rpartition(".")
    return QualifiedName(schema, fn)
