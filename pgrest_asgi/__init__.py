"""pgrest_asgi: PostgREST's REST API over PostgreSQL, as an ASGI library.

from pgrest_asgi import PgRestApp
app = PgRestApp("postgresql://authenticator@/db", schemas=["api"], db_anon_role="web_anon")
"""

from ._version import __version__
from .app import PgRestApp
from .auth import AuthResult, JwtAuthenticator
from .db.executor import DbResult, PsycopgExecutor
from .errors import (
    ApiRequestError,
    ConnectionError,
    DatabaseError,
    JwtError,
    PgRestError,
    SchemaCacheError,
)
from .hooks import Authenticator, Executor, Grammar, Hooks, Planner, Router
from .observe import Event, Observer
from .plan.planner import DEFAULT_PASSES, PlanContext, SqlglotPlanner
from .request.grammar import Limits, PostgrestGrammar
from .router import DefaultRouter
from .settings import ConfigError, Settings

__all__ = [
    "DEFAULT_PASSES",
    "ApiRequestError",
    "AuthResult",
    "Authenticator",
    "ConfigError",
    "ConnectionError",
    "DatabaseError",
    "DbResult",
    "DefaultRouter",
    "Event",
    "Executor",
    "Grammar",
    "Hooks",
    "JwtAuthenticator",
    "JwtError",
    "Limits",
    "Observer",
    "PgRestApp",
    "PgRestError",
    "PlanContext",
    "Planner",
    "PostgrestGrammar",
    "PsycopgExecutor",
    "Router",
    "SchemaCacheError",
    "Settings",
    "SqlglotPlanner",
    "__version__",
]
