"""``GET /``: the OpenAPI description of the API: PostgREST's Swagger 2.0 document, or
OpenAPI 3.1 when ``Accept`` asks for it (or ``openapi-version = 3.1``). I/O.

The document is built from the schema cache by ``openapi/`` (pure). Under ``openapi-mode =
follow-privileges`` (the default) it describes what the requesting role may use: that is the
one piece of database work, a query run as the caller in a read-only transaction like any
request's. Documents are kept per schema cache, exposed schema and privileges, so a repeated
``GET /`` costs the privileges query and a lookup; a schema reload starts afresh.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from .cache import BoundedCache
from .context import RequestContext
from .errors import ApiRequestError
from .openapi import (
    OpenApiDisabledError,
    Privileges,
    ServerLocation,
    openapi31_document,
    swagger_document,
)
from .plan.tx import TransactionPlanner
from .request.model import ApiRequest, Target
from .response.build import Response, with_vary
from .schema.model import QualifiedName, SchemaCache
from .settings import Settings
from .sql.build import host_statement

if TYPE_CHECKING:
    from .hooks import Executor

__all__ = ["PRIVILEGES_SQL", "RootDocument", "root_spec_context"]

#: What ``Accept`` may ask the root for: the configured default document, or OpenAPI 3.1.
_DEFAULT_TYPES = frozenset({"application/openapi+json", "application/json", "*/*", "application/*"})
_OAS31 = "application/vnd.oai.openapi+json"
_CONTENT_TYPES = {
    "2.0": b"application/openapi+json; charset=utf-8",
    "3.1": b"application/vnd.oai.openapi+json;version=3.1; charset=utf-8",
}

#: What the caller may use, as PostgREST's OpenAPI asks it (its ``accessibleTables`` and
#: ``accessibleFuncs``): relations it owns or holds any privilege on, with the privileges it
#: holds, and functions it may execute. ``$1`` is the exposed schema.
PRIVILEGES_SQL = """
SELECT 'relation' AS kind, n.nspname::text AS schema, c.relname::text AS name,
  ARRAY(SELECT p FROM pg_catalog.unnest('{SELECT,INSERT,UPDATE,DELETE}'::text[]) AS p
        WHERE pg_catalog.has_table_privilege(c.oid, p)
           OR (p <> 'DELETE' AND pg_catalog.has_any_column_privilege(c.oid, p))) AS privileges
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'r', 'm', 'f', 'p') AND NOT c.relispartition AND n.nspname = $1
  AND (pg_catalog.pg_has_role(c.relowner, 'USAGE')
       OR pg_catalog.has_table_privilege(
            c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
       OR pg_catalog.has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))
UNION ALL
SELECT DISTINCT 'function', n.nspname::text, p.proname::text, NULL::text[]
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = $1 AND pg_catalog.has_function_privilege(p.oid, 'EXECUTE')
ORDER BY 1, 2, 3
"""


def root_spec_context(context: RequestContext, function: str) -> RequestContext:
    """``db-root-spec``: the root request as a call of ``function`` in the request's schema;
    ``Accept: application/openapi+json`` asks it for JSON."""
    accept = context.headers.get("accept")
    headers = context.headers
    if accept is not None and "application/openapi+json" in accept:
        replaced = accept.replace("application/openapi+json", "application/json")
        headers = {**context.headers, "accept": replaced}
    target = Target("rpc", context.target.schema, function, context.target.profile_given)
    return msgspec.structs.replace(context, target=target, headers=headers)


class _Usable(msgspec.Struct, frozen=True):
    kind: str
    schema: str
    name: str
    privileges: list[str] | None = None


_decode_usable = msgspec.json.Decoder(list[_Usable])


class RootDocument:
    """Answers ``GET``/``HEAD /`` with the document for the request's schema and caller."""

    def __init__(self, settings: Settings, executor: Executor, transactions: TransactionPlanner):
        self.settings = settings
        self.executor = executor
        self.transactions = transactions
        # Few distinct privilege sets exist in practice; a document of a large schema is about
        # 1 MB, so the cache stays small.
        self._documents: BoundedCache[tuple[str, str, bytes, str], bytes] = BoundedCache(32)
        self._built_for: SchemaCache | None = None

    async def respond(
        self, request: ApiRequest, context: RequestContext, schema: SchemaCache
    ) -> Response:
        settings = self.settings
        if settings.openapi_mode == "disabled":
            raise ApiRequestError.openapi_disabled()
        version = self._version(request)
        if schema is not self._built_for:  # a reload: documents of the old cache are stale
            self._documents.clear()
            self._built_for = schema
        name = request.target.schema
        key = b""
        if settings.openapi_mode == "follow-privileges":
            key = await self._usable(context, schema, name)
        body = self._documents.get((version, name, key, context.mount_path))
        if body is None:
            privileges = _privileges(key) if key else None
            try:
                if version == "3.1":
                    body = openapi31_document(
                        schema,
                        settings,
                        schema_name=name,
                        privileges=privileges,
                        location=self._relative(context),
                    )
                else:
                    body = swagger_document(
                        schema, settings, schema_name=name, privileges=privileges
                    )
            except OpenApiDisabledError:
                raise ApiRequestError.openapi_disabled() from None
            self._documents.put((version, name, key, context.mount_path), body)
        headers = [(b"content-type", _CONTENT_TYPES[version])]
        if len(settings.db_schemas) > 1:
            headers.append((b"content-profile", name.encode()))
        return Response(200, with_vary(headers), body, head=request.method == "HEAD")

    def _relative(self, context: RequestContext) -> ServerLocation | None:
        """OpenAPI 3.1 without ``openapi-server-proxy-uri``: the server is where the app is
        mounted, as a relative URL, so "Try it out" reaches the API behind any mount."""
        if self.settings.openapi_server_proxy_uri:
            return None
        return ServerLocation("", "", 0, context.mount_path or "/")

    def _version(self, request: ApiRequest) -> str:
        """The first producible document type in ``Accept`` (ordered by q)."""
        if not request.accept:
            return self.settings.openapi_version
        for media in request.accept:
            if media.type == _OAS31 and dict(media.params).get("version", "3.1") == "3.1":
                return "3.1"
            if media.type in _DEFAULT_TYPES:
                return self.settings.openapi_version
        raise ApiRequestError.not_acceptable([str(m) for m in request.accept])

    async def privileges(
        self, context: RequestContext, schema: SchemaCache, name: str
    ) -> Privileges:
        """What the caller of ``context`` may use in schema ``name`` (a query run as it)."""
        return _privileges(await self._usable(context, schema, name))

    async def _usable(self, context: RequestContext, schema: SchemaCache, name: str) -> bytes:
        """What the caller may use, as the JSON rows of ``PRIVILEGES_SQL`` (run as it)."""
        tx = self.transactions.plan(context, schema)
        statement = host_statement(PRIVILEGES_SQL, (name,))
        return (await self.executor.execute(statement, tx, context)).body


def _privileges(rows: bytes) -> Privileges:
    usable = _decode_usable.decode(rows)
    return Privileges(
        tables={
            QualifiedName(u.schema, u.name): frozenset(u.privileges or ())
            for u in usable
            if u.kind == "relation"
        },
        routines=frozenset(QualifiedName(u.schema, u.name) for u in usable if u.kind == "function"),
        columns={},
    )
