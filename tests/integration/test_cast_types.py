"""SEC-56 over HTTP: a cast's target in ``select=`` is a type name the grammar checks; text
that is not one is PostgREST's parse error (400 PGRST100) and never reaches sqlglot or
PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

JSON = "application/json; charset=utf-8"


def parse_error(select: str, column: int, details: str) -> bytes:
    message = f'\\"failed to parse select parameter ({select})\\" (line 1, column {column})'
    details = details.replace('"', '\\"')
    return (
        f'{{"code":"PGRST100","details":"{details}","hint":null,"message":"{message}"}}'
    ).encode()


@pytest.mark.parametrize(
    ("query", "select", "column", "details"),
    [
        # Was 500 PGRSTX00: sqlglot's tokenizer failed on the dollar quote.
        ("select=id::int%20$a$", "id::int $a$", 9, 'unexpected "$" expecting "," or end of input'),
        # Was a dollar-quoted string from the cast to the alias, sent to PostgreSQL (42601).
        (
            "select=id::$__$,x$__$:name",
            "id::$__$,x$__$:name",
            5,
            'unexpected "$" expecting a type name',
        ),
        (
            "select=id::text%3Bselect%201",
            "id::text;select 1",
            9,
            'unexpected ";" expecting "," or end of input',
        ),
        ("select=id::my%20type", "id::my type", 8, 'unexpected "t" expecting "," or end of input'),
    ],
)
async def test_a_cast_that_is_not_a_type_name_is_a_parse_error(
    client: httpx.AsyncClient, query: str, select: str, column: int, details: str
) -> None:
    resp = await client.get(f"/items?{query}")
    assert (resp.status_code, resp.headers["content-type"]) == (400, JSON)
    assert resp.content == parse_error(select, column, details)


async def test_type_names_postgresql_reads_as_types(client: httpx.AsyncClient) -> None:
    resp = await client.get(
        "/items?id=eq.1&select=id::Text,d:price::double%20precision,p:price::numeric(4,0),"
        'n:name::varchar(3),i:price::INTEGER,q:id::"num_t",t:name::character%20varying(4)'
    )
    assert (resp.status_code, resp.headers["content-type"]) == (200, JSON)
    assert resp.content == (b'[{"id":"1","d":1.5,"p":2,"n":"ite","i":2,"q":1,"t":"item"}]')
    arrays = await client.get("/things?id=eq.1&select=tags::varchar(3)[],nums::text[]")
    assert arrays.json() == [{"tags": ["red", "gre"], "nums": ["1", "2", "3"]}]


async def test_an_unknown_type_is_postgresql_s_error(client: httpx.AsyncClient) -> None:
    """A well-formed name reaches PostgreSQL quoted: a name that is no type is its 42704."""
    resp = await client.get('/items?select=id::"int $a$"')
    assert resp.status_code == 400
    assert resp.json()["code"] == "42704"
    assert resp.json()["message"] == 'type "int $a$" does not exist'
