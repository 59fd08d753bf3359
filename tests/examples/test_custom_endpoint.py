"""The custom-endpoint example: host SQL as the caller, a plain ASGI app, and the API beside.

Each test gets a database of its own loaded with the example's schema.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from examples.custom_endpoint import SCHEMA_SQL, create_app
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import JWT_SECRET, client_for, loaded_database, make_token

JSON = "application/json; charset=utf-8"


def _bearer(claims: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(claims)}"}


CUSTOMER_1 = _bearer({"role": "stats_customer", "customer": 1})
CUSTOMER_2 = _bearer({"role": "stats_customer", "customer": 2})


@pytest.fixture
def stats_db(pg_cluster: PostgresCluster) -> Iterator[str]:
    with loaded_database(pg_cluster, "stats", SCHEMA_SQL) as name:
        yield name


@pytest.fixture
async def http(pg_cluster: PostgresCluster, stats_db: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        pg_cluster.dsn(stats_db, user="stats_authenticator"),
        db_anon_role="stats_anon",
        jwt_secret=JWT_SECRET,
        db_pool=2,
    )
    async with app.lifespan(), client_for(app) as client:
        yield client


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "details": None, "hint": None, "message": message}


async def test_the_sql_runs_as_the_callers_role(http: httpx.AsyncClient) -> None:
    """Anonymous callers have no grant on orders: PostgreSQL says so, answered as PostgREST
    does for an anonymous caller (401). The customer role has it: 200."""
    resp = await http.get("/order-stats")
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"
    assert resp.headers["proxy-status"] == "PostgREST; error=42501"
    assert resp.json() == _error("42501", "permission denied for table orders")

    resp = await http.get("/order-stats", headers=CUSTOMER_1)
    assert (resp.status_code, resp.headers["content-type"]) == (200, JSON)
    assert resp.json() == [{"customer_id": 1, "orders": 3, "total": 45}]


async def test_the_request_settings_are_set(http: httpx.AsyncClient) -> None:
    """Row-level security reads ``request.jwt.claims`` in the endpoint's transaction: each
    customer's statistics cover their own orders; a token without the claim sees none."""
    resp = await http.get("/order-stats", headers=CUSTOMER_2)
    assert resp.json() == [{"customer_id": 2, "orders": 2, "total": 70}]
    resp = await http.get("/order-stats", headers=_bearer({"role": "stats_customer"}))
    assert (resp.status_code, resp.json()) == (200, [])


async def test_the_query_string_value_is_a_bind_parameter(
    http: httpx.AsyncClient, pg_cluster: PostgresCluster, stats_db: str
) -> None:
    resp = await http.get("/order-stats?min_total=10", headers=CUSTOMER_1)
    assert resp.json() == [{"customer_id": 1, "orders": 2, "total": 40}]
    # SQL in the value is only a value: PostgreSQL rejects it as an integer.
    resp = await http.get(
        "/order-stats",
        params={"min_total": "0 OR true; DELETE FROM shop.orders"},
        headers=CUSTOMER_1,
    )
    assert resp.status_code == 400
    assert resp.json() == _error(
        "22P02", 'invalid input syntax for type integer: "0 OR true; DELETE FROM shop.orders"'
    )
    with psycopg.connect(pg_cluster.dsn(stats_db)) as db:
        assert db.execute("SELECT count(*) FROM shop.orders").fetchone() == (5,)


async def test_a_database_error_gets_postgrests_body(http: httpx.AsyncClient) -> None:
    resp = await http.get("/order-stats?min_total=abc", headers=CUSTOMER_1)
    assert resp.status_code == 400
    assert resp.headers["content-type"] == JSON
    assert resp.headers["proxy-status"] == "PostgREST; error=22P02"
    assert resp.json() == _error("22P02", 'invalid input syntax for type integer: "abc"')


async def test_the_endpoint_authenticates_like_the_api(http: httpx.AsyncClient) -> None:
    resp = await http.get("/order-stats", headers={"Authorization": "Bearer not-a-jwt"})
    assert resp.status_code == 401
    assert resp.json() == _error("PGRST301", "Expected 3 parts in JWT; got 1")


async def test_the_rest_of_the_api_works(http: httpx.AsyncClient) -> None:
    resp = await http.get("/orders?select=id,total&order=id", headers=CUSTOMER_1)
    assert (resp.status_code, resp.headers["content-range"]) == (200, "0-2/*")
    assert resp.json() == [{"id": 1, "total": 10}, {"id": 2, "total": 30}, {"id": 5, "total": 5}]
    resp = await http.get("/products?order=id")
    assert resp.json() == [{"id": 1, "name": "tea"}, {"id": 2, "name": "cake"}]
    resp = await http.get("/orders?select=id")
    assert (resp.status_code, resp.json()["code"]) == (401, "42501")
    # Only GET /order-stats is the endpoint: other methods reach the API, which has no such
    # table.
    resp = await http.post("/order-stats", json={}, headers=CUSTOMER_1)
    assert resp.status_code == 404
    assert resp.json() == _error(
        "PGRST205", "Could not find the table 'shop.order-stats' in the schema cache"
    )


async def test_a_plain_asgi_app_answers_its_path(http: httpx.AsyncClient) -> None:
    """``/ping`` reaches the ASGI app as it arrived: no authentication (a token that is not
    a JWT does not matter), nothing added to its response."""
    for method in ("GET", "POST"):
        resp = await http.request(method, "/ping", headers={"Authorization": "Bearer not-a-jwt"})
        body = f"pong: {method} /ping"
        assert (resp.status_code, resp.text) == (200, body)
        assert dict(resp.headers) == {
            "content-type": "text/plain",
            "content-length": str(len(body)),
        }
