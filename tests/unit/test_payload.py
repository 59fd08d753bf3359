"""Request bodies → Payload: key sets, object vs array, CSV and forms, and PGRST102."""

from __future__ import annotations

import pytest

from pgrest_asgi.errors import ApiRequestError
from pgrest_asgi.request.payload import Payload, media_type, parse_payload


def fails(content_type: str | None, body: bytes) -> tuple[str, str]:
    with pytest.raises(ApiRequestError) as info:
        parse_payload(content_type, body)
    return info.value.code, info.value.message


def test_json_object_and_array() -> None:
    body = b'{"b": 1, "a": [1, 2]}'
    assert parse_payload(None, body) == Payload(body, ("b", "a"), False, {"b": 1, "a": [1, 2]})
    body = b'[{"a": 1, "b": 2}, {"b": 3, "a": 4}]'
    payload = parse_payload("application/json; charset=utf-8", body)
    assert (payload.json, payload.keys, payload.array) == (body, ("a", "b"), True)
    assert parse_payload(None, b"[]").keys == ()


def test_json_passes_numbers_through_untouched() -> None:
    body = b'{"n": 1e400, "m": 0.1000000000000000000001, "i": 99999999999999999999999}'
    payload = parse_payload(None, body)
    assert payload.json == body and payload.keys == ("n", "m", "i")


def test_json_errors() -> None:
    assert fails(None, b"") == ("PGRST102", "Empty or invalid json")
    assert fails(None, b"{") == ("PGRST102", "Empty or invalid json")
    assert fails(None, b"[" * 5000 + b"]" * 5000) == ("PGRST102", "Empty or invalid json")
    assert fails(None, b'[{"a": 1}, {"b": 1}]') == ("PGRST102", "All object keys must match")
    assert fails(None, b'[{"a": 1}, 2]') == ("PGRST102", "All object keys must match")
    assert fails("text/xml", b"<a/>") == ("PGRST102", "Content-Type not acceptable: text/xml")


def test_json_scalar_is_an_empty_array() -> None:
    assert parse_payload(None, b"5") == Payload(b"[]", (), True)


def test_columns_choose_the_keys() -> None:
    body = b'[{"a": 1}, {"b": 2, "c": 3}]'
    payload = parse_payload(None, body, ["a", "b"])
    assert (payload.keys, payload.array, payload.json) == (("a", "b"), True, body)


def test_csv() -> None:
    payload = parse_payload("text/csv", b'a,b\n1,"x, y"\n2,NULL\n3,\n')
    assert payload.keys == ("a", "b") and payload.array
    assert payload.json == (b'[{"a":"1","b":"x, y"},{"a":"2","b":null},{"a":"3","b":""}]')
    assert fails("text/csv", b"a,b\n1\n") == (
        "PGRST102",
        "All lines must have same number of fields",
    )
    assert parse_payload("text/csv", b"") == Payload(b"[]", (), True)


def test_form() -> None:
    payload = parse_payload("application/x-www-form-urlencoded", b"a=1&b=x+y&v=1&v=2")
    assert payload.keys == ("a", "b", "v") and not payload.array
    assert payload.json == b'{"a":"1","b":"x y","v":["1","2"]}'


def test_media_type() -> None:
    assert media_type(None) == "application/json"
    assert media_type("Text/CSV; charset=utf-8") == "text/csv"
