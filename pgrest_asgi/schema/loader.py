"""Build the ``SchemaCache`` from the system catalogs.

``load_schema_cache`` runs a fixed set of catalog queries (``queries.py``) inside one read-only
REPEATABLE READ transaction, so every query sees the same snapshot, then assembles them here:

* relations and their columns (exposed schemas only, partitions excluded);
* primary keys and foreign keys; a foreign key is kept when both ends are exposed;
* keys of views: each view's stored query tree says which base column every output column
  passes through unchanged (``resorigtbl``/``resorigcol``). Following those links through
  chains of views (in the exposed and extra schemas) maps view columns to base-table columns,
  so a view that shows all columns of a base primary key gets that key, and a view that shows
  all columns of either end of a foreign key takes part in that key, in both directions;
* routines, media type handlers, role settings and the server version.

Nothing is emitted here; the caller times the load and reports it.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, cast

import psycopg
from psycopg import pq
from psycopg.rows import dict_row
from psycopg.types.json import JsonbLoader, JsonLoader
from psycopg.types.string import TextLoader

from pgrest_asgi.schema import queries
from pgrest_asgi.schema.model import (
    ANY_ELEMENT,
    Column,
    ForeignKey,
    MediaHandler,
    QualifiedName,
    RelationKind,
    Routine,
    RoutineParam,
    SchemaCache,
    Table,
)
from pgrest_asgi.schema.relationships import relationships_by_source

__all__ = ["build_schema_cache", "load_schema_cache", "parse_view_columns"]

_KINDS: dict[str, RelationKind] = {
    "r": "table",
    "v": "view",
    "m": "materialized_view",
    "f": "foreign_table",
    "p": "partitioned_table",
}
_VOLATILITY: dict[str, Literal["immutable", "stable", "volatile"]] = {
    "i": "immutable",
    "s": "stable",
    "v": "volatile",
}
# pg_relation_is_updatable() bits: 1 << CMD_UPDATE (2), CMD_INSERT (3), CMD_DELETE (4).
_CAN_UPDATE, _CAN_INSERT, _CAN_DELETE = 4, 8, 16

#: At most this many column combinations per (key, view): a view can show one base column
#: under several names, and every combination is a valid key.
_MAX_COMBINATIONS = 16
_MAX_VIEW_DEPTH = 64

Row = dict[str, Any]
ColRef = tuple[int, int]  # (relation oid, attnum)


async def load_schema_cache(
    conn: psycopg.AsyncConnection[Any],
    schemas: Sequence[str],
    extra_search_path: Sequence[str] = (),
) -> SchemaCache:
    """Read the catalogs for ``schemas`` (the exposed ones, in order) and build the cache.

    ``extra_search_path`` schemas are not exposed, but views there are followed when deriving
    the keys of views. On an idle connection (autocommit or not) all queries run in one
    ``REPEATABLE READ READ ONLY`` transaction, and the connection is left as it was found
    (autocommit flag restored, no transaction open). If the caller already has a transaction
    open, the queries run inside it, within a savepoint that is released afterwards.
    """
    exposed = list(dict.fromkeys(schemas))
    view_schemas = list(dict.fromkeys([*exposed, *extra_search_path]))

    status = conn.info.transaction_status
    if status == pq.TransactionStatus.INTRANS:
        # The caller has a transaction open (e.g. an implicit one after ``RESET ROLE`` on a
        # non-autocommit connection): read inside it, in a savepoint so that a failure does not
        # abort the caller's transaction. Its isolation level decides snapshot consistency.
        await conn.execute("SAVEPOINT pgrest_schema_cache")
        try:
            rows = await _run_queries(conn, exposed, view_schemas, restore=True)
        except BaseException:
            if not conn.closed:
                with contextlib.suppress(psycopg.Error):
                    await conn.execute("ROLLBACK TO SAVEPOINT pgrest_schema_cache")
            raise
        await conn.execute("RELEASE SAVEPOINT pgrest_schema_cache")
        return build_schema_cache(exposed, **rows)
    if status != pq.TransactionStatus.IDLE:
        raise psycopg.ProgrammingError(
            f"load_schema_cache needs a usable connection (transaction status: {status.name})"
        )

    was_autocommit = conn.autocommit
    if not was_autocommit:
        await conn.set_autocommit(True)
    try:
        await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            rows = await _run_queries(conn, exposed, view_schemas, restore=False)
        except BaseException:
            if not conn.closed:
                with contextlib.suppress(psycopg.Error):
                    await conn.execute("ROLLBACK")
            raise
        await conn.execute("ROLLBACK")  # read only: nothing to commit
    finally:
        if not was_autocommit and not conn.closed:
            await conn.set_autocommit(False)
    return build_schema_cache(exposed, **rows)


_cursor_class: type[psycopg.AsyncCursor[Any]] = psycopg.AsyncCursor
_STANDARD_LOADERS = (("text", TextLoader), ("json", JsonLoader), ("jsonb", JsonbLoader))


async def _run_queries(
    conn: psycopg.AsyncConnection[Any],
    schemas: list[str],
    view_schemas: list[str],
    *,
    restore: bool,
) -> dict[str, Any]:
    # A plain cursor with psycopg's standard loaders: the pool's connections may use a raw
    # cursor factory and bytes loaders for json/text (the request hot path), not wanted here.
    async with _cursor_class(conn, row_factory=dict_row) as cur:
        for type_name, loader in _STANDARD_LOADERS:
            cur.adapters.register_loader(type_name, loader)

        async def fetch(query: str, params: Mapping[str, object] | None = None) -> list[Row]:
            # Never prepared: these run once per reload, and poolers may not keep statements.
            await cur.execute(query, params, prepare=False)
            return await cur.fetchall()

        meta = (await fetch(queries.META, {"schemas": schemas}))[0]
        pg_version = int(meta["pg_version"])
        if pg_version >= 150000:
            roles = await fetch(queries.ROLE_SETTINGS_PG15)
        else:
            roles = await fetch(queries.ROLE_SETTINGS_PG14, {"is_superuser": meta["is_superuser"]})
        rows = {
            "pg_version": pg_version,
            "geojson_schema": meta["geojson_schema"],
            "relations": await fetch(queries.RELATIONS, {"schemas": schemas}),
            "columns": await fetch(queries.COLUMNS, {"schemas": schemas}),
            "keys": await fetch(queries.KEYS),
            "views": await fetch(queries.VIEW_DEFINITIONS, {"view_schemas": view_schemas}),
            "routines": await fetch(queries.ROUTINES, {"schemas": schemas}),
            "media_handlers": meta["media_handlers"] or [],
            "role_settings": roles,
            "schema_descriptions": meta["schema_descriptions"] or {},
        }
        if restore:
            # META emptied the search path; the caller's transaction goes on with its own.
            await fetch(queries.RESTORE_SEARCH_PATH, {"previous": meta["previous"]})
        return rows


# --------------------------------------------------------------------------------------------
# View definitions


# One run of a TargetEntry's scalar fields, after its ``:expr`` node.
_TLE_FIELDS = re.compile(
    r":resno (\d+) :resname \S+ :ressortgroupref \d+ :resorigtbl (\d+) :resorigcol (\d+)"
    r" :resjunk (true|false)"
)
_ESCAPED = re.compile(r"\\.", re.DOTALL)
# Depth of a top-level TargetEntry's fields: "(" rule list, "{QUERY", "(" targetList,
# "{TARGETENTRY". Entries of subqueries, CTEs and sublinks are always nested deeper.
_TOP_TLE_DEPTH = 4


def parse_view_columns(definition: str) -> dict[int, ColRef]:
    """Map a view's output columns (attnum) to the base columns they show unchanged.

    ``definition`` is ``pg_rewrite.ev_action::text`` of the view's ``_RETURN`` rule. Only
    the top-level query's target list counts: an entry whose ``resorigtbl`` is non-zero is a
    plain reference to column ``resorigcol`` of relation ``resorigtbl`` (itself possibly a
    view). Computed columns, and every column of a set operation, have no origin.
    """
    # Escaped characters (``\(``, ``\{``, ``\ `` in names) are not structure: blank them out
    # so that bracket counting sees only real node and list delimiters.
    text = _ESCAPED.sub("_", definition)
    out: dict[int, ColRef] = {}
    depth = 0
    pos = 0
    for match in _TLE_FIELDS.finditer(text):
        chunk = text[pos : match.start()]
        depth += chunk.count("(") + chunk.count("{") - chunk.count(")") - chunk.count("}")
        pos = match.start()
        if depth != _TOP_TLE_DEPTH or match.group(4) == "true":
            continue
        resno, origtbl, origcol = int(match.group(1)), int(match.group(2)), int(match.group(3))
        if origtbl and origcol > 0:
            out.setdefault(resno, (origtbl, origcol))
    return out


# --------------------------------------------------------------------------------------------
# Assembly


def build_schema_cache(
    schemas: Sequence[str],
    *,
    pg_version: int,
    relations: list[Row],
    columns: list[Row],
    keys: list[Row],
    views: list[Row],
    routines: list[Row],
    role_settings: list[Row],
    geojson_schema: str | None = None,
    schema_descriptions: Mapping[str, str] | None = None,
    media_handlers: list[Row] | None = None,
) -> SchemaCache:
    """Assemble a ``SchemaCache`` from the rows of the catalog queries."""
    names: dict[int, QualifiedName] = {}
    col_names: dict[int, dict[int, str]] = defaultdict(dict)
    cols_by_rel: dict[int, list[Column]] = defaultdict(list)
    for row in columns:
        relid = int(row["relid"])
        col_names[relid][int(row["attnum"])] = row["name"]
        cols_by_rel[relid].append(_column(row))
    for rel in relations:
        names[int(rel["oid"])] = QualifiedName(rel["schema"], rel["name"])

    # Base links: view column -> column it shows, followed to the end of the chain.
    links: dict[int, dict[int, ColRef]] = {
        int(v["oid"]): parse_view_columns(v["definition"]) for v in views if v["definition"]
    }
    resolved = _resolve_view_columns(links)
    # For every base column: the exposed views' columns that show it.
    shown_by: dict[ColRef, list[ColRef]] = defaultdict(list)
    for view_oid in sorted(resolved):
        if view_oid not in names:
            continue
        for attnum, origin in sorted(resolved[view_oid].items()):
            shown_by[origin].append((view_oid, attnum))

    def exposures(relid: int, attnums: Sequence[int]) -> list[tuple[int, tuple[str, ...]]]:
        """Each exposed relation showing all of ``relid``'s ``attnums``, with its column names
        for them (the relation itself first when it is exposed)."""
        found: list[tuple[int, tuple[str, ...]]] = []
        if relid in names and all(a in col_names[relid] for a in attnums):
            found.append((relid, tuple(col_names[relid][a] for a in attnums)))
        per_col: list[dict[int, list[int]]] = []
        for attnum in attnums:
            per_view: dict[int, list[int]] = defaultdict(list)
            for view_oid, view_attnum in shown_by.get((relid, attnum), ()):
                per_view[view_oid].append(view_attnum)
            per_col.append(per_view)
        if not per_col:
            return found
        candidates = set(per_col[0]).intersection(*per_col[1:])
        for view_oid in sorted(candidates, key=lambda o: names[o]):
            combos = itertools.product(*(pc[view_oid] for pc in per_col))
            for combo in itertools.islice(combos, _MAX_COMBINATIONS):
                found.append((view_oid, tuple(col_names[view_oid][a] for a in combo)))
        return found

    primary: dict[int, tuple[str, ...]] = {}
    view_pks: dict[int, list[str]] = defaultdict(list)
    unique_sets: dict[int, list[frozenset[int]]] = defaultdict(list)
    for key in keys:
        if key["contype"] not in ("p", "u"):
            continue
        relid = int(key["relid"])
        attnums = [int(a) for a in key["attnums"]]
        unique_sets[relid].append(frozenset(attnums))
        if key["contype"] != "p":
            continue
        primary[relid] = tuple(key["columns"])
        seen: set[int] = set()
        for view_oid, cols in exposures(relid, attnums):
            if view_oid == relid or view_oid in seen:
                continue
            seen.add(view_oid)  # first combination only
            for col in cols:
                if col not in view_pks[view_oid]:
                    view_pks[view_oid].append(col)

    fks: dict[tuple[object, ...], ForeignKey] = {}
    for key in keys:
        if key["contype"] != "f" or key["frelid"] is None:
            continue
        relid, frelid = int(key["relid"]), int(key["frelid"])
        attnums = [int(a) for a in key["attnums"]]
        one_to_one = frozenset(attnums) in unique_sets.get(relid, ())
        targets = exposures(frelid, [int(a) for a in key["fattnums"]])
        if not targets:
            continue
        for src, src_cols in exposures(relid, attnums):
            for dst, dst_cols in targets:
                fk = ForeignKey(
                    constraint=key["name"],
                    table=names[src],
                    columns=src_cols,
                    foreign_table=names[dst],
                    foreign_columns=dst_cols,
                    one_to_one=one_to_one,
                )
                ident = (fk.constraint, fk.table, fk.columns, fk.foreign_table, fk.foreign_columns)
                fks.setdefault(ident, fk)

    tables: dict[QualifiedName, Table] = {}
    for rel in relations:
        oid = int(rel["oid"])
        kind = _KINDS[rel["relkind"]]
        mask = int(rel["write_mask"] or 0)
        pk = primary.get(oid) or tuple(view_pks.get(oid, ()))
        table_columns = tuple(cols_by_rel.get(oid, ()))
        tables[names[oid]] = Table(
            schema=rel["schema"],
            name=rel["name"],
            kind=kind,
            description=rel["description"],
            columns=table_columns,
            has_representations=any(c.json_cast or c.text_cast for c in table_columns),
            primary_key=pk,
            insertable=bool(mask & _CAN_INSERT),
            updatable=bool(mask & _CAN_UPDATE),
            deletable=bool(mask & _CAN_DELETE),
        )

    role_values, role_isolation = _role_settings(role_settings)
    routine_map = _routines(routines)
    foreign_keys = tuple(
        sorted(fks.values(), key=lambda f: (f.table, f.constraint, f.foreign_table))
    )
    return SchemaCache(
        schemas=tuple(schemas),
        tables=tables,
        foreign_keys=foreign_keys,
        relationships=relationships_by_source(
            tables,
            foreign_keys,
            (r for overloads in routine_map.values() for r in overloads),
        ),
        routines=routine_map,
        role_settings=role_values,
        role_isolation=role_isolation,
        pg_version=pg_version,
        geojson_function=QualifiedName(geojson_schema, "st_asgeojson") if geojson_schema else None,
        schema_descriptions=dict(schema_descriptions or {}),
        media_handlers=_media_handlers(media_handlers or ()),
    )


#: Media types PostgREST serves with ``; charset=utf-8`` (other names, and
#: ``application/octet-stream``, go without).
_CHARSET_TYPES = frozenset(
    {
        "application/json",
        "application/geo+json",
        "application/openapi+json",
        "application/x-www-form-urlencoded",
        "text/csv",
        "text/plain",
        "text/xml",
    }
)
#: Types ``Accept`` always gets from PostgREST's own handlers: a domain cannot take them over.
_VENDOR_ONLY = frozenset(
    {
        "application/vnd.pgrst.object",
        "application/vnd.pgrst.object+json",
        "application/vnd.pgrst.plan",
        "application/vnd.pgrst.plan+text",
        "application/vnd.pgrst.plan+json",
    }
)
#: PostgREST reads these names as ``application/json``; so does a domain named after them.
_JSON_ALIASES = frozenset({"application/vnd.pgrst.array", "application/vnd.pgrst.array+json"})


def _media_handlers(rows: Iterable[Row]) -> dict[QualifiedName, dict[str, MediaHandler]]:
    """Handlers by what they apply to (a row type, a function, or ``ANY_ELEMENT``), then by
    media type; the first of two for the same pair wins (rows come in exposed-schema order)."""
    handlers: dict[QualifiedName, dict[str, MediaHandler]] = defaultdict(dict)
    for row in rows:
        media: str = row["media_type"].lower()
        if media in _VENDOR_ONLY:
            continue
        if media in _JSON_ALIASES:
            media = "application/json"
        if media == "*/*":
            content_type = "application/octet-stream"
        elif media in _CHARSET_TYPES:
            content_type = media + "; charset=utf-8"
        else:
            content_type = media
        function = QualifiedName(row["schema"], row["name"])
        target = _function(row["target_schema"], row["target_name"])
        aggregate = bool(row["aggregate"])
        key = (target or ANY_ELEMENT) if aggregate else function
        handlers[key].setdefault(
            media,
            MediaHandler(
                media_type=media,
                content_type=content_type,
                function=function,
                aggregate=aggregate,
                target=target,
                binary=bool(row["binary"]),
            ),
        )
    return dict(handlers)


def _resolve_view_columns(links: dict[int, dict[int, ColRef]]) -> dict[int, dict[int, ColRef]]:
    """Follow each view column through views (those in ``links``) down to the first relation
    that is not a parsed view: a base table, or a view outside the followed schemas."""
    resolved: dict[int, dict[int, ColRef]] = {}
    for view_oid, mapping in links.items():
        out: dict[int, ColRef] = {}
        for attnum, first in mapping.items():
            ref: ColRef | None = first
            for _ in range(_MAX_VIEW_DEPTH):
                if ref is None or ref[0] not in links:
                    break
                # None: the inner view computes this column, so it has no base column.
                ref = links[ref[0]].get(ref[1])
            if ref is not None and ref[0] not in links:
                out[attnum] = ref
        resolved[view_oid] = out
    return resolved


def _column(row: Row) -> Column:
    return Column(
        name=row["name"],
        data_type=row["data_type"],
        base_type=row["base_type"],
        nullable=bool(row["nullable"]),
        default=row["default"],
        description=row["description"],
        max_length=row["max_length"],
        enum_values=tuple(row["enum_values"] or ()),
        is_generated=bool(row["is_generated"]),
        is_identity=bool(row["is_identity"]),
        json_cast=_function(row["json_cast_schema"], row["json_cast_name"]),
        text_cast=_function(row["text_cast_schema"], row["text_cast_name"]),
        json_in_cast=_function(row["json_in_cast_schema"], row["json_in_cast_name"]),
    )


def _function(schema: str | None, name: str | None) -> QualifiedName | None:
    return QualifiedName(schema, name) if schema and name else None


def _routines(rows: Iterable[Row]) -> dict[QualifiedName, tuple[Routine, ...]]:
    grouped: dict[QualifiedName, list[Routine]] = defaultdict(list)
    for row in rows:
        names: list[str] = row["arg_names"] or []
        types: list[str] = row["arg_types"] or []
        modes: list[str] = row["arg_modes"] or []
        n_required = len(types) - int(row["n_defaults"] or 0)
        params = tuple(
            RoutineParam(
                name=name,
                data_type=_PARAM_TYPES.get(typ, typ),
                required=i < n_required,
                variadic=mode == "v",
            )
            for i, (name, typ, mode) in enumerate(zip(names, types, modes, strict=True))
        )
        typtype = row["ret_typtype"]
        ret_schema: str | None = None
        kind: Literal["composite", "scalar", "void", "record"]
        if typtype == "c":
            kind, ret_type, ret_schema = "composite", row["ret_name"], row["ret_schema"]
        elif typtype == "p" and row["ret_name"] == "record":
            kind, ret_type = "record", "record"
        elif typtype == "p" and row["ret_name"] == "void":
            kind, ret_type = "void", "void"
        else:
            kind, ret_type = "scalar", row["ret_type"]
        routine = Routine(
            schema=row["schema"],
            name=row["name"],
            description=row["description"],
            params=params,
            return_type=ret_type,
            return_type_schema=ret_schema,
            returns_set=bool(row["returns_set"]),
            return_kind=kind,
            volatility=_VOLATILITY.get(row["volatility"], "volatile"),
            settings=tuple(_split_setting(item) for item in row["config"] or ()),
            rows=float(row["prorows"] or 0.0),
            row_argument=_function(row["row_arg_schema"], row["row_arg_name"]),
            out_params=tuple(row["out_names"] or ()),
            out_types=tuple(row["out_types"] or ()),
        )
        grouped[QualifiedName(row["schema"], row["name"])].append(routine)
    return {name: tuple(overloads) for name, overloads in grouped.items()}


#: Argument values are cast to the parameter's type, which has no length: ``character`` and
#: ``bit`` would cut a value to one character, so their varying forms are used (as PostgREST).
_PARAM_TYPES = {
    "character": "character varying",
    "character[]": "character varying[]",
    "bit": "bit varying",
    "bit[]": "bit varying[]",
}


def _split_setting(item: str) -> tuple[str, str]:
    name, _, value = item.partition("=")
    return name, value


def _role_settings(
    rows: Iterable[Row],
) -> tuple[dict[str, tuple[tuple[str, str], ...]], dict[str, str]]:
    """Rows come ordered per role with all-database values first, so a database-specific
    value for the same parameter overwrites the general one."""
    values: dict[str, dict[str, str]] = defaultdict(dict)
    isolation: dict[str, str] = {}
    for row in rows:
        role, name, value = row["role"], cast(str, row["name"]), cast(str, row["value"])
        if name.lower() == "default_transaction_isolation":
            isolation[role] = value
        if row["applicable"]:
            values[role][name] = value
        else:  # the value this role really gets cannot be re-applied: drop any general one
            values[role].pop(name, None)
    return (
        {role: tuple(kv.items()) for role, kv in values.items() if kv},
        isolation,
    )
