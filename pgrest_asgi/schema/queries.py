"""The catalog queries behind the schema cache (run by ``loader.py``).

Every query reads the system catalogs only, takes its inputs as bind parameters (``%(name)s``;
never formatted into the text) and returns flat rows that ``loader.py`` assembles. There is one
query per category, never one per table, so the cache loads in a fixed number of round trips
whatever the size of the schema. Literal ``%`` signs must be written ``%%`` (psycopg syntax).

Parameters:

* ``schemas``: the exposed schemas (``text[]``).
* ``view_schemas``: the exposed plus the extra search-path schemas (``text[]``); views there are
  parsed so that keys can be followed through chains of views.

Minimum server: PostgreSQL 14 (the minimum PostgREST supports).
"""

from __future__ import annotations

__all__ = [
    "COLUMNS",
    "KEYS",
    "META",
    "RELATIONS",
    "RESTORE_SEARCH_PATH",
    "ROLE_SETTINGS_PG14",
    "ROLE_SETTINGS_PG15",
    "ROUTINES",
    "VIEW_DEFINITIONS",
]

#: Puts back the search path ``META`` cleared (``previous``), when the caller's transaction goes
#: on after the load.
RESTORE_SEARCH_PATH = """
SELECT pg_catalog.set_config('search_path', %(previous)s, true) AS restored
"""

#: Server version, and who is loading (role settings depend on the loader's privileges). Also
#: empties the search path for the rest of the transaction (PostgREST does the same), returning
#: the value it had as ``previous``: ``format_type``, ``regclass`` and ``pg_get_expr`` then
#: qualify every object outside ``pg_catalog`` with its schema, so a type name or a default
#: read here means the same object whatever the search path of the request that uses it.
#: With them, the few things that need one row each: PostGIS, schema comments, and the media
#: type handlers (as JSON).
META = """
SELECT
  before.previous,
  pg_catalog.set_config('search_path', '', true) AS cleared,
  current_setting('server_version_num')::int AS pg_version,
  current_user::text AS current_user,
  coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user), false)
    AS is_superuser,
  -- PostGIS's ST_AsGeoJSON(record, …), for application/geo+json responses.
  (SELECT n.nspname::text FROM pg_catalog.pg_proc p
   JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
   WHERE p.proname = 'st_asgeojson' AND p.proargtypes[0] = 'pg_catalog.record'::regtype
   ORDER BY p.oid LIMIT 1) AS geojson_schema,
  -- COMMENT ON SCHEMA of the exposed schemas that have one (the OpenAPI info).
  (SELECT pg_catalog.json_object_agg(n.nspname, d.description)
   FROM pg_catalog.pg_namespace n
   JOIN pg_catalog.pg_description d
     ON d.objoid = n.oid AND d.classoid = 'pg_catalog.pg_namespace'::regclass
   WHERE n.nspname = ANY(%(schemas)s)) AS schema_descriptions,
  -- Media type handlers (a JSON array, here to save a round trip). A media type is a domain
  -- named like one (type/subtype, or */*); a handler, in an exposed schema, returns such a
  -- domain and is either an aggregate of one argument, a relation's row type or anyelement,
  -- or a function that returns one value (not a set). binary: the domain is over bytea
  -- (through any domains over domains). In exposed-schema order: the first of two that
  -- answer the same wins.
  (WITH RECURSIVE
   media(oid, media_type, base) AS (
     SELECT t.oid, lower(t.typname::text), t.typbasetype
     FROM pg_catalog.pg_type t
     WHERE t.typtype = 'd'
       AND (t.typname::text ~ '^[A-Za-z0-9.-]+/[A-Za-z0-9.+-]+$' OR t.typname = '*/*')
     UNION ALL
     SELECT media.oid, media.media_type, t.typbasetype
     FROM media
     JOIN pg_catalog.pg_type t ON t.oid = media.base
     WHERE t.typtype = 'd'
   ),
   media_base AS (
     SELECT media.oid, media.media_type,
            media.base = 'pg_catalog.bytea'::regtype::oid AS binary
     FROM media
     JOIN pg_catalog.pg_type b ON b.oid = media.base
     WHERE b.typtype <> 'd'
   ),
   handlers AS (
     SELECT
       array_position(%(schemas)s::text[], n.nspname::text) AS position,
       p.oid,
       n.nspname::text AS schema,
       p.proname::text AS name,
       p.prokind = 'a' AS aggregate,
       CASE WHEN rel.oid IS NOT NULL THEN argn.nspname::text END AS target_schema,
       CASE WHEN rel.oid IS NOT NULL THEN arg.typname::text END AS target_name,
       m.media_type,
       m.binary
     FROM media_base m
     JOIN pg_catalog.pg_proc p ON p.prorettype = m.oid
     JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
     LEFT JOIN pg_catalog.pg_type arg ON p.prokind = 'a' AND arg.oid = p.proargtypes[0]
     LEFT JOIN pg_catalog.pg_namespace argn ON argn.oid = arg.typnamespace
     LEFT JOIN pg_catalog.pg_class rel
       ON rel.oid = arg.typrelid AND rel.relkind IN ('r', 'v', 'm', 'f', 'p')
     WHERE n.nspname = ANY(%(schemas)s::text[])
       AND (
         (p.prokind = 'f' AND NOT p.proretset)
         OR (
           p.prokind = 'a' AND p.pronargs = 1
           AND (rel.oid IS NOT NULL OR arg.oid = 'pg_catalog.anyelement'::regtype::oid)
         )
       )
   )
   SELECT pg_catalog.json_agg(
     pg_catalog.json_build_object(
       'schema', h.schema, 'name', h.name, 'aggregate', h.aggregate,
       'target_schema', h.target_schema, 'target_name', h.target_name,
       'media_type', h.media_type, 'binary', h.binary
     ) ORDER BY h.position, h.name, h.oid
   )
   FROM handlers h) AS media_handlers
FROM (SELECT pg_catalog.current_setting('search_path') AS previous OFFSET 0) AS before
"""

#: Table-like relations in the exposed schemas (in their configured order); no partitions.
#: ``write_mask`` uses the bits of ``pg_relation_is_updatable``: 8 insert, 4 update, 16 delete.
RELATIONS = """
SELECT
  c.oid::int8 AS oid,
  n.nspname::text AS schema,
  c.relname::text AS name,
  c.relkind::text AS relkind,
  d.description AS description,
  CASE
    WHEN c.relkind IN ('r', 'p') THEN 28
    WHEN c.relkind = 'v' THEN pg_catalog.pg_relation_is_updatable(c.oid::regclass, true)
    -- pg_relation_is_updatable() raises for a foreign table whose wrapper has no handler
    WHEN c.relkind = 'f' AND EXISTS (
      SELECT FROM pg_catalog.pg_foreign_table ft
      JOIN pg_catalog.pg_foreign_server fs ON fs.oid = ft.ftserver
      JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = fs.srvfdw
      WHERE ft.ftrelid = c.oid AND w.fdwhandler <> 0
    ) THEN pg_catalog.pg_relation_is_updatable(c.oid::regclass, true)
    ELSE 0
  END AS write_mask
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_description d
  ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p')
  AND NOT c.relispartition
  AND n.nspname = ANY(%(schemas)s::text[])
ORDER BY array_position(%(schemas)s::text[], n.nspname::text), c.relname
"""

#: Columns of the relations selected by ``RELATIONS``, in ``attnum`` order.
#: Domains are followed down to their base type (through domains over domains); a domain's
#: NOT NULL makes the column non-nullable; the column's own default wins over the domain's.
COLUMNS = """
WITH RECURSIVE
dom(oid, base, typmod, not_null, defexpr) AS (
  SELECT t.oid, t.typbasetype, t.typtypmod, t.typnotnull, pg_catalog.pg_get_expr(t.typdefaultbin, 0)
  FROM pg_catalog.pg_type t
  WHERE t.typtype = 'd'
  UNION ALL
  SELECT dom.oid, t.typbasetype, t.typtypmod, dom.not_null OR t.typnotnull,
         coalesce(dom.defexpr, pg_catalog.pg_get_expr(t.typdefaultbin, 0))
  FROM dom
  JOIN pg_catalog.pg_type t ON t.oid = dom.base
  WHERE t.typtype = 'd'
),
dom_base AS (
  SELECT dom.* FROM dom
  JOIN pg_catalog.pg_type b ON b.oid = dom.base
  WHERE b.typtype <> 'd'
),
-- Domain representations: PostgreSQL ignores casts to or from a domain when coercing, so
-- their functions are applied explicitly (domain -> json for output, text -> domain for
-- filter values, json -> domain for request bodies). Implicit casts involving a domain.
domain_casts AS (
  SELECT c.castsource, c.casttarget, fn.nspname::text AS schema, p.proname::text AS name
  FROM pg_catalog.pg_cast c
  JOIN pg_catalog.pg_proc p ON p.oid = c.castfunc
  JOIN pg_catalog.pg_namespace fn ON fn.oid = p.pronamespace
  WHERE c.castcontext = 'i' AND EXISTS (
    SELECT FROM pg_catalog.pg_type t
    WHERE t.typtype = 'd' AND t.oid IN (c.castsource, c.casttarget)
  )
),
enums AS (
  SELECT e.enumtypid, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
  FROM pg_catalog.pg_enum e
  GROUP BY e.enumtypid
),
cols AS (
  SELECT
    a.attrelid,
    a.attnum,
    a.attname,
    a.atttypid,
    a.atttypmod,
    a.attnotnull,
    a.attgenerated,
    a.attidentity,
    coalesce(db.base, a.atttypid) AS base_oid,
    CASE WHEN db.oid IS NULL THEN a.atttypmod ELSE db.typmod END AS base_typmod,
    coalesce(db.not_null, false) AS dom_notnull,
    db.defexpr AS dom_default
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN dom_base db ON db.oid = a.atttypid
  WHERE a.attnum > 0
    AND NOT a.attisdropped
    AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
    AND NOT c.relispartition
    AND n.nspname = ANY(%(schemas)s::text[])
)
SELECT
  cols.attrelid::int8 AS relid,
  cols.attnum::int AS attnum,
  cols.attname::text AS name,
  pg_catalog.format_type(cols.atttypid, cols.atttypmod) AS data_type,
  pg_catalog.format_type(cols.base_oid, cols.base_typmod) AS base_type,
  NOT (cols.attnotnull OR cols.dom_notnull) AS nullable,
  CASE
    WHEN cols.attgenerated <> '' THEN NULL
    WHEN cols.attidentity <> '' AND seq.oid IS NOT NULL
      THEN 'nextval(' || quote_literal(seq.oid::regclass::text) || '::regclass)'
    ELSE coalesce(pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), cols.dom_default)
  END AS "default",
  d.description AS description,
  CASE
    WHEN cols.base_typmod < 0 THEN NULL
    WHEN cols.base_oid IN ('pg_catalog.bpchar'::regtype, 'pg_catalog.varchar'::regtype)
      THEN cols.base_typmod - 4
    WHEN cols.base_oid IN ('pg_catalog.bit'::regtype, 'pg_catalog.varbit'::regtype)
      THEN cols.base_typmod
  END AS max_length,
  enums.labels AS enum_values,
  cols.attgenerated <> '' AS is_generated,
  cols.attidentity <> '' AS is_identity,
  json_cast.schema AS json_cast_schema,
  json_cast.name AS json_cast_name,
  text_cast.schema AS text_cast_schema,
  text_cast.name AS text_cast_name,
  json_in_cast.schema AS json_in_cast_schema,
  json_in_cast.name AS json_in_cast_name
FROM cols
LEFT JOIN enums ON enums.enumtypid = cols.base_oid
LEFT JOIN domain_casts json_cast ON cols.base_oid <> cols.atttypid
  AND json_cast.castsource = cols.atttypid AND json_cast.casttarget = 'pg_catalog.json'::regtype
LEFT JOIN domain_casts text_cast ON cols.base_oid <> cols.atttypid
  AND text_cast.castsource = 'pg_catalog.text'::regtype AND text_cast.casttarget = cols.atttypid
LEFT JOIN domain_casts json_in_cast ON cols.base_oid <> cols.atttypid
  AND json_in_cast.castsource = 'pg_catalog.json'::regtype
  AND json_in_cast.casttarget = cols.atttypid
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = cols.attrelid AND ad.adnum = cols.attnum
LEFT JOIN pg_catalog.pg_description d
  ON d.objoid = cols.attrelid AND d.classoid = 'pg_catalog.pg_class'::regclass
  AND d.objsubid = cols.attnum
LEFT JOIN pg_catalog.pg_depend dep
  ON cols.attidentity <> ''
  AND dep.refclassid = 'pg_catalog.pg_class'::regclass
  AND dep.refobjid = cols.attrelid AND dep.refobjsubid = cols.attnum
  AND dep.classid = 'pg_catalog.pg_class'::regclass AND dep.deptype = 'i'
LEFT JOIN pg_catalog.pg_class seq ON seq.oid = dep.objid AND seq.relkind = 'S'
ORDER BY cols.attrelid, cols.attnum
"""

#: Primary keys, unique constraints and foreign keys of every user table (not only the exposed
#: ones: views in the exposed schemas often sit on tables in private schemas). Inherited
#: constraint clones on partitions are skipped (``conparentid``). Key columns keep key order.
KEYS = """
SELECT
  con.conname::text AS name,
  con.contype::text AS contype,
  con.conrelid::int8 AS relid,
  con.conkey::int[] AS attnums,
  ARRAY(
    SELECT a.attname::text
    FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
    ORDER BY k.ord
  ) AS columns,
  nullif(con.confrelid, 0)::int8 AS frelid,
  con.confkey::int[] AS fattnums,
  ARRAY(
    SELECT a.attname::text
    FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
    ORDER BY k.ord
  ) AS fcolumns
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype IN ('p', 'u', 'f')
  AND con.conparentid = 0
  AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND NOT pg_catalog.pg_is_other_temp_schema(n.oid)
ORDER BY con.conrelid, con.conname
"""

#: Stored query trees (``pg_node_tree`` text) of the views and materialized views in the exposed
#: and extra schemas. The loader reads each top-level target entry's ``resorigtbl``/``resorigcol``
#: to map view columns to the columns they pass through unchanged.
VIEW_DEFINITIONS = """
SELECT
  c.oid::int8 AS oid,
  r.ev_action::text AS definition
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_rewrite r ON r.ev_class = c.oid AND r.ev_type = '1' AND r.is_instead
WHERE c.relkind IN ('v', 'm')
  AND n.nspname = ANY(%(view_schemas)s::text[])
"""

#: Plain functions (no aggregates, window functions or procedures) in the exposed schemas that
#: can be called from SQL: nothing taking ``internal``, no trigger or handler functions.
#: Input parameters only (modes IN, INOUT, VARIADIC), in declaration order.
ROUTINES = """
SELECT
  p.oid::int8 AS oid,
  n.nspname::text AS schema,
  p.proname::text AS name,
  d.description AS description,
  args.names AS arg_names,
  args.types AS arg_types,
  args.modes AS arg_modes,
  p.pronargdefaults::int AS n_defaults,
  rt.typtype::text AS ret_typtype,
  rn.nspname::text AS ret_schema,
  rt.typname::text AS ret_name,
  pg_catalog.format_type(p.prorettype, NULL) AS ret_type,
  p.proretset AS returns_set,
  p.provolatile::text AS volatility,
  p.proconfig::text[] AS config,
  p.prorows::float8 AS prorows,
  -- OUT, INOUT and TABLE parameters: the result is rows with these columns.
  outs.names AS out_names,
  outs.types AS out_types,
  -- A first argument of a table's row type (computed fields and relationships).
  at.typname::text AS row_arg_name,
  atn.nspname::text AS row_arg_schema
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_type declared ON declared.oid = p.prorettype
-- A domain over a composite type returns that type's rows.
JOIN pg_catalog.pg_type rt ON rt.oid = CASE
    WHEN declared.typtype = 'd' AND EXISTS (
      SELECT FROM pg_catalog.pg_type b WHERE b.oid = declared.typbasetype AND b.typtype = 'c'
    ) THEN declared.typbasetype
    ELSE declared.oid
  END
JOIN pg_catalog.pg_namespace rn ON rn.oid = rt.typnamespace
LEFT JOIN pg_catalog.pg_type at ON at.oid = p.proargtypes[0] AND at.typrelid <> 0
LEFT JOIN pg_catalog.pg_namespace atn ON atn.oid = at.typnamespace
LEFT JOIN pg_catalog.pg_description d
  ON d.objoid = p.oid AND d.classoid = 'pg_catalog.pg_proc'::regclass AND d.objsubid = 0
LEFT JOIN LATERAL (
  SELECT
    array_agg(coalesce(a.name, '') ORDER BY a.ord) AS names,
    array_agg(pg_catalog.format_type(a.type, NULL) ORDER BY a.ord) AS types,
    array_agg(coalesce(a.mode, 'i') ORDER BY a.ord) AS modes
  FROM unnest(
    coalesce(p.proallargtypes, p.proargtypes::oid[]),
    p.proargmodes::text[],
    p.proargnames
  ) WITH ORDINALITY AS a(type, mode, name, ord)
  WHERE coalesce(a.mode, 'i') IN ('i', 'b', 'v')
) args ON true
LEFT JOIN LATERAL (
  SELECT
    array_agg(coalesce(o.name, '') ORDER BY o.ord) AS names,
    array_agg(pg_catalog.format_type(o.type, NULL) ORDER BY o.ord) AS types
  FROM unnest(p.proallargtypes, p.proargmodes::text[], p.proargnames)
    WITH ORDINALITY AS o(type, mode, name, ord)
  WHERE o.mode IN ('o', 'b', 't')
) outs ON true
WHERE p.prokind = 'f'
  AND n.nspname = ANY(%(schemas)s::text[])
  AND p.prorettype NOT IN (
    'pg_catalog.trigger'::regtype, 'pg_catalog.event_trigger'::regtype,
    'pg_catalog.internal'::regtype, 'pg_catalog.language_handler'::regtype,
    'pg_catalog.fdw_handler'::regtype, 'pg_catalog.index_am_handler'::regtype,
    'pg_catalog.tsm_handler'::regtype, 'pg_catalog.table_am_handler'::regtype
  )
  AND NOT ('pg_catalog.internal'::regtype::oid = ANY(p.proargtypes::oid[]))
ORDER BY array_position(%(schemas)s::text[], n.nspname::text), p.proname, p.oid
"""

_ROLE_SETTINGS = """
WITH
raw AS (
  SELECT s.setrole, s.setdatabase, cfg.item, cfg.ord
  FROM pg_catalog.pg_db_role_setting s
  CROSS JOIN LATERAL unnest(s.setconfig) WITH ORDINALITY AS cfg(item, ord)
  WHERE s.setrole <> 0
    AND s.setdatabase IN (
      0, (SELECT db.oid FROM pg_catalog.pg_database db WHERE db.datname = current_database())
    )
),
kv AS (
  SELECT
    raw.setrole, raw.setdatabase, raw.ord,
    split_part(raw.item, '=', 1) AS name,
    substr(raw.item, strpos(raw.item, '=') + 1) AS value
  FROM raw
)
SELECT
  r.rolname::text AS role,
  kv.name AS name,
  kv.value AS value,
  kv.setdatabase <> 0 AS database_specific,
  ({applicable}) AS applicable
FROM kv
JOIN pg_catalog.pg_roles r ON r.oid = kv.setrole
LEFT JOIN pg_catalog.pg_settings ps ON ps.name = lower(kv.name)
ORDER BY r.rolname, kv.setdatabase <> 0, kv.ord
"""

# A setting is re-applicable by the loading role when it may SET it: USERSET parameters and
# custom placeholders (``app.x``, absent from pg_settings) always; on PG >= 15 also parameters
# it holds ``SET`` privilege on (``GRANT SET ON PARAMETER``); on 14, SUSET ones for a superuser.

#: Per-role ``ALTER ROLE … SET`` values (all databases and the current one), PG >= 15.
#: No parameters.
ROLE_SETTINGS_PG15 = _ROLE_SETTINGS.format(
    applicable="coalesce(ps.context = 'user', true)"
    " OR pg_catalog.has_parameter_privilege(current_user, kv.name, 'SET')"
)

#: Per-role ``ALTER ROLE … SET`` values, PG 14 (no parameter privileges yet).
#: Parameter: ``is_superuser`` (bool).
ROLE_SETTINGS_PG14 = _ROLE_SETTINGS.format(
    applicable="coalesce(ps.context = 'user', true)"
    " OR (ps.context = 'superuser' AND %(is_superuser)s::bool)"
)
