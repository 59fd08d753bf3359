from __future__ import annotations

import pytest

from pgrest_asgi.errors import ApiRequestError
from pgrest_asgi.request.model import Target
from pgrest_asgi.router import DefaultRouter, route_path

R = DefaultRouter(["api", "v2"])


@pytest.mark.parametrize(
    ("method", "path", "headers", "expected"),
    [
        ("GET", b"/", {}, Target("root", "api")),
        ("GET", b"/items", {}, Target("relation", "api", "items")),
        ("GET", b"/items/", {}, Target("relation", "api", "items")),
        ("GET", b"/%C3%BCn%20i", {}, Target("relation", "api", "ün i")),
        ("POST", b"/rpc/f", {}, Target("rpc", "api", "f")),
        ("GET", b"/items", {"accept-profile": "v2"}, Target("relation", "v2", "items", True)),
        ("POST", b"/items", {"content-profile": "v2"}, Target("relation", "v2", "items", True)),
        ("POST", b"/items", {"accept-profile": "nope"}, Target("relation", "api", "items")),
        # SEC-45: invalid UTF-8 is replaced (U+FFFD), as wai decodes a path; NUL is kept. Both
        # are names like any other, looked up in the schema cache and not found there.
        ("GET", b"/%FF", {}, Target("relation", "api", "\ufffd")),
        ("GET", b"/a%FFb%C3", {}, Target("relation", "api", "a\ufffdb\ufffd")),
        ("POST", b"/rpc/%FF", {}, Target("rpc", "api", "\ufffd")),
        ("GET", b"/a%00b", {}, Target("relation", "api", "a\x00b")),
        # SEC-54: everything after /rpc/ is the function's name, SQL included.
        (
            "GET",
            b"/rpc/f();drop%20table%20items",
            {},
            Target("rpc", "api", "f();drop table items"),
        ),
    ],
)
def test_targets(method: str, path: bytes, headers: dict[str, str], expected: Target) -> None:
    assert R.match(method, path, headers) == expected


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "code", "message"),
    [
        ("GET", b"/a/b", {}, 404, "PGRST125", "Invalid path specified in request URL"),
        ("GET", b"/%2e%2e/items", {}, 404, "PGRST125", "Invalid path specified in request URL"),
        ("TRACE", b"/items", {}, 405, "PGRST117", "Unsupported HTTP method: TRACE"),
        ("PATCH", b"/rpc/f", {}, 405, "PGRST101", "Cannot use the PATCH method on RPC"),
        ("GET", b"/items", {"accept-profile": "x"}, 406, "PGRST106", "Invalid schema: x"),
    ],
)
def test_errors(
    method: str, path: bytes, headers: dict[str, str], status: int, code: str, message: str
) -> None:
    with pytest.raises(ApiRequestError) as info:
        R.match(method, path, headers)
    err = info.value
    assert (err.status, err.code, err.message) == (status, code, message)


def test_invalid_schema_hint() -> None:
    with pytest.raises(ApiRequestError) as info:
        R.match("GET", b"/items", {"accept-profile": "x"})
    assert info.value.hint == "Only the following schemas are exposed: api, v2"


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ({"path": "/items", "raw_path": b"/items", "root_path": ""}, b"/items"),
        ({"path": "/api/items", "raw_path": b"/api/items", "root_path": "/api"}, b"/items"),
        ({"path": "/api", "raw_path": b"/api", "root_path": "/api"}, b"/"),
        # uvicorn --root-path: raw_path is what the client sent, path includes the prefix.
        ({"path": "/x/items", "raw_path": b"/items", "root_path": "/x"}, b"/items"),
        ({"path": "/a b", "raw_path": b"/a%20b?q=1", "root_path": ""}, b"/a%20b"),
    ],
)
def test_route_path(scope: dict[str, object], expected: bytes) -> None:
    assert route_path(scope) == expected
