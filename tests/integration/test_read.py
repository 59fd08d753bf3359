"""GET/HEAD on tables and views through httpx.ASGITransport against real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import msgspec
import psycopg
from psycopg.conninfo import make_conninfo

from pgrest_asgi import PgRestApp
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import client_for, strict_loads

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


#: Names with a single quote, a backslash, an emoji, a semicolon and a double quote, in a
#: database of their own (the roles are the fixture's: they belong to the cluster).
WEIRD_SCHEMA = r'''
CREATE SCHEMA api;
CREATE SCHEMA "o'k;\";
GRANT USAGE ON SCHEMA api, "o'k;\" TO web_anon;
CREATE TABLE api."it's" ("o'id" int PRIMARY KEY, "back\slash" text, "😀" text,
  "semi;colon" text, "mix'\;😀""" text);
INSERT INTO api."it's" VALUES (1, 'b1', 'e1', 's1', 'm1'), (2, 'b2', 'e2', 's2', 'm2');
CREATE TABLE api."back\slash;😀" ("k'ey" int PRIMARY KEY,
  "it's id" int NOT NULL REFERENCES api."it's" ("o'id"), note text);
INSERT INTO api."back\slash;😀" VALUES (10, 1, 'a'), (11, 1, 'b'), (12, 2, 'c');
CREATE FUNCTION api."f'n;😀\"("a'rg\;" text) RETURNS text LANGUAGE sql
  AS $$ SELECT 'got ' || $1 $$;
CREATE TABLE "o'k;\"."t;'" (id int PRIMARY KEY);
INSERT INTO "o'k;\"."t;'" VALUES (7);
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA api, "o'k;\" TO web_anon;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA api TO web_anon;
'''
#: The column names of ``it's``, and how a query string names them: inside double quotes a
#: backslash escapes the next character, as in PostgREST (``\\`` is one backslash).
MIX = "mix'\\;😀\""
ALL_WEIRD = r'''select="o'id","back\\slash","😀","semi;colon","mix'\\;😀\""'''
WEIRD_ROW_1 = {"o'id": 1, "back\\slash": "b1", "😀": "e1", "semi;colon": "s1", MIX: "m1"}
WEIRD_ROW_2 = {"o'id": 2, "back\\slash": "b2", "😀": "e2", "semi;colon": "s2", MIX: "m2"}
#: The paths of ``it's``, ``back\slash;😀`` and ``f'n;😀\``; the quoted name of the second.
ITS = "/it%27s"
KIDS = "/back%5Cslash;%F0%9F%98%80"
FN = "/rpc/f%27n%3B%F0%9F%98%80%5C"
KIDS_NAME = r'"back\\slash;😀"'
WEIRD_PROFILE = "o'k;\\"


@asynccontextmanager
async def weird_names_app(dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(WEIRD_SCHEMA)
    app = PgRestApp(
        make_conninfo(dsn, user="authenticator"),
        schemas=["api", WEIRD_PROFILE],
        db_anon_role="web_anon",
    )
    async with app.lifespan(), client_for(app) as http:
        yield http


async def test_quotes_backslashes_emoji_and_semicolons_in_names(
    api_db: PostgresCluster, fresh_db: str
) -> None:
    """SEC-42: tables, columns, a function, its parameter and a schema whose names hold ``'``,
    a backslash, an emoji, ``;`` and ``"`` are read, filtered, ordered, embedded, written and
    called over HTTP; a ``;`` in the path or the query string is part of the name, raw or
    percent-encoded."""
    async with weird_names_app(fresh_db) as http:
        resp = await http.get(ITS + "?" + ALL_WEIRD + '&order="o\'id".desc')
        assert (resp.status_code, resp.json()) == (200, [WEIRD_ROW_2, WEIRD_ROW_1])
        assert resp.headers["content-range"] == "0-1/*"
        assert resp.headers["content-location"] == (
            "/it%27s?order=%22o'id%22.desc&select=%22o'id%22,%22back%5C%5Cslash%22,"
            "%22%F0%9F%98%80%22,%22semi;colon%22,%22mix'%5C%5C;%F0%9F%98%80%5C%22%22"
        )
        for condition in (
            r'"back\\slash"=eq.b2',
            '"😀"=eq.e2',
            '"semi;colon"=eq.s2',
            '"semi%3Bcolon"=eq.s2',
            r""""mix'\\;😀\""=eq.m2""",
            '"o\'id"=gt.1',
        ):
            resp = await http.get(ITS + "?" + ALL_WEIRD + "&" + condition)
            assert (resp.status_code, resp.json()) == (200, [WEIRD_ROW_2]), condition

        # Embedded both ways: by the table's quoted name, and through an alias ordered.
        resp = await http.get(
            ITS + '?select="o\'id",kids:' + KIDS_NAME + '("k\'ey",note)'
            '&kids.order="k\'ey".desc&order="o\'id"'
        )
        assert (resp.status_code, resp.json()) == (
            200,
            [
                {"o'id": 1, "kids": [{"k'ey": 11, "note": "b"}, {"k'ey": 10, "note": "a"}]},
                {"o'id": 2, "kids": [{"k'ey": 12, "note": "c"}]},
            ],
        )
        for path in (KIDS, "/back%5Cslash%3B%F0%9F%98%80"):
            resp = await http.get(path + '?select="k\'ey","it\'s"("o\'id")&order="k\'ey"')
            assert (resp.status_code, resp.json()) == (
                200,
                [
                    {"k'ey": 10, "it's": {"o'id": 1}},
                    {"k'ey": 11, "it's": {"o'id": 1}},
                    {"k'ey": 12, "it's": {"o'id": 2}},
                ],
            )
        assert error(await http.get(ITS + '?select="no\'pe;😀"')) == (
            400,
            {
                "code": "42703",
                "details": None,
                "hint": None,
                "message": "column it's.no'pe;😀 does not exist",
            },
        )

        # A schema of such a name, chosen by its profile.
        resp = await http.get("/t;%27", headers={"Accept-Profile": WEIRD_PROFILE})
        assert (resp.status_code, resp.content) == (200, b'[{"id":7}]')
        assert resp.headers["content-profile"] == WEIRD_PROFILE
        resp = await http.post(
            "/t;%27",
            json={"id": 8},
            headers={"Content-Profile": WEIRD_PROFILE, "Prefer": "return=representation"},
        )
        assert (resp.status_code, resp.content) == (201, b'[{"id":8}]')

        # Writes.
        row_3 = {"o'id": 3, "back\\slash": "b3", "😀": "e3", "semi;colon": "s3", MIX: "m3"}
        resp = await http.post(ITS, json=row_3, headers={"Prefer": "return=representation"})
        assert (resp.status_code, resp.json()) == (201, [row_3])
        resp = await http.post(ITS, json={"o'id": 4}, headers={"Prefer": "return=headers-only"})
        assert (resp.status_code, resp.headers["location"]) == (201, "/it%27s?o%27id=eq.4")
        resp = await http.get(resp.headers["location"] + '&select="o\'id","😀"')
        assert (resp.status_code, resp.json()) == (200, [{"o'id": 4, "😀": None}])
        resp = await http.patch(
            ITS + '?"semi;colon"=eq.s2&select="o\'id","😀"',
            json={"😀": "changed"},
            headers={"Prefer": "return=representation"},
        )
        assert (resp.status_code, resp.json()) == (200, [{"o'id": 2, "😀": "changed"}])
        resp = await http.delete(
            KIDS + '?"k\'ey"=eq.12&select="k\'ey",note',
            headers={"Prefer": "return=representation"},
        )
        assert (resp.status_code, resp.json()) == (200, [{"k'ey": 12, "note": "c"}])

        # The function and its parameter, by GET and by POST.
        resp = await http.get(FN + "?a%27rg%5C%3B=x;y")
        assert (resp.status_code, resp.content) == (200, b'"got x;y"')
        resp = await http.post(FN, json={"a'rg\\;": "z"})
        assert (resp.status_code, resp.content) == (200, b'"got z"')

    with psycopg.connect(fresh_db) as conn:
        its = conn.execute('SELECT "o\'id", "😀" FROM api."it\'s" ORDER BY 1').fetchall()
        kids = conn.execute('SELECT "k\'ey" FROM api."back\\slash;😀" ORDER BY 1').fetchall()
        t = conn.execute('SELECT id FROM "o\'k;\\"."t;\'" ORDER BY 1').fetchall()
    assert its == [(1, "e1"), (2, "changed"), (3, "e3"), (4, None)]
    assert kids == [(10,), (11,)]
    assert t == [(7,), (8,)]


async def test_an_embed_path_may_be_a_quoted_name(api_db: PostgresCluster, fresh_db: str) -> None:
    """SEC-42: in PostgREST a key's embed path is made of field names, so a table's quoted
    name works there as an alias does."""
    async with weird_names_app(fresh_db) as http:
        embed = ITS + '?select="o\'id",' + KIDS_NAME + '("k\'ey",note)&order="o\'id"'
        resp = await http.get(embed + "&" + KIDS_NAME + '.order="k\'ey".desc')
        assert (resp.status_code, resp.json()) == (
            200,
            [
                {
                    "o'id": 1,
                    "back\\slash;😀": [{"k'ey": 11, "note": "b"}, {"k'ey": 10, "note": "a"}],
                },
                {"o'id": 2, "back\\slash;😀": [{"k'ey": 12, "note": "c"}]},
            ],
        )
        resp = await http.get(f"{embed}&{KIDS_NAME}.note=eq.b&{KIDS_NAME}.limit=1")
        assert (resp.status_code, resp.json()) == (
            200,
            [
                {"o'id": 1, "back\\slash;😀": [{"k'ey": 11, "note": "b"}]},
                {"o'id": 2, "back\\slash;😀": []},
            ],
        )


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
