"""A custom authenticator: API keys for services, JWTs for everyone else.

Subclass the default and override the one method that changes. It is built without settings:
the app binds its own (the JWT secret, the anonymous role) when it is constructed. The role
still comes from PostgreSQL's own grants: the API key only decides *which* role the request
runs as. A request without a known key goes on as the default does (a Bearer JWT, else the
anonymous role).

Keys are compared with ``hmac.compare_digest`` on bytes: constant time, so response timing
does not reveal how much of a guess was right, and no error on non-ASCII header values.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import Any

from pgrest_asgi import AuthResult, Hooks, JwtAuthenticator, PgRestApp, Settings

# In a real app these come from a secrets store; each key maps to a database role.
API_KEYS = {b"svc-reporting-4f9a2c": "web_user"}


class ApiKeyAuthenticator(JwtAuthenticator):
    async def authenticate(
        self, scope: Mapping[str, Any], headers: Mapping[str, str]
    ) -> AuthResult:
        key = headers.get("x-api-key")
        if key is not None:
            given = key.encode("latin-1")  # header values arrive decoded as latin-1
            for known, role in API_KEYS.items():
                if hmac.compare_digest(given, known):
                    claims: dict[str, Any] = {"role": role, "auth": "api-key"}
                    return AuthResult(
                        role=role,
                        claims_json=json.dumps(claims, separators=(",", ":")),
                        anonymous=False,
                        claims=claims,
                    )
        return await super().authenticate(scope, headers)


def create_app(settings: Settings) -> PgRestApp:
    return PgRestApp(settings=settings, hooks=Hooks(authenticator=ApiKeyAuthenticator()))
