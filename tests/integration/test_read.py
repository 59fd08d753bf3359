"""GET/HEAD on tables and views through httpx.ASGITransport against real PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import psycopg

from tests.conftest import strict_loads

JSON = "application/json; charset=utf-8"
VARY = "Accept, Prefer, Range"


def error(resp: httpx.Response) -> tuple[int, dict[str, object]]:
    """Status and body; the body must also be byte-exact: PostgREST's key order, compact."""
    body = resp.json()
    if isinstance(body, dict) and set(body) == {"code", "details", "hint", "message"}:
        ordered = {k: body[k] for k in ("code", "details", "hint", "message")}
        assert resp.content == msgspec.json.encode(ordered)
        assert resp.headers["content-type"] == JSON
        assert resp.headers["content-length"] == str(len(resp.content))
        assert resp.headers["proxy-status"] == f"PostgREST; error={body['code']}"
    return resp.status_code, body


async def test_select_columns_and_eq(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items?select=id,name&id=eq.1")
    assert resp.status_code == 200
    assert resp.content == b'[{"id":1,"name":"item 1"}]'
    assert resp.headers["content-type"] == JSON
    assert resp.headers["content-range"] == "0-0/*"
    assert resp.headers["content-location"] == "/items?id=eq.1&select=id,name"
    assert resp.headers["content-profile"] == "api"
    assert resp.headers["vary"] == VARY
    assert resp.headers["content-length"] == str(len(resp.content))
    assert "proxy-status" not in resp.headers


async def test_star_keeps_column_order_and_types(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items?id=eq.2")
    assert resp.json() == [{"id": 2, "name": "item 2", "price": 3.0, "Weird Col": "w2"}]


async def test_filter_value_typed_by_postgres(client: httpx.AsyncClient) -> None:
    # The value is an unknown-typed parameter: PostgreSQL casts it to the column's type.
    resp = await client.get("/items?id=eq.abc")
    assert error(resp) == (
        400,
        {
            "code": "22P02",
            "details": None,
            "hint": None,
            "message": 'invalid input syntax for type integer: "abc"',
        },
    )


async def test_limit_offset_and_content_range(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items?select=id&limit=3&offset=4")
    assert resp.json() == [{"id": 5}, {"id": 6}, {"id": 7}]
    assert resp.headers["content-range"] == "4-6/*"
    assert resp.status_code == 200


async def test_count_exact_gives_206_for_a_partial_page(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items?select=id&limit=2", headers={"Prefer": "count=exact"})
    assert resp.status_code == 206
    assert resp.headers["content-range"] == "0-1/20"
    assert resp.headers["preference-applied"] == "count=exact"
    full = await client.get("/items?select=id", headers={"Prefer": "count=exact"})
    assert (full.status_code, full.headers["content-range"]) == (200, "0-19/20")


async def test_offset_past_the_end_is_416(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items?offset=30", headers={"Prefer": "count=exact"})
    assert error(resp) == (
        416,
        {
            "code": "PGRST103",
            "details": "An offset of 30 was requested, but there are only 20 rows.",
            "hint": None,
            "message": "Requested range not satisfiable",
        },
    )


async def test_range_header(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items?select=id", headers={"Range": "2-3"})
    assert resp.json() == [{"id": 3}, {"id": 4}]
    assert resp.headers["content-range"] == "2-3/*"
    bad = await client.get("/items", headers={"Range": "5-2"})
    assert bad.status_code == 416


async def test_limit_zero(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items?limit=0")
    assert (resp.content, resp.headers["content-range"]) == (b"[]", "*/*")


async def test_empty_result(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items?id=eq.999")
    assert (resp.status_code, resp.content, resp.headers["content-range"]) == (200, b"[]", "*/*")


async def test_head_has_headers_and_no_body(client: httpx.AsyncClient) -> None:
    resp = await client.head("/items?select=id&limit=2")
    assert resp.status_code == 200
    assert resp.content == b""
    assert resp.headers["content-range"] == "0-1/*"
    assert "content-length" not in resp.headers


async def test_quoted_and_weird_identifiers(client: httpx.AsyncClient) -> None:
    resp = await client.get('/items?select="Weird Col"&"Weird Col"=eq.w3')
    assert resp.json() == [{"Weird Col": "w3"}]
    odd = await client.get("/odd%20%22name%22%25s?select=id,%C3%BCn%C3%AF")
    assert odd.json() == [{"id": 1, "ünï": "x"}]


async def test_injection_attempts_are_inert(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items?name=eq.'; drop table api.items; --")
    assert (resp.status_code, resp.content) == (200, b"[]")
    resp = await client.get('/items?select=id";drop table api.items;--')
    assert (resp.status_code, resp.json()["code"]) == (400, "PGRST100")
    assert (await client.get("/items?select=id&id=eq.1")).status_code == 200


async def test_unknown_column_is_postgres_error(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items?select=qqqqqqqq")
    assert error(resp) == (
        400,
        {
            "code": "42703",
            "details": None,
            "hint": None,
            "message": "column items.qqqqqqqq does not exist",
        },
    )
    assert resp.headers["proxy-status"] == "PostgREST; error=42703"


async def test_unknown_table_with_hint(client: httpx.AsyncClient) -> None:
    resp = await client.get("/itemz")
    assert error(resp) == (
        404,
        {
            "code": "PGRST205",
            "details": None,
            "hint": "Perhaps you meant the table 'api.items'",
            "message": "Could not find the table 'api.itemz' in the schema cache",
        },
    )
    assert resp.headers["proxy-status"] == "PostgREST; error=PGRST205"
    far = await client.get("/zzzzzz")
    assert far.json()["hint"] is None


async def test_not_exposed_objects_are_not_found(client: httpx.AsyncClient) -> None:
    """SEC-37: a table outside the exposed schemas and the system catalogs are unknown names
    (a dot in the path is part of the name, not a schema); ``/../items`` is two segments."""
    for name in ("hidden", "pg_authid", "pg_catalog.pg_authid"):
        assert error(await client.get(f"/{name}")) == (
            404,
            {
                "code": "PGRST205",
                "details": None,
                "hint": None,
                "message": f"Could not find the table 'api.{name}' in the schema cache",
            },
        )
    for path in ("/%2e%2e/items", "/%2E%2E/pg_catalog/pg_authid", "/api/items"):
        assert error(await client.get(path)) == (
            404,
            {
                "code": "PGRST125",
                "details": None,
                "hint": None,
                "message": "Invalid path specified in request URL",
            },
        )


async def test_parse_error_body(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items?id=foo.1")
    assert resp.content == (
        b'{"code":"PGRST100","details":"unexpected \\"f\\" expecting \\"not\\" or operator '
        b'(eq, gt, ...)","hint":null,"message":"\\"failed to parse filter (foo.1)\\" '
        b'(line 1, column 1)"}'
    )


async def test_invalid_utf8_in_query(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items?name=eq.%FF")
    assert (resp.status_code, resp.json()["code"]) == (400, "PGRST100")


async def test_nul_in_value(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items?name=eq.a%00b")
    assert (resp.status_code, resp.json()["code"]) == (400, "22021")


async def test_operators_against_real_types(client: httpx.AsyncClient) -> None:
    async def ids(query: str) -> list[int]:
        resp = await client.get(f"/items?select=id&order=id&{query}")
        assert resp.status_code == 200, resp.text
        return [row["id"] for row in resp.json()]

    assert await ids("id=in.(3,1,7)") == [1, 3, 7]
    assert await ids("id=not.in.(1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18)") == [19, 20]
    assert await ids("id=lt.3") == [1, 2]
    assert await ids("id=gte.19") == [19, 20]
    assert await ids("name=like.*em 1*&id=lt.12") == [1, 10, 11]
    assert await ids("name=ilike.ITEM 2") == [2]
    assert await ids("name=match.^item 1[5-6]$") == [15, 16]
    assert await ids("or=(id.eq.1,id.eq.20)") == [1, 20]
    assert await ids("id=eq(any).{4,5}") == [4, 5]
    assert await ids("price=is.null") == []
    assert await ids("id=isdistinct.1&id=lt.3") == [2]
    assert await ids("order=id.desc&limit=2") == [20, 19]


async def test_json_aggregation_is_passed_through(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items?select=id&id=lt.3&order=id")
    # json_agg's own formatting, untouched by Python.
    assert resp.content == b'[{"id":1}, \n {"id":2}]'
    assert strict_loads(resp.content) == [{"id": 1}, {"id": 2}]


async def test_singular_object(client: httpx.AsyncClient) -> None:
    resp = await client.get(
        "/items?select=id&id=eq.1", headers={"Accept": "application/vnd.pgrst.object+json"}
    )
    assert resp.content == b'{"id":1}'
    assert resp.headers["content-type"] == "application/vnd.pgrst.object+json; charset=utf-8"
    many = await client.get(
        "/items?select=id&id=lt.3", headers={"Accept": "application/vnd.pgrst.object+json"}
    )
    assert error(many) == (
        406,
        {
            "code": "PGRST116",
            "details": "The result contains 2 rows",
            "hint": None,
            "message": "Cannot coerce the result to a single JSON object",
        },
    )


async def test_unacceptable_media_type(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items", headers={"Accept": "application/x-unknown"})
    assert error(resp) == (
        406,
        {
            "code": "PGRST107",
            "details": None,
            "hint": None,
            "message": "None of these media types are available: application/x-unknown",
        },
    )


async def test_max_rows(app_factory) -> None:  # type: ignore[no-untyped-def]
    async with app_factory(db_max_rows=5) as (_, http):
        resp = await http.get("/items?select=id", headers={"Prefer": "count=exact"})
        assert len(resp.json()) == 5
        assert (resp.status_code, resp.headers["content-range"]) == (206, "0-4/20")


async def test_profiles(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items", headers={"Accept-Profile": "v2"})
    assert resp.json() == [{"id": 1, "label": "v2 one"}]
    assert resp.headers["content-profile"] == "v2"
    bad = await client.get("/items", headers={"Accept-Profile": "private"})
    assert error(bad) == (
        406,
        {
            "code": "PGRST106",
            "details": None,
            "hint": "Only the following schemas are exposed: api, v2",
            "message": "Invalid schema: private",
        },
    )


async def test_strict_preferences(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items", headers={"Prefer": "handling=strict, nonsense=1"})
    assert error(resp) == (
        400,
        {
            "code": "PGRST122",
            "details": "Invalid preferences: nonsense=1",
            "hint": None,
            "message": "Invalid preferences given with handling=strict",
        },
    )


async def test_url_length_limit(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items?select=" + "a," * 9000 + "id")
    assert resp.status_code == 414
    assert resp.json()["code"] == "PGRST100"


async def _explain_rows(cluster: Any, sql: str) -> int:
    with psycopg.connect(cluster.dsn("pgrest_test")) as conn:
        row = conn.execute("EXPLAIN (FORMAT JSON) " + sql).fetchone()
    assert row is not None
    return int(row[0][0]["Plan"]["Plan Rows"])


async def test_count_planned(client: httpx.AsyncClient, api_db: Any) -> None:
    expected = await _explain_rows(api_db, "SELECT 1 FROM api.items WHERE id > 3")
    resp = await client.get("/items?select=id&id=gt.3&limit=2", headers={"Prefer": "count=planned"})
    assert resp.headers["content-range"] == f"0-1/{expected}"
    assert resp.headers["preference-applied"] == "count=planned"
    assert resp.status_code == (206 if expected > 2 else 200)


async def test_count_estimated(app_factory: Any, api_db: Any) -> None:
    async with app_factory(db_max_rows=5) as (_, http):
        # 2 rows: under the cap, so the count is exact.
        small = await http.get("/items?select=id&id=lt.3", headers={"Prefer": "count=estimated"})
        assert small.headers["content-range"] == "0-1/2"
        # 20 rows: past max-rows, so the larger of the capped count (6) and the estimate.
        planned = await _explain_rows(api_db, "SELECT 1 FROM api.items")
        big = await http.get("/items?select=id", headers={"Prefer": "count=estimated"})
        assert big.headers["content-range"] == f"0-4/{max(6, planned)}"
        assert big.headers["preference-applied"] == "count=estimated"


async def test_minimal_error_verbosity(app_factory: Any) -> None:
    async with app_factory(client_error_verbosity="minimal") as (_, http):
        resp = await http.get("/itemz")
        assert resp.status_code == 404
        assert resp.content == (
            b'{"code":"PGRST205","message":"Could not find the table \'api.itemz\' in the '
            b'schema cache"}'
        )


async def test_empty_in_lists_and_trees(client: httpx.AsyncClient) -> None:
    assert (await client.get("/items?select=id&id=in.()")).json() == []
    everything = await client.get("/items?select=id&id=not.in.()")
    assert len(everything.json()) == 20
    status, body = error(await client.get("/items?or=()"))
    assert (status, body["code"]) == (400, "PGRST100")
    spaced = await client.get("/items?select= id , name &id=eq.1")
    assert spaced.json() == [{"id": 1, "name": "item 1"}]


async def test_aggregates_are_refused_and_legacy_count_works(client: httpx.AsyncClient) -> None:
    status, body = error(await client.get("/items?select=count()"))
    assert (status, body["code"], body["message"]) == (
        400,
        "PGRST123",
        "Use of aggregate functions is not allowed",
    )
    status, body = error(await client.get("/items?select=price.sum()"))
    assert (status, body["code"]) == (400, "PGRST123")
    # The legacy select=count is attribute notation for count(items): not an aggregate flag.
    legacy = await client.get("/items?select=count")
    assert legacy.json() == [{"count": 20}]
