"""DbResult + request → status, headers, body. Pure.

``build(request, plan, result, ...)`` is the stage the app calls; the functions below it are
its parts, usable on their own by host endpoints (``Response.json``).

Builds PostgREST's read response (``Content-Range``, ``Content-Location``, ``Content-Profile``,
``Preference-Applied``, ``Vary``), applies the ``response.status``/``response.headers`` settings
a function or the pre-request may have set, and renders CORS and OPTIONS answers.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import msgspec

from .._version import __version__
from ..errors import ApiRequestError, PgRestError
from ..plan.model import MEDIA_NAMES, MediaKind, MutatePlan, ReadPlan
from ..plan.read import paging
from ..request.model import ApiRequest, Preferences
from ..schema.model import Routine, Table
from ..settings import Settings
from ..sql.build import DbResult

__all__ = [
    "Response",
    "allow_header",
    "apply_response_gucs",
    "bodiless",
    "build",
    "cors_headers",
    "error_response",
    "finish",
    "preflight",
    "read_response",
    "write_response",
]

Headers = list[tuple[bytes, bytes]]

_CONTENT_TYPES: Mapping[MediaKind, bytes] = {
    "json": b"application/json; charset=utf-8",
    "singular": b"application/vnd.pgrst.object+json; charset=utf-8",
    "csv": b"text/csv; charset=utf-8",
    "geojson": b"application/geo+json; charset=utf-8",
}
#: The stripped types as PostgREST names them (the parameter joined without a space).
_STRIPPED_CONTENT_TYPES: Mapping[MediaKind, bytes] = {
    "json": b"application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8",
    "singular": b"application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8",
}
_VARY = (b"vary", b"Accept, Prefer, Range")
_EXPOSE = (
    b"Content-Encoding, Content-Location, Content-Range, Content-Type, Date, Location, Server, "
    b"Transfer-Encoding, Range-Unit"
)
_PREFLIGHT_METHODS = b"GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD"


class Response(msgspec.Struct):
    """An HTTP response: status, headers (lower-case names, as bytes) and body bytes."""

    status: int
    headers: Headers
    body: bytes = b""
    #: Send the headers only, without Content-Length: a HEAD request, or a status that has
    #: no content (``bodiless``).
    head: bool = False
    reason: str | None = None

    @classmethod
    def json(cls, body: bytes, status: int = 200, headers: Headers | None = None) -> Response:
        """A JSON response from JSON bytes (e.g. built by PostgreSQL)."""
        return cls(status, [(b"content-type", _CONTENT_TYPES["json"]), *(headers or ())], body)


def build(
    request: ApiRequest,
    plan: ReadPlan,
    result: DbResult,
    *,
    settings: Settings,
    mount_path: str = "",
) -> Response:
    """The response to a planned request, from what its transaction returned."""
    if plan.explain is not None:
        response = plan_response(plan, result.body)
        with_vary(response.headers)
        return response
    schema_header = len(settings.db_schemas) > 1
    tx_applied = request.preferences.tx if settings.tx_allow_override else None
    body, content_type = result.body, None
    handler = plan.handler
    if handler is not None:
        # A media type handler's body, and its own Content-Type (a function may still set
        # another through response.headers); a domain over bytea comes as hex digits.
        content_type = handler.content_type.encode()
        if handler.binary and body:
            body = binascii.unhexlify(body)
    if isinstance(plan.source, MutatePlan):
        response = write_response(
            request,
            media=plan.media,
            strip_nulls=plan.strip_nulls,
            representation=plan.representation,
            page_total=result.page_total,
            body=body,
            inserted=result.inserted,
            resolution=plan.source.resolution is not None and request.method == "POST",
            location=result.location,
            schema_header=schema_header,
            tx_applied=tx_applied,
            mount_path=mount_path,
            content_type=content_type,
        )
    else:
        response = read_response(
            request,
            media=plan.media,
            strip_nulls=plan.strip_nulls,
            offset=paging(request, settings.db_max_rows)[1] if plan.offset is not None else 0,
            total=resolve_total(plan.count, plan.count_cap, result.total, result.planned_total),
            page_total=result.page_total,
            body=body,
            schema_header=schema_header,
            tx_applied=tx_applied,
            representation=plan.representation,
            content_type=content_type,
        )
    if plan.legacy_names:
        response.headers.append(
            (b"warning", legacy_names_warning(plan.legacy_names, f"pgrest_asgi/{__version__}"))
        )
    response = apply_response_gucs(response, result.response_headers, result.response_status)
    with_vary(response.headers)
    return response


def read_response(
    request: ApiRequest,
    *,
    media: MediaKind,
    strip_nulls: bool,
    offset: int,
    total: int | None,
    page_total: int,
    body: bytes,
    schema_header: bool,
    tx_applied: str | None = None,
    representation: bool = True,
    content_type: bytes | None = None,
) -> Response:
    """The response to a GET/HEAD on a table or view, or to a function call. ``content_type``
    replaces the one ``media`` is served as (a media type handler's)."""
    if media == "singular" and page_total != 1:
        raise ApiRequestError.singular(page_total)
    if page_total == 0:
        content_range = f"*/{'*' if total is None else total}"
    else:
        content_range = f"{offset}-{offset + page_total - 1}/{'*' if total is None else total}"
    status = 200
    if total is not None:
        if offset > total or (offset > 0 and offset == total and page_total == 0 and total > 0):
            raise ApiRequestError.offset_past_end(offset, total)
        if page_total < total:
            status = 206
    if content_type is None:
        content_type = _CONTENT_TYPES[media]
        if strip_nulls:
            content_type = _STRIPPED_CONTENT_TYPES.get(media, content_type)
    target = request.target
    rpc = target.kind == "rpc"
    headers: Headers = [(b"content-range", content_range.encode())]
    if representation:
        headers.insert(0, (b"content-type", content_type))
    else:  # a void function: nothing to show
        status, body = 204, b""
    if not rpc:
        location = "/" + quote(target.name, safe="")
        if request.canonical_query:
            location += "?" + request.canonical_query
        headers.append((b"content-location", location.encode()))
    if schema_header:
        headers.append((b"content-profile", target.schema.encode()))
    applied = preference_applied(
        request.preferences, count=request.preferences.count, tx=tx_applied, max_affected=rpc
    )
    if applied:
        headers.append((b"preference-applied", applied.encode()))
    return Response(status, headers, body, head=request.method == "HEAD")


def legacy_names_warning(pairs: Sequence[tuple[str, str]], product: str) -> bytes:
    """PostgREST's ``Warning: 299`` for relation names used instead of an embed's alias."""
    updates = ", ".join(f"`{relation}` to `{alias}`" for relation, alias in pairs)
    return (
        f'299 {product} "Embedded resource was referenced by relation name even though it has '
        "an alias. This is deprecated and will stop working in a future release. Update "
        f'{updates} in query string filters, orders or limits."'
    ).encode()


def plan_response(plan: ReadPlan, body: bytes) -> Response:
    """``application/vnd.pgrst.plan+text|json``: the EXPLAIN output of the would-be query."""
    assert plan.explain is not None
    explain = plan.explain
    target = plan.handler.media_type if plan.handler is not None else MEDIA_NAMES[plan.media]
    # PostgREST's names: for= always, options= when any (in its fixed order), then charset.
    options = f"; options={'|'.join(explain.options)}" if explain.options else ""
    content_type = (
        f'application/vnd.pgrst.plan+{explain.format}; for="{target}"{options}; charset=utf-8'
    )
    return Response(200, [(b"content-type", content_type.encode())], body)


def resolve_total(
    count: str | None, cap: int | None, counted: int | None, planned: int | None
) -> int | None:
    """The total for ``Content-Range``: exact, planned, or estimated (PostgREST's rule: the
    exact count up to ``db-max-rows``; past it, the larger of that and the planner's). With no
    ``db-max-rows`` every count is past it, so estimated is the larger of the two: odd, but
    PostgREST's (its check ``total > max-rows`` holds when there is no max-rows)."""
    if count == "planned":
        return planned
    if count == "estimated" and counted is not None and (cap is None or counted >= cap):
        return max(counted, planned or 0)
    return counted


def preference_applied(
    prefs: Preferences,
    *,
    count: str | None = None,
    tx: str | None = None,
    resolution: bool = False,
    write: bool = False,
    max_affected: bool = False,
) -> str:
    """``Preference-Applied``, in PostgREST's order: resolution, missing, return, count, tx,
    handling, timezone, max-affected (the write-only ones only on writes)."""
    parts: list[str] = []
    if resolution and prefs.resolution:
        parts.append(f"resolution={prefs.resolution}")
    if write and prefs.missing:
        parts.append(f"missing={prefs.missing}")
    if write and prefs.return_:
        parts.append(f"return={prefs.return_}")
    if count:
        parts.append(f"count={count}")
    if tx:
        parts.append(f"tx={tx}")
    if prefs.handling:
        parts.append(f"handling={prefs.handling}")
    if prefs.timezone:
        parts.append(f"timezone={prefs.timezone}")
    if max_affected and prefs.handling == "strict" and prefs.max_affected is not None:
        parts.append(f"max-affected={prefs.max_affected}")
    return ", ".join(parts)


_location_keys = msgspec.json.Decoder(list[dict[str, Any]])


def write_response(
    request: ApiRequest,
    *,
    media: MediaKind,
    strip_nulls: bool,
    representation: bool,
    page_total: int,
    body: bytes,
    inserted: int | None,
    resolution: bool,
    location: bytes | None,
    schema_header: bool,
    tx_applied: str | None = None,
    mount_path: str = "",
    content_type: bytes | None = None,
) -> Response:
    """The response to POST/PATCH/PUT/DELETE. ``mount_path`` (ASGI
    ``root_path``) prefixes ``Location``, so it points at the resource wherever the app is
    mounted; ``content_type`` replaces the one ``media`` is served as."""
    method = request.method
    prefs = request.preferences
    counted = prefs.count is not None
    total = str(page_total) if counted else "*"
    headers: Headers = []
    if method == "POST":
        # An upsert that only updated answers 200; anything that inserted, 201.
        status = 200 if inserted is not None and inserted <= 0 else 201
        headers.append((b"content-range", f"*/{total}".encode()))
        if location is not None:
            rows = _location_keys.decode(location)
            if len(rows) == 1:
                headers.append((b"location", _location(mount_path, request.target.name, rows[0])))
    elif method == "PUT":
        status = (201 if inserted else 200) if representation else 204
    else:
        status = 200 if representation else 204
        first = f"0-{page_total - 1}" if method == "PATCH" and page_total > 0 else "*"
        headers.append((b"content-range", f"{first}/{total}".encode()))
    if representation:
        if content_type is None:
            content_type = _CONTENT_TYPES[media]
            if strip_nulls:
                content_type = _STRIPPED_CONTENT_TYPES.get(media, content_type)
        headers.insert(0, (b"content-type", content_type))
    else:
        body = b""
    if schema_header:
        headers.append((b"content-profile", request.target.schema.encode()))
    applied = preference_applied(
        prefs,
        count=prefs.count,
        tx=tx_applied,
        resolution=resolution,
        write=True,
        max_affected=method in ("PATCH", "DELETE"),
    )
    if applied:
        headers.append((b"preference-applied", applied.encode()))
    return Response(status, headers, body)


def _location(mount_path: str, table: str, keys: Mapping[str, Any]) -> bytes:
    """``<mount>/table?pk1=eq.v1&pk2=is.null`` for the one row an insert wrote."""
    parts = []
    for name, value in keys.items():
        if value is None:
            condition = "is.null"
        else:
            text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
            condition = "eq." + quote(text, safe="")
        parts.append(f"{quote(name, safe='')}={condition}")
    prefix = quote(mount_path.rstrip("/"), safe="/")
    return (prefix + "/" + quote(table, safe="") + "?" + "&".join(parts)).encode()


_header_list = msgspec.json.Decoder(list[dict[str, str]])
_STATUS = re.compile(r"[0-9]{3}")
#: RFC 9110 §5.6.2: a field name is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: RFC 9110 §5.5: control characters other than HTAB are not part of a field value (CR, LF
#: and NUL would end the header, or the head, early).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: Statuses whose response has no content (RFC 9110 §15.3.5, §15.3.6, §15.4.5).
_NO_CONTENT = frozenset({204, 205, 304})


def apply_response_gucs(
    response: Response, headers_guc: bytes | None, status_guc: bytes | None
) -> Response:
    """Honour ``response.status`` and ``response.headers`` set inside the transaction.

    Whatever they say, the response stays one valid HTTP message: a 1xx status (an interim
    response, not an answer) is PGRST112, a header that is no valid field is PGRST111, and a
    status without content is sent without any (``bodiless``)."""
    if status_guc is not None:
        text = status_guc.decode("utf-8", "replace").strip()
        if not _STATUS.fullmatch(text) or not 200 <= int(text) <= 599:
            raise ApiRequestError.bad_response_status()
        response.status = int(text)
    if headers_guc is not None:
        try:
            items = _header_list.decode(headers_guc)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise ApiRequestError.bad_response_headers() from None
        extra: Headers = []
        for item in items:
            if len(item) != 1:
                raise ApiRequestError.bad_response_headers()
            ((name, value),) = item.items()
            # Surrounding spaces are not part of a field value; servers refuse them.
            value = value.strip(" \t")
            if not _valid_header(name, value):
                raise ApiRequestError.bad_response_headers()
            extra.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        names = {name for name, _ in extra}
        # Framing headers stay ours: the body we send decides them.
        extra = [(n, v) for n, v in extra if n not in (b"content-length", b"transfer-encoding")]
        response.headers = [h for h in response.headers if h[0] not in names] + extra
    if response.status in _NO_CONTENT:
        bodiless(response)
    return response


def bodiless(response: Response) -> Response:
    """A 204, 205 or 304 carries no content (RFC 9110 §15.3.5, §15.3.6, §15.4.5): no body
    and no Content-Type. Content-Length is left out of 204 (which must not have one) and 304
    (where it would describe the 200 response); a 205 keeps the ``Content-Length: 0`` that
    RFC 9110 allows. Sending a body anyway would be read as the start of the next response
    on a kept-alive connection."""
    response.body = b""
    response.headers = [h for h in response.headers if h[0] != b"content-type"]
    if response.status != 205:
        response.head = True
    return response


def _valid_header(name: str, value: str) -> bool:
    """A field name that is a token, and a value without control characters; both Latin-1
    (what an ASGI server sends as bytes)."""
    if not _TOKEN.fullmatch(name) or _CONTROL.search(value):
        return False
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def with_vary(headers: Headers) -> Headers:
    if not any(name == b"vary" for name, _ in headers):
        headers.append(_VARY)
    return headers


# -- errors and what every response carries ---------------------------------------------------
def error_response(exc: PgRestError, settings: Settings) -> Response:
    """An error as PostgREST answers it; a 503 always says when to retry."""
    body = exc.body(verbose=settings.client_error_verbosity == "verbose")
    headers = exc.response_headers(len(body))
    if exc.status == 503 and not any(k == b"retry-after" for k, _ in headers):
        headers.append((b"retry-after", b"1"))
    return Response(exc.status, with_vary(headers), body, reason=exc.reason)


def finish(
    response: Response,
    headers: Mapping[str, str],
    settings: Settings,
    timing: bytes | None = None,
) -> Response:
    """The headers every response gets: CORS for a request with ``Origin`` (unless the
    response set its own), ``Server-Timing`` and the trace header when configured."""
    if not any(name == b"access-control-allow-origin" for name, _ in response.headers):
        response.headers += cors_headers(
            headers.get("origin"), settings.server_cors_allowed_origins
        )
    if timing is not None:
        response.headers.append((b"server-timing", timing))
    trace = settings.server_trace_header
    if trace:
        name = trace.lower()
        response.headers.append((name.encode("latin-1"), headers.get(name, "").encode("latin-1")))
    return response


# -- CORS and OPTIONS ------------------------------------------------------------------------
def cors_headers(origin: str | None, allowed: Sequence[str] | None) -> Headers:
    """Headers for a normal response to a request that carried ``Origin``."""
    if origin is None:
        return []
    if allowed is None:
        return [(b"access-control-allow-origin", b"*"), (b"access-control-expose-headers", _EXPOSE)]
    if origin not in allowed:
        return []
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-credentials", b"true"),
        (b"access-control-expose-headers", _EXPOSE),
    ]


def preflight(headers: Mapping[str, str], allowed: Sequence[str] | None) -> Response:
    origin = headers.get("origin")
    out: Headers = []
    if allowed is None:
        out.append((b"access-control-allow-origin", b"*"))
    elif origin in allowed:
        out.append((b"access-control-allow-origin", (origin or "").encode("latin-1")))
        out.append((b"access-control-allow-credentials", b"true"))
    else:
        return Response(200, [])
    # The requested headers as a list (``Foo,Bar`` → ``Foo, Bar``), between PostgREST's own.
    requested = headers.get("access-control-request-headers", "").split(",")
    allow_headers = ", ".join(
        [
            "Authorization",
            *(p.strip() for p in requested if p.strip()),
            "Accept",
            "Accept-Language",
            "Content-Language",
        ]
    )
    out += [
        (b"access-control-allow-methods", _PREFLIGHT_METHODS),
        (b"access-control-allow-headers", allow_headers.encode("latin-1")),
        (b"access-control-max-age", b"86400"),
    ]
    return Response(200, out)


def allow_header(target: Table | Sequence[Routine] | None) -> bytes:
    """``Allow`` for OPTIONS: what this relation or function accepts (root: reads)."""
    if target is None:
        return b"OPTIONS,GET,HEAD"
    if isinstance(target, Table):
        methods = ["OPTIONS", "GET", "HEAD"]
        if target.insertable:
            methods.append("POST")
        if target.insertable and target.updatable and target.primary_key:
            methods.append("PUT")
        if target.updatable:
            methods.append("PATCH")
        if target.deletable:
            methods.append("DELETE")
        return ",".join(methods).encode()
    volatile = any(r.volatility == "volatile" for r in target)
    return b"OPTIONS,POST" if volatile else b"OPTIONS,GET,HEAD,POST"
