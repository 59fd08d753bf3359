"""The schema cache: an immutable picture of the exposed schemas, built by ``loader.py``.

Everything here is plain data (frozen ``msgspec.Struct``s) so it can be built once, shared by
every request without locks, encoded to JSON for snapshots, and swapped atomically on reload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import msgspec

__all__ = [
    "ANY_ELEMENT",
    "Cardinality",
    "Column",
    "ForeignKey",
    "Junction",
    "MediaHandler",
    "QualifiedName",
    "RelationKind",
    "Relationship",
    "Routine",
    "RoutineParam",
    "SchemaCache",
    "Table",
]

RelationKind = Literal["table", "view", "materialized_view", "foreign_table", "partitioned_table"]
Volatility = Literal["immutable", "stable", "volatile"]


class QualifiedName(msgspec.Struct, frozen=True, order=True):
    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


class Column(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    #: ``format_type`` of the column, e.g. ``integer``, ``character varying(20)``, ``my_domain``.
    data_type: str
    #: The base type when ``data_type`` is a domain, else the same as ``data_type``.
    base_type: str
    nullable: bool
    #: The default expression (``pg_get_expr``), or ``None``.
    default: str | None = None
    description: str | None = None
    max_length: int | None = None
    #: Labels of an enum type, in order; empty for other types.
    enum_values: tuple[str, ...] = ()
    is_generated: bool = False
    is_identity: bool = False
    #: Domain representations: the function of an implicit ``domain → json`` cast (applied to
    #: output) and of a ``text → domain`` cast (applied to filter values).
    json_cast: QualifiedName | None = None
    text_cast: QualifiedName | None = None
    #: ... and of a ``json → domain`` cast, applied to the column's value in a request body.
    json_in_cast: QualifiedName | None = None


class Table(msgspec.Struct, frozen=True, kw_only=True):
    """A table-like relation: table, view, materialized view, foreign or partitioned table."""

    schema: str
    name: str
    kind: RelationKind
    description: str | None = None
    columns: tuple[Column, ...] = ()
    #: Primary key columns in key order; for views, derived from the base table.
    primary_key: tuple[str, ...] = ()
    insertable: bool = False
    updatable: bool = False
    deletable: bool = False
    #: Some column has a domain representation (``Column.json_cast``/``text_cast``): the
    #: planner looks them up only then.
    has_representations: bool = False

    @property
    def qualified(self) -> QualifiedName:
        return QualifiedName(self.schema, self.name)

    def column(self, name: str) -> Column | None:
        for col in self.columns:
            if col.name == name:
                return col
        return None


class ForeignKey(msgspec.Struct, frozen=True, kw_only=True):
    """A foreign key ``table(columns) → foreign_table(foreign_columns)``.

    For views, keys are derived from the base tables' keys through the view definitions
    (recursively through chains of views); ``constraint`` keeps the base constraint's name.
    """

    constraint: str
    table: QualifiedName
    columns: tuple[str, ...]
    foreign_table: QualifiedName
    foreign_columns: tuple[str, ...]
    #: True when ``columns`` are also a primary key or unique key of ``table`` (one-to-one).
    one_to_one: bool = False


Cardinality = Literal["m2o", "o2m", "o2o", "m2m"]


class Junction(msgspec.Struct, frozen=True, kw_only=True):
    """The middle table of a many-to-many relationship."""

    table: QualifiedName
    #: The junction's key to the source: ``junction.source_columns → source.columns``.
    source_constraint: str
    source_columns: tuple[str, ...]
    #: The junction's key to the target: ``junction.target_columns → target.columns``.
    target_constraint: str
    target_columns: tuple[str, ...]


class Relationship(msgspec.Struct, frozen=True, kw_only=True):
    """``table`` can embed ``foreign_table``: ``table.columns`` match
    ``foreign_table.foreign_columns`` (through ``junction`` for many-to-many)."""

    table: QualifiedName
    foreign_table: QualifiedName
    cardinality: Cardinality
    constraint: str
    columns: tuple[str, ...]
    foreign_columns: tuple[str, ...]
    junction: Junction | None = None
    #: A computed relationship: ``function(parent row)`` returns the related rows; its name
    #: is also ``constraint``.
    function: QualifiedName | None = None

    @property
    def to_one(self) -> bool:
        return self.cardinality in ("m2o", "o2o")


class RoutineParam(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    data_type: str
    required: bool = True
    variadic: bool = False


class Routine(msgspec.Struct, frozen=True, kw_only=True):
    """A function callable as ``/rpc/<name>``."""

    schema: str
    name: str
    description: str | None = None
    params: tuple[RoutineParam, ...] = ()
    #: The return type: ``QualifiedName`` of a composite/table type, or a scalar type name.
    return_type: str
    return_type_schema: str | None = None
    returns_set: bool = False
    #: ``composite`` (a table or row type), ``scalar``, ``void``, or ``record`` (untyped).
    return_kind: Literal["composite", "scalar", "void", "record"] = "scalar"
    volatility: Volatility = "volatile"
    #: ``proconfig`` entries (``SET x = v`` on the function), as (name, value).
    settings: tuple[tuple[str, str], ...] = ()
    #: Estimated result rows (``prorows``); ``ROWS 1`` makes a computed relationship to-one.
    rows: float = 0.0
    #: The table whose row type the first argument has (``f(films)``), if any.
    row_argument: QualifiedName | None = None
    #: Names of the OUT, INOUT and TABLE parameters: the result's columns, even when
    #: there is just one (PostgREST answers objects for these).
    out_params: tuple[str, ...] = ()
    #: The types of ``out_params`` (``format_type`` names), in the same order.
    out_types: tuple[str, ...] = ()


#: Where ``SchemaCache.media_handlers`` keeps the handlers for any relation (aggregates over
#: ``anyelement``).
ANY_ELEMENT = QualifiedName("pg_catalog", "anyelement")


class MediaHandler(msgspec.Struct, frozen=True, kw_only=True):
    """A media type handler: an aggregate, or a function, whose result type is a domain named
    after a media type (``CREATE DOMAIN "text/html" AS text``).

    An aggregate over a relation's row type (or over ``anyelement``) turns the rows of that
    relation (of any) into the response body; a function returning the domain answers with
    its value as the body. Either makes its media type negotiable through ``Accept``.
    """

    #: The ``Accept`` type it answers, lower case; ``*/*`` answers any.
    media_type: str
    #: The ``Content-Type`` it is served as (``*/*``: ``application/octet-stream``).
    content_type: str
    #: The aggregate, or the function that returns the domain.
    function: QualifiedName
    #: ``False`` for a function: the body is its result, not an aggregate of rows.
    aggregate: bool = True
    #: The row type the aggregate takes (a table's or a view's); ``None`` for ``anyelement``
    #: (and for functions).
    target: QualifiedName | None = None
    #: The domain is over ``bytea``: the body is bytes, not text.
    binary: bool = False


class SchemaCache(msgspec.Struct, frozen=True, kw_only=True):
    """The loaded picture of the database, restricted to ``db_schemas`` (+ their keys)."""

    #: Exposed schemas, in the configured order.
    schemas: tuple[str, ...]
    tables: Mapping[QualifiedName, Table]
    foreign_keys: tuple[ForeignKey, ...] = ()
    #: Relationships by the relation that can embed (see ``relationships.py``).
    relationships: Mapping[QualifiedName, tuple[Relationship, ...]] = msgspec.field(
        default_factory=dict
    )
    routines: Mapping[QualifiedName, tuple[Routine, ...]] = msgspec.field(default_factory=dict)
    #: ``ALTER ROLE r SET k = v`` values the authenticator may re-apply, per role.
    role_settings: Mapping[str, tuple[tuple[str, str], ...]] = msgspec.field(default_factory=dict)
    #: ``default_transaction_isolation`` per role, when a role sets one.
    role_isolation: Mapping[str, str] = msgspec.field(default_factory=dict)
    #: ``server_version_num``.
    pg_version: int = 0
    #: PostGIS's ``ST_AsGeoJSON(record)`` when installed: enables ``application/geo+json``.
    geojson_function: QualifiedName | None = None
    #: ``COMMENT ON SCHEMA`` of the exposed schemas that have one (the OpenAPI ``info``).
    schema_descriptions: Mapping[str, str] = msgspec.field(default_factory=dict)
    #: Media type handlers by what they apply to (a relation's row type, a function's name,
    #: or ``ANY_ELEMENT``), then by the media type they answer.
    media_handlers: Mapping[QualifiedName, Mapping[str, MediaHandler]] = msgspec.field(
        default_factory=dict
    )

    def table(self, schema: str, name: str) -> Table | None:
        return self.tables.get(QualifiedName(schema, name))

    def table_names(self, schema: str) -> list[str]:
        return [q.name for q in self.tables if q.schema == schema]
