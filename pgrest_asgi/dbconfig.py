"""In-database configuration (``db-config``, ``db-pre-config``): PostgREST's ``pgrst.*`` role
settings of the authenticator, read as PostgREST reads them. I/O.

Three places may give a setting, highest priority first:

1. ``ALTER ROLE authenticator IN DATABASE app SET pgrst.db_max_rows = '5'``;
2. ``ALTER ROLE authenticator SET pgrst.db_max_rows = '5'``;
3. the ``db-pre-config`` function, which calls ``set_config('pgrst.db_max_rows', '5', true)``.

``ALTER DATABASE app SET pgrst.…`` alone counts for nothing (as in PostgREST). Only the keys
PostgREST reads from the database are asked for (``config.BY_DB_NAME``). The query runs in a
read-only transaction that is rolled back, so whatever the pre-config function sets is gone
afterwards.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from .config import BY_DB_NAME

__all__ = ["read_in_database_config"]

_ROLE_SETTINGS = """
WITH role_setting AS (
  SELECT s.setdatabase AS database, pg_catalog.unnest(s.setconfig) AS setting
  FROM pg_catalog.pg_db_role_setting s
  WHERE s.setrole = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
    AND s.setdatabase IN (
      0, (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_catalog)
    )
),
kv AS (
  SELECT database,
         pg_catalog.substr(setting, 1, pg_catalog.strpos(setting, '=') - 1) AS k,
         pg_catalog.substr(setting, pg_catalog.strpos(setting, '=') + 1) AS v
  FROM role_setting
  {pre_config}
)
SELECT DISTINCT ON (k) pg_catalog.substr(k, 7) AS key, v AS value
FROM kv
WHERE k = ANY(%(names)s::text[]) AND v IS NOT NULL
ORDER BY k, database DESC NULLS LAST
"""

_PRE_CONFIG = """
  UNION ALL
  SELECT NULL::oid, x, pg_catalog.current_setting(x, true)
  FROM pg_catalog.unnest(%(names)s::text[]) AS x
  JOIN {function}() AS pre_config ON true
"""


def _function(name: str) -> sql.Composable:
    """``db-pre-config``'s function, quoted: ``schema.name`` or a bare ``name``."""
    return sql.Identifier(*name.split(".", 1))


async def read_in_database_config(
    conn: psycopg.AsyncConnection[Any], pre_config: str | None = None
) -> dict[str, str]:
    """The in-database settings by name without ``pgrst.`` (``{"db_max_rows": "5"}``), on
    an idle connection of the authenticator. Raises ``psycopg.Error`` (e.g. the pre-config
    function does not exist)."""
    extra = (
        sql.SQL(_PRE_CONFIG).format(function=_function(pre_config)) if pre_config else sql.SQL("")
    )
    query = sql.SQL(_ROLE_SETTINGS).format(pre_config=extra)
    names = ["pgrst." + name for name in sorted(BY_DB_NAME)]
    async with conn.transaction(force_rollback=True):
        await conn.execute("SET TRANSACTION READ ONLY")
        async with conn.cursor() as cur:
            await cur.execute(query, {"names": names}, prepare=False)
            rows = await cur.fetchall()
    return {_text(key): _text(value) for key, value in rows}


def _text(value: object) -> str:
    # The pool's connections may load text as bytes (the request hot path's loaders).
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
