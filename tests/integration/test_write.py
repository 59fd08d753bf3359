"""Writes: POST (insert, bulk, CSV, form, upsert), PUT, PATCH and DELETE, with PostgREST's
statuses, headers, Prefer handling, errors, and embeds on the written rows.

Each test writes its own key range of the ``w_*`` tables (tests/fixtures/schema.sql), and
every test starts from the fixture data (tests/pristine.py), so the tests stay independent
while the session app commits.
"""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from pgrest_asgi.testing import PostgresCluster
from tests.conftest import API_DB
from tests.integration.test_read import error as exact_error

JSON = "application/json; charset=utf-8"
REP = {"Prefer": "return=representation"}


def error(resp: httpx.Response) -> tuple[int, Any]:
    return resp.status_code, resp.json()


async def rows(client: httpx.AsyncClient, url: str) -> Any:
    resp = await client.get(url)
    assert resp.status_code == 200, resp.text
    return resp.json()


# -- POST -------------------------------------------------------------------------------------
async def test_insert_minimal(client: httpx.AsyncClient) -> None:
    resp = await client.post("/w_authors", json={"id": 100, "name": "Ursula"})
    assert resp.status_code == 201
    assert resp.content == b""
    assert "content-type" not in resp.headers
    assert "location" not in resp.headers
    assert "preference-applied" not in resp.headers
    assert resp.headers["content-range"] == "*/*"
    # Missing keys are not written: the column default applies.
    assert await rows(client, "/w_authors?id=eq.100") == [
        {"id": 100, "name": "Ursula", "country": "FR"}
    ]
    resp = await client.post(
        "/w_authors", json={"id": 101, "name": "Italo"}, headers={"Prefer": "return=minimal"}
    )
    assert (resp.status_code, resp.headers["preference-applied"]) == (201, "return=minimal")


async def test_bulk_insert_with_representation_and_count(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/w_authors?select=id,name",
        json=[{"id": 110, "name": "A"}, {"id": 111, "name": "B"}],
        headers={"Prefer": "return=representation, count=exact"},
    )
    assert resp.status_code == 201
    assert resp.headers["content-type"] == JSON
    assert resp.headers["content-range"] == "*/2"
    assert resp.headers["preference-applied"] == "return=representation, count=exact"
    assert resp.json() == [{"id": 110, "name": "A"}, {"id": 111, "name": "B"}]


async def test_insert_representation_embeds_related_rows(client: httpx.AsyncClient) -> None:
    # As in PostgREST: embeds on the rows a write returns.
    resp = await client.post(
        "/w_books?select=id,title,author:w_authors(name,country)",
        json={"id": 120, "title": "The Dispossessed", "author_id": 1},
        headers={"Prefer": "return=representation"},
    )
    assert resp.status_code == 201
    assert resp.json() == [
        {
            "id": 120,
            "title": "The Dispossessed",
            "author": {"name": "Le Guin", "country": "US"},
        }
    ]
    # One-to-many from the written row, shaped by an embedded filter.
    resp = await client.post(
        "/w_authors?select=name,w_books(title)&w_books.title=like.*ea*",
        json={"id": 121, "name": "Nobody"},
        headers={"Prefer": "return=representation"},
    )
    assert resp.json() == [{"name": "Nobody", "w_books": []}]


async def test_insert_singular_representation(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/w_authors",
        json={"id": 130, "name": "Solo"},
        headers={
            "Prefer": "return=representation",
            "Accept": "application/vnd.pgrst.object+json",
        },
    )
    assert resp.status_code == 201
    assert resp.headers["content-type"] == "application/vnd.pgrst.object+json; charset=utf-8"
    assert resp.json() == {"id": 130, "name": "Solo", "country": "FR"}
    # Two rows cannot be one object: 406, and nothing is written.
    resp = await client.post(
        "/w_authors",
        json=[{"id": 131, "name": "X"}, {"id": 132, "name": "Y"}],
        headers={"Accept": "application/vnd.pgrst.object+json"},
    )
    assert error(resp) == (
        406,
        {
            "code": "PGRST116",
            "details": "The result contains 2 rows",
            "hint": None,
            "message": "Cannot coerce the result to a single JSON object",
        },
    )
    assert await rows(client, "/w_authors?id=in.(131,132)") == []


async def test_headers_only_location(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/w_authors", json={"id": 140, "name": "L"}, headers={"Prefer": "return=headers-only"}
    )
    assert resp.status_code == 201
    assert resp.content == b""
    assert resp.headers["location"] == "/w_authors?id=eq.140"
    assert resp.headers["content-range"] == "*/*"
    assert resp.headers["preference-applied"] == "return=headers-only"
    # A composite key, percent-encoded values; null parts read is.null.
    resp = await client.post(
        "/w_pairs", json={"a": 1, "b": "x y&z"}, headers={"Prefer": "return=headers-only"}
    )
    assert resp.headers["location"] == "/w_pairs?a=eq.1&b=eq.x%20y%26z"
    # Several rows, or no primary key: no Location.
    resp = await client.post(
        "/w_pairs",
        json=[{"a": 2, "b": "p"}, {"a": 3, "b": "q"}],
        headers={"Prefer": "return=headers-only"},
    )
    assert (resp.status_code, "location" in resp.headers) == (201, False)
    resp = await client.post(
        "/w_nokey", json={"v": "free"}, headers={"Prefer": "return=headers-only"}
    )
    assert (resp.status_code, "location" in resp.headers) == (201, False)


async def test_csv_and_form_bodies(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/w_people?select=id,email,name",
        content=b'id,email,name\n150,a@x.org,"Ann, A."\n151,b@x.org,NULL\n152,c@x.org,\n',
        headers={"Content-Type": "text/csv", "Prefer": "return=representation"},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json() == [
        {"id": 150, "email": "a@x.org", "name": "Ann, A."},
        {"id": 151, "email": "b@x.org", "name": None},
        {"id": 152, "email": "c@x.org", "name": ""},
    ]
    resp = await client.post(
        "/w_people",
        content=b"id,email\n153,d@x.org,extra\n",
        headers={"Content-Type": "text/csv"},
    )
    assert error(resp) == (
        400,
        {
            "code": "PGRST102",
            "details": None,
            "hint": None,
            "message": "All lines must have same number of fields",
        },
    )
    resp = await client.post(
        "/w_people?select=id,name",
        content=b"id=154&email=e%40x.org&name=Eve+E.",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Prefer": "return=representation",
        },
    )
    assert (resp.status_code, resp.json()) == (201, [{"id": 154, "name": "Eve E."}])


async def test_bad_bodies(client: httpx.AsyncClient) -> None:
    invalid = {
        "code": "PGRST102",
        "details": None,
        "hint": None,
        "message": "Empty or invalid json",
    }
    assert error(await client.post("/w_authors", content=b"")) == (400, invalid)
    assert error(await client.post("/w_authors", content=b"{nope")) == (400, invalid)
    resp = await client.post("/w_authors", json=[{"id": 160, "name": "a"}, {"id": 161}])
    assert error(resp) == (
        400,
        {
            "code": "PGRST102",
            "details": None,
            "hint": None,
            "message": "All object keys must match",
        },
    )
    resp = await client.post("/w_authors", json={"id": 162, "name": "a", "zeta": 1, "alpha": 2})
    assert error(resp) == (
        400,
        {
            "code": "PGRST204",
            "details": None,
            "hint": None,
            "message": "Could not find the 'alpha' column of 'w_authors' in the schema cache",
        },
    )
    resp = await client.post(
        "/w_authors", content=b"<a/>", headers={"Content-Type": "application/xml"}
    )
    assert error(resp) == (
        400,
        {
            "code": "PGRST102",
            "details": None,
            "hint": None,
            "message": "Content-Type not acceptable: application/xml",
        },
    )
    # A JSON scalar is an empty array: nothing to insert.
    resp = await client.post("/w_authors", json=5, headers={"Prefer": "return=representation"})
    assert (resp.status_code, resp.json()) == (201, [])
    assert await rows(client, "/w_authors?id=gte.160&id=lt.170") == []


async def test_database_errors_on_insert(client: httpx.AsyncClient) -> None:
    resp = await client.post("/w_authors", json={"id": 1, "name": "dup"})
    assert error(resp) == (
        409,
        {
            "code": "23505",
            "details": "Key (id)=(1) already exists.",
            "hint": None,
            "message": 'duplicate key value violates unique constraint "w_authors_pkey"',
        },
    )
    resp = await client.post("/w_authors", json={"id": 170})
    assert resp.status_code == 400
    assert resp.json()["code"] == "23502"
    resp = await client.post("/w_books", json={"title": "Orphan", "author_id": 999})
    assert (resp.status_code, resp.json()["code"]) == (409, "23503")
    # Bulk inserts are all or nothing.
    resp = await client.post(
        "/w_authors", json=[{"id": 171, "name": "ok"}, {"id": 171, "name": "dup"}]
    )
    assert resp.status_code == 409
    assert await rows(client, "/w_authors?id=eq.171") == []


async def test_columns_and_missing_default(client: httpx.AsyncClient) -> None:
    # ?columns= picks the keys; a missing one is NULL ...
    resp = await client.post(
        "/w_books?columns=id,title,pages&select=id,title,pages",
        json=[{"id": 180, "title": "A", "pages": 5, "ignored": 1}, {"id": 181, "title": "B"}],
        headers={"Prefer": "return=representation"},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json() == [
        {"id": 180, "title": "A", "pages": 5},
        {"id": 181, "title": "B", "pages": None},
    ]
    # ... or, with missing=default, the column's default (an identity column's included).
    resp = await client.post(
        "/w_books?columns=id,title,pages&select=title,pages",
        json=[{"id": 182, "title": "C"}, {"title": "D", "pages": 7}],
        headers={"Prefer": "missing=default, return=representation"},
    )
    assert resp.status_code == 201, resp.text
    assert resp.headers["preference-applied"] == "missing=default, return=representation"
    assert resp.json() == [{"title": "C", "pages": 100}, {"title": "D", "pages": 7}]
    resp = await client.post("/w_books?columns=id,nope", json={"id": 183})
    assert error(resp) == (
        400,
        {
            "code": "PGRST204",
            "details": None,
            "hint": None,
            "message": "Could not find the 'nope' column of 'w_books' in the schema cache",
        },
    )


async def test_array_and_json_columns(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/w_books?select=title,tags,meta",
        json={"id": 190, "title": "Typed", "tags": ["a", "b,c"], "meta": {"k": [1, None]}},
        headers={"Prefer": "return=representation"},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json() == [{"title": "Typed", "tags": ["a", "b,c"], "meta": {"k": [1, None]}}]


# -- upsert -----------------------------------------------------------------------------------
async def test_upsert_merge_and_ignore(client: httpx.AsyncClient) -> None:
    prefer = {"Prefer": "resolution=merge-duplicates, return=representation"}
    resp = await client.post(
        "/w_people?select=id,name",
        json={"id": 200, "email": "m@x.org", "name": "M"},
        headers=prefer,
    )
    assert (resp.status_code, resp.json()) == (201, [{"id": 200, "name": "M"}])
    assert (
        resp.headers["preference-applied"] == "resolution=merge-duplicates, return=representation"
    )
    # Only updates: 200.
    resp = await client.post(
        "/w_people?select=id,name",
        json={"id": 200, "email": "m@x.org", "name": "M2"},
        headers=prefer,
    )
    assert (resp.status_code, resp.json()) == (200, [{"id": 200, "name": "M2"}])
    # One update and one insert: 201.
    resp = await client.post(
        "/w_people?select=id,name",
        json=[
            {"id": 200, "email": "m@x.org", "name": "M3"},
            {"id": 201, "email": "n@x.org", "name": "N"},
        ],
        headers=prefer,
    )
    assert (resp.status_code, resp.json()) == (
        201,
        [{"id": 200, "name": "M3"}, {"id": 201, "name": "N"}],
    )
    # on_conflict names another unique key.
    resp = await client.post(
        "/w_people?on_conflict=email&select=id,name",
        json={"id": 999, "email": "n@x.org", "name": "N2"},
        headers=prefer,
    )
    # (Every payload column is set, the key included, as PostgREST does.)
    assert (resp.status_code, resp.json()) == (200, [{"id": 999, "name": "N2"}])
    # ignore-duplicates: the existing row stays, and the status is 201.
    resp = await client.post(
        "/w_people?select=id,name",
        json=[
            {"id": 200, "email": "m@x.org", "name": "ignored"},
            {"id": 202, "email": "o@x.org", "name": None},
        ],
        headers={"Prefer": "resolution=ignore-duplicates, return=representation"},
    )
    assert (resp.status_code, resp.json()) == (201, [{"id": 202, "name": None}])
    assert (
        resp.headers["preference-applied"] == "resolution=ignore-duplicates, return=representation"
    )
    assert await rows(client, "/w_people?id=eq.200&select=name") == [{"name": "M3"}]
    # No primary key and no on_conflict: a plain insert, and the preference is not applied.
    resp = await client.post(
        "/w_nokey", json={"v": "u"}, headers={"Prefer": "resolution=merge-duplicates"}
    )
    assert (resp.status_code, "preference-applied" in resp.headers) == (201, False)


async def test_put(client: httpx.AsyncClient) -> None:
    prefer = {"Prefer": "return=representation"}
    resp = await client.put(
        "/w_people?id=eq.210", json={"id": 210, "email": "p@x.org"}, headers=prefer
    )
    assert (resp.status_code, resp.json()) == (201, [{"id": 210, "email": "p@x.org", "name": None}])
    assert "content-range" not in resp.headers
    resp = await client.put(
        "/w_people?id=eq.210", json={"id": 210, "email": "p@x.org", "name": "P"}, headers=prefer
    )
    assert (resp.status_code, resp.json()) == (200, [{"id": 210, "email": "p@x.org", "name": "P"}])
    resp = await client.put("/w_people?id=eq.210", json={"id": 210, "email": "q@x.org"})
    assert (resp.status_code, resp.content) == (204, b"")
    resp = await client.put("/w_pairs?a=eq.5&b=eq.k", json={"a": 5, "b": "k", "note": "n"})
    assert resp.status_code == 204
    assert await rows(client, "/w_pairs?a=eq.5") == [{"a": 5, "b": "k", "note": "n"}]


async def test_put_errors(client: httpx.AsyncClient) -> None:
    not_pk = (
        405,
        {
            "code": "PGRST105",
            "details": None,
            "hint": None,
            "message": "Filters must include all and only primary key columns with 'eq' operators",
        },
    )
    body = {"id": 220, "email": "r@x.org"}
    for url in (
        "/w_people",
        "/w_people?email=eq.r@x.org",
        "/w_people?id=gt.220",
        "/w_people?id=not.eq.220",
        "/w_people?id=eq.220&name=eq.x",
        "/w_pairs?a=eq.1",
        "/w_nokey?v=eq.1",
    ):
        assert error(await client.put(url, json=body)) == not_pk, url
    resp = await client.put("/w_people?id=eq.220&limit=1", json=body)
    assert error(resp) == (
        400,
        {
            "code": "PGRST114",
            "details": None,
            "hint": None,
            "message": "limit/offset querystring parameters are not allowed for PUT",
        },
    )
    mismatch = (
        400,
        {
            "code": "PGRST115",
            "details": None,
            "hint": None,
            "message": "Payload values do not match URL in primary key column(s)",
        },
    )
    assert error(await client.put("/w_people?id=eq.221", json=body)) == mismatch
    assert error(await client.put("/w_people?id=eq.220", json={"email": "r@x.org"})) == mismatch
    assert await rows(client, "/w_people?id=in.(220,221)") == []


# -- PATCH ------------------------------------------------------------------------------------
async def _seed(client: httpx.AsyncClient, *ids: int) -> None:
    resp = await client.post(
        "/w_authors", json=[{"id": i, "name": f"a{i}", "country": "DE"} for i in ids]
    )
    assert resp.status_code == 201, resp.text


async def test_patch(client: httpx.AsyncClient) -> None:
    await _seed(client, 300, 301, 302)
    resp = await client.patch("/w_authors?id=in.(300,301)", json={"country": "NL"})
    assert (resp.status_code, resp.content) == (204, b"")
    assert resp.headers["content-range"] == "0-1/*"
    assert "content-type" not in resp.headers
    assert await rows(client, "/w_authors?id=gte.300&id=lt.303&select=id,country&order=id") == [
        {"id": 300, "country": "NL"},
        {"id": 301, "country": "NL"},
        {"id": 302, "country": "DE"},
    ]
    resp = await client.patch(
        "/w_authors?id=eq.302&select=id,name,w_books(title)",
        json={"name": "renamed"},
        headers={"Prefer": "return=representation, count=exact"},
    )
    assert resp.status_code == 200
    assert resp.headers["content-range"] == "0-0/1"
    assert resp.json() == [{"id": 302, "name": "renamed", "w_books": []}]
    # No row matched.
    resp = await client.patch("/w_authors?id=eq.-1", json={"name": "x"})
    assert (resp.status_code, resp.headers["content-range"]) == (204, "*/*")
    resp = await client.patch(
        "/w_authors?id=eq.-1", json={"name": "x"}, headers={"Prefer": "return=representation"}
    )
    assert (resp.status_code, resp.json()) == (200, [])
    # An empty object changes nothing.
    resp = await client.patch(
        "/w_authors?id=eq.300", json={}, headers={"Prefer": "return=representation"}
    )
    assert (resp.status_code, resp.json(), resp.headers["content-range"]) == (200, [], "*/*")
    # Logic trees filter the rows to change too.
    resp = await client.patch(
        "/w_authors?or=(id.eq.300,id.eq.302)&select=id",
        json={"country": "BE"},
        headers={"Prefer": "return=representation"},
    )
    assert resp.json() == [{"id": 300}, {"id": 302}]


async def test_patch_errors(client: httpx.AsyncClient) -> None:
    await _seed(client, 310)
    resp = await client.patch("/w_authors?id=eq.310", json={"shoe_size": 4})
    assert error(resp) == (
        400,
        {
            "code": "PGRST204",
            "details": None,
            "hint": None,
            "message": "Could not find the 'shoe_size' column of 'w_authors' in the schema cache",
        },
    )
    resp = await client.patch("/w_authors?id=eq.310", json={"name": None})
    assert (resp.status_code, resp.json()["code"]) == (400, "23502")


# -- DELETE -----------------------------------------------------------------------------------
async def test_delete(client: httpx.AsyncClient) -> None:
    await _seed(client, 400, 401, 402)
    resp = await client.delete("/w_authors?id=eq.400")
    assert (resp.status_code, resp.content, resp.headers["content-range"]) == (204, b"", "*/*")
    resp = await client.delete(
        "/w_authors?id=in.(401,402)&select=id&order=id.desc",
        headers={"Prefer": "return=representation, count=exact"},
    )
    assert resp.status_code == 200
    assert resp.headers["content-range"] == "*/2"
    assert resp.headers["preference-applied"] == "return=representation, count=exact"
    assert resp.json() == [{"id": 402}, {"id": 401}]
    assert await rows(client, "/w_authors?id=gte.400&id=lt.403") == []
    resp = await client.delete("/w_authors?id=eq.-1", headers={"Prefer": "return=representation"})
    assert (resp.status_code, resp.json()) == (200, [])


async def test_delete_representation_embeds(client: httpx.AsyncClient) -> None:
    resp = await client.post("/w_books", json={"id": 410, "title": "Gone", "author_id": 2})
    assert resp.status_code == 201
    resp = await client.delete(
        "/w_books?id=eq.410&select=title,w_authors(name)",
        headers={"Prefer": "return=representation"},
    )
    assert resp.json() == [{"title": "Gone", "w_authors": {"name": "Calvino"}}]


# -- views, privileges, transactions ----------------------------------------------------------
async def test_writes_through_an_updatable_view(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/w_author_names",
        json={"id": 500, "name": "Via view"},
        headers={"Prefer": "return=representation"},
    )
    assert (resp.status_code, resp.json()) == (201, [{"id": 500, "name": "Via view"}])
    assert await rows(client, "/w_authors?id=eq.500&select=country") == [{"country": "FR"}]
    resp = await client.patch("/w_author_names?id=eq.500", json={"name": "Renamed"})
    assert resp.status_code == 204
    resp = await client.delete("/w_author_names?id=eq.500")
    assert resp.status_code == 204
    assert await rows(client, "/w_authors?id=eq.500") == []


async def test_returning_respects_column_grants(client: httpx.AsyncClient) -> None:
    # anon may read only id and public: RETURNING lists just those (plus the key).
    resp = await client.post(
        "/w_limited?select=id,public",
        json={"id": 1, "public": "p"},
        headers={"Prefer": "return=representation"},
    )
    assert (resp.status_code, resp.json()) == (201, [{"id": 1, "public": "p"}])
    resp = await client.patch(
        "/w_limited?id=eq.1&select=public",
        json={"public": "q"},
        headers={"Prefer": "return=representation"},
    )
    assert (resp.status_code, resp.json()) == (200, [{"public": "q"}])
    resp = await client.post(
        "/w_limited", json={"id": 2, "private": "x"}, headers={"Prefer": "return=minimal"}
    )
    assert (resp.status_code, resp.json()["code"]) == (401, "42501")
    assert resp.headers["www-authenticate"] == "Bearer"


async def test_write_privileges_follow_the_role(app_factory: Any, token: Any) -> None:
    # anon may not insert into items; web_user may. Its own app, which commits nothing: the
    # read tests count the rows of items.
    async with app_factory(db_tx_end="rollback") as (_, http):
        resp = await http.post("/items", json={"id": 600, "name": "x"})
        assert error(resp) == (
            401,
            {
                "code": "42501",
                "details": None,
                "hint": None,
                "message": "permission denied for table items",
            },
        )
        auth = {"Authorization": f"Bearer {token({'role': 'web_user'})}"}
        resp = await http.post(
            "/items?select=id,name",
            json={"id": 600, "name": "x"},
            headers={**auth, "Prefer": "return=representation"},
        )
        assert (resp.status_code, resp.json()) == (201, [{"id": 600, "name": "x"}])
        resp = await http.delete("/items?id=eq.1&select=id", headers={**auth, **REP})
        assert (resp.status_code, resp.json()) == (200, [{"id": 1}])
        assert (await http.get("/items?id=eq.600")).json() == []


async def test_max_affected_rolls_back(client: httpx.AsyncClient) -> None:
    await _seed(client, 700, 701, 702)
    resp = await client.patch(
        "/w_authors?id=gte.700&id=lt.703",
        json={"country": "XX"},
        headers={"Prefer": "handling=strict, max-affected=2"},
    )
    assert error(resp) == (
        400,
        {
            "code": "PGRST124",
            "details": "The query affects 3 rows",
            "hint": None,
            "message": "Query result exceeds max-affected preference constraint",
        },
    )
    assert await rows(client, "/w_authors?id=gte.700&id=lt.703&country=eq.XX") == []
    resp = await client.delete(
        "/w_authors?id=gte.700&id=lt.703", headers={"Prefer": "handling=strict, max-affected=3"}
    )
    assert resp.status_code == 204
    assert resp.headers["preference-applied"] == "handling=strict, max-affected=3"
    # Lenient handling ignores it.
    resp = await client.delete("/w_authors?id=eq.-1", headers={"Prefer": "max-affected=0"})
    assert resp.status_code == 204


async def test_tx_rollback(app_factory: Any) -> None:
    async with app_factory(db_tx_end="rollback-allow-override") as (_, client):
        resp = await client.post(
            "/w_authors",
            json={"id": 800, "name": "Ghost"},
            headers={"Prefer": "return=representation"},
        )
        assert resp.status_code == 201
        assert resp.headers["preference-applied"] == "return=representation"
        assert await rows(client, "/w_authors?id=eq.800") == []
        resp = await client.post(
            "/w_authors", json={"id": 801, "name": "Kept"}, headers={"Prefer": "tx=commit"}
        )
        assert (resp.status_code, resp.headers["preference-applied"]) == (201, "tx=commit")
        assert await rows(client, "/w_authors?id=eq.801&select=name") == [{"name": "Kept"}]
        # A deferred constraint still fails before the rollback.
        resp = await client.post(
            "/w_deferred", json={"id": 1, "parent": 99}, headers={"Prefer": "tx=rollback"}
        )
        assert (resp.status_code, resp.json()["code"]) == (409, "23503")


async def test_deferred_constraint_fails_at_commit(client: httpx.AsyncClient) -> None:
    resp = await client.post("/w_deferred", json={"id": 2, "parent": 98})
    assert (resp.status_code, resp.json()["code"]) == (409, "23503")
    assert await rows(client, "/w_deferred?id=eq.2") == []


# -- hostile and large bodies (reliability plan SEC-63..67) -----------------------------------
async def test_numbers_pass_through_exactly(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/w_numbers?select=id,n",
        content=b'[{"id": 1, "n": 1e400}, {"id": 2, "n": 0.1000000000000000000001}]',
        headers={"Content-Type": "application/json", "Prefer": "return=representation"},
    )
    assert resp.status_code == 201, resp.text
    text = resp.text
    assert '"n":0.1000000000000000000001' in text
    assert '"n":1' + "0" * 400 in text


async def test_nul_escape_in_a_string_is_a_400(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/w_numbers",
        content=b'{"id": 3, "label": "a\\u0000b"}',
        headers={"Content-Type": "application/json"},
    )
    assert (resp.status_code, resp.json()["code"]) == (400, "22P05")


async def test_deeply_nested_body_is_a_400(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/w_numbers",
        content=b"[" * 2000 + b"]" * 2000,
        headers={"Content-Type": "application/json"},
    )
    assert error(resp) == (
        400,
        {"code": "PGRST102", "details": None, "hint": None, "message": "Empty or invalid json"},
    )


async def test_bulk_insert_is_atomic(client: httpx.AsyncClient) -> None:
    body = [{"id": 10_000 + i, "n": i, "label": None} for i in range(10_000)]
    body[5_000]["id"] = 10_000  # a duplicate key half-way
    resp = await client.post("/w_numbers", json=body)
    assert (resp.status_code, resp.json()["code"]) == (409, "23505")
    assert await rows(client, "/w_numbers?id=gte.10000&limit=1") == []
    body[5_000]["id"] = 15_000
    resp = await client.post("/w_numbers", json=body, headers={"Prefer": "count=exact"})
    assert (resp.status_code, resp.headers["content-range"]) == (201, "*/10000")


async def test_explain_of_a_write_never_writes(app_factory: Any) -> None:
    async with app_factory(db_plan_enabled=True) as (_, client):
        resp = await client.post(
            "/w_numbers",
            json={"id": 4, "n": 1},
            headers={"Accept": "application/vnd.pgrst.plan+json; options=analyze"},
        )
        assert resp.status_code == 200, resp.text
        plan = resp.json()
        assert plan[0]["Plan"]["Node Type"] == "Aggregate"
        assert await rows(client, "/w_numbers?id=eq.4") == []


async def test_computed_fields_and_relationships_of_written_rows(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/w_authors?select=name,loud_name,first_book(title)",
        json={"id": 190, "name": "quiet"},
        headers={"Prefer": "return=representation"},
    )
    assert (resp.status_code, resp.json()) == (
        201,
        [{"name": "quiet", "loud_name": "QUIET", "first_book": None}],
    )
    resp = await client.patch(
        "/w_authors?id=eq.1&select=id,first_book(title)",
        json={"country": "US"},
        headers={"Prefer": "return=representation"},
    )
    assert (resp.status_code, resp.json()) == (
        200,
        [{"id": 1, "first_book": {"title": "Earthsea"}}],
    )


async def test_put_representation_embeds(client: httpx.AsyncClient) -> None:
    resp = await client.put(
        "/w_books?id=eq.230&select=title,w_authors(name)",
        json={"id": 230, "title": "Invisible Cities", "author_id": 2},
        headers={"Prefer": "return=representation"},
    )
    assert (resp.status_code, resp.json()) == (
        201,
        [{"title": "Invisible Cities", "w_authors": {"name": "Calvino"}}],
    )


async def test_max_rows_does_not_limit_writes(app_factory: Any) -> None:
    async with app_factory(db_max_rows=1) as (_, client):
        resp = await client.post(
            "/w_authors?select=id",
            json=[{"id": 240, "name": "a"}, {"id": 241, "name": "b"}],
            headers={"Prefer": "return=representation"},
        )
        assert (resp.status_code, resp.json()) == (201, [{"id": 240}, {"id": 241}])
        resp = await client.patch(
            "/w_authors?id=in.(240,241)&select=id",
            json={"country": "SE"},
            headers={"Prefer": "return=representation"},
        )
        assert (resp.status_code, resp.json()) == (200, [{"id": 240}, {"id": 241}])
        # Reads, function results included, stay capped.
        assert (await client.get("/w_authors?id=in.(240,241)&select=id&order=id")).json() == [
            {"id": 240}
        ]
        resp = await client.get("/rpc/count_to?n=3")
        assert (resp.json(), resp.headers["content-range"]) == ([1], "0-0/*")


async def test_select_and_order_without_representation_are_ignored(
    client: httpx.AsyncClient,
) -> None:
    await _seed(client, 250, 251)
    resp = await client.delete("/w_authors?id=eq.250&select=id,w_books(title)&order=name")
    assert (resp.status_code, resp.headers["content-range"]) == (204, "*/*")
    # With a representation, ordering by a column that is not selected still works.
    resp = await client.patch(
        "/w_authors?id=eq.251&select=id&order=country.desc,name",
        json={"country": "PT"},
        headers={"Prefer": "return=representation"},
    )
    assert (resp.status_code, resp.json()) == (200, [{"id": 251}])


async def test_content_profile_not_exposed_is_406_and_writes_nothing(
    client: httpx.AsyncClient, api_db: PostgresCluster
) -> None:
    """SEC-36: a write or a call whose ``Content-Profile`` names a schema that is not exposed
    (one that exists, a case variant of an exposed one, SQL) is 406 PGRST106 before any SQL
    runs; nothing is written. A read ignores ``Content-Profile``."""
    with psycopg.connect(api_db.dsn(API_DB)) as conn:
        before = conn.execute(
            "SELECT (SELECT json_agg(a ORDER BY id) FROM api.w_authors a)::text,"
            " (SELECT count(*) FROM api.audit)"
        ).fetchone()
    writes = [
        ("POST", "/w_authors", {"id": 900, "name": "x"}),
        ("PATCH", "/w_authors?id=eq.1", {"name": "changed"}),
        ("PUT", "/w_authors?id=eq.1", {"id": 1, "name": "changed", "country": "XX"}),
        ("DELETE", "/w_authors?id=eq.1", None),
        ("POST", "/rpc/bump", {}),
    ]
    for profile in ("private", "API", "pg_catalog", 'api"; drop table api.w_authors; --'):
        for method, url, body in writes:
            resp = await client.request(
                method, url, json=body, headers={"Content-Profile": profile, **REP}
            )
            assert exact_error(resp) == (
                406,
                {
                    "code": "PGRST106",
                    "details": None,
                    "hint": "Only the following schemas are exposed: api, v2",
                    "message": f"Invalid schema: {profile}",
                },
            ), (method, url, profile)
            assert "content-profile" not in resp.headers
    with psycopg.connect(api_db.dsn(API_DB)) as conn:
        after = conn.execute(
            "SELECT (SELECT json_agg(a ORDER BY id) FROM api.w_authors a)::text,"
            " (SELECT count(*) FROM api.audit)"
        ).fetchone()
    assert after == before
    # Reads take their schema from Accept-Profile only.
    read = await client.get("/w_authors?select=id&id=eq.1", headers={"Content-Profile": "private"})
    assert (read.status_code, read.content) == (200, b'[{"id":1}]')
    assert read.headers["content-profile"] == "api"
