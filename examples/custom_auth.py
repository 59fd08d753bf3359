"""A custom authenticator: API keys for services, JWTs for everyone else.

Subclass the default and override the one method that changes. The role still comes from
PostgreSQL's own grants: the API key only decides *which* role the request runs as.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from pgrest_asgi import AuthResult, Hooks, JwtAuthenticator, PgRestApp, Settings

# In a real app these come from a secrets store; each key maps to a database role.
API_KEYS = {"svc-reporting-4f9a2c": "web_user"}


class ApiKeyAuthenticator(JwtAuthenticator):
    async def authenticate(
        self, scope: Mapping[str, Any], headers: Mapping[str, str]
    ) -> AuthResult:
        key = headers.get("x-api-key")
        if key is not None:
            for known, role in API_KEYS.items():
                if hmac.compare_digest(key, known):
                    return AuthResult(
                        role=role,
                        claims_json=f'{{"role":"{role}","auth":"api-key"}}',
                        anonymous=False,
                        claims={"role": role, "auth": "api-key"},
                    )
        return await super().authenticate(scope, headers)


def create_app(settings: Settings) -> PgRestApp:
    return PgRestApp(settings=settings, hooks=Hooks(authenticator=ApiKeyAuthenticator(settings)))
