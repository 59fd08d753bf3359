"""pgrest_asgi: PostgREST's REST API over PostgreSQL, as an ASGI library.

from pgrest_asgi import PgRestApp
app = PgRestApp("postgresql://authenticator@/db", schemas=["api"], db_anon_role="web_anon")
"""

from ._version import __version__
from .admin import AdminApp
from .app import PgRestApp
from .auth import AuthResult, JwtAuthenticator
from .context import RequestContext
from .db.executor import PsycopgExecutor
from .db.wrapper import ExecutorWrapper
from .endpoints import Endpoint, EndpointRequest
from .errors import (
    ApiRequestError,
    DatabaseError,
    DbConnectionError,
    JwtError,
    PgRestError,
    SchemaCacheError,
)
from .hooks import (
    Authenticator,
    Executor,
    Grammar,
    Hooks,
    Planner,
    Router,
    SchemaLoader,
    SettingsAware,
)
from .metrics import Metrics
from .observe import Event, LogfmtFormatter, LoggingObserver, Observer, configure_logging
from .plan.context import PlanContext, PlanPass
from .plan.model import (
    CallPlan,
    ColumnExpr,
    Cond,
    EmbedIsNull,
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
from .plan.tx import TransactionPlanner
from .plan.walk import RowsNode, assign, check, eq, restrict, rows_nodes, transform
from .request.grammar import Limits, PostgrestGrammar
from .request.model import (
    ApiRequest,
    EmbedModifiers,
    Field,
    Filter,
    JsonStep,
    LogicTree,
    MediaType,
    OpExpr,
    OrderTerm,
    Preferences,
    SelectEmbed,
    SelectField,
    Target,
)
from .request.operators import OPERATORS, Operator
from .response.build import Response
from .router import DefaultRouter
from .schema.model import QualifiedName, SchemaCache
from .schema.state import CatalogLoader
from .settings import ConfigError, Settings
from .sql.build import DbResult, Statement

__all__ = [
    "CALL_PASSES",
    "DEFAULT_PASSES",
    "OPERATORS",
    "READ_PASSES",
    "WRITE_PASSES",
    "AdminApp",
    "ApiRequest",
    "ApiRequestError",
    "AuthResult",
    "Authenticator",
    "CallPlan",
    "CatalogLoader",
    "ColumnExpr",
    "Cond",
    "ConfigError",
    "DatabaseError",
    "DbConnectionError",
    "DbResult",
    "DefaultRouter",
    "EmbedIsNull",
    "EmbedModifiers",
    "EmbedPlan",
    "Endpoint",
    "EndpointRequest",
    "Event",
    "Executor",
    "ExecutorWrapper",
    "Field",
    "Filter",
    "Grammar",
    "Hooks",
    "IsCond",
    "JsonStep",
    "JwtAuthenticator",
    "JwtError",
    "Limits",
    "LogfmtFormatter",
    "LoggingObserver",
    "LogicCond",
    "LogicTree",
    "MediaType",
    "Metrics",
    "MutatePlan",
    "Observer",
    "OpExpr",
    "Operator",
    "OrderBy",
    "OrderTerm",
    "Param",
    "PgRestApp",
    "PgRestError",
    "Plan",
    "PlanContext",
    "PlanPass",
    "Planner",
    "PostgrestGrammar",
    "Preferences",
    "PsycopgExecutor",
    "QualifiedName",
    "ReadPlan",
    "RequestContext",
    "Response",
    "Router",
    "RowsNode",
    "SchemaCache",
    "SchemaCacheError",
    "SchemaLoader",
    "SelectColumn",
    "SelectEmbed",
    "SelectField",
    "Settings",
    "SettingsAware",
    "SqlglotPlanner",
    "Statement",
    "Target",
    "TransactionPlanner",
    "TxSpec",
    "__version__",
    "assign",
    "check",
    "configure_logging",
    "eq",
    "restrict",
    "rows_nodes",
    "transform",
]
