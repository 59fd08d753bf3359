"""The tenant-isolation example: its leak matrix, with the rule and without it.

Tenant ``a`` asks, in every way the API offers, for orders of tenant ``b`` (and tries to
change them). ``leaks`` runs each case and names those where a ``b`` order was seen or
touched. With the example's planner pass nothing leaks; the same cases on an app without
the pass leak every one of them, which shows that each case does test the rule.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import psycopg
import pytest

from examples.tenant_isolation import SCHEMA_SQL, create_app
from pgrest_asgi import PgRestApp
from pgrest_asgi.pytest_plugin import TokenMaker
from pgrest_asgi.testing import Database, SqlSource
from tests.conftest import client_for

B_ORDERS = {2, 4, 5}
Case = Callable[[httpx.AsyncClient, psycopg.Connection[Any]], Awaitable[bool]]
CASES: dict[str, Case] = {}


def case(function: Case) -> Case:
    CASES[function.__name__] = function
    return function


def _ids(rows: Any, key: str = "id") -> set[int]:
    return {row[key] for row in rows}


def _tenant_of(db: psycopg.Connection[Any], order_id: int) -> tuple[str, int] | None:
    row = db.execute("SELECT tenant_id, total FROM shop.orders WHERE id = %s", (order_id,))
    return row.fetchone()


@case
async def read(http: httpx.AsyncClient, db: psycopg.Connection[Any]) -> bool:
    resp = await http.get("/orders?select=id&order=id")
    assert resp.status_code == 200
    return bool(_ids(resp.json()) & B_ORDERS)


@case
async def embed_depth_1(http: httpx.AsyncClient, db: psycopg.Connection[Any]) -> bool:
    resp = await http.get("/customers?select=id,orders(id)&order=id")
    assert resp.status_code == 200
    return any(_ids(c["orders"]) & B_ORDERS for c in resp.json())


@case
async def embed_depth_2(http: httpx.AsyncClient, db: psycopg.Connection[Any]) -> bool:
    resp = await http.get("/regions?select=id,customers(id,orders(id))")
    assert resp.status_code == 200
    return any(_ids(c["orders"]) & B_ORDERS for region in resp.json() for c in region["customers"])


@case
async def inner_embed_filter(http: httpx.AsyncClient, db: psycopg.Connection[Any]) -> bool:
    # Customer 1 has order 2 only through tenant b: with the rule, no customer matches.
    resp = await http.get("/customers?select=id,orders!inner(id)&orders.id=eq.2")
    assert resp.status_code == 200
    return resp.json() != []


@case
async def to_many_spread(http: httpx.AsyncClient, db: psycopg.Connection[Any]) -> bool:
    resp = await http.get("/customers?select=id,...orders(order_ids:id)")
    assert resp.status_code == 200
    return any(set(c["order_ids"]) & B_ORDERS for c in resp.json())


@case
async def exact_count(http: httpx.AsyncClient, db: psycopg.Connection[Any]) -> bool:
    resp = await http.get("/orders?select=id&limit=1", headers={"Prefer": "count=exact"})
    assert resp.status_code in (200, 206)
    return resp.headers["content-range"] != "0-0/2"


@case
async def function_rows(http: httpx.AsyncClient, db: psycopg.Connection[Any]) -> bool:
    resp = await http.get("/rpc/all_orders?select=id")
    assert resp.status_code == 200
    return bool(_ids(resp.json()) & B_ORDERS)


@case
async def function_rows_by_post(http: httpx.AsyncClient, db: psycopg.Connection[Any]) -> bool:
    resp = await http.post("/rpc/all_orders?select=id", json={})
    assert resp.status_code == 200
    return bool(_ids(resp.json()) & B_ORDERS)


@case
async def patch_by_filter(http: httpx.AsyncClient, db: psycopg.Connection[Any]) -> bool:
    resp = await http.patch(
        "/orders?id=in.(1,2)",
        json={"total": 99},
        headers={"Prefer": "return=representation"},
    )
    assert resp.status_code == 200
    return 2 in _ids(resp.json()) or _tenant_of(db, 2) != ("b", 20)


@case
async def delete_by_filter(http: httpx.AsyncClient, db: psycopg.Connection[Any]) -> bool:
    resp = await http.delete("/orders?id=eq.4", headers={"Prefer": "return=representation"})
    assert resp.status_code == 200
    return resp.json() != [] or _tenant_of(db, 4) is None


@case
async def insert_for_another_tenant(http: httpx.AsyncClient, db: psycopg.Connection[Any]) -> bool:
    resp = await http.post(
        "/orders",
        json={"id": 10, "tenant_id": "b", "customer_id": 1, "total": 1},
        headers={"Prefer": "return=representation"},
    )
    assert resp.status_code == 201, resp.text
    return resp.json()[0]["tenant_id"] != "a" or _tenant_of(db, 10) != ("a", 1)


@case
async def upsert_over_another_tenant(http: httpx.AsyncClient, db: psycopg.Connection[Any]) -> bool:
    resp = await http.post(
        "/orders",
        json=[{"id": 5, "tenant_id": "a", "customer_id": 1, "total": 0}],
        headers={"Prefer": "return=representation,resolution=merge-duplicates"},
    )
    assert resp.status_code in (200, 201)
    return bool(_ids(resp.json()) & B_ORDERS) or _tenant_of(db, 5) != ("b", 50)


@case
async def put_over_another_tenant(http: httpx.AsyncClient, db: psycopg.Connection[Any]) -> bool:
    resp = await http.put(
        "/orders?id=eq.2",
        json={"id": 2, "tenant_id": "a", "customer_id": 1, "total": 0},
        headers={"Prefer": "return=representation"},
    )
    # With the rule the row is not changed, so PUT's one-row check fails (PGRST115-like
    # rollback) or no row comes back; either way tenant b's row must be intact.
    return (resp.status_code == 200 and bool(_ids(resp.json()) & B_ORDERS)) or _tenant_of(
        db, 2
    ) != ("b", 20)


async def leaks(app: PgRestApp, dsn: str, token: str) -> set[str]:
    """The cases in which tenant ``a`` saw or touched an order of tenant ``b``."""
    found: set[str] = set()
    with psycopg.connect(dsn, autocommit=True) as db:
        async with app.lifespan(), client_for(app) as http:
            http.headers["Authorization"] = f"Bearer {token}"
            for name, run in CASES.items():
                if await run(http, db):
                    found.add(name)
    return found


@pytest.fixture
def pgrest_sql() -> list[SqlSource]:
    return [SCHEMA_SQL]


@pytest.fixture
def pgrest_settings(pgrest_settings: dict[str, Any], pgrest_database: Database) -> dict[str, Any]:
    return {
        **pgrest_settings,
        "db_uri": pgrest_database.dsn(user="shop_authenticator"),
        "db_anon_role": "shop_anon",
        "db_aggregates_enabled": True,
    }


@pytest.fixture
def tenant_a(pgrest_token: TokenMaker) -> str:
    return pgrest_token("shop_user", tenant="a")


@pytest.fixture
def with_rule(pgrest_settings: dict[str, Any]) -> PgRestApp:
    settings = dict(pgrest_settings)
    return create_app(settings.pop("db_uri"), **settings)


@pytest.fixture
async def pgrest_app(with_rule: PgRestApp) -> AsyncIterator[PgRestApp]:
    async with with_rule.lifespan():
        yield with_rule


async def test_no_case_leaks_with_the_rule(
    with_rule: PgRestApp, pgrest_database: Database, tenant_a: str
) -> None:
    assert await leaks(with_rule, pgrest_database.dsn(), tenant_a) == set()


async def test_every_case_leaks_without_the_rule(
    pgrest_settings: dict[str, Any], pgrest_database: Database, tenant_a: str
) -> None:
    plain = PgRestApp(schemas=["shop"], **pgrest_settings)
    assert await leaks(plain, pgrest_database.dsn(), tenant_a) == set(CASES)


async def test_the_rule_keeps_tenant_a_working(
    pgrest_client: httpx.AsyncClient, tenant_a: str
) -> None:
    """The rule hides b's orders, not a's: a reads, embeds, counts and changes its own."""
    anonymous = await pgrest_client.get("/orders")
    assert anonymous.status_code == 401
    http = pgrest_client
    http.headers["Authorization"] = f"Bearer {tenant_a}"
    resp = await http.get("/orders?select=id,tenant_id,customers(name)&order=id")
    assert resp.json() == [
        {"id": 1, "tenant_id": "a", "customers": {"name": "ann"}},
        {"id": 3, "tenant_id": "a", "customers": {"name": "bo"}},
    ]
    resp = await http.patch(
        "/orders?id=eq.3", json={"total": 31}, headers={"Prefer": "return=representation"}
    )
    assert (resp.status_code, resp.json()) == (
        200,
        [{"id": 3, "tenant_id": "a", "customer_id": 2, "total": 31}],
    )
    resp = await http.post(
        "/orders",
        json={"id": 1, "tenant_id": "a", "customer_id": 1, "total": 11},
        headers={"Prefer": "return=representation,resolution=merge-duplicates"},
    )
    assert (resp.status_code, resp.json()) == (
        200,
        [{"id": 1, "tenant_id": "a", "customer_id": 1, "total": 11}],
    )
