"""Role switching, the per-request settings, RLS, pre-request, response GUCs, isolation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import psycopg
from psycopg.conninfo import make_conninfo

from pgrest_asgi import PgRestApp
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import API_DB, JWT_SECRET, client_for, strict_loads
from tests.integration.test_read import error

Token = Callable[..., str]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_anonymous_request_settings(client: httpx.AsyncClient) -> None:
    resp = await client.get(
        "/whoami",
        headers={"X-Custom": "Value", "Cookie": "session=abc; theme=dark"},
    )
    assert resp.status_code == 200, resp.text
    (row,) = resp.json()
    assert row["role"] == "web_anon"
    assert strict_loads(row["claims"]) == {"role": "web_anon"}
    assert (row["method"], row["path"]) == ("GET", "/whoami")
    headers = strict_loads(row["headers"])
    assert headers["x-custom"] == "Value"
    assert "cookie" not in headers
    assert strict_loads(row["cookies"]) == {"session": "abc", "theme": "dark"}
    assert row["search_path"] == '"api", "public"'
    assert row["greeting"] == "hello"
    assert (row["isolation_level"], row["read_only"]) == ("read committed", "on")


async def test_jwt_role_and_claims(client: httpx.AsyncClient, token: Token) -> None:
    resp = await client.get("/whoami", headers=bearer(token({"role": "web_user", "sub": "alice"})))
    (row,) = resp.json()
    assert row["role"] == "web_user"
    assert strict_loads(row["claims"]) == {"role": "web_user", "sub": "alice"}
    # The impersonated role's own settings (ALTER ROLE ... SET) are re-applied.
    assert row["statement_timeout"] == "5s"


async def test_concurrent_requests_keep_their_own_role(
    client: httpx.AsyncClient, token: Token
) -> None:
    """SEC-30: 200 concurrent requests over a pool of 4, alternating roles and claims."""
    tokens = {
        "web_user": token({"role": "web_user", "sub": "u1"}),
        "other_user": token({"role": "other_user", "sub": "u2"}),
    }

    async def one(i: int) -> tuple[str, str, dict[str, str]]:
        role = "web_user" if i % 3 == 0 else "other_user" if i % 3 == 1 else "web_anon"
        headers = bearer(tokens[role]) if role != "web_anon" else {}
        resp = await client.get("/whoami?select=role,claims", headers=headers)
        assert resp.status_code == 200, resp.text
        (row,) = resp.json()
        return role, row["role"], strict_loads(row["claims"])

    results = await asyncio.gather(*(one(i) for i in range(200)))
    mismatches = [r for r in results if r[0] != r[1] or r[2]["role"] != r[0]]
    assert mismatches == []
    subs = {(r[0], r[2].get("sub")) for r in results}
    assert subs == {("web_user", "u1"), ("other_user", "u2"), ("web_anon", None)}


async def test_row_level_security(client: httpx.AsyncClient, token: Token) -> None:
    alice = bearer(token({"role": "web_user", "sub": "alice"}))
    resp = await client.get("/notes?select=id,body&order=id", headers=alice)
    assert resp.json() == [{"id": 1, "body": "alice note"}, {"id": 3, "body": "second"}]
    # Alice asks for Bob's row by id: filtered out, not an error.
    resp = await client.get("/notes?id=eq.2", headers=alice)
    assert (resp.status_code, resp.content) == (200, b"[]")


async def test_permission_denied_anon_401_authenticated_403(
    client: httpx.AsyncClient, token: Token
) -> None:
    anon = await client.get("/secrets")
    assert anon.status_code == 401
    assert anon.headers["www-authenticate"] == "Bearer"
    assert anon.json() == {
        "code": "42501",
        "details": None,
        "hint": None,
        "message": "permission denied for table secrets",
    }
    other = await client.get("/secrets", headers=bearer(token({"role": "other_user"})))
    assert other.status_code == 403
    assert "www-authenticate" not in other.headers
    ok = await client.get("/secrets", headers=bearer(token({"role": "web_user"})))
    assert ok.json() == [{"id": 1, "secret": "s3cr3t"}]


async def test_unknown_role_and_forbidden_role(client: httpx.AsyncClient, token: Token) -> None:
    resp = await client.get("/items", headers=bearer(token({"role": "nobody_here"})))
    assert resp.status_code == 401
    assert resp.json() == {
        "code": "22023",
        "details": None,
        "hint": None,
        "message": 'role "nobody_here" does not exist',
    }
    resp = await client.get("/items", headers=bearer(token({"role": "outsider"})))
    assert resp.status_code == 403
    assert resp.json()["code"] == "42501"
    assert resp.json()["message"] == 'permission denied to set role "outsider"'
    assert (await client.get("/items?id=eq.1")).status_code == 200


async def test_sql_in_the_role_claim_is_a_role_name(
    client: httpx.AsyncClient, token: Token, api_db: PostgresCluster
) -> None:
    """SEC-19: the role claim is a value of ``set_config('role', $1, true)``, never SQL text:
    PostgreSQL looks for a role of that name, finds none (22023, 401 with a ``Bearer``
    challenge, as PostgREST maps it), and ``items`` is untouched."""
    for role in ('anon"; drop table items; --', 'web_anon"; drop table api.items; --'):
        evil = await client.get("/items", headers=bearer(token({"role": role})))
        assert evil.status_code == 401
        assert evil.content == msgspec.json.encode(
            {
                "code": "22023",
                "details": None,
                "hint": None,
                "message": f'role "{role}" does not exist',
            }
        )
        assert evil.headers["www-authenticate"] == "Bearer"
        assert evil.headers["proxy-status"] == "PostgREST; error=22023"
        assert evil.headers["content-type"] == "application/json; charset=utf-8"
    with psycopg.connect(api_db.dsn(API_DB)) as conn:
        assert conn.execute("SELECT count(*) FROM api.items").fetchone() == (20,)
    assert (await client.get("/items?id=eq.1&select=id")).json() == [{"id": 1}]


async def test_role_statement_timeout(client: httpx.AsyncClient, token: Token) -> None:
    """SEC-33: other_user has statement_timeout=200ms as a role setting."""
    resp = await client.get("/sleepy", headers=bearer(token({"role": "other_user"})))
    assert resp.status_code == 500
    assert resp.json()["code"] == "57014"
    assert resp.json()["message"] == "canceling statement due to statement timeout"
    # The connection is healthy afterwards.
    assert (await client.get("/items?id=eq.1")).status_code == 200


async def test_response_gucs(client: httpx.AsyncClient) -> None:
    resp = await client.get("/teapot")
    assert resp.status_code == 418
    assert resp.headers["x-brew"] == "tea"
    assert resp.headers["cache-control"] == "no-store"


async def test_invalid_response_gucs(client: httpx.AsyncClient) -> None:
    resp = await client.get("/bad_headers")
    assert resp.status_code == 500
    assert resp.json() == {
        "code": "PGRST111",
        "details": None,
        "hint": None,
        "message": "response.headers guc must be a JSON array composed of objects with a "
        "single key and a string value",
    }
    resp = await client.get("/bad_status")
    assert (resp.status_code, resp.json()["code"]) == (500, "PGRST112")


async def test_raised_errors(client: httpx.AsyncClient) -> None:
    resp = await client.get("/paywall")
    assert resp.status_code == 402
    assert resp.json() == {
        "code": "PT402",
        "details": "Quota used",
        "hint": "Upgrade",
        "message": "Payment Required",
    }
    resp = await client.get("/custom_error")
    # status_text cannot be honoured: ASGI has no field for a custom reason phrase.
    assert resp.status_code == 420
    assert resp.headers["x-custom"] == "yes"
    assert resp.json() == {"code": "123", "details": "D", "hint": "H", "message": "Custom"}
    resp = await client.get("/boom")
    assert resp.status_code == 400
    assert resp.json() == {"code": "P0001", "details": "it broke", "hint": None, "message": "boom"}


async def test_session_settings_do_not_leak(app_factory) -> None:  # type: ignore[no-untyped-def]
    """SEC-31: a session-level set_config by one request is invisible to the next one."""
    async with app_factory(db_pool=1) as (_, http):
        leak = await http.get("/leaky")
        assert leak.json() == [{"tenant": "42"}]
        after = await http.get("/whoami?select=tenant")
        assert after.json() == [{"tenant": ""}]


async def test_pre_request(app_factory) -> None:  # type: ignore[no-untyped-def]
    async with app_factory(db_pre_request="api.pre_request") as (_, http):
        ok = await http.get("/items?id=eq.1&select=id")
        assert ok.status_code == 200
        assert ok.headers["x-pre-request"] == "ran"
        blocked = await http.get("/items", headers={"X-Block": "yes"})
        assert blocked.status_code == 403
        assert blocked.json()["message"] == "Blocked by pre-request"


async def _xid_status(http: httpx.AsyncClient, prefer: str | None, cluster: PostgresCluster) -> str:
    headers = {"Prefer": prefer} if prefer else {}
    resp = await http.get("/current_xid", headers=headers)
    assert resp.status_code == 200, resp.text
    xid = resp.json()[0]["xid"]
    with psycopg.connect(cluster.dsn(API_DB)) as conn:
        row = conn.execute("SELECT txid_status(%s::bigint)", (xid,)).fetchone()
    assert row is not None
    return str(row[0])


async def test_tx_end(app_factory, api_db: PostgresCluster) -> None:  # type: ignore[no-untyped-def]
    """db-tx-end and Prefer: tx=, observed through the fate of the request's transaction."""
    async with app_factory(db_tx_end="commit") as (_, http):
        assert await _xid_status(http, None, api_db) == "committed"
        assert await _xid_status(http, "tx=rollback", api_db) == "committed"  # not allowed
    async with app_factory(db_tx_end="rollback") as (_, http):
        assert await _xid_status(http, None, api_db) == "aborted"
        assert await _xid_status(http, "tx=commit", api_db) == "aborted"
    async with app_factory(db_tx_end="rollback-allow-override") as (_, http):
        assert await _xid_status(http, None, api_db) == "aborted"
        assert await _xid_status(http, "tx=commit", api_db) == "committed"
        resp = await http.get("/items?id=eq.1", headers={"Prefer": "tx=commit"})
        assert resp.headers["preference-applied"] == "tx=commit"
    async with app_factory(db_tx_end="commit-allow-override") as (_, http):
        assert await _xid_status(http, "tx=rollback", api_db) == "aborted"
        resp = await http.get("/items?id=eq.1", headers={"Prefer": "tx=rollback"})
        assert resp.headers["preference-applied"] == "tx=rollback"
    async with app_factory(db_tx_end="commit") as (_, http):
        resp = await http.get("/items?id=eq.1", headers={"Prefer": "tx=rollback"})
        assert "preference-applied" not in resp.headers


async def test_jwt_errors_need_no_database(app_factory) -> None:  # type: ignore[no-untyped-def]
    """SEC-25: a bad token is answered without a pool connection, while the only one is taken
    (a request that waited for it would wait the whole acquisition timeout, then get 504)."""
    async with app_factory(db_pool=1, db_pool_acquisition_timeout=120.0) as (app, http):
        pool = app.executor.pool  # type: ignore[attr-defined]
        executed = 0
        execute = app.executor.execute

        async def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal executed
            executed += 1
            return await execute(*args, **kwargs)

        app.executor.execute = counting
        async with pool.connection():
            resp = await asyncio.wait_for(
                http.get("/items", headers={"Authorization": "Bearer a.b"}), timeout=60
            )
        assert (resp.status_code, resp.json()) == (
            401,
            {
                "code": "PGRST301",
                "details": None,
                "hint": None,
                "message": "Expected 3 parts in JWT; got 2",
            },
        )
        assert resp.headers["www-authenticate"] == (
            'Bearer error="invalid_token", error_description="Expected 3 parts in JWT; got 2"'
        )
        assert executed == 0


COLUMN_GRANTS = """
CREATE SCHEMA api;
GRANT USAGE ON SCHEMA api TO web_anon, web_user, other_user;
CREATE TABLE api.staff_pay (id int PRIMARY KEY, name text NOT NULL, salary int NOT NULL);
INSERT INTO api.staff_pay VALUES (1, 'Ann', 5000), (2, 'Bob', 4000);
-- Every column but salary.
GRANT SELECT (id, name) ON api.staff_pay TO web_anon, other_user;
GRANT SELECT ON api.staff_pay TO web_user;
"""


async def test_a_column_denied_is_401_for_anon_and_403_when_signed_in(
    api_db: PostgresCluster, fresh_db: str, token: Token
) -> None:
    """SEC-34: a column the role may not read (a column-level grant of the others, in a
    database of the test's own): selecting it, ``*``, or filtering or ordering by it is
    ``42501``: 401 with a ``Bearer`` challenge for the anonymous role, 403 without one for a
    signed-in role. The granted columns are served; a role granted the table reads all."""
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(COLUMN_GRANTS)
    app = PgRestApp(
        make_conninfo(fresh_db, user="authenticator"),
        schemas=["api"],
        db_anon_role="web_anon",
        jwt_secret=JWT_SECRET,
    )
    denied = {
        "code": "42501",
        "details": None,
        "hint": None,
        "message": "permission denied for table staff_pay",
    }
    other = bearer(token({"role": "other_user"}))
    async with app.lifespan(), client_for(app) as http:
        for query in (
            "select=salary",
            "select=id,salary",
            "",
            "select=*",
            "select=id&salary=gt.4500",
            "select=id&order=salary",
        ):
            anon = await http.get(f"/staff_pay?{query}")
            assert error(anon) == (401, denied), query
            assert anon.headers["www-authenticate"] == "Bearer"
            signed_in = await http.get(f"/staff_pay?{query}", headers=other)
            assert error(signed_in) == (403, denied), query
            assert "www-authenticate" not in signed_in.headers
        for headers in ({}, other):
            resp = await http.get("/staff_pay?select=id,name&order=id", headers=headers)
            assert (resp.status_code, resp.content) == (
                200,
                b'[{"id":1,"name":"Ann"}, \n {"id":2,"name":"Bob"}]',
            )
        paid = bearer(token({"role": "web_user"}))
        resp = await http.get("/staff_pay?salary=gt.4500", headers=paid)
        assert (resp.status_code, resp.content) == (
            200,
            b'[{"id":1,"name":"Ann","salary":5000}]',
        )
