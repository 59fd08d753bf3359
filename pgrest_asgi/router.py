"""The router hook: method + route path + profile headers → ``Target``. Pure.

``/`` is the root (OpenAPI), ``/<name>`` a table or view, ``/rpc/<name>`` a function; any other
shape is 404 ``PGRST125``. Segments are percent-decoded as UTF-8, invalid sequences replaced
(U+FFFD), as PostgREST's HTTP layer does. The schema comes from ``Accept-Profile`` (GET, HEAD,
OPTIONS) or ``Content-Profile`` (POST, PATCH, PUT, DELETE) and must be one of ``db_schemas``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import unquote_to_bytes

from .errors import ApiRequestError
from .observe import Observer
from .request.model import Target
from .settings import Settings

__all__ = ["ALL_METHODS", "DefaultRouter", "route_path"]

ALL_METHODS = frozenset({"GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"})
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_RPC_METHODS = frozenset({"GET", "HEAD", "POST", "OPTIONS"})


def route_path(scope: Mapping[str, object]) -> bytes:
    """The still-encoded path below the mount point: ``raw_path`` minus ``root_path``."""
    raw = scope.get("raw_path")
    path = raw if isinstance(raw, bytes) and raw else str(scope.get("path", "/")).encode()
    path = path.split(b"?", 1)[0]
    root = str(scope.get("root_path", "") or "").encode()
    if root and (path == root or path.startswith(root + b"/")):
        path = path[len(root) :]
    elif root:
        # Servers that already strip root_path from raw_path: fall back to path.
        decoded = str(scope.get("path", "/"))
        root_s = root.decode()
        if decoded.startswith(root_s):
            decoded = decoded[len(root_s) :]
        return decoded.encode() or b"/"
    return path or b"/"


class DefaultRouter:
    """Maps requests to targets. Subclass ``match`` to add a virtual resource (return
    ``Target("relation", schema, "real_table")`` for another path), a host endpoint
    (``Target.endpoint(handler)``) or a host ASGI app (``Target.asgi(app)``); call
    ``super().match`` for everything else."""

    def __init__(self, schemas: Sequence[str] | None = None) -> None:
        self._own = schemas is not None
        self.schemas = tuple(schemas) if schemas is not None else ("public",)

    def bind(self, settings: Settings, observer: Observer | None = None) -> None:
        """Take the app's exposed schemas, unless built with its own."""
        if not self._own:
            self.schemas = settings.db_schemas

    def match(self, method: str, path: bytes, headers: Mapping[str, str]) -> Target:
        segments = [s for s in path.split(b"/") if s]
        if method not in ALL_METHODS:
            raise ApiRequestError.unsupported_method(method)
        schema, given = self.profile(method, headers)
        # As wai decodes a path: percent-decoded, invalid UTF-8 replaced by U+FFFD, NUL kept.
        # Such a name is only ever looked up in the schema cache (no relation or function can
        # be named with a NUL), so it is answered PGRST205/PGRST202 like any unknown name.
        names = [unquote_to_bytes(s).decode("utf-8", "replace") for s in segments]
        if not names:
            if method not in _READ_METHODS:  # the root only describes the API
                raise ApiRequestError.unsupported_method(method)
            return Target("root", schema, "", given)
        if len(names) == 1:
            return Target("relation", schema, names[0], given)
        if len(names) == 2 and names[0] == "rpc":
            if method not in _RPC_METHODS:
                raise ApiRequestError.rpc_method(method)
            return Target("rpc", schema, names[1], given)
        raise ApiRequestError.invalid_path()

    def profile(self, method: str, headers: Mapping[str, str]) -> tuple[str, bool]:
        """The schema for this request and whether a profile header chose it."""
        header = "accept-profile" if method in _READ_METHODS else "content-profile"
        value = headers.get(header)
        if value is None:
            return self.schemas[0], False
        if value not in self.schemas:
            raise ApiRequestError.invalid_schema(value, self.schemas)
        return value, True
