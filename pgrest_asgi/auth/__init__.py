"""Authentication: who a request runs as (PostgREST's JWT rules).

``JwtAuthenticator(settings).authenticate(scope, headers)`` returns an ``AuthResult`` or
raises ``JwtError``. ``claims.py`` is pure (role-claim JSONPath, claim checks), and so is
``tokens.py`` (where the token comes from: ``Authorization``, ``jwt-header``, ``jwt-cookie``);
``jwks.py`` fetches and caches the keys of a ``jwt-secret`` URL (authlib's HTTP client);
``jwt.py`` is the only module that imports joserfc.
"""

from __future__ import annotations

from .claims import AuthResult, RoleClaimPath
from .jwt import JwtAuthenticator

__all__ = ["AuthResult", "JwtAuthenticator", "RoleClaimPath"]
