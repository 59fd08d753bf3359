"""Hostile input, answered as PostgREST answers it: the exact status, JSON body and headers.

Each test names its scenario (``SEC-nn``, docs/explanation/reliability.md). Where an input
carries SQL, the table it aims at is checked afterwards over a connection of the test's own.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import psycopg
import pytest

from pgrest_asgi.testing import PostgresCluster
from tests.conftest import API_DB, make_token
from tests.integration.test_read import error as read_error

LETTERS = 'letter, digit, "-", "->>", "->"'


def error(resp: httpx.Response) -> tuple[int, dict[str, Any]]:
    """Status and body of an error: an error body (PostgREST's four keys), byte-exact and
    with PostgREST's error headers (``test_read.error`` checks those)."""
    assert set(resp.json()) == {"code", "details", "hint", "message"}, resp.text
    status, body = read_error(resp)
    return status, dict(body)


def body(code: str, message: str, details: str | None = None, hint: str | None = None) -> Any:
    return {"code": code, "details": details, "hint": hint, "message": message}


def items_rows(cluster: PostgresCluster) -> int | None:
    """Rows of ``api.items`` read directly, or ``None`` if the table is gone."""
    with psycopg.connect(cluster.dsn(API_DB)) as conn:
        (exists,) = conn.execute("SELECT to_regclass('api.items') IS NOT NULL").fetchone() or (0,)
        if not exists:
            return None
        row = conn.execute("SELECT count(*) FROM api.items").fetchone()
        return None if row is None else int(row[0])


@pytest.fixture
async def no_sql(app_factory: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose executor fails the test if it is ever asked to run SQL."""

    async def refuse(*args: object, **kwargs: object) -> Any:
        raise AssertionError("SQL was sent for a request that must be refused before")

    async with app_factory() as (app, http):
        app.executor.execute = refuse  # the instance's own attribute, gone with the app
        yield http


async def test_the_no_sql_app_refuses_to_run_sql(no_sql: httpx.AsyncClient) -> None:
    """The fixture bites: a request that needs SQL fails (500) instead of being answered."""
    resp = await no_sql.get("/items?id=eq.1")
    assert (resp.status_code, resp.json()["message"]) == (500, "Internal server error")


# -- SEC-22: a 64 KB token ----------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


KB64 = 64 * 1024

BIG_TOKENS: list[tuple[str, Callable[[], str], str, str | None]] = [
    ("one part", lambda: "a" * KB64, "Expected 3 parts in JWT; got 1", None),
    ("dots", lambda: "." * (KB64 - 1), f"Expected 3 parts in JWT; got {KB64}", None),
    (
        "three parts of garbage",
        lambda: ".".join(["A" * (KB64 // 3)] * 3),
        "JWT cryptographic operation failed",
        None,
    ),
    (
        "well formed, wrong secret",
        lambda: make_token({"role": "web_user", "pad": "x" * KB64}, secret="y" * 40),
        "No suitable key or wrong key type",
        "None of the keys was able to decode the JWT",
    ),
    (
        "header of 64 KB",
        lambda: _b64(json.dumps({"alg": "HS256", "pad": "x" * KB64}).encode()) + ".e30.AAAA",
        "No suitable key or wrong key type",
        "None of the keys was able to decode the JWT",
    ),
]


@pytest.mark.parametrize(
    ("name", "token", "message", "details"), BIG_TOKENS, ids=[t[0] for t in BIG_TOKENS]
)
async def test_a_64_kb_token_is_a_401(
    client: httpx.AsyncClient,
    name: str,
    token: Callable[[], str],
    message: str,
    details: str | None,
) -> None:
    """SEC-22: a 64 KB token, in-process (no server limit in the way), is answered as any bad
    token is: 401 PGRST301 with PostgREST's body and challenge, never a 500."""
    value = token()
    assert len(value) >= KB64 - 1
    resp = await client.get("/items", headers={"Authorization": f"Bearer {value}"})
    assert error(resp) == (401, body("PGRST301", message, details))
    assert resp.headers["www-authenticate"] == (
        f'Bearer error="invalid_token", error_description="{message}"'
    )


async def test_a_64_kb_token_that_is_valid_is_accepted(client: httpx.AsyncClient) -> None:
    """SEC-22: size alone is no reason to refuse a token (PostgREST sets no limit of its own);
    a valid one of 64 KB is verified and used."""
    token = make_token({"role": "web_user", "pad": "x" * KB64})
    resp = await client.get(
        "/items?id=eq.1&select=id", headers={"Authorization": f"Bearer {token}"}
    )
    assert (resp.status_code, resp.json()) == (200, [{"id": 1}])


# -- SEC-37 / SEC-45 / SEC-54: what the path names ----------------------------------------------
@pytest.mark.parametrize(
    ("path", "status", "expected"),
    [
        # SEC-45: wai decodes the path leniently: an invalid UTF-8 byte becomes U+FFFD, and the
        # name is looked up (and not found) like any other.
        (
            "/%FF",
            404,
            body("PGRST205", "Could not find the table 'api.\ufffd' in the schema cache"),
        ),
        (
            "/it%FFems",
            404,
            body(
                "PGRST205",
                "Could not find the table 'api.it\ufffdems' in the schema cache",
                hint="Perhaps you meant the table 'api.items'",
            ),
        ),
        (
            "/rpc/%FF",
            404,
            body(
                "PGRST202",
                "Could not find the function api.\ufffd without parameters in the schema cache",
                "Searched for the function api.\ufffd without parameters, but no matches were "
                "found in the schema cache.",
            ),
        ),
        (
            "/a%00b",
            404,
            body("PGRST205", "Could not find the table 'api.a\x00b' in the schema cache"),
        ),
    ],
)
async def test_undecodable_path_is_an_unknown_name(
    client: httpx.AsyncClient, path: str, status: int, expected: dict[str, Any]
) -> None:
    """SEC-45: invalid UTF-8 (and NUL) in the path is not a malformed path but a name that no
    table or function has."""
    assert error(await client.get(path)) == (status, expected)


async def test_sql_in_an_rpc_name_is_an_unknown_function(
    client: httpx.AsyncClient, api_db: PostgresCluster
) -> None:
    """SEC-54: everything after ``/rpc/`` is a name to look up in the schema cache; it never
    reaches PostgreSQL, and ``items`` keeps its rows."""
    name = "api.f();drop table items"
    resp = await client.get("/rpc/f();drop table items")
    assert error(resp) == (
        404,
        body(
            "PGRST202",
            f"Could not find the function {name} without parameters in the schema cache",
            f"Searched for the function {name} without parameters, but no matches were found "
            "in the schema cache.",
        ),
    )
    resp = await client.post("/rpc/f();drop table api.items;--", json={"a": 1})
    name = "api.f();drop table api.items;--"
    assert error(resp) == (
        404,
        body(
            "PGRST202",
            f"Could not find the function {name}(a) in the schema cache",
            f"Searched for the function {name} with parameter a or with a single unnamed "
            "json/jsonb parameter, but no matches were found in the schema cache.",
        ),
    )
    assert items_rows(api_db) == 20


# -- SEC-43 / SEC-50: the query string's grammar ------------------------------------------------
@pytest.mark.parametrize(
    ("query", "message", "details"),
    [
        (
            "select=a%00b",
            '"failed to parse select parameter (a\x00b)" (line 1, column 2)',
            f'unexpected \'\\NUL\' expecting {LETTERS}, "::", ".", ")", "," or end of input',
        ),
        (
            "select=id,owner(a%00b)",
            '"failed to parse select parameter (id,owner(a\x00b))" (line 1, column 11)',
            f'unexpected \'\\NUL\' expecting {LETTERS}, "::", ".", ")", "," or end of input',
        ),
        (
            "order=a%00b",
            '"failed to parse order (a\x00b)" (line 1, column 2)',
            f"unexpected '\\NUL' expecting {LETTERS}, delimiter (.), \",\" or end of input",
        ),
    ],
)
async def test_nul_in_a_field_name_is_refused_before_any_sql(
    no_sql: httpx.AsyncClient, query: str, message: str, details: str
) -> None:
    """SEC-43: NUL is no character of a field name: PostgREST's parser stops at it and
    reports it. The executor of this app fails the test if it is called."""
    resp = await no_sql.get(f"/items?{query}")
    assert error(resp) == (400, body("PGRST100", message, details))


async def test_sql_in_order_is_a_parse_error(
    no_sql: httpx.AsyncClient, api_db: PostgresCluster
) -> None:
    """SEC-50: ``;`` is no character of a field name, so ``order=id;drop`` is PGRST100 from
    the grammar (it was a column name, sent to PostgreSQL, answered 42703)."""
    resp = await no_sql.get("/items?order=id;drop table api.items")
    assert error(resp) == (
        400,
        body(
            "PGRST100",
            '"failed to parse order (id;drop table api.items)" (line 1, column 3)',
            f"unexpected ';' expecting {LETTERS}, delimiter (.), \",\" or end of input",
        ),
    )
    resp = await no_sql.get("/items?select=id,name;drop table api.items")
    assert error(resp) == (
        400,
        body(
            "PGRST100",
            '"failed to parse select parameter (id,name;drop table api.items)" (line 1, column 8)',
            f'unexpected \';\' expecting {LETTERS}, "::", ".", ")", "," or end of input',
        ),
    )
    assert items_rows(api_db) == 20


async def test_negative_limit_is_416(no_sql: httpx.AsyncClient) -> None:
    """SEC-50: ``limit=-1`` is PostgREST's 416 PGRST103, before any SQL."""
    resp = await no_sql.get("/items?limit=-1")
    assert error(resp) == (
        416,
        body(
            "PGRST103",
            "Requested range not satisfiable",
            "Limit should be greater than or equal to zero.",
        ),
    )


@pytest.mark.parametrize("query", ["limit=abc", "offset=1e99", "limit=1.5&offset=x"])
async def test_unreadable_limit_or_offset_is_ignored(client: httpx.AsyncClient, query: str) -> None:
    """SEC-50: PostgREST reads ``limit``/``offset`` with ``readMaybe`` and ignores a value
    that is no integer: the answer is the one without the parameter."""
    plain = await client.get("/items?select=id&order=id")
    resp = await client.get(f"/items?select=id&order=id&{query}")
    assert resp.status_code == 200
    assert resp.json() == plain.json() == [{"id": i} for i in range(1, 21)]
    assert resp.headers["content-range"] == "0-19/*"


# -- SEC-51: the Range header -------------------------------------------------------------------
async def test_reversed_range_is_416(no_sql: httpx.AsyncClient) -> None:
    """SEC-51: ``Range: 10-5`` is PostgREST's 416 PGRST103, before any SQL."""
    resp = await no_sql.get("/items", headers={"Range": "10-5"})
    assert error(resp) == (
        416,
        body(
            "PGRST103",
            "Requested range not satisfiable",
            "The lower boundary must be lower than or equal to the upper boundary in the "
            "Range header.",
        ),
    )


@pytest.mark.parametrize("value", ["items=a-b", "a-b", "items=2-3", "2-3, 5-6", "-3"])
async def test_unparsable_range_is_ignored(client: httpx.AsyncClient, value: str) -> None:
    """SEC-51: PostgREST reads ``Range`` with ``^([0-9]+)-([0-9]*)$`` and ignores any other
    value (an ``items=`` unit included): the whole result, 200."""
    resp = await client.get("/items?select=id&order=id", headers={"Range": value})
    assert resp.status_code == 200
    assert resp.json() == [{"id": i} for i in range(1, 21)]
    assert resp.headers["content-range"] == "0-19/*"


async def test_ten_thousand_terms(app_factory: Any) -> None:
    """SEC-48: a flat ``or`` of 10 000 terms, and 10 000 columns in ``select=``: 414 under the
    default URL limit; with the URL limit raised out of the way, 400 from the term limit (the
    whole parameter's). Nothing reaches the database either way."""
    terms = "(" + ",".join(f"id.eq.{i}" for i in range(10_000)) + ")"
    columns = ",".join(f"c{i}" for i in range(10_000))
    async with app_factory() as (app, _):
        for param in (("or", terms), ("select", columns)):
            status, body = await asgi_get(app, "/items", param)
            assert (status, body["code"]) == (414, "PGRST100")
    async with app_factory(server_max_url_length=1 << 20) as (app, _):
        for part, query, expecting in (
            ("logic tree", ("or", terms), "at most 1000 terms"),
            ("select parameter", ("select", columns), "at most 1000 items"),
        ):
            # httpx refuses URLs this long: the request goes to the app directly.
            status, body = await asgi_get(app, "/items", query)
            assert status == 400
            assert (body["code"], body["details"].endswith(f"expecting {expecting}")) == (
                "PGRST100",
                True,
            ), body
            assert body["message"].startswith(f'"failed to parse {part}')


async def asgi_get(app: Any, path: str, param: tuple[str, str]) -> tuple[int, Any]:
    """``GET path?name=value`` straight through the ASGI interface: (status, JSON body)."""
    from urllib.parse import quote

    query = f"{param[0]}={quote(param[1], safe='(),.')}".encode()
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    await app(scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], json.loads(body)
