"""The parsed request: what the client asked for, before it is checked against the schema.

Produced by the grammar (``grammar.py``) from the query string and headers; consumed by the
planner. All structs are frozen and hashable so that plans built from them can key caches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

import msgspec

from .operators import Operator
from .payload import Payload

__all__ = [
    "GENERIC_TYPE_MODIFIERS",
    "KEYWORD_TYPES",
    "ApiRequest",
    "Filter",
    "JsonStep",
    "LogicTree",
    "MediaType",
    "OpExpr",
    "OrderTerm",
    "Preferences",
    "SelectEmbed",
    "SelectField",
    "SelectItem",
    "Target",
]

TargetKind = Literal["root", "relation", "rpc", "endpoint", "asgi"]
Method = Literal["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"]


class Target(msgspec.Struct, frozen=True):
    """What the path names: the root, a table/view or a function in a resolved schema, or a
    host's own endpoint (``Target.endpoint``) or ASGI app (``Target.asgi``)."""

    kind: TargetKind
    schema: str
    name: str = ""
    #: True when the schema came from an ``Accept-Profile``/``Content-Profile`` header.
    profile_given: bool = False
    #: The host's callable, for ``endpoint`` and ``asgi`` targets.
    handler: Any = None

    @classmethod
    def endpoint(
        cls, handler: Callable[[Any], Awaitable[Any]], schema: str = "", name: str = ""
    ) -> Target:
        """A host endpoint: ``async def handler(request: EndpointRequest) -> Response``,
        called after authentication; it may run SQL as the caller (``request.query``)."""
        return cls("endpoint", schema, name, handler=handler)

    @classmethod
    def asgi(cls, app: Callable[[Any, Any, Any], Awaitable[None]], name: str = "") -> Target:
        """A plain ASGI app, given the request as it arrived (no authentication: the app
        does its own)."""
        return cls("asgi", "", name, handler=app)


class JsonStep(msgspec.Struct, frozen=True, array_like=True):
    """One ``->key`` / ``->>key`` / ``->0`` step of a JSON path."""

    arrow: Literal["->", "->>"]
    key: str
    is_index: bool = False


class Field(msgspec.Struct, frozen=True, array_like=True):
    """A column (or computed field) name, with an optional JSON path."""

    name: str
    json_path: tuple[JsonStep, ...] = ()


#: The type names PostgreSQL's grammar spells with keywords, each with the number of type
#: modifiers it takes after its last word: ``numeric(10,2)``, ``character varying(20)``,
#: ``interval day to second(3)``. ``timestamp(3)``/``time(3)`` may be followed by
#: `` with time zone`` or `` without time zone``.
KEYWORD_TYPES: Mapping[str, int] = {
    **dict.fromkeys(("int", "integer", "smallint", "bigint", "real", "boolean"), 0),
    "double precision": 0,
    "float": 1,
    **dict.fromkeys(("decimal", "dec", "numeric"), 2),
    **dict.fromkeys(("bit", "bit varying"), 1),
    **dict.fromkeys(
        (
            f"{name}{varying}"
            for name in (
                "character",
                "char",
                "national character",
                "national char",
                "nchar",
            )
            for varying in ("", " varying")
        ),
        1,
    ),
    "varchar": 1,
    **dict.fromkeys(("timestamp", "time"), 1),
    **dict.fromkeys(
        (
            f"{name} {zone} time zone"
            for name in ("timestamp", "time")
            for zone in ("with", "without")
        ),
        0,
    ),
    "interval": 1,
    **{
        f"interval {fields}": int(fields.endswith("second"))
        for fields in (
            "year",
            "month",
            "day",
            "hour",
            "minute",
            "second",
            "year to month",
            "day to hour",
            "day to minute",
            "day to second",
            "hour to minute",
            "hour to second",
            "minute to second",
        )
    },
}
#: Modifiers any other type (one identifier, bare or quoted) may take: ``"my_type"(1,2)``.
GENERIC_TYPE_MODIFIERS = 2


class SelectField(msgspec.Struct, frozen=True, tag="field"):
    """``[alias:]name[->path][::cast]`` in ``select=``; ``*`` is ``name="*"``.

    ``cast`` and ``aggregate_cast`` are type names in a canonical spelling that PostgreSQL
    reads with the same meaning: one bare identifier or ``KEYWORD_TYPES`` name (lower case,
    single spaces), or one double-quoted identifier (``"My Type"``, quotes doubled); then
    ``(n)``/``(n,m)`` type modifiers (for ``timestamp``/``time`` before a time-zone suffix)
    and any number of ``[]``: ``numeric(10,2)``, ``timestamp(3) with time zone``, ``text[]``.
    """

    field: Field
    alias: str | None = None
    cast: str | None = None
    #: ``sum``/``avg``/``min``/``max``/``count`` for ``col.sum()`` (aggregates, later issue).
    aggregate: str | None = None
    aggregate_cast: str | None = None


class SelectEmbed(msgspec.Struct, frozen=True, tag="embed"):
    """``[alias:]relation[!hint][!inner|!left](items)``, ``...relation(items)`` or
    ``..relation(items)``."""

    relation: str
    items: tuple[SelectItem, ...]
    alias: str | None = None
    hint: str | None = None
    join: Literal["left", "inner"] | None = None
    spread: bool = False
    #: ``..relation(items)``: a spread whose to-many arrays keep distinct non-null values
    #: only (on a to-one spread outside any to-many spread, the same as ``...``).
    distinct: bool = False


SelectItem = SelectField | SelectEmbed


class OpExpr(msgspec.Struct, frozen=True):
    """``[not.]op[(any|all)|(lang)].value``.

    ``value`` is text for scalar operators and a tuple for ``in`` and ``(any)/(all)`` lists;
    for ``is`` it is the keyword (``null``, ``not_null``, ``true``, ``false``, ``unknown``).
    """

    operator: str
    value: str | tuple[str, ...]
    negated: bool = False
    quantifier: Literal["any", "all"] | None = None
    language: str | None = None
    #: The operator's entry in the grammar's table (its SQL): the planner uses it, so an
    #: operator added to the grammar's table works end to end.
    definition: Operator | None = None


class Filter(msgspec.Struct, frozen=True, tag="filter"):
    field: Field
    op: OpExpr


class LogicTree(msgspec.Struct, frozen=True, tag="logic"):
    """``or=(…)`` / ``and=(…)`` / ``not.or=(…)``, nesting filters and trees."""

    operator: Literal["and", "or"]
    children: tuple[Filter | LogicTree, ...]
    negated: bool = False


class OrderTerm(msgspec.Struct, frozen=True):
    field: Field
    direction: Literal["asc", "desc"] | None = None
    nulls: Literal["first", "last"] | None = None
    #: ``order=rel(col)``: the embedded relation the column belongs to.
    relation: str | None = None


class MediaType(msgspec.Struct, frozen=True):
    """A media type from ``Accept`` (lower-cased), with its parameters and q-value."""

    type: str
    params: tuple[tuple[str, str], ...] = ()
    q: float = 1.0

    def __str__(self) -> str:
        return self.type + "".join(f"; {k}={v}" for k, v in self.params)


class Preferences(msgspec.Struct, frozen=True, kw_only=True):
    """The ``Prefer`` header (RFC 7240), as PostgREST reads it."""

    return_: Literal["minimal", "headers-only", "representation"] | None = None
    count: Literal["exact", "planned", "estimated"] | None = None
    resolution: Literal["merge-duplicates", "ignore-duplicates"] | None = None
    missing: Literal["default", "null"] | None = None
    handling: Literal["strict", "lenient"] | None = None
    tx: Literal["commit", "rollback"] | None = None
    timezone: str | None = None
    max_affected: int | None = None
    #: Preferences that were not understood, in the order given.
    invalid: tuple[str, ...] = ()


class EmbedModifiers(msgspec.Struct, frozen=True, kw_only=True):
    """Filters, logic, order and paging aimed at an embedded resource (``rel.col=…``)."""

    path: tuple[str, ...]
    filters: tuple[Filter, ...] = ()
    logic: tuple[LogicTree, ...] = ()
    order: tuple[OrderTerm, ...] = ()
    limit: int | None = None
    offset: int | None = None


class ApiRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the client asked for, typed but not yet checked against the schema."""

    method: Method
    target: Target
    select: tuple[SelectItem, ...] = (SelectField(Field("*")),)
    filters: tuple[Filter, ...] = ()
    logic: tuple[LogicTree, ...] = ()
    order: tuple[OrderTerm, ...] = ()
    limit: int | None = None
    offset: int | None = None
    #: From the ``Range`` header (GET only): (first, last or None).
    range: tuple[int, int | None] | None = None
    embedded: tuple[EmbedModifiers, ...] = ()
    preferences: Preferences = Preferences()
    accept: tuple[MediaType, ...] = ()
    #: RPC arguments given in the query string (GET /rpc/f?a=1).
    rpc_args: tuple[tuple[str, str], ...] = ()
    #: ``?columns=`` for writes and RPC.
    columns: tuple[str, ...] | None = None
    on_conflict: tuple[str, ...] | None = None
    content_type: str | None = None
    #: The raw request body, passed through to PostgreSQL unchanged.
    body: bytes | None = None
    #: The body of a write or call, parsed (its keys, object or array); ``None`` when the
    #: request has none or a function takes it raw.
    payload: Payload | None = None
    #: The canonical query string (params sorted), for ``Content-Location``.
    canonical_query: str = ""
