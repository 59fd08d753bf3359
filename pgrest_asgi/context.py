"""``RequestContext``: who is asking, and for what. Pure.

The app builds one per request, after routing and authentication, and hands the same object
to the grammar, to every planner pass, to the executor and to host endpoints. A hook never
needs a contextvar to learn who is calling::

    def tenant_rule(plan, ctx):            # a planner pass; ctx.context is this object
        tenant = ctx.auth.claims.get("tenant")
        ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from .auth.claims import AuthResult
from .request.model import Target

__all__ = ["ANONYMOUS", "RequestContext"]

#: The caller of a context built without authentication (tests, tools): no role switch
#: beyond what the executor's connection already is, no claims.
ANONYMOUS = AuthResult(role="", claims_json="{}", anonymous=True, claims={})


class RequestContext(msgspec.Struct, frozen=True, kw_only=True):
    """One request, as the hooks see it. Treat every field as read-only."""

    #: ``GET``, ``POST``, … (upper case).
    method: str
    #: What the router matched: a relation, a function, the root, or a host endpoint.
    target: Target
    #: Request headers, names lower-cased; repeated headers joined with ``, ``.
    headers: Mapping[str, str] = msgspec.field(default_factory=dict)
    #: Who the request runs as (the authenticator's answer).
    auth: AuthResult = ANONYMOUS
    #: The path below the mount point, still percent-encoded (``/items``, ``/rpc/f``).
    path: str = "/"
    #: Where the app is mounted in its host (the ASGI ``root_path``), e.g. ``/api``.
    mount_path: str = ""
    #: The raw query string.
    query_string: bytes = b""
    #: The ASGI scope, for what the fields above do not carry (client address, server…).
    scope: Mapping[str, Any] = msgspec.field(default_factory=dict)
