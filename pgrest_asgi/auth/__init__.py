"""Authentication: who a request runs as (PostgREST's JWT rules).

``JwtAuthenticator(settings).authenticate(scope, headers)`` returns an ``AuthResult`` or
raises ``JwtError``. ``claims.py`` is pure (role-claim JSONPath, claim checks); ``jwt.py``
is the only module that imports joserfc.
"""

from __future__ import annotations

from .claims import AuthResult, RoleClaimPath
from .jwt import JwtAuthenticator

__all__ = ["AuthResult", "JwtAuthenticator", "RoleClaimPath"]
