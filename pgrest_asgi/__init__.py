"""pgrest_asgi: PostgREST's REST API over PostgreSQL, as an ASGI library.

from pgrest_asgi import PgRestApp
app = PgRestApp("postgresql://authenticator@/db", schemas=["api"], db_anon_role="web_anon")

The names below are imported when first read (``pgrest_asgi.PgRestApp`` imports
``pgrest_asgi.app`` then), so that importing the package itself stays cheap: pytest loads
the package's plugin in every run where it is installed, and a run that uses none of it
should not pay for sqlglot, psycopg and the JOSE library (about half a second).
"""

import ast as _ast
import importlib as _importlib
import typing as _typing
from pathlib import Path as _Path

from ._version import __version__

# The one list of where each public name lives: read by type checkers as it is, and by
# ``__getattr__`` (parsed from this file) at run time.
if _typing.TYPE_CHECKING:
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


def _where() -> dict[str, str]:
    """Each name of the ``if TYPE_CHECKING:`` block above → its module (relative)."""
    tree = _ast.parse(_Path(__file__).read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, _ast.If) and getattr(node.test, "attr", None) == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, _ast.ImportFrom) and stmt.level == 1 and stmt.module:
                    for alias in stmt.names:
                        found[alias.asname or alias.name] = "." + stmt.module
    return found


if not _typing.TYPE_CHECKING:
    # Only at run time: a type checker reads the imports above, and reports a name that is
    # not there (with a module ``__getattr__`` it would take any name).
    _WHERE: dict[str, str] | None = None

    def __getattr__(name: str) -> _typing.Any:
        global _WHERE
        if _WHERE is None:
            _WHERE = _where()
        module = _WHERE.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(_importlib.import_module(module, __name__), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
