"""Request bodies → Payload: key sets, object vs array, CSV and forms, and PGRST102."""

from __future__ import annotations

import json

import pytest

from pgrest_asgi.errors import ApiRequestError
from pgrest_asgi.request.payload import Payload, media_type, parse_payload, request_payload


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
    # As PostgREST decodes a Content-Type: the array vendor types are JSON, unless their only
    # parameter is nulls=stripped (a response type); the other types are named for the error.
    assert media_type("application/vnd.pgrst.array+json") == "application/json"
    assert media_type("application/vnd.pgrst.array; charset=utf-8") == "application/json"
    assert media_type("application/vnd.pgrst.array+json; nulls=stripped") == "application/json"
    assert (
        media_type("application/vnd.pgrst.array;nulls=stripped")
        == "application/vnd.pgrst.array+json;nulls=stripped"
    )
    assert media_type("application/vnd.pgrst.object") == "application/vnd.pgrst.object+json"
    assert (
        media_type("application/vnd.pgrst.object+json;nulls=stripped")
        == "application/vnd.pgrst.object+json;nulls=stripped"
    )
    assert media_type("application/vnd.pgrst.plan") == (
        'application/vnd.pgrst.plan+text; for="application/json"'
    )
    assert media_type('application/vnd.pgrst.plan+json;for="text/csv";options=wal|analyze') == (
        'application/vnd.pgrst.plan+json; for="text/csv"; options=analyze|wal'
    )
    assert media_type("application/geo+json") == "application/geo+json"
    assert media_type("text/plain;charset=utf-8") == "text/plain"
    assert media_type("") == "*/*"


def test_only_json_types_are_json_bodies() -> None:
    for content_type, name in [
        ("application/merge-patch+json", "application/merge-patch+json"),
        ("application/vnd.pgrst.object+json", "application/vnd.pgrst.object+json"),
        (
            "application/vnd.pgrst.array+json;nulls=stripped",
            "application/vnd.pgrst.array+json;nulls=stripped",
        ),
        ("*/*", "*/*"),
    ]:
        assert fails(content_type, b"{}") == ("PGRST102", f"Content-Type not acceptable: {name}")
    body = b'{"a": 1}'
    assert parse_payload("application/vnd.pgrst.array+json", body).keys == ("a",)


def test_request_payload_of_a_call() -> None:
    # An empty body calls without arguments; a blank one is not JSON (as PostgREST: only a
    # zero-length body is the empty object).
    assert request_payload("POST", "rpc", None, b"") == Payload(b"{}", (), False, {})
    with pytest.raises(ApiRequestError, match="Empty or invalid json"):
        request_payload("POST", "rpc", None, b"  ")
    assert request_payload("POST", "rpc", "text/plain", b"x") is None
    assert request_payload("GET", "rpc", None, b"") is None


# -- arrays of objects: checked without decoding their values ------------------------------------
@pytest.mark.parametrize(
    ("body", "keys", "first"),
    [
        (b'[{"a":1,"b":"x"},{"b":"y","a":2}]', ("a", "b"), {"a": 1, "b": "x"}),
        (b'[{"":1},{"":2}]', ("",), {"": 1}),
        (b'[{"a":1,"a":2},{"a":3}]', ("a",), {"a": 2}),  # a repeated key: the last value
        (b"[{}, {}]", (), {}),
        (b'[{"a":{"x":[1,2]}},{"a":null}]', ("a",), {"a": {"x": [1, 2]}}),
        (b'[{"n":1e400}]', ("n",), {"n": "1e400"}),  # floats stay text for numeric
        # Keys no struct field can be renamed to: the full decode reads them.
        (
            json.dumps(
                [{"a\\b": 1, 'q"': 2, "c\x01": 3}, {"a\\b": 4, 'q"': 5, "c\x01": 6}]
            ).encode(),
            ("a\\b", 'q"', "c\x01"),
            {"a\\b": 1, 'q"': 2, "c\x01": 3},
        ),
    ],
)
def test_arrays_of_objects(body: bytes, keys: tuple[str, ...], first: dict[str, object]) -> None:
    payload = parse_payload("application/json", body)
    assert (payload.json, payload.keys, payload.array, payload.first) == (body, keys, True, first)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"a":1},{"b":2}]', "All object keys must match"),
        (b'[{"a":1},{"a":1,"b":2}]', "All object keys must match"),
        (b'[{"a":1},{}]', "All object keys must match"),
        (b'[{"a":1},3]', "All object keys must match"),
        (b"[1,2]", "All object keys must match"),
        # Invalid JSON is said first, wherever the keys differ.
        (b"[1,{]", "Empty or invalid json"),
        (b'[{"a":1},{"b":', "Empty or invalid json"),
    ],
)
def test_arrays_that_do_not_fit(body: bytes, message: str) -> None:
    with pytest.raises(ApiRequestError) as raised:
        parse_payload("application/json", body)
    assert raised.value.message == message
