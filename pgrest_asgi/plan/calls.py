"""Planning function calls (``/rpc/<name>``): pick the overload, bind the arguments, and
read the result like a table when it has rows. Pure.

Overloads are told apart as PostgREST tells them apart (its ``findProc``): by the *set of
argument names* given (the query string's, or the body's keys; none for a raw body), where
every required parameter must be present and every given name must be a parameter. A single
unnamed parameter takes part in this under the name ``""``. Only when no overload matches so
does a POST fall back to the overloads whose single unnamed parameter takes the whole body of
its Content-Type (json/jsonb for JSON, text, xml, bytea).

A single unnamed parameter is always called positionally with the whole of what was sent:
the raw body, or the JSON object of the arguments (``{"": "v"}``, ``{}``); see
``_positional_value``.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from ..errors import ApiRequestError, SchemaCacheError
from ..request.model import ApiRequest
from ..request.payload import FORM, JSON, RAW_BODY_TYPES, Payload, media_type
from ..schema.model import QualifiedName, Routine, SchemaCache, Table
from .context import PlanContext, PlanPass
from .fuzzy import NAME_MIN_SCORE, closest
from .model import (
    CallArg,
    CallPlan,
    ColumnExpr,
    ReadPlan,
    RowCheck,
    SelectColumn,
    pg_array_literal,
)
from .read import (
    negotiate_media,
    plan_columns,
    plan_count,
    plan_filters,
    plan_order,
    plan_paging,
)

__all__ = [
    "CALL_PASSES",
    "Resolved",
    "finish_call",
    "plan_arguments",
    "resolve_function",
    "resolve_routine",
]

#: Unnamed parameter types a function may take a whole request body through.
_RAW_PARAM_TYPES = frozenset({"json", "jsonb", "text", "xml", "bytea"})
#: The single unnamed parameter types a POST falls back to, by the body's media type.
_FALLBACK_TYPES: dict[str, tuple[str, ...]] = {
    JSON: ("json", "jsonb"),
    **{media: (pg_type,) for media, pg_type in RAW_BODY_TYPES.items()},
}


class Resolved(msgspec.Struct, frozen=True):
    """The overload a request calls, and how its arguments arrive."""

    routine: Routine
    #: The argument names given (query string, or the body's keys).
    given: tuple[str, ...]
    payload: Payload | None = None
    #: A raw body for a single unnamed text/xml/bytea parameter: that type.
    raw_type: str | None = None


def resolve_routine(request: ApiRequest, schema: SchemaCache) -> Resolved:
    """Pick the function a request calls (PGRST202/203 otherwise), as PostgREST does for
    GET, HEAD, OPTIONS (query-string arguments) and POST (the body's keys)."""
    target = request.target
    name = QualifiedName(target.schema, target.name)
    overloads = schema.routines.get(name, ())
    reads_body = request.method == "POST"
    media = media_type(request.content_type) if reads_body else None
    raw_type = RAW_BODY_TYPES.get(media) if media is not None else None
    payload = request.payload if reads_body else None
    given: tuple[str, ...]
    if raw_type is not None:
        given = ()
    elif reads_body:
        if payload is None:  # a grammar of a host's own that parses no body
            raise ApiRequestError.invalid_json()
        given = payload.keys
    else:
        given = tuple(dict.fromkeys(key for key, _ in request.rpc_args))
    routine = _choose(name, overloads, given, media, schema=schema)
    return Resolved(routine, given, payload, raw_type)


def resolve_function(plan: ReadPlan, ctx: PlanContext) -> ReadPlan:
    """The overload called (404 ``PGRST202`` / 300 ``PGRST203`` otherwise), and the relation
    its rows are: the table or view whose row type it returns (``SETOF orders`` is rows of
    ``orders``, so rules for ``orders`` apply), else a stand-in with no relation."""
    resolved = resolve_routine(ctx.request, ctx.schema)
    ctx.routine = resolved.routine
    ctx.resolved = resolved
    routine = resolved.routine
    relation = None
    if _returns_values(routine):
        # Values, not rows: nothing to select, filter or order by.
        ctx.request = _scalar_request(ctx.request)
        table = _pseudo_table(routine.schema, routine.name)
    else:
        table = _result_table(routine, ctx)
        if ctx.schema.tables.get(table.qualified) is table:
            relation = table.qualified
    ctx.table = table
    return msgspec.structs.replace(plan, table=QualifiedName("", table.name), relation=relation)


def plan_arguments(plan: ReadPlan, ctx: PlanContext) -> ReadPlan:
    """The call itself, as the plan's source: each argument a parameter (query string), a
    key of the JSON body parameter, or the raw body for a single unnamed parameter."""
    request, resolved = ctx.request, ctx.resolved
    assert isinstance(resolved, Resolved)
    routine, payload, raw_type = resolved.routine, resolved.payload, resolved.raw_type
    name = QualifiedName(routine.schema, routine.name)
    reads_body = request.method == "POST"
    args: list[CallArg] = []
    positional = None
    body_param = None
    if _single_unnamed(routine, None):
        param_type = routine.params[0].data_type
        sent = _positional_value(request, payload, raw_type)
        if param_type == "bytea":  # the bytes themselves, not their text
            sent = b"\\x" + sent.hex().encode()
        positional = (ctx.param(sent), param_type)
    elif reads_body:
        if payload is not None:  # None for a raw body, which names no arguments
            by_name = {p.name: p for p in routine.params}
            args = [
                CallArg(key, by_name[key].data_type, None, by_name[key].variadic)
                for key in resolved.given
            ]
            if args:
                form = media_type(request.content_type) == FORM
                payload = _fit_arguments(routine, payload, form=form)
                body_param = ctx.param(payload.json)
    else:
        values: dict[str, list[str]] = {}
        for key, value in request.rpc_args:
            values.setdefault(key, []).append(value)
        by_name = {p.name: p for p in routine.params}
        for key, items in values.items():
            param = by_name[key]
            # A repeated parameter fills a VARIADIC one (?v=1&v=2), as one array literal;
            # otherwise the last value wins.
            slot = ctx.param(pg_array_literal(items) if param.variadic else items[-1])
            args.append(CallArg(key, param.data_type, slot, param.variadic))

    hoisted = set(ctx.settings.db_hoisted_tx_settings)
    settings = tuple((k, v) for k, v in routine.settings if k in hoisted)
    prefs = request.preferences
    if prefs.handling == "strict" and prefs.max_affected is not None and not routine.returns_set:
        raise ApiRequestError.max_affected_not_setof()
    call = CallPlan(
        function=name,
        args=tuple(args),
        body=body_param,
        body_array=payload.array if payload is not None else False,
        positional=positional,
        single=not routine.returns_set,
        volatile=routine.volatility == "volatile",
        settings=settings,
    )
    if _returns_values(routine):
        call = msgspec.structs.replace(call, scalar="set" if routine.returns_set else "one")
    elif len(routine.out_params) == 1:  # one OUT/TABLE column: name it, rows still
        call = msgspec.structs.replace(call, columns=routine.out_params)
    return msgspec.structs.replace(plan, source=call)


def finish_call(plan: ReadPlan, ctx: PlanContext) -> ReadPlan:
    """A scalar result's one column, and the row-count checks (``max-affected``, singular)."""
    routine = ctx.routine
    assert routine is not None
    prefs = ctx.request.preferences
    checks: list[RowCheck] = []
    if prefs.handling == "strict" and prefs.max_affected is not None:
        checks.append(RowCheck(at_most=prefs.max_affected, error="max_affected"))
    if _returns_values(routine):
        select = (
            () if routine.return_kind == "void" else (SelectColumn(ColumnExpr("pgrst_scalar")),)
        )
        plan = msgspec.structs.replace(
            plan, select=select, representation=routine.return_kind != "void"
        )
    if plan.media == "singular":
        checks.append(RowCheck(exactly=1, error="singular"))
    if checks:
        plan = msgspec.structs.replace(plan, checks=tuple(checks))
    return plan


#: How a call to ``/rpc/<name>`` is planned, in order.
CALL_PASSES: tuple[PlanPass, ...] = (
    resolve_function,
    plan_arguments,
    negotiate_media,
    plan_columns,
    plan_filters,
    plan_order,
    plan_paging,
    plan_count,
    finish_call,
)


def _returns_values(routine: Routine) -> bool:
    """Values, not rows — or records whose columns PostgreSQL only knows at run time, which
    ``json_agg`` still names."""
    return routine.return_kind in ("scalar", "void", "record") and not routine.out_params


def _positional_value(request: ApiRequest, payload: Payload | None, raw_type: str | None) -> bytes:
    """What PostgREST passes to a single unnamed parameter, whichever way the overload was
    chosen: a raw body (text, XML, binary) as sent; a JSON body as sent, or ``[]`` for a
    JSON scalar; otherwise the arguments as one JSON object (a form body's fields, or the
    query string's, where at most the empty name can have matched: ``{"": "v"}`` or ``{}``).

    PostgREST's answers that follow look odd, and are matched: ``{"": "v"}`` (what
    postgrest-js sends for ``rpc('f', {'': 'v'})``) calls ``f(text)`` with the text
    ``{"": "v"}``, not ``v``; ``GET /rpc/f`` calls ``f(text DEFAULT 'd')`` with ``{}``, not its
    default; and an empty JSON body is the empty string, which no json parameter accepts
    (400 ``22P02``).
    """
    if raw_type is not None:
        return request.body or b""
    if request.method != "POST":
        last = {key: value for key, value in request.rpc_args}
        return _encode(last)
    assert payload is not None
    if media_type(request.content_type) == JSON and not request.body:
        return b""
    return payload.json


def _fit_arguments(routine: Routine, payload: Payload, *, form: bool) -> Payload:
    """A VARIADIC parameter given one value gets a one-element array; a repeated form field
    for any other parameter keeps its last value (as a repeated query argument does).
    The body is re-encoded only when something changes."""
    first = payload.first
    if first is None:
        return payload
    changed = dict(first)
    for param in routine.params:
        value = changed.get(param.name)
        if value is None:
            continue
        if param.variadic and not isinstance(value, list):
            changed[param.name] = [value]
        elif form and not param.variadic and isinstance(value, list):
            changed[param.name] = value[-1]
    if changed == first:
        return payload
    return Payload(_encode(changed), payload.keys, False, changed)


_encode = msgspec.json.Encoder().encode


def _scalar_request(request: ApiRequest) -> ApiRequest:
    """A scalar result has no columns to select, filter or order by."""
    return msgspec.structs.replace(request, select=(), filters=(), logic=(), order=(), embedded=())


def _pseudo_table(schema: str, name: str) -> Table:
    return Table(schema=schema, name=name, kind="view")


def _result_table(routine: Routine, ctx: PlanContext) -> Table:
    """The relation whose rows the function returns (embeds use its relationships), or a
    stand-in named after the type or the function."""
    if routine.return_kind == "composite" and routine.return_type_schema is not None:
        table = ctx.schema.table(routine.return_type_schema, routine.return_type)
        if table is not None:
            return table
        return _pseudo_table(routine.return_type_schema, routine.return_type)
    return _pseudo_table(routine.schema, routine.name)


def _choose(
    name: QualifiedName,
    overloads: Sequence[Routine],
    given: tuple[str, ...],
    media: str | None,
    *,
    schema: SchemaCache,
) -> Routine:
    """PostgREST's ``findProc``: the overloads the argument names fit; only when there are
    none, a POST's fallback to a single unnamed parameter of its Content-Type's type. More
    than one of either is 300 ``PGRST203``, none 404 ``PGRST202``. ``media`` is the body's
    media type (POST), ``None`` for the query string's arguments."""
    keys = set(given)
    raw_body = media in RAW_BODY_TYPES
    fallback_types = _FALLBACK_TYPES.get(media) if media is not None else None
    matched: list[Routine] = []
    fallback: list[Routine] = []
    for routine in overloads:
        if not callable_routine(routine):
            continue
        if _matches_params(routine, keys, raw_body=raw_body):
            matched.append(routine)
        elif fallback_types is not None and _single_unnamed(routine, fallback_types):
            fallback.append(routine)
    chosen = matched or fallback
    if len(chosen) == 1:
        return chosen[0]
    if chosen:
        raise SchemaCacheError.ambiguous_function([_signature(r) for r in chosen])
    usable = [r for r in overloads if callable_routine(r)]
    raw_type = RAW_BODY_TYPES.get(media) if media is not None else None
    raise _not_found(name, usable, sorted(keys), raw_type, json_body=media == JSON, schema=schema)


def _matches_params(routine: Routine, keys: set[str], *, raw_body: bool) -> bool:
    """Whether the argument names fit the parameters: all required ones given, none unknown
    (a single unnamed parameter is named ``""``). A function without parameters takes no
    arguments, nor a raw body; one whose parameters all have defaults takes any subset of
    them, so it is called without arguments for a raw body, which it ignores."""
    params = routine.params
    if not params:
        return not keys and not raw_body
    names = {p.name for p in params}
    return keys <= names and all(p.name in keys for p in params if p.required)


def callable_routine(routine: Routine) -> bool:
    """Whether a request can call it: every parameter named, or a single unnamed one of a
    type a whole body can fill (PostgREST leaves the others out of its schema cache)."""
    if all(p.name for p in routine.params):
        return True
    return _single_unnamed(routine, tuple(_RAW_PARAM_TYPES))


def _single_unnamed(routine: Routine, types: tuple[str, ...] | None) -> bool:
    params = routine.params
    if len(params) != 1 or params[0].name:
        return False
    return types is None or params[0].data_type in types


def _signature(routine: Routine) -> str:
    params = ", ".join(f"{p.name} => {p.data_type}" for p in routine.params)
    return f"{routine.schema}.{routine.name}({params})"


def _not_found(
    name: QualifiedName,
    overloads: Sequence[Routine],
    keys: list[str],
    raw_type: str | None,
    *,
    json_body: bool,
    schema: SchemaCache,
) -> SchemaCacheError:
    hint = None
    if raw_type is None:
        if overloads:
            # PostgREST's rule: the overload whose sorted parameter list reads closest to
            # the arguments given.
            def listed_params(names: Sequence[str]) -> str:
                return "(" + ", ".join(sorted(names)) + ")"

            signatures = [listed_params([p.name for p in r.params]) for r in overloads]
            close = closest(listed_params(keys), signatures)
            if close is not None:
                hint = f"Perhaps you meant to call the function {name}{close}"
        else:
            known = [
                q.name
                for q, routines in schema.routines.items()
                if q.schema == name.schema and any(callable_routine(r) for r in routines)
            ]
            close = closest(name.name, known, NAME_MIN_SCORE)
            if close is not None:
                hint = f"Perhaps you meant to call the function {name.schema}.{close}"
    return SchemaCacheError.function_not_found(
        str(name), keys, raw_type=raw_type, json_body=json_body, hint=hint
    )
