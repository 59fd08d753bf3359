"""The per-request preamble: one ``SELECT set_config(...)`` statement, fully parameterised.

Order (PostgREST's): search_path, the impersonated role's own settings,
role, request.jwt.claims, request.method, request.path, request.headers, request.cookies,
[timezone], then hoisted function settings and ``app.settings.*``. Every call passes
``is_local = true``, so nothing outlives the transaction.

The SQL text depends only on how many settings there are, so it is cached by that shape.
"""

from __future__ import annotations

from functools import lru_cache

from ..plan.model import TxSpec
from ..schema.model import QualifiedName

__all__ = ["begin_sql", "guc_statement", "pre_request_sql", "quote_ident", "search_path_value"]


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def search_path_value(schemas: tuple[str, ...]) -> str:
    """The ``search_path`` value: each schema as a quoted identifier, comma-separated."""
    return ", ".join(quote_ident(s) for s in schemas)


@lru_cache(maxsize=256)
def _guc_sql(n_role: int, timezone: bool, n_extra: int, read_only: bool, jit_off: bool) -> str:
    calls = ["pg_catalog.set_config('search_path', $1, true)"]
    if read_only:
        # For transactions opened implicitly by the pipeline (no BEGIN … READ ONLY).
        calls.insert(0, "pg_catalog.set_config('transaction_read_only', 'on', true)")
    if jit_off:
        # Before the role's own settings: an ``ALTER ROLE … SET jit = on`` still wins.
        calls.append("pg_catalog.set_config('jit', 'off', true)")
    n = 1
    for _ in range(n_role):
        calls.append(f"pg_catalog.set_config(${n + 1}, ${n + 2}, true)")
        n += 2
    for name in (
        "role",
        "request.jwt.claims",
        "request.method",
        "request.path",
        "request.headers",
        "request.cookies",
    ):
        n += 1
        calls.append(f"pg_catalog.set_config('{name}', ${n}, true)")
    if timezone:
        n += 1
        calls.append(f"pg_catalog.set_config('timezone', ${n}, true)")
    for _ in range(n_extra):
        calls.append(f"pg_catalog.set_config(${n + 1}, ${n + 2}, true)")
        n += 2
    return "SELECT " + ", ".join(calls)


def guc_statement(tx: TxSpec, *, set_read_only: bool = False) -> tuple[str, list[str]]:
    """The preamble and its parameters; ``set_read_only`` makes the transaction read-only
    from inside (used when no ``BEGIN … READ ONLY`` opened it)."""
    params: list[str] = [tx.search_path]
    for key, value in tx.role_settings:
        params += (key, value)
    params += (tx.role, tx.claims_json, tx.method, tx.path, tx.headers_json, tx.cookies_json)
    if tx.timezone is not None:
        params.append(tx.timezone)
    for key, value in tx.settings:
        params += (key, value)
    shape = (
        len(tx.role_settings),
        tx.timezone is not None,
        len(tx.settings),
        set_read_only,
        tx.jit_off,
    )
    return _guc_sql(*shape), params


_ISOLATION = {
    "read committed": "READ COMMITTED",
    "repeatable read": "REPEATABLE READ",
    "serializable": "SERIALIZABLE",
}


@lru_cache(maxsize=16)
def begin_sql(isolation: str | None, read_only: bool) -> str:
    level = _ISOLATION.get((isolation or "read committed").lower(), "READ COMMITTED")
    return f"BEGIN ISOLATION LEVEL {level} {'READ ONLY' if read_only else 'READ WRITE'}"


@lru_cache(maxsize=16)
def pre_request_sql(name: QualifiedName) -> str:
    """``SELECT "schema"."fn"()``; the name comes from configuration, quoted all the same."""
    if name.schema:
        return f"SELECT {quote_ident(name.schema)}.{quote_ident(name.name)}()"
    return f"SELECT {quote_ident(name.name)}()"
