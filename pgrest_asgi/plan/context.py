"""``PlanContext``: what every planner pass receives next to the plan. Pure.

A pass is a function ``(plan, ctx) -> plan``. Through ``ctx`` it reads the parsed request,
the request context (who is calling: ``ctx.auth``, ``ctx.headers``), the schema cache and the
settings, and it adds values to the statement's parameter list with ``ctx.param(value)``,
which returns the ``Param`` slot to put in the plan. Passes must never put a value into the
plan itself: plans are the key of the SQL-text cache, and values belong in parameters.

The other attributes are the built-in passes' working state for the plan being built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..context import RequestContext
from ..request.model import ApiRequest
from ..request.operators import OPERATORS, Operator
from ..schema.model import SchemaCache, Table
from ..settings import Settings
from .model import EmbedPlan, Param, ReadPlan

if TYPE_CHECKING:
    from ..auth.claims import AuthResult
    from ..schema.model import Routine

__all__ = ["PlanContext", "PlanPass"]


class PlanContext:
    """The request being planned, its caller, the schema, and the parameter list."""

    __slots__ = (
        "context",
        "embedded_names",
        "in_many_spread",
        "legacy_names",
        "level_embeds",
        "modifiers",
        "operators",
        "params",
        "request",
        "resolved",
        "routine",
        "schema",
        "settings",
        "table",
    )

    def __init__(
        self,
        request: ApiRequest,
        schema: SchemaCache,
        settings: Settings,
        context: RequestContext | None = None,
        *,
        operators: Mapping[str, Operator] = OPERATORS,
    ) -> None:
        self.request = request
        self.schema = schema
        self.settings = settings
        self.context = context or RequestContext(method=request.method, target=request.target)
        self.operators = operators
        self.params: list[Any] = []
        #: The relation whose rows are planned (a table, a view, or a function's result
        #: type), set by the first pass.
        self.table: Table | None = None
        #: The function a ``/rpc`` request calls, set by ``resolve_function``.
        self.routine: Routine | None = None
        #: How the call's arguments arrive (``calls.Resolved``), set with ``routine``.
        self.resolved: Any = None
        #: ``rel.col=…`` modifiers not yet claimed by an embed, by path.
        self.modifiers: dict[tuple[str, ...], Any] = {}
        self.embedded_names: set[str] = set()
        self.legacy_names: list[tuple[str, str]] = []
        #: The embeds of the level being planned, by output name (null filters, related order).
        self.level_embeds: dict[str, EmbedPlan] = {}
        #: Planning inside a to-many spread, whose columns must all be named.
        self.in_many_spread = False

    @property
    def auth(self) -> AuthResult:
        """Who the request runs as (shortcut for ``ctx.context.auth``)."""
        return self.context.auth

    @property
    def headers(self) -> Mapping[str, str]:
        """The request's headers, names lower-cased (shortcut for ``ctx.context.headers``)."""
        return self.context.headers

    def param(self, value: Any, cast: str | None = None) -> Param:
        """Add a value to the statement's parameters; returns the slot that refers to it
        (``$n``). ``cast`` is a type name the slot is cast to (``$n::int``)."""
        self.params.append(value)
        return Param(len(self.params), cast)


#: A planner pass: takes the plan so far and returns it, changed or not (never mutated:
#: plans are frozen; use ``msgspec.structs.replace``).
PlanPass = Callable[[ReadPlan, PlanContext], ReadPlan]
