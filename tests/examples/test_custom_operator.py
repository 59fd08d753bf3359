"""The custom-operator example: ``startswith`` (``^@``) end to end, next to the built-in ones.

Each test gets a database cloned from the example's schema (the pytest plugin's
``pgrest_database``); an app on the default operator table, which does not know the name, is
the comparison.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from examples.custom_operator import SCHEMA_SQL, create_app
from pgrest_asgi import PgRestApp
from pgrest_asgi.testing import Database, SqlSource
from tests.conftest import client_for


@pytest.fixture
def pgrest_sql() -> list[SqlSource]:
    return [SCHEMA_SQL]


@pytest.fixture
def pgrest_settings(pgrest_settings: dict[str, Any], pgrest_database: Database) -> dict[str, Any]:
    return {
        **pgrest_settings,
        "db_uri": pgrest_database.dsn(user="lib_authenticator"),
        "db_anon_role": "lib_anon",
    }


@pytest.fixture
async def pgrest_app(pgrest_settings: dict[str, Any]) -> AsyncIterator[PgRestApp]:
    settings = dict(pgrest_settings)
    app = create_app(settings.pop("db_uri"), **settings)
    async with app.lifespan():
        yield app


async def _ids(client: httpx.AsyncClient, query: str) -> list[int]:
    resp = await client.get(f"/books?select=id&order=id&{query}")
    assert resp.status_code == 200, resp.text
    return [row["id"] for row in resp.json()]


def _parse_error(details: str, message: str) -> dict[str, Any]:
    return {"code": "PGRST100", "details": details, "hint": None, "message": message}


async def test_startswith_keeps_rows_with_the_literal_prefix(
    pgrest_client: httpx.AsyncClient,
) -> None:
    assert await _ids(pgrest_client, "title=startswith.Dune") == [1, 2]  # case-sensitive: not 3
    # The value is literal: "%" is no wildcard, unlike in like.
    assert await _ids(pgrest_client, "title=startswith.100%25") == [4]
    assert await _ids(pgrest_client, "title=like.100%25*") == [4, 5]
    assert await _ids(pgrest_client, "title=startswith.50_") == [6]  # not 500 Miles


async def test_negation_quantifiers_and_logic_trees(pgrest_client: httpx.AsyncClient) -> None:
    assert await _ids(pgrest_client, "title=not.startswith.Dune") == [3, 4, 5, 6, 7, 8]
    assert await _ids(pgrest_client, "title=startswith(any).{Dune,50_}") == [1, 2, 6]
    assert await _ids(pgrest_client, "title=startswith(all).{Dune,Dune M}") == [2]
    assert await _ids(pgrest_client, "or=(title.startswith.Dune,id.eq.8)") == [1, 2, 8]
    assert await _ids(pgrest_client, "not.or=(title.startswith.D,id.eq.8)") == [3, 4, 5, 6, 7]


async def test_values_are_bind_parameters(
    pgrest_client: httpx.AsyncClient, pgrest_database: Database
) -> None:
    assert await _ids(pgrest_client, "title=startswith.Don't") == [8]
    resp = await pgrest_client.get(
        "/books", params={"select": "id", "title": "startswith.'; DROP TABLE lib.books; --"}
    )
    assert (resp.status_code, resp.json()) == (200, [])
    with psycopg.connect(pgrest_database.dsn()) as db:
        assert db.execute("SELECT count(*) FROM lib.books").fetchone() == (8,)


async def test_unknown_operators_are_still_parse_errors(pgrest_client: httpx.AsyncClient) -> None:
    resp = await pgrest_client.get("/books?title=sw.Dune")
    assert resp.status_code == 400
    assert resp.headers["proxy-status"] == "PostgREST; error=PGRST100"
    assert resp.json() == _parse_error(
        'unexpected "s" expecting "not" or operator (eq, gt, ...)',
        '"failed to parse filter (sw.Dune)" (line 1, column 1)',
    )
    resp = await pgrest_client.get("/books?title=startswith(some).Dune")
    assert resp.status_code == 400
    assert resp.json() == _parse_error(
        'unexpected "(" expecting "." after the operator',
        '"failed to parse filter (startswith(some).Dune)" (line 1, column 11)',
    )


async def test_a_column_without_the_operator_is_postgresqls_error(
    pgrest_client: httpx.AsyncClient,
) -> None:
    """``^@`` is defined for text: PostgreSQL rejects it on an integer (42883, answered 404
    as PostgREST maps that code)."""
    resp = await pgrest_client.get("/books?id=startswith.1")
    assert resp.status_code == 404
    assert resp.json() == {
        "code": "42883",
        "details": None,
        "hint": "No operator matches the given name and argument types. "
        "You might need to add explicit type casts.",
        "message": "operator does not exist: integer ^@ unknown",
    }


async def test_the_default_table_does_not_know_it(pgrest_settings: dict[str, Any]) -> None:
    plain = PgRestApp(schemas=["lib"], **pgrest_settings)
    async with plain.lifespan(), client_for(plain) as http:
        resp = await http.get("/books?title=startswith.Dune")
    assert resp.status_code == 400
    assert resp.json() == _parse_error(
        'unexpected "s" expecting "not" or operator (eq, gt, ...)',
        '"failed to parse filter (startswith.Dune)" (line 1, column 1)',
    )
