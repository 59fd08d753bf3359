"""Request bodies → ``Payload``: the JSON PostgreSQL will read, and the keys it holds. Pure.

PostgREST passes a write's body to PostgreSQL as one ``json`` parameter
(``json_to_recordset($1)``), so the body is not converted row by row here. What Python must
know is the *key set* (the columns to write, or the arguments that pick a function overload)
and whether the body is an object or an array:

* ``application/json`` — an object, or an array of objects that all have the same keys
  (else 400 ``PGRST102`` "All object keys must match"); passed through byte for byte. With
  ``?columns=`` the keys are the given columns and the body is only checked to be JSON.
* ``text/csv`` — the first line names the columns; ``NULL`` is SQL null, an empty field is
  the empty string. Re-encoded as a JSON array.
* ``application/x-www-form-urlencoded`` — one object of strings; a repeated field becomes
  an array (variadic function arguments).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from ..errors import ApiRequestError

__all__ = ["RAW_BODY_TYPES", "Payload", "media_type", "parse_payload", "request_payload"]

# Floats stay text: only the keys are read here, and ``1e400`` must reach ``numeric`` intact.
_decode = msgspec.json.Decoder(float_hook=str)
_encode = msgspec.json.Encoder()

JSON = "application/json"
CSV = "text/csv"
FORM = "application/x-www-form-urlencoded"


class Payload(msgspec.Struct, frozen=True):
    """A parsed body: ``json`` is sent to PostgreSQL as one parameter."""

    json: bytes
    #: The keys of the (first) object, in the order given.
    keys: tuple[str, ...]
    #: An array of objects (``json_to_recordset``) rather than one object.
    array: bool
    #: The decoded object, for bodies small enough that callers look inside (RPC, PUT).
    first: dict[str, Any] | None = None


#: Content types a function with one unnamed parameter of this type takes whole.
RAW_BODY_TYPES = {
    "text/plain": "text",
    "text/xml": "xml",
    "application/octet-stream": "bytea",
}
_EMPTY = Payload(b"{}", (), False, {})


def request_payload(
    method: str,
    target_kind: str,
    content_type: str | None,
    body: bytes | None,
    columns: Sequence[str] | None = None,
) -> Payload | None:
    """The body of a write (POST, PATCH, PUT on a table or view) or of a call (POST to a
    function), parsed as the grammar hands it to planning; ``None`` for requests without
    one, and for a raw body (text, XML, binary) that a function takes whole."""
    if target_kind == "relation" and method in ("POST", "PATCH", "PUT"):
        return parse_payload(content_type, body or b"", columns)
    if target_kind != "rpc" or method != "POST":
        return None
    media = media_type(content_type)
    if media in RAW_BODY_TYPES:
        return None
    if media not in (JSON, CSV, FORM):
        raise ApiRequestError.unacceptable_content_type(media)
    if not body:  # an empty body calls with no arguments, whatever its type
        return _EMPTY
    return parse_payload(content_type, body or b"", columns)


def media_type(content_type: str | None) -> str:
    """The body's media type as PostgREST decodes a Content-Type: ``JSON``, ``CSV``, ``FORM``,
    a raw type (``text/plain``, ``text/xml``, ``application/octet-stream``), or, for any other,
    the name PostgREST's "Content-Type not acceptable" error gives it. None given → JSON.

    As PostgREST: ``application/vnd.pgrst.array(+json)`` is JSON, unless its only parameter is
    ``nulls=stripped`` (a response type, refused as a body); the other vendor types, and
    ``+json`` types in general (``application/geo+json``, ``application/merge-patch+json``),
    are not bodies. Unlike PostgREST, the type's name is matched without regard to case.
    """
    if content_type is None:
        return JSON
    if not content_type:  # present but empty: PostgREST reads it as */*, which it refuses
        return "*/*"
    first, *rest = content_type.split(";")
    name = first.strip()
    kind = name.lower()
    if kind in _BODY_TYPES:
        return kind
    # The parameters are compared as sent, without trimming, as PostgREST compares them.
    stripped = rest == ["nulls=stripped"]
    if kind in ("application/vnd.pgrst.array+json", "application/vnd.pgrst.array"):
        return "application/vnd.pgrst.array+json;nulls=stripped" if stripped else JSON
    if kind in ("application/vnd.pgrst.object+json", "application/vnd.pgrst.object"):
        return "application/vnd.pgrst.object+json" + (";nulls=stripped" if stripped else "")
    if kind in _PLAN_FORMATS:
        return _plan_name(_PLAN_FORMATS[kind], rest)
    return name


_BODY_TYPES = frozenset(
    {JSON, CSV, FORM, "text/plain", "text/xml", "application/octet-stream", "*/*"}
)
_PLAN_FORMATS = {
    "application/vnd.pgrst.plan": "text",
    "application/vnd.pgrst.plan+text": "text",
    "application/vnd.pgrst.plan+json": "json",
}
_PLAN_OPTIONS = ("analyze", "verbose", "settings", "buffers", "wal")


def _plan_name(fmt: str, params: list[str]) -> str:
    """How PostgREST names a plan media type in its error: its ``for`` type (JSON when none)
    and its known options, in their fixed order."""
    target = next((p[4:] for p in params if p.startswith("for=")), None)
    for_name = JSON if target is None else media_type(target.strip('"'))
    options = next((p[8:] for p in params if p.startswith("options=")), "").split("|")
    chosen = "|".join(o for o in _PLAN_OPTIONS if o in options)
    return f'application/vnd.pgrst.plan+{fmt}; for="{for_name}"' + (
        f"; options={chosen}" if chosen else ""
    )


def parse_payload(
    content_type: str | None, body: bytes, columns: Sequence[str] | None = None
) -> Payload:
    """Parse a write or RPC body by its Content-Type; 400 ``PGRST102`` when it is unusable."""
    media = media_type(content_type)
    if media == CSV:
        return _csv(body)
    if media == FORM:
        return _form(body)
    if media == JSON:
        return _json(body, columns)
    raise ApiRequestError.unacceptable_content_type(media)


def _invalid() -> ApiRequestError:
    return ApiRequestError.invalid_json()


def _json(body: bytes, columns: Sequence[str] | None) -> Payload:
    if columns is None and body[:1] == b"[":
        fast = _json_array(body)
        if fast is not None:
            return fast
    try:
        value = _decode.decode(body)
    except (msgspec.DecodeError, RecursionError):  # RecursionError: absurdly deep nesting
        raise _invalid() from None
    if isinstance(value, dict):
        keys = tuple(columns) if columns is not None else tuple(value)
        return Payload(body, keys, False, value)
    if not isinstance(value, list):
        # A JSON scalar is read as an empty array, as PostgREST does.
        return Payload(b"[]", tuple(columns or ()), True)
    if columns is not None:
        return Payload(body, tuple(columns), True, _first_object(value))
    if not value:
        return Payload(body, (), True)
    first = value[0]
    if not isinstance(first, dict):
        raise ApiRequestError.object_keys_differ()
    expected = first.keys()
    for item in value:
        if not isinstance(item, dict) or item.keys() != expected:
            raise ApiRequestError.object_keys_differ()
    return Payload(body, tuple(first), True, first)


def _json_array(body: bytes) -> Payload | None:
    """A JSON array of objects without building its values (the common bulk write): the
    first object decoded, the others checked against its keys by a decoder made for them.
    ``None`` when the body is not such an array, or a check fails: ``_json`` then decodes it
    whole and answers as it always does (invalid JSON before differing keys)."""
    try:
        items = _decode_items.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    if not items:
        return Payload(body, (), True)
    try:
        first = _decode.decode(items[0])
    except (msgspec.DecodeError, RecursionError):  # pragma: no cover - checked above
        return None
    del items  # only the first item is kept; the others are checked below
    if not isinstance(first, dict):
        return None
    keys = tuple(first)
    decoder = _rows_decoder(keys)
    if decoder is None:
        return None
    try:
        decoder.decode(body)
    except (msgspec.ValidationError, RecursionError):
        return None
    return Payload(body, keys, True, first)


#: An array's items, left undecoded.
_decode_items = msgspec.json.Decoder(list[msgspec.Raw])
_ROW_DECODERS: dict[tuple[str, ...], msgspec.json.Decoder[Any]] = {}


def _rows_decoder(keys: tuple[str, ...]) -> msgspec.json.Decoder[Any] | None:
    """A decoder that accepts an array of objects with exactly these keys (values skipped
    as raw text, no objects kept alive for the garbage collector): ValidationError
    otherwise. Kept by key set, a bounded number of them. ``None`` for keys msgspec cannot
    name a field (backslashes, quotes, control characters): those bodies take the full
    decode."""
    decoder = _ROW_DECODERS.get(keys)
    if decoder is None:
        fields = [(f"f{i}", msgspec.Raw) for i in range(len(keys))]
        try:
            row = msgspec.defstruct(
                "Row",
                fields,
                rename={f"f{i}": key for i, key in enumerate(keys)},
                forbid_unknown_fields=True,
                gc=False,
            )
        except (ValueError, TypeError):
            return None
        decoder = msgspec.json.Decoder(list[row])  # type: ignore[valid-type]
        if len(_ROW_DECODERS) >= 256:
            _ROW_DECODERS.clear()
        _ROW_DECODERS[keys] = decoder
    return decoder


def _first_object(value: list[Any]) -> dict[str, Any] | None:
    first = value[0] if value else None
    return first if isinstance(first, dict) else None


def _csv(body: bytes) -> Payload:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiRequestError.invalid_csv("The body is not valid UTF-8") from None
    try:
        lines = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise ApiRequestError.invalid_csv(str(exc)) from None
    lines = [line for line in lines if line]  # a trailing newline is not a row
    if not lines:
        return Payload(b"[]", (), True)
    header, rows = lines[0], lines[1:]
    width = len(header)
    objects = []
    for row in rows:
        if len(row) != width:
            raise ApiRequestError.csv_lines_differ()
        objects.append(
            {
                key: (None if value == "NULL" else value)
                for key, value in zip(header, row, strict=True)
            }
        )
    return Payload(_encode.encode(objects), tuple(header), True, objects[0] if objects else None)


def _form(body: bytes) -> Payload:
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, errors="strict")
    except UnicodeError:
        raise ApiRequestError.invalid_form(
            "The body is not percent-encoded ASCII text encoding UTF-8"
        ) from None
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:  # a repeated field: an array (variadic arguments)
            previous = obj[key]
            obj[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            obj[key] = value
    return Payload(_encode.encode(obj), tuple(obj), False, obj)
