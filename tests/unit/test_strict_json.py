"""The session's JSON decoding (tests/conftest.py) rejects an object with a repeated key."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import DuplicateKeyError, strict_loads


def test_response_json_rejects_duplicate_keys() -> None:
    resp = httpx.Response(200, content=b'[{"id":1,"id":[1, 2]}]')
    with pytest.raises(DuplicateKeyError, match="'id' twice"):
        resp.json()
    nested = httpx.Response(200, content=b'{"a": {"b": 1, "b": 1}}')
    with pytest.raises(DuplicateKeyError, match="'b' twice"):
        nested.json()
    assert httpx.Response(200, content=b'{"a": {"b": 1}, "b": 2}').json() == {
        "a": {"b": 1},
        "b": 2,
    }


def test_strict_loads() -> None:
    with pytest.raises(DuplicateKeyError):
        strict_loads('{"x": 1, "x": 2}')
    assert strict_loads(b'[{"x": 1}, {"x": 2}]') == [{"x": 1}, {"x": 2}]
