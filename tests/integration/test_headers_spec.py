"""``Server-Timing`` and CORS as PostgREST 16 sends them, ported from its
``Query/ServerTimingSpec`` and ``CorsSpec``: the stages each kind of request reports (errors
included: every stage run up to the error, the failing one too), and the preflight and
``OPTIONS`` answers at the root as on a table."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.db

ALL_STAGES = ["jwt", "parse", "plan", "transaction", "response"]


def stages(resp: httpx.Response) -> list[str]:
    """The stage names of ``Server-Timing``, each checked to carry a duration."""
    names = []
    for part in resp.headers["server-timing"].split(", "):
        name, _, duration = part.partition(";dur=")
        assert float(duration) >= 0, part
        names.append(name)
    return names


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("GET", "/items?id=eq.6", {}, None, 200),
        ("POST", "/items", {"Prefer": "return=representation"}, {"id": 99, "name": "n"}, 201),
        ("PATCH", "/items?id=eq.1", {}, {"name": "m"}, 204),
        ("PUT", "/items?id=eq.2", {"Prefer": "return=representation"}, {"id": 2, "name": "p"}, 200),
        ("DELETE", "/items?id=eq.3", {}, None, 204),
        ("POST", "/rpc/add_them", {}, {"a": 1, "b": 2}, 200),
        ("HEAD", "/", {}, None, 200),
        ("GET", "/", {}, None, 200),
    ],
)
async def test_every_stage_is_timed(
    app_factory: Any,
    token: Any,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Any,
    status: int,
) -> None:
    auth = {"Authorization": f"Bearer {token({'role': 'web_user'})}"}
    async with app_factory(server_timing_enabled=True) as (_, http):
        resp = await http.request(method, path, headers={**auth, **headers}, json=body)
    assert resp.status_code == status, resp.text
    assert stages(resp) == ALL_STAGES


@pytest.mark.parametrize("path", ["/items", "/rpc/hello", "/"])
async def test_options_has_no_plan_or_transaction(app_factory: Any, path: str) -> None:
    async with app_factory(server_timing_enabled=True) as (_, http):
        resp = await http.options(path)
    assert (resp.status_code, resp.content) == (200, b"")
    assert stages(resp) == ["jwt", "parse", "response"]


@pytest.mark.parametrize(
    ("path", "headers", "status", "timed"),
    [
        # A bad token: only the JWT stage ran.
        ("/items", {"Authorization": "Bearer invalid"}, 401, ["jwt"]),
        # The query string does not parse.
        ("/items?id=invalid", {}, 400, ["jwt", "parse"]),
        # Planning refuses it (no such embed).
        ("/items?select=nope(*)", {}, 400, ["jwt", "parse", "plan"]),
        # PostgreSQL refuses the value.
        ("/items?id=eq.invalid", {}, 400, ["jwt", "parse", "plan", "transaction"]),
    ],
)
async def test_an_error_shows_the_stages_run_up_to_it(
    app_factory: Any, path: str, headers: dict[str, str], status: int, timed: list[str]
) -> None:
    async with app_factory(server_timing_enabled=True) as (_, http):
        resp = await http.get(path, headers=headers)
    assert resp.status_code == status, resp.text
    assert stages(resp) == timed


async def test_no_server_timing_unless_enabled(client: httpx.AsyncClient) -> None:
    for resp in (await client.get("/items?id=eq.1"), await client.options("/")):
        assert "server-timing" not in resp.headers


async def test_preflight_at_the_root_is_permissive(client: httpx.AsyncClient) -> None:
    resp = await client.options(
        "/",
        headers={
            "Accept": "*/*",
            "Origin": "http://example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Foo,Bar",
        },
    )
    assert (resp.status_code, resp.content) == (200, b"")
    assert {k: v for k, v in resp.headers.items() if k.startswith("access-control-")} == {
        "access-control-allow-origin": "*",
        "access-control-allow-methods": "GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD",
        "access-control-allow-headers": (
            "Authorization, Foo, Bar, Accept, Accept-Language, Content-Language"
        ),
        "access-control-max-age": "86400",
    }


async def test_a_normal_request_with_origin_exposes_the_headers(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items?id=eq.1", headers={"Origin": "http://example.com"})
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == "*"
    assert resp.headers["access-control-expose-headers"] == (
        "Content-Encoding, Content-Location, Content-Range, Content-Type, Date, Location, "
        "Server, Transfer-Encoding, Range-Unit"
    )


@pytest.mark.parametrize(
    "headers",
    [
        # Not a preflight (no Access-Control-Request-Method): the OPTIONS answer itself.
        {"Origin": "http://localhost:8000", "Accept": "text/csv, */*; q=0.01"},
        {"Accept": "application/json"},
        {"Accept": "application/geo+json"},
    ],
)
@pytest.mark.parametrize("path", ["/items", "/"])
async def test_options_allows_any_origin(
    client: httpx.AsyncClient, headers: dict[str, str], path: str
) -> None:
    resp = await client.options(path, headers=headers)
    assert (resp.status_code, resp.content) == (200, b"")
    assert resp.headers["access-control-allow-origin"] == "*"
