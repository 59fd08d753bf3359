"""Swagger UI for the API, served by the app itself: no CDN, no other server. I/O.

``DocsPage("/docs")`` is a small ASGI app answering

* ``GET <page>/``: an HTML page of ours that loads Swagger UI from ``assets/…`` (URLs relative
  to the page) and points it at the API's description: the request's ASGI ``root_path`` +
  ``document_path`` (``/`` by default, the root that answers the OpenAPI document), so it
  works behind a proxy's ``root_path`` and mounted under ``/api`` alike;
* ``GET <page>/assets/<file>``: Swagger UI's ``swagger-ui-bundle.js``,
  ``swagger-ui-standalone-preset.js``, ``swagger-ui.css`` and favicons, plus our own
  ``docs-init.js`` (the page has no inline script, so its ``Content-Security-Policy`` needs no
  ``'unsafe-inline'`` for scripts). Only those names: anything else below the page is 404,
  with no file-system lookup, so no path can reach another file;
* ``GET <page>``: a redirect to ``<page>/`` (relative, so it survives any proxy prefix).

``HEAD`` is answered like ``GET``; other methods get 405. ``route(path)`` tells a router which
paths are the page's (a ``Target.asgi`` for them, ``None`` otherwise): the app is given the
request's scope unchanged and reads its own path below ``root_path`` from it.

The assets are the dist files of Swagger UI shipped by the ``swagger-ui-py`` package (the
``docs-ui`` extra), found without importing it (its ``__init__`` needs jinja2 and PyYAML) and
read once, at construction: a missing package fails start-up with a :class:`ConfigError`
naming the ``openapi-docs-path`` setting and the ``pip install`` that fixes it. Asset URLs
carry a content hash (``?v=…``), so an asset asked for with the current hash is cached for a
year; without it, it is revalidated (``ETag``). Clients that accept gzip get the text assets
compressed (once, on first use).
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import importlib.util
import re
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, Scope

from .request.model import Target
from .router import route_path
from .settings import ConfigError

__all__ = ["INSTALL_HINT", "SETTING", "DocsPage", "swagger_ui_static"]

#: The setting that turns the page on (its path), named in start-up errors.
SETTING = "openapi-docs-path"
INSTALL_HINT = "pip install 'pgrest-asgi[docs-ui]'"

_JS = "text/javascript; charset=utf-8"
#: The files served from the package, by name: nothing else is ever read.
PACKAGE_ASSETS: Mapping[str, str] = {
    "swagger-ui-bundle.js": _JS,
    "swagger-ui-standalone-preset.js": _JS,
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
_COMPRESSIBLE = frozenset({_JS, "text/css; charset=utf-8"})

#: Starts Swagger UI on the page's ``#swagger-ui`` element, with the document URL (and the
#: ``Accept`` to ask it with, if any) from its ``data-`` attributes. No validator badge (it
#: would send the document to swagger.io).
INIT_JS = b"""\
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  var accept = root.getAttribute("data-accept");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-url"),
    domNode: root,
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
    requestInterceptor: function (request) {
      if (accept && request.loadSpec) {
        request.headers.Accept = accept;
      }
      return request;
    }
  });
})();
"""

_PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{assets[css]}">
<link rel="icon" type="image/png" sizes="32x32" href="{assets[icon32]}">
<link rel="icon" type="image/png" sizes="16x16" href="{assets[icon16]}">
</head>
<body>
<div id="swagger-ui" data-url="{url}"{accept}></div>
<noscript>Swagger UI needs JavaScript; the API's description is at <a href="{url}">{url}</a>.
</noscript>
<script src="{assets[bundle]}"></script>
<script src="{assets[preset]}"></script>
<script src="{assets[init]}"></script>
</body>
</html>
"""

#: The page's placeholders for asset URLs.
_PAGE_ASSETS = {
    "css": "swagger-ui.css",
    "icon32": "favicon-32x32.png",
    "icon16": "favicon-16x16.png",
    "bundle": "swagger-ui-bundle.js",
    "preset": "swagger-ui-standalone-preset.js",
    "init": "docs-init.js",
}

#: Scripts and styles from the page's own origin only; "Try it out" may call the API on the
#: host the document names (``connect-src *``). Inline styles: Swagger UI sets ``style=``.
_CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; font-src 'self' data:; connect-src *; "
    b"frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
_NO_CACHE = b"no-cache"
_IMMUTABLE = b"public, max-age=31536000, immutable"
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")  # unreserved characters only
_ALLOWED = b"GET, HEAD"


def swagger_ui_static() -> Path:
    """The folder of Swagger UI's dist files in the installed ``swagger-ui-py`` package,
    located without importing it; :class:`ConfigError` if it is not installed."""
    try:
        spec = importlib.util.find_spec("swagger_ui")
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        static = Path(folder) / "static"
        if all((static / name).is_file() for name in PACKAGE_ASSETS):
            return static
    what = "is not installed" if spec is None else "lacks Swagger UI's files"
    raise ConfigError(
        f"{SETTING}: the API docs page needs Swagger UI, but the swagger-ui-py package "
        f"{what}; {INSTALL_HINT}"
    )


class _Asset:
    """One file served from memory, with its ETag and (for text) a lazily gzipped copy."""

    def __init__(self, body: bytes, content_type: str) -> None:
        self.body = body
        self.content_type = content_type.encode()
        self.version = hashlib.sha256(body).hexdigest()[:16]
        self.etag = f'"{self.version}"'.encode()
        self.compressible = content_type in _COMPRESSIBLE
        self._gzipped: bytes | None = None

    async def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = await asyncio.to_thread(_gzip, self.body)
        return self._gzipped


def _gzip(body: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: a gzip container
    return compressor.compress(body) + compressor.flush()


def _accepts_gzip(value: str | None) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (listed, or ``*``, with a q above 0)."""
    if not value:
        return False
    allowed: dict[str, bool] = {}
    for item in value.split(","):
        name, *params = (part.strip() for part in item.split(";"))
        q = 1.0
        for param in params:
            key, _, raw = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(raw)
                except ValueError:
                    q = 0.0
        allowed[name.lower()] = q > 0
    return allowed.get("gzip", allowed.get("x-gzip", allowed.get("*", False)))


def _normalise_path(value: str, what: str) -> str:
    """``/docs`` or ``/a/b``: absolute, without a trailing slash, plain URL segments."""
    path = value.rstrip("/")
    segments = path.split("/")[1:]
    if (
        not value.startswith("/")
        or not segments
        or any(s in ("", ".", "..") or not _SEGMENT.fullmatch(s) for s in segments)
    ):
        raise ConfigError(
            f"{SETTING}: the {what} must be an absolute URL path below the root, such as "
            f"/docs (got {value!r})"
        )
    return path


class DocsPage:
    """Swagger UI at ``path`` (``/docs``: the page is ``/docs/``), describing the API whose
    document answers at ``document_path`` below the app's root. ``accept``, if given, is the
    ``Accept`` header Swagger UI asks the document with (e.g. an OpenAPI 3.1 media type).
    Raises :class:`ConfigError` when Swagger UI is not installed or a path is not valid."""

    def __init__(
        self,
        path: str = "/docs",
        document_path: str = "/",
        *,
        accept: str | None = None,
        title: str = "API documentation",
    ) -> None:
        self.path = _normalise_path(path, "page path")
        if not document_path.startswith("/") or any(c in document_path for c in "?#\"'<> "):
            raise ConfigError(
                f"{SETTING}: the document path must be a URL path such as / ({document_path!r})"
            )
        self.document_path = document_path
        if accept is not None and any(c in accept for c in "\r\n"):
            raise ConfigError(f"{SETTING}: the Accept header must be one line")
        self.accept = accept
        self.title = title
        static = swagger_ui_static()
        self.assets: dict[bytes, _Asset] = {
            name.encode(): _Asset((static / name).read_bytes(), content_type)
            for name, content_type in PACKAGE_ASSETS.items()
        }
        self.assets[b"docs-init.js"] = _Asset(INIT_JS, _JS)
        self._asset_urls = {
            key: f"assets/{name}?v={self.assets[name.encode()].version}"
            for key, name in _PAGE_ASSETS.items()
        }
        self._prefix = self.path.encode()
        self._target = Target.asgi(self, name="docs")
        self._redirect = (self.path.rsplit("/", 1)[1] + "/").encode()

    @property
    def swagger_ui_version(self) -> str | None:
        """Swagger UI's version, as its bundle states it (``None`` if it does not)."""
        found = re.search(
            rb'PACKAGE_VERSION:"([0-9][^"]*)"', self.assets[b"swagger-ui-bundle.js"].body
        )
        return found.group(1).decode() if found else None

    def route(self, path: bytes) -> Target | None:
        """A ``Target.asgi`` for this page when ``path`` (the still-encoded path below the
        app's root, as a router gets it) is the page's, else ``None``."""
        if path == self._prefix or path.startswith(self._prefix + b"/"):
            return self._target
        return None

    def document_url(self, scope: Mapping[str, Any]) -> str:
        """The document's URL path as the browser must ask it: ``root_path`` + document."""
        root = str(scope.get("root_path") or "").rstrip("/")
        return root + self.document_path

    def page(self, scope: Mapping[str, Any]) -> bytes:
        """The HTML page for this request (the document URL depends on its ``root_path``)."""
        accept = f' data-accept="{html.escape(self.accept)}"' if self.accept else ""
        return _PAGE.format_map(
            {
                "assets": self._asset_urls,
                "title": html.escape(self.title),
                "url": html.escape(self.document_url(scope)),
                "accept": accept,
            }
        ).encode()

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            raise RuntimeError(f"the docs page does not handle {scope['type']!r} connections")
        http = cast(Mapping[str, Any], scope)
        path = route_path(http)
        rest = path[len(self._prefix) :] if self.route(path) is not None else None
        if rest is None:
            return await _send(send, http, 404, [], b"Not Found\n")
        if http["method"] not in ("GET", "HEAD"):
            return await _send(send, http, 405, [(b"allow", _ALLOWED)], b"Method Not Allowed\n")
        if rest == b"":
            location = self._redirect
            if http.get("query_string"):
                location += b"?" + http["query_string"]
            return await _send(send, http, 301, [(b"location", location)], b"")
        if rest == b"/":
            headers = [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"cache-control", _NO_CACHE),
                (b"content-security-policy", _CSP),
                (b"x-content-type-options", b"nosniff"),
                (b"referrer-policy", b"same-origin"),
            ]
            return await _send(send, http, 200, headers, self.page(http))
        asset = self.assets.get(rest[len(b"/assets/") :]) if rest.startswith(b"/assets/") else None
        if asset is None:
            return await _send(send, http, 404, [], b"Not Found\n")
        await self._send_asset(send, http, asset)

    async def _send_asset(
        self, send: ASGISendCallable, scope: Mapping[str, Any], asset: _Asset
    ) -> None:
        request = _headers(scope)
        body, etag = asset.body, asset.etag
        headers = [(b"content-type", asset.content_type), (b"x-content-type-options", b"nosniff")]
        if asset.compressible:
            headers.append((b"vary", b"accept-encoding"))
            if _accepts_gzip(request.get("accept-encoding")):
                body, etag = await asset.gzipped(), etag[:-1] + b'-gzip"'
                headers.append((b"content-encoding", b"gzip"))
        pinned = f"v={asset.version}".encode() in scope.get("query_string", b"").split(b"&")
        headers += [(b"etag", etag), (b"cache-control", _IMMUTABLE if pinned else _NO_CACHE)]
        if _matches(etag, request.get("if-none-match")):
            return await _send(send, scope, 304, headers, b"", length=False)
        await _send(send, scope, 200, headers, body)


def _headers(scope: Mapping[str, Any]) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", ())
    }


def _matches(etag: bytes, if_none_match: str | None) -> bool:
    """``If-None-Match`` names this ETag (weakly compared, as for GET) or is ``*``."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/").encode() for tag in if_none_match.split(",")}
    return etag in tags or b"*" in tags


async def _send(
    send: ASGISendCallable,
    scope: Mapping[str, Any],
    status: int,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    *,
    length: bool = True,
) -> None:
    if status >= 300 and not any(name == b"content-type" for name, _ in headers):
        headers = [*headers, (b"content-type", b"text/plain; charset=utf-8")]
    if length:
        headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers, "trailers": False}
    )
    await send(
        {
            "type": "http.response.body",
            "body": b"" if scope.get("method") == "HEAD" else body,
            "more_body": False,
        }
    )
