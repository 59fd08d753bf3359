"""Show the mounted API in FastAPI's own ``/docs``, next to the host's routes.

::

    from fastapi import FastAPI
    from pgrest_asgi import PgRestApp
    from pgrest_asgi.contrib.fastapi import include_in_openapi

    app = FastAPI()
    rest = PgRestApp(dsn, schemas=["api"], db_anon_role="web_anon")
    rest.mount_into(app, "/api")
    include_in_openapi(app, rest)       # after mounting: the prefix is where rest is mounted

``app.openapi()`` (and so ``/openapi.json``, ``/docs`` and ``/redoc``) is then FastAPI's own
document with the API's OpenAPI 3.1 description merged in: its paths under the mount path, its
components (schemas, parameters, security schemes …) renamed ``<schema>.<name>`` — every
``$ref`` and security requirement follows — so they cannot clash with the host's models, and
its tags (renamed ``<schema>.<tag>`` only when the host already uses the name). A host path
that equals a prefixed one keeps the host's operation, as the host's route is matched before
the mount. ``merge_openapi`` is that merge, for hosts that build their documents themselves.

Which view of the API. ``app.openapi()`` is synchronous and has no request, so the document
describes one role: the anonymous role (``db-anon-role``), or ``role=`` when the host passes
one. Under ``openapi-mode = follow-privileges`` (the default) what that role may use is a
question for the database — the root endpoint's privileges query, run as that role — which a
synchronous call cannot ask. It is therefore asked ahead, asynchronously: in the host's
lifespan, right after the API has started (``include_in_openapi`` chains that into the
host's lifespan, as ``mount_into`` does), and again whenever the schema cache has been
reloaded since (started from ``app.openapi()`` in the background; ``await docs.refresh()``
asks at once, e.g. after a ``GRANT`` that came without a schema reload). Until the answer for
the current schema cache is known, the document describes nothing of the API (never more than
the role may use: that would disclose the schema) and is not cached, so a later call includes
it. Without an anonymous role, the anonymous view describes nothing. Under
``ignore-privileges`` everything is described at once; under ``disabled``, nothing. Before
the schema cache has loaded, the document has the host's paths only (not cached either).

FastAPI is needed only by the host: this module does not import it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import msgspec

from ..auth.claims import AuthResult
from ..context import RequestContext
from ..observe import Event
from ..openapi import Privileges
from ..request.model import Target
from ..schema.model import SchemaCache

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..app import PgRestApp

__all__ = ["DatabaseDocs", "include_in_openapi", "merge_openapi"]


def include_in_openapi(
    host_app: FastAPI,
    rest_app: PgRestApp,
    prefix: str | None = None,
    *,
    role: str | None = None,
    schema: str | None = None,
) -> DatabaseDocs:
    """Make ``host_app.openapi()`` describe ``rest_app`` too, under ``prefix``.

    ``prefix``: where ``rest_app`` is mounted; by default looked up among ``host_app``'s
    routes (mount it first). ``role``: the role whose view is described (default: the
    anonymous role). ``schema``: the exposed schema described (default: the first of
    ``db-schemas``). Call it once per mounted app, after any ``app.openapi`` customisation
    of the host's own (it wraps what ``host_app.openapi`` is then). Returns the
    ``DatabaseDocs`` of the mount (``await docs.refresh()`` re-reads the role's privileges).
    """
    if prefix is None:
        prefix = _mount_path(host_app, rest_app)
    name = schema or rest_app.settings.db_schemas[0]
    if name not in rest_app.settings.db_schemas:
        raise ValueError(f"{name!r} is not one of the exposed schemas (db-schemas)")
    docs = DatabaseDocs(rest_app, prefix, role=role, schema=name)
    merger = host_app.openapi
    if not isinstance(merger, _HostDocument):
        merger = _HostDocument(host_app, host_app.openapi)
        host_app.openapi = merger  # type: ignore[method-assign]
    if any(part.prefix == docs.prefix for part in merger.parts):
        raise ValueError(f"an API is already included under {docs.prefix!r}")
    merger.parts.append(docs)
    host_app.openapi_schema = None  # a document made before describes the host only
    _chain_lifespan(host_app, docs)
    return docs


class DatabaseDocs:
    """One mounted API's part of the host's document (made by ``include_in_openapi``)."""

    def __init__(self, rest_app: PgRestApp, prefix: str, *, role: str | None, schema: str):
        self.rest_app = rest_app
        self.prefix = _normal_prefix(prefix)
        self.role = role
        self.schema = schema
        #: What ``role`` may use, and the schema cache it was read for.
        self._privileges: tuple[SchemaCache, Privileges] | None = None
        self._built: tuple[SchemaCache, Privileges | None, dict[str, Any]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        """Read what the described role may use for the current schema cache (under
        ``follow-privileges``; otherwise there is nothing to read). Database errors raise."""
        settings = self.rest_app.settings
        cache = self.rest_app.schema_cache
        if cache is None or settings.openapi_mode != "follow-privileges":
            return
        role = self.role or settings.db_anon_role
        privileges = Privileges() if role is None else await self._query(cache, role)
        self._privileges = (cache, privileges)

    def _current(self) -> tuple[tuple[object, ...], dict[str, Any] | None, bool]:
        """The API's OpenAPI 3.1 document as it is to be merged now: what it was built from
        (compared by identity), the document (``None``: nothing to describe), and whether
        that is final for this schema cache (else it is not to be cached)."""
        settings = self.rest_app.settings
        if settings.openapi_mode == "disabled":
            return (), None, True
        cache = self.rest_app.schema_cache
        if cache is None:
            return (), None, False
        privileges: Privileges | None = None
        if settings.openapi_mode == "follow-privileges":
            known = self._privileges
            if known is None or known[0] is not cache:
                self._refresh_soon()
                return (), None, False
            privileges = known[1]
            if not privileges.tables and not privileges.routines:
                return (cache, privileges), None, True
        built = self._built
        if built is None or built[0] is not cache or built[1] is not privileges:
            from ..openapi import openapi31_object

            doc = openapi31_object(cache, settings, schema_name=self.schema, privileges=privileges)
            built = self._built = (cache, privileges, doc)
        return (cache, privileges), built[2], True

    async def _query(self, cache: SchemaCache, role: str) -> Privileges:
        """The root endpoint's privileges query, run as ``role`` in a read-only transaction."""
        settings = self.rest_app.settings
        claims = {"role": role}
        auth = AuthResult(
            role=role,
            claims_json=msgspec.json.encode(claims).decode(),
            anonymous=role == settings.db_anon_role,
            claims=claims,
        )
        context = RequestContext(
            method="GET",
            target=Target("root", self.schema),
            auth=auth,
            path="/",
            mount_path=self.prefix,
        )
        return await self.rest_app.root.privileges(context, cache, self.schema)

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except Exception as exc:
            self.rest_app.observer(
                Event(
                    name="openapi.privileges_failed",
                    message=f"the API stays out of the host's OpenAPI document: {exc}",
                    level="warning",
                    fields={"prefix": self.prefix},
                )
            )

    def _refresh_soon(self) -> None:
        """Start a refresh in the background when called on an event loop (as FastAPI's
        ``/openapi.json`` handler calls ``app.openapi()``)."""
        if self._task is not None and not self._task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._task = loop.create_task(self._refresh_quietly())

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _HostDocument:
    """Replaces ``host_app.openapi``: FastAPI's document (cached by FastAPI in
    ``openapi_schema``, as usual) with each mounted API's merged in."""

    def __init__(self, host_app: FastAPI, original: Callable[[], dict[str, Any]]) -> None:
        self.host_app = host_app
        self.original = original
        self.parts: list[DatabaseDocs] = []
        self._merged: dict[str, Any] | None = None
        self._keys: list[tuple[object, ...]] = []

    def __call__(self) -> dict[str, Any]:
        parts = [(docs, *docs._current()) for docs in self.parts]
        keys = [key for _, key, _, _ in parts]
        same = len(keys) == len(self._keys) and all(
            len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))
            for a, b in zip(keys, self._keys, strict=True)
        )
        if not same:
            self.host_app.openapi_schema = None  # regenerate: ours changed
        base = self.original()
        if same and base is self._merged:  # FastAPI's cache: nothing changed
            return base
        merged = base
        for docs, _, doc, _ in parts:
            if doc is not None:
                merged = merge_openapi(merged, doc, docs.prefix, namespace=docs.schema)
        if all(final for *_, final in parts):
            self.host_app.openapi_schema = self._merged = merged
            self._keys = keys
        else:
            self.host_app.openapi_schema = self._merged = None
            self._keys = []
        return merged


def _chain_lifespan(host_app: FastAPI, docs: DatabaseDocs) -> None:
    """Read the privileges once the host (and so the mounted API) has started."""
    previous = host_app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def chained(app: Any) -> AsyncIterator[Any]:
        async with previous(app) as state:
            await docs._refresh_quietly()
            try:
                yield state
            finally:
                await docs._stop()

    host_app.router.lifespan_context = chained


def _mount_path(host_app: FastAPI, rest_app: PgRestApp) -> str:
    paths = [
        str(route.path)
        for route in host_app.routes
        if getattr(route, "app", None) is rest_app and hasattr(route, "path")
    ]
    if len(paths) != 1:
        raise ValueError(
            "pass prefix=: the app is mounted "
            + ("nowhere in the host (mount it first)" if not paths else f"at {paths}")
        )
    return paths[0]


def _normal_prefix(prefix: str) -> str:
    prefix = prefix.rstrip("/")
    return prefix if not prefix or prefix.startswith("/") else "/" + prefix


# --------------------------------------------------------------------------------------------
# The merge (pure)

_OPERATIONS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_COMPONENTS = "#/components/"
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9._-]")


def merge_openapi(
    host: Mapping[str, Any], api: Mapping[str, Any], prefix: str, *, namespace: str
) -> dict[str, Any]:
    """``host`` (an OpenAPI 3.x document) with ``api``'s paths, components, tags and security
    merged in; neither is modified.

    ``api``'s paths go under ``prefix`` (a host path of the same name wins). Its components
    are renamed ``<namespace>.<name>`` (characters a component name may not hold become
    ``_``; a name the host already has gets ``_2``, ``_3`` …), and every ``$ref`` to them
    and every security requirement naming its security schemes follows. Its tags join the
    host's, renamed ``<namespace>.<tag>`` when the host uses the name. Its top-level
    ``security`` moves into its operations (so it does not apply to the host's); when it has
    none and the host has one, its operations say ``security: []``. An ``operationId`` the
    host already has becomes ``<namespace>_<id>`` (links to it follow). The rest of ``api``
    (``info``, ``servers`` …) is left out: the host's stands.
    """
    prefix = _normal_prefix(prefix)
    host_components: Mapping[str, Mapping[str, Any]] = host.get("components") or {}
    api_components: Mapping[str, Mapping[str, Any]] = api.get("components") or {}
    renames: dict[tuple[str, str], str] = {}
    for kind, entries in api_components.items():
        taken = set(host_components.get(kind) or ())
        for name in entries:
            renames[kind, name] = _unique(_NOT_IN_NAME.sub("_", f"{namespace}.{name}"), taken)
    schemes = {name: new for (kind, name), new in renames.items() if kind == "securitySchemes"}
    host_ids = set(_operation_ids(host.get("paths") or {}))
    taken_ids = set(host_ids)
    operation_ids = {
        op_id: _unique(f"{namespace}_{op_id}" if op_id in host_ids else op_id, taken_ids)
        for op_id in _operation_ids(api.get("paths") or {})
    }

    host_paths: Mapping[str, Any] = host.get("paths") or {}
    api_paths: Mapping[str, Any] = api.get("paths") or {}
    host_tags: list[Any] = list(host.get("tags") or [])
    host_used = {t.get("name") for t in host_tags} | set(_operation_tags(host_paths))
    taken = set(host_used)
    tags: dict[str, str] = {}
    for name in [t.get("name") for t in api.get("tags") or []] + _operation_tags(api_paths):
        if isinstance(name, str) and name not in tags:
            tags[name] = _unique(f"{namespace}.{name}" if name in host_used else name, taken)

    default_security = api.get("security")
    if default_security is not None:
        default_security = _requirements(default_security, schemes)
    elif host.get("security") is not None:
        default_security = []
    paths = dict(host_paths)
    for path, item in api_paths.items():
        full = prefix + path
        if full in paths:
            continue
        item = _rewritten(item, renames, operation_ids)
        for method in _OPERATIONS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            if isinstance(op.get("tags"), list):
                op["tags"] = [tags.get(t, t) for t in op["tags"]]
            if "security" in op:
                op["security"] = _requirements(op["security"], schemes)
            elif default_security is not None:
                op["security"] = [dict(r) for r in default_security]
        paths[full] = item

    merged = dict(host)
    merged["paths"] = paths
    components = {kind: dict(entries) for kind, entries in host_components.items()}
    for kind, entries in api_components.items():
        into = components.setdefault(kind, {})
        for name, entry in entries.items():
            into[renames[kind, name]] = _rewritten(entry, renames, operation_ids)
    if components:
        merged["components"] = components
    api_tags = [
        {**t, "name": tags.get(t.get("name"), t.get("name"))} for t in api.get("tags") or []
    ]
    if host_tags or api_tags:
        merged["tags"] = host_tags + api_tags
    return merged


def _unique(name: str, taken: set[Any]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _operation_tags(paths: Mapping[str, Any]) -> list[str]:
    """The tags ``paths``' operations use, in order of first use."""
    seen: dict[str, None] = {}
    for item in paths.values():
        if not isinstance(item, Mapping):
            continue
        for method in _OPERATIONS:
            op = item.get(method)
            if isinstance(op, Mapping):
                seen.update((t, None) for t in op.get("tags") or () if isinstance(t, str))
    return list(seen)


def _requirements(security: Sequence[Any], schemes: Mapping[str, str]) -> list[Any]:
    return [{schemes.get(k, k): v for k, v in r.items()} for r in security]


def _operation_ids(paths: Mapping[str, Any]) -> list[str]:
    return [
        op["operationId"]
        for item in paths.values()
        if isinstance(item, Mapping)
        for method in _OPERATIONS
        if isinstance(op := item.get(method), Mapping) and isinstance(op.get("operationId"), str)
    ]


def _rewritten(
    node: Any, renames: Mapping[tuple[str, str], str], operation_ids: Mapping[str, str]
) -> Any:
    """A copy of ``node`` whose ``$ref``s to renamed components point at the new names, and
    whose operation ids (of operations and of links to them) are the renamed ones."""
    if isinstance(node, Mapping):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                out[k] = _ref(v, renames)
            elif k == "operationId" and isinstance(v, str):
                out[k] = operation_ids.get(v, v)
            else:
                out[k] = _rewritten(v, renames, operation_ids)
        return out
    if isinstance(node, list):
        return [_rewritten(v, renames, operation_ids) for v in node]
    return node


def _ref(ref: str, renames: Mapping[tuple[str, str], str]) -> str:
    """``#/components/<kind>/<name>[/…]`` with ``name`` renamed; any other ``$ref`` as is."""
    if not ref.startswith(_COMPONENTS):
        return ref
    kind, _, rest = ref[len(_COMPONENTS) :].partition("/")
    segment, slash, tail = rest.partition("/")
    name = unquote(segment).replace("~1", "/").replace("~0", "~")  # JSON pointer in a URI
    new = renames.get((kind, name))
    return ref if new is None else f"{_COMPONENTS}{kind}/{new}{slash}{tail}"
