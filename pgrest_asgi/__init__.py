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
from .plan.model import (
    CallPlan,
    ColumnExpr,
    Cond,
    EmbedPlan,
    IsCond,
    LogicCond,
    MutatePlan,
    OrderBy,
    Param,
    Plan,
    ReadPlan,
    SelectColumn,
    TxSpec,
)
from .plan.planner import (
    CALL_PASSES,
    DEFAULT_PASSES,
    READ_PASSES,
    WRITE_PASSES,
    SqlglotPlanner,
)
from .plan.walk import RowsNode, assign, eq, restrict, rows_nodes, transform
from .request.grammar import Limits, PostgrestGrammar
from .request.model import ApiRequest, Target
from .request.operators import OPERATORS, Operator
from .router import DefaultRouter
from .schema.model import QualifiedName, SchemaCache
from .settings import ConfigError, Settings
from .sql.build import Statement

__all__ = [
    "CALL_PASSES",
    "DEFAULT_PASSES",
    "OPERATORS",
    "READ_PASSES",
    "WRITE_PASSES",
    "ApiRequest",
    "ApiRequestError",
    "AuthResult",
    "Authenticator",
    "CallPlan",
    "ColumnExpr",
    "Cond",
    "ConfigError",
    "ConnectionError",
    "DatabaseError",
    "DbResult",
    "DefaultRouter",
    "EmbedPlan",
    "Event",
    "Executor",
    "Grammar",
    "Hooks",
    "IsCond",
    "JwtAuthenticator",
    "JwtError",
    "Limits",
    "LogicCond",
    "MutatePlan",
    "Observer",
    "Operator",
    "OrderBy",
    "Param",
    "PgRestApp",
    "PgRestError",
    "Plan",
    "PlanContext",
    "PlanPass",
    "Planner",
    "PostgrestGrammar",
    "PsycopgExecutor",
    "QualifiedName",
    "ReadPlan",
    "RequestContext",
    "Router",
    "RowsNode",
    "SchemaCache",
    "SchemaCacheError",
    "SelectColumn",
    "Settings",
    "SqlglotPlanner",
    "Statement",
    "Target",
    "TxSpec",
    "__version__",
    "assign",
    "eq",
    "restrict",
    "rows_nodes",
    "transform",
]
