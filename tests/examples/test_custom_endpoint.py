"""The custom-endpoint example: host SQL as the caller, a plain ASGI app, and the API beside.

Each test gets a database of its own loaded with the example's schema (the pytest plugin's
``pgrest_database``, cloned from a template).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from examples.custom_endpoint import SCHEMA_SQL, create_app
from pgrest_asgi import PgRestApp
from pgrest_asgi.pytest_plugin import TokenMaker
from pgrest_asgi.testing import Database, SqlSource

JSON = "application/json; charset=utf-8"


@pytest.fixture
def pgrest_sql() -> list[SqlSource]:
    return [SCHEMA_SQL]


@pytest.fixture
def pgrest_settings(pgrest_settings: dict[str, Any], pgrest_database: Database) -> dict[str, Any]:
    return {
        **pgrest_settings,
        "db_uri": pgrest_database.dsn(user="stats_authenticator"),
        "db_anon_role": "stats_anon",
    }


@pytest.fixture
async def pgrest_app(pgrest_settings: dict[str, Any]) -> AsyncIterator[PgRestApp]:
    settings = dict(pgrest_settings)
    app = create_app(settings.pop("db_uri"), **settings)
    async with app.lifespan():
        yield app


@pytest.fixture
def customer(pgrest_token: TokenMaker) -> dict[int, dict[str, str]]:
    """The ``Authorization`` headers of customers 1 and 2."""
    return {n: pgrest_token.headers("stats_customer", customer=n) for n in (1, 2)}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "details": None, "hint": None, "message": message}


async def test_the_sql_runs_as_the_callers_role(
    pgrest_client: httpx.AsyncClient, customer: dict[int, dict[str, str]]
) -> None:
    """Anonymous callers have no grant on orders: PostgreSQL says so, answered as PostgREST
    does for an anonymous caller (401). The customer role has it: 200."""
    resp = await pgrest_client.get("/order-stats")
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"
    assert resp.headers["proxy-status"] == "PostgREST; error=42501"
    assert resp.json() == _error("42501", "permission denied for table orders")

    resp = await pgrest_client.get("/order-stats", headers=customer[1])
    assert (resp.status_code, resp.headers["content-type"]) == (200, JSON)
    assert resp.json() == [{"customer_id": 1, "orders": 3, "total": 45}]


async def test_the_request_settings_are_set(
    pgrest_client: httpx.AsyncClient, customer: dict[int, dict[str, str]], pgrest_token: TokenMaker
) -> None:
    """Row-level security reads ``request.jwt.claims`` in the endpoint's transaction: each
    customer's statistics cover their own orders; a token without the claim sees none."""
    resp = await pgrest_client.get("/order-stats", headers=customer[2])
    assert resp.json() == [{"customer_id": 2, "orders": 2, "total": 70}]
    resp = await pgrest_client.get("/order-stats", headers=pgrest_token.headers("stats_customer"))
    assert (resp.status_code, resp.json()) == (200, [])


async def test_the_query_string_value_is_a_bind_parameter(
    pgrest_client: httpx.AsyncClient, customer: dict[int, dict[str, str]], pgrest_database: Database
) -> None:
    resp = await pgrest_client.get("/order-stats?min_total=10", headers=customer[1])
    assert resp.json() == [{"customer_id": 1, "orders": 2, "total": 40}]
    # SQL in the value is only a value: PostgreSQL rejects it as an integer.
    resp = await pgrest_client.get(
        "/order-stats",
        params={"min_total": "0 OR true; DELETE FROM shop.orders"},
        headers=customer[1],
    )
    assert resp.status_code == 400
    assert resp.json() == _error(
        "22P02", 'invalid input syntax for type integer: "0 OR true; DELETE FROM shop.orders"'
    )
    with psycopg.connect(pgrest_database.dsn()) as db:
        assert db.execute("SELECT count(*) FROM shop.orders").fetchone() == (5,)


async def test_a_database_error_gets_postgrests_body(
    pgrest_client: httpx.AsyncClient, customer: dict[int, dict[str, str]]
) -> None:
    resp = await pgrest_client.get("/order-stats?min_total=abc", headers=customer[1])
    assert resp.status_code == 400
    assert resp.headers["content-type"] == JSON
    assert resp.headers["proxy-status"] == "PostgREST; error=22P02"
    assert resp.json() == _error("22P02", 'invalid input syntax for type integer: "abc"')


async def test_the_endpoint_authenticates_like_the_api(pgrest_client: httpx.AsyncClient) -> None:
    resp = await pgrest_client.get("/order-stats", headers={"Authorization": "Bearer not-a-jwt"})
    assert resp.status_code == 401
    assert resp.json() == _error("PGRST301", "Expected 3 parts in JWT; got 1")


async def test_the_rest_of_the_api_works(
    pgrest_client: httpx.AsyncClient, customer: dict[int, dict[str, str]]
) -> None:
    resp = await pgrest_client.get("/orders?select=id,total&order=id", headers=customer[1])
    assert (resp.status_code, resp.headers["content-range"]) == (200, "0-2/*")
    assert resp.json() == [{"id": 1, "total": 10}, {"id": 2, "total": 30}, {"id": 5, "total": 5}]
    resp = await pgrest_client.get("/products?order=id")
    assert resp.json() == [{"id": 1, "name": "tea"}, {"id": 2, "name": "cake"}]
    resp = await pgrest_client.get("/orders?select=id")
    assert (resp.status_code, resp.json()["code"]) == (401, "42501")
    # Only GET /order-stats is the endpoint: other methods reach the API, which has no such
    # table.
    resp = await pgrest_client.post("/order-stats", json={}, headers=customer[1])
    assert resp.status_code == 404
    assert resp.json() == _error(
        "PGRST205", "Could not find the table 'shop.order-stats' in the schema cache"
    )


async def test_a_plain_asgi_app_answers_its_path(pgrest_client: httpx.AsyncClient) -> None:
    """``/ping`` reaches the ASGI app as it arrived: no authentication (a token that is not
    a JWT does not matter), nothing added to its response."""
    for method in ("GET", "POST"):
        resp = await pgrest_client.request(
            method, "/ping", headers={"Authorization": "Bearer not-a-jwt"}
        )
        body = f"pong: {method} /ping"
        assert (resp.status_code, resp.text) == (200, body)
        assert dict(resp.headers) == {
            "content-type": "text/plain",
            "content-length": str(len(body)),
        }
