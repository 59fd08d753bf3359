"""pgrest_asgi: PostgREST's REST API over PostgreSQL, as an ASGI library.

from pgrest_asgi import PgRestApp
app = PgRestApp("postgresql://authenticator@/db", schemas=["api"], db_anon_role="web_anon")
"""

from ._version import __version__
from .app import PgRestApp
from .auth import AuthResult, JwtAuthenticator
from .context import RequestContext
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
from .plan.context import PlanContext, PlanPass
from .plan.planner import (
    CALL_PASSES,
    DEFAULT_PASSES,
    READ_PASSES,
    WRITE_PASSES,
    SqlglotPlanner,
)
from .request.grammar import Limits, PostgrestGrammar
from .router import DefaultRouter
from .settings import ConfigError, Settings

__all__ = [
    "CALL_PASSES",
    "DEFAULT_PASSES",
    "READ_PASSES",
    "WRITE_PASSES",
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
    "PlanPass",
    "Planner",
    "PostgrestGrammar",
    "PsycopgExecutor",
    "RequestContext",
    "Router",
    "SchemaCacheError",
    "Settings",
    "SqlglotPlanner",
    "__version__",
]
