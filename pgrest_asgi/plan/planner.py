"""The planner hook: ``ApiRequest`` + ``SchemaCache`` + ``RequestContext`` → ``Plan`` and
parameter values, then ``Plan`` → ``Statement``. Pure.

Planning is a tuple of passes per kind of request — ``READ_PASSES``, ``WRITE_PASSES``,
``CALL_PASSES`` — each pass a small pure function ``(plan, ctx) -> plan`` (sqlglot's optimizer
style), followed by the host's own ``passes`` for every kind. Replace or extend any tuple::

    planner = SqlglotPlanner(passes=(tenant_rule,))

A host pass sees the finished plan and the caller (``ctx.auth``); ``walk.transform`` visits
every place rows of a relation appear in it (the read, embeds at any depth, spreads, a
write's statement, a function's rows), so a rule written for a table cannot miss a case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..context import RequestContext
from ..observe import Observer
from ..request.model import ApiRequest
from ..request.operators import OPERATORS, Operator
from ..schema.model import QualifiedName, SchemaCache
from ..settings import Settings
from ..sql.build import Statement, build_entry, build_planned_count, without_unused
from .calls import CALL_PASSES
from .context import PlanContext, PlanPass
from .model import MutatePlan, Plan, ReadPlan, RowCheck
from .read import READ_PASSES
from .writes import WRITE_PASSES

__all__ = ["CALL_PASSES", "DEFAULT_PASSES", "READ_PASSES", "WRITE_PASSES", "SqlglotPlanner"]

#: The host passes a default planner runs after the built-in ones: none.
DEFAULT_PASSES: tuple[PlanPass, ...] = ()


class SqlglotPlanner:
    """The default planner: runs the pass tuples, then renders the plan with sqlglot (the
    SQL text is cached by the plan's shape, so a repeated shape skips sqlglot).

    ``settings`` may be left out when the app builds the planner's settings in: an app
    given a planner without settings binds its own (``bind``).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        passes: Sequence[PlanPass] = DEFAULT_PASSES,
        read_passes: Sequence[PlanPass] = READ_PASSES,
        write_passes: Sequence[PlanPass] = WRITE_PASSES,
        call_passes: Sequence[PlanPass] = CALL_PASSES,
        operators: Mapping[str, Operator] = OPERATORS,
    ) -> None:
        self.settings = settings or Settings()
        self._own = settings is not None
        self.passes = tuple(passes)
        self.read_passes = tuple(read_passes)
        self.write_passes = tuple(write_passes)
        self.call_passes = tuple(call_passes)
        self.operators = operators
        self._start: dict[tuple[str, str, bool], ReadPlan] = {}

    def bind(self, settings: Settings, observer: Observer | None = None) -> None:
        """Take the app's settings, unless the planner was built with its own."""
        if not self._own:
            self.settings = settings

    # -- hook API --------------------------------------------------------------------------
    def plan(
        self, request: ApiRequest, schema: SchemaCache, context: RequestContext | None = None
    ) -> tuple[Plan, list[Any]]:
        """Run the passes for this kind of request, then the host's; returns the plan and
        the values of its parameters."""
        ctx = PlanContext(request, schema, self.settings, context, operators=self.operators)
        target = request.target
        head = request.method == "HEAD"
        # The starting plan depends on the target alone: plans are immutable, so one serves.
        plan = self._start.get((target.schema, target.name, head))
        if plan is None:
            name = QualifiedName(target.schema, target.name)
            plan = ReadPlan(table=name, relation=name, select=(), head=head)
            if len(self._start) < 4096:
                self._start[(target.schema, target.name, head)] = plan
        for step in self.passes_for(request):
            plan = step(plan, ctx)
        for step in self.passes:
            plan = step(plan, ctx)
        return plan, ctx.params

    def passes_for(self, request: ApiRequest) -> tuple[PlanPass, ...]:
        """The built-in passes for a request: a call, a read, or a write."""
        if request.target.kind == "rpc":
            return self.call_passes
        if request.method in ("GET", "HEAD"):
            return self.read_passes
        return self.write_passes

    def build(self, plan: Plan, params: Sequence[Any]) -> Statement:
        """The plan as SQL text and its parameter values (and the planned-count statement)."""
        plan, params = without_unused(plan, params)
        count_sql, count_params = None, ()
        if plan.count in ("planned", "estimated"):
            count_sql, used = build_planned_count(plan)
            count_params = tuple(params[i - 1] for i in used)
        sql, relations = build_entry(plan)
        writes = None
        checks = plan.checks
        if isinstance(plan.source, MutatePlan):
            writes = plan.source.table
            if plan.source.check:
                checks = (*checks, RowCheck(error="rule", table=writes.name))
        if plan.explain is not None:
            return Statement(
                sql, tuple(params), explain=plan.explain.format, relations=relations, writes=writes
            )
        return Statement(
            sql,
            tuple(params),
            count_sql,
            count_params,
            checks=checks,
            relations=relations,
            writes=writes,
        )
