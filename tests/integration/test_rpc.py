"""Function calls (``/rpc/<fn>``) through httpx.ASGITransport against real PostgreSQL:
arguments from the query string and from JSON, form, CSV and raw bodies; overload resolution;
the shape of each kind of result; reads on table-valued results (select, filters, order,
paging, counts, embeds); volatility and the transaction; hoisted settings; PostgREST's errors.

The functions are at the end of tests/fixtures/schema.sql. The session app commits: writes use
ids 900+ of ``api.w_authors`` (test_write.py uses lower ones), and calls of ``api.bump`` run in
an app that rolls back, so ``api.audit`` stays empty for test_executor.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

JSON = "application/json; charset=utf-8"
SINGULAR = "application/vnd.pgrst.object+json"
FORM = "application/x-www-form-urlencoded"


def error(resp: httpx.Response) -> tuple[int, Any]:
    """Status and body of an error response (always JSON, whatever was asked for)."""
    assert resp.headers.get("content-type") == JSON, (resp.status_code, resp.text)
    body = resp.json()
    assert resp.headers.get("proxy-status") == f"PostgREST; error={body['code']}", body
    return resp.status_code, body


def ok(resp: httpx.Response) -> Any:
    """The JSON body of a 200 response."""
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == JSON
    return resp.json()


def not_found(fn: str, args: str, searched: str, hint: str | None) -> dict[str, Any]:
    """PostgREST's PGRST202 body; ``args`` is ``(a, b)`` or ``" without parameters"``."""
    return {
        "code": "PGRST202",
        "details": f"Searched for the function {fn} {searched}, but no matches were found in "
        "the schema cache.",
        "hint": hint,
        "message": f"Could not find the function {fn}{args} in the schema cache",
    }


# -- arguments --------------------------------------------------------------------------------
async def test_scalar_from_query_string_and_json_body(client: httpx.AsyncClient) -> None:
    resp = await client.get("/rpc/add_them?a=1&b=2")
    assert (resp.status_code, resp.content) == (200, b"3")
    assert resp.headers["content-type"] == JSON
    assert resp.headers["content-range"] == "0-0/*"
    assert resp.headers["content-profile"] == "api"
    assert "preference-applied" not in resp.headers

    resp = await client.post("/rpc/add_them", json={"a": 1, "b": 2})
    assert (resp.status_code, resp.content) == (200, b"3")
    assert resp.headers["content-type"] == JSON
    assert resp.headers["content-range"] == "0-0/*"
    # A charset parameter on the request's Content-Type changes nothing.
    resp = await client.post(
        "/rpc/add_them", content=b'{"a": 4, "b": 5}', headers={"Content-Type": JSON}
    )
    assert ok(resp) == 9


async def test_array_body_uses_only_its_first_object(client: httpx.AsyncClient) -> None:
    body = [{"a": 1, "b": 2}, {"a": 4, "b": 6}, {"a": 100, "b": 200}]
    assert ok(await client.post("/rpc/add_them", json=body)) == 3


async def test_empty_body_is_an_empty_object(client: httpx.AsyncClient) -> None:
    assert ok(await client.post("/rpc/hello")) == "Hello, world"
    resp = await client.post(
        "/rpc/hello", content=b"", headers={"Content-Type": "application/json"}
    )
    assert ok(resp) == "Hello, world"
    assert ok(await client.get("/rpc/hello")) == "Hello, world"
    assert ok(await client.get("/rpc/hello?name=you")) == "Hello, you"
    assert ok(await client.post("/rpc/hello", json={"name": "￥"})) == "Hello, ￥"


async def test_form_and_csv_bodies(client: httpx.AsyncClient) -> None:
    assert ok(await client.post("/rpc/add_them", data={"a": "1", "b": "2"})) == 3
    resp = await client.post(
        "/rpc/add_them", content=b"a,b\n1,2\n4,6", headers={"Content-Type": "text/csv"}
    )
    assert ok(resp) == 3  # the first row, like the first object of a JSON array
    # A repeated form field fills a VARIADIC parameter.
    resp = await client.post("/rpc/sum_all", content=b"v=1&v=2&v=4", headers={"Content-Type": FORM})
    assert ok(resp) == 7


async def test_empty_form_body_calls_without_arguments(client: httpx.AsyncClient) -> None:
    resp = await client.post("/rpc/hello", content=b"", headers={"Content-Type": FORM})
    assert ok(resp) == "Hello, world"


async def test_get_parameters_are_arguments_or_filters(client: httpx.AsyncClient) -> None:
    """A value that parses as ``op.value`` filters the result; anything else is an argument."""
    body = ok(await client.get("/rpc/films_since?since=1960&year=lt.1970"))
    assert body == [{"id": 3, "title": "Cleo", "year": 1962, "director_id": 2, "producer_id": None}]
    # The same name as an argument and as a filter on the result's column.
    body = ok(await client.get("/rpc/films_before?year=2000&year=gt.1960&select=title&order=id"))
    assert body == [{"title": "Ran"}, {"title": "Cleo"}]
    body = ok(await client.get("/rpc/films_before?year=2000&year=not.gt.1960&select=title"))
    assert body == [{"title": "Ikiru"}]


async def test_post_query_parameters_filter_the_result(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/rpc/films_before?year=gt.1960&select=title&order=id", json={"year": 2000}
    )
    assert ok(resp) == [{"title": "Ran"}, {"title": "Cleo"}]
    # ?columns= names the body keys that are arguments; the others are ignored.
    resp = await client.post(
        "/rpc/hello?columns=name", json={"name": "John", "smth": "here", "fake_id": 13}
    )
    assert ok(resp) == "Hello, John"


async def test_post_query_parameter_that_is_not_a_filter_is_400(
    client: httpx.AsyncClient,
) -> None:
    resp = await client.post("/rpc/hello?name=John", json={"name": "John"})
    assert resp.status_code == 400, resp.text
    assert error(resp) == (
        400,
        {
            "code": "PGRST100",
            "details": 'unexpected "J" expecting "not" or operator (eq, gt, ...)',
            "hint": None,
            "message": '"failed to parse filter (John)" (line 1, column 1)',
        },
    )


async def test_repeated_argument_takes_the_last_value(client: httpx.AsyncClient) -> None:
    assert ok(await client.get("/rpc/hello?name=ignored&name=world")) == "Hello, world"


async def test_defaults_and_quoted_names(client: httpx.AsyncClient) -> None:
    assert ok(await client.get("/rpc/three_defaults")) == 6
    assert ok(await client.get("/rpc/three_defaults?b=4")) == 8
    assert ok(await client.post("/rpc/three_defaults", json={"c": 10})) == 13
    expected = {"user": "mscott", "fullName": "Michael Scott", "SSN": "401-32-XXXX"}
    resp = await client.get(
        "/rpc/quotedFunction?user=mscott&fullName=Michael Scott&SSN=401-32-XXXX"
    )
    assert ok(resp) == expected
    assert ok(await client.post("/rpc/quotedFunction", json=expected)) == expected


async def test_json_arguments_keep_their_type(client: httpx.AsyncClient) -> None:
    assert ok(await client.post("/rpc/json_kind", json={"arg": {"key": 3}})) == "object"
    assert ok(await client.post("/rpc/json_kind", json={"arg": '{"key": 3}'})) == "string"


async def test_variadic(client: httpx.AsyncClient) -> None:
    assert ok(await client.get("/rpc/sum_all?v=1&v=2&v=3")) == 6
    assert ok(await client.get("/rpc/sum_all?v=5")) == 5
    assert ok(await client.post("/rpc/sum_all", json={"v": [1, 2, 3]})) == 6


async def test_single_unnamed_parameter_takes_the_body(client: httpx.AsyncClient) -> None:
    doc = {"A": 1, "B": [2, {"C": None}]}
    assert ok(await client.post("/rpc/echo_json", json=doc)) == doc
    # PostgREST passes an empty body to the parameter as the empty string, which json does not
    # accept: odd (an empty body is {} for named parameters), and matched.
    resp = await client.post(
        "/rpc/echo_json", content=b"", headers={"Content-Type": "application/json"}
    )
    assert error(resp) == (
        400,
        {
            "code": "22P02",
            "details": "The input string ended unexpectedly.",
            "hint": None,
            "message": "invalid input syntax for type json",
        },
    )
    resp = await client.post("/rpc/shout", content=b"hey", headers={"Content-Type": "text/plain"})
    assert ok(resp) == "HEY"
    resp = await client.post(
        "/rpc/byte_len",
        content=bytes([0, 1, 2, 255, 92]),  # NUL, a non-UTF-8 byte and a backslash
        headers={"Content-Type": "application/octet-stream"},
    )
    assert ok(resp) == 5


async def test_invalid_argument_value_is_a_database_error(client: httpx.AsyncClient) -> None:
    expected = (
        400,
        {
            "code": "22P02",
            "details": None,
            "hint": None,
            "message": 'invalid input syntax for type integer: "x"',
        },
    )
    assert error(await client.get("/rpc/add_them?a=x&b=2")) == expected
    assert error(await client.post("/rpc/add_them", json={"a": "x", "b": 2})) == expected


# -- result shapes ----------------------------------------------------------------------------
async def test_result_shapes(client: httpx.AsyncClient) -> None:
    assert ok(await client.get("/rpc/add_them?a=3&b=4")) == 7
    assert ok(await client.get("/rpc/ret_null")) is None
    resp = await client.get("/rpc/count_to?n=3")
    assert ok(resp) == [1, 2, 3]
    assert resp.headers["content-range"] == "0-2/*"
    assert ok(await client.get("/rpc/film_by_id?fid=2")) == {
        "id": 2,
        "title": "Ran",
        "year": 1985,
        "director_id": 1,
        "producer_id": None,
    }
    assert ok(await client.get("/rpc/films_since?since=1980")) == [
        {"id": 2, "title": "Ran", "year": 1985, "director_id": 1, "producer_id": None}
    ]
    assert ok(await client.get("/rpc/point_out")) == {"x": 10, "y": 5}
    resp = await client.get("/rpc/pairs_table")
    assert ok(resp) == [{"k": "a", "v": 1}, {"k": "b", "v": 2}]
    assert resp.headers["content-range"] == "0-1/*"
    # A column named like the function.
    assert ok(await client.get("/rpc/same_name")) == [{"same_name": "hello", "value": 1}]
    assert ok(await client.post("/rpc/same_name")) == [{"same_name": "hello", "value": 1}]


async def test_empty_set_is_an_empty_array(client: httpx.AsyncClient) -> None:
    resp = await client.get("/rpc/films_since?since=3000")
    assert ok(resp) == []
    assert resp.headers["content-range"] == "*/*"
    assert ok(await client.post("/rpc/count_to", json={"n": 0})) == []


async def test_void_is_204_without_content_type(client: httpx.AsyncClient) -> None:
    for method in ("GET", "POST"):
        resp = await client.request(method, "/rpc/noop")
        assert (resp.status_code, resp.content) == (204, b"")
        assert "content-type" not in resp.headers


async def test_single_out_and_inout_parameters_give_objects(client: httpx.AsyncClient) -> None:
    assert ok(await client.get("/rpc/single_out?num=5")) == {"num_plus_one": 6}
    assert ok(await client.get("/rpc/single_inout?num=2")) == {"num": 3}


async def test_single_column_table_gives_objects(client: httpx.AsyncClient) -> None:
    assert ok(await client.get("/rpc/single_col_table")) == [{"a": "A"}]


async def test_csv_output(client: httpx.AsyncClient) -> None:
    resp = await client.get(
        "/rpc/films_since?since=1980&select=id,title", headers={"Accept": "text/csv"}
    )
    assert (resp.status_code, resp.content) == (200, b"id,title\n2,Ran")
    assert resp.headers["content-type"] == "text/csv; charset=utf-8"


# -- reads on table-valued results -------------------------------------------------------------
async def test_select_filter_order_and_paging(client: httpx.AsyncClient) -> None:
    resp = await client.get(
        "/rpc/films_since?since=1900&select=id,title&order=year.desc&limit=2&offset=1"
    )
    assert ok(resp) == [{"id": 3, "title": "Cleo"}, {"id": 1, "title": "Ikiru"}]
    assert resp.headers["content-range"] == "1-2/*"
    body = ok(
        await client.get("/rpc/films_since?since=1950&select=id&or=(id.eq.1,id.eq.3)&order=id.desc")
    )
    assert body == [{"id": 3}, {"id": 1}]
    body = ok(await client.get("/rpc/pairs_table?v=gt.1&select=k"))
    assert body == [{"k": "b"}]
    resp = await client.post(
        "/rpc/films_since?select=id&order=id&limit=1&offset=1", json={"since": 1900}
    )
    assert ok(resp) == [{"id": 2}]
    assert resp.headers["content-range"] == "1-1/*"
    resp = await client.get("/rpc/count_to?n=3&limit=2")
    assert ok(resp) == [1, 2]
    assert resp.headers["content-range"] == "0-1/*"


async def test_range_header_and_exact_count(client: httpx.AsyncClient) -> None:
    resp = await client.get(
        "/rpc/films_since?since=1900&select=id&order=id",
        headers={"Range": "0-0", "Prefer": "count=exact"},
    )
    assert resp.status_code == 206
    assert resp.json() == [{"id": 1}]
    assert resp.headers["content-range"] == "0-0/3"
    assert resp.headers["preference-applied"] == "count=exact"
    # The count follows the filters.
    resp = await client.get(
        "/rpc/films_since?since=1950&select=title&title=like.*i*", headers={"Prefer": "count=exact"}
    )
    assert ok(resp) == [{"title": "Ikiru"}]
    assert resp.headers["content-range"] == "0-0/1"
    resp = await client.get("/rpc/count_to?n=3&offset=1", headers={"Prefer": "count=exact"})
    assert (resp.status_code, resp.json()) == (206, [2, 3])
    assert resp.headers["content-range"] == "1-2/3"


async def test_exact_count_of_a_single_result_is_one(client: httpx.AsyncClient) -> None:
    for url, body in [
        ("/rpc/add_them?a=3&b=4", 7),
        ("/rpc/point_out", {"x": 10, "y": 5}),
        ("/rpc/film_by_id?fid=3&select=title", {"title": "Cleo"}),
    ]:
        resp = await client.get(url, headers={"Prefer": "count=exact"})
        assert ok(resp) == body
        assert resp.headers["content-range"] == "0-0/1"


async def test_range_header_is_ignored_on_post(client: httpx.AsyncClient) -> None:
    headers = {"Range": "1-1", "Prefer": "count=exact"}
    resp = await client.post(
        "/rpc/films_since?select=id&order=id", json={"since": 1900}, headers=headers
    )
    assert ok(resp) == [{"id": 1}, {"id": 2}, {"id": 3}]
    assert resp.headers["content-range"] == "0-2/3"
    resp = await client.post(
        "/rpc/films_since?select=id&order=id&limit=2&offset=1",
        json={"since": 1900},
        headers={"Range": "0-0", "Prefer": "count=exact"},
    )
    assert (resp.status_code, resp.json()) == (206, [{"id": 2}, {"id": 3}])
    assert resp.headers["content-range"] == "1-2/3"


async def test_head(client: httpx.AsyncClient) -> None:
    resp = await client.head("/rpc/count_to?n=3")
    assert (resp.status_code, resp.content) == (200, b"")
    assert resp.headers["content-type"] == JSON
    assert resp.headers["content-range"] == "0-2/*"
    resp = await client.head(
        "/rpc/films_since?since=1900&limit=1&offset=1", headers={"Prefer": "count=exact"}
    )
    assert (resp.status_code, resp.content) == (206, b"")
    assert resp.headers["content-range"] == "1-1/3"


async def test_embeds_on_function_results(client: httpx.AsyncClient) -> None:
    # As in PostgREST: the result is read like the table of its type, relationships too.
    resp = await client.get(
        "/rpc/films_since?since=1960&select=title,directors!director_id(name)&order=id"
    )
    assert ok(resp) == [
        {"title": "Ran", "directors": {"name": "Kurosawa"}},
        {"title": "Cleo", "directors": {"name": "Varda"}},
    ]
    assert resp.headers["content-range"] == "0-1/*"
    resp = await client.post(
        "/rpc/films_since?select=title,directors!director_id(name)&order=id", json={"since": 1960}
    )
    assert ok(resp) == [
        {"title": "Ran", "directors": {"name": "Kurosawa"}},
        {"title": "Cleo", "directors": {"name": "Varda"}},
    ]
    # Many-to-many, with embedded order.
    body = ok(
        await client.get(
            "/rpc/films_since?since=1950&select=title,actors(name)&order=id&actors.order=name"
        )
    )
    assert body == [
        {"title": "Ikiru", "actors": [{"name": "Shimura"}]},
        {"title": "Ran", "actors": [{"name": "Nakadai"}, {"name": "Shimura"}]},
        {"title": "Cleo", "actors": [{"name": "Marchand"}]},
    ]
    # !inner filters the function's rows, and the count with them.
    resp = await client.get(
        "/rpc/films_since?since=1950&select=title,posters!inner(url)",
        headers={"Prefer": "count=exact"},
    )
    assert ok(resp) == [{"title": "Ikiru", "posters": {"url": "ikiru.png"}}]
    assert resp.headers["content-range"] == "0-0/1"
    # Embedded filter with a null filter on the embed; a to-one spread.
    body = ok(
        await client.get(
            "/rpc/films_since?since=1950&select=title,directors!director_id(name)"
            "&directors.name=eq.Varda&directors=not.is.null"
        )
    )
    assert body == [{"title": "Cleo", "directors": {"name": "Varda"}}]
    body = ok(
        await client.get(
            "/rpc/films_since?since=1950&select=title,...directors!director_id(director:name)"
            "&order=id"
        )
    )
    assert body == [
        {"title": "Ikiru", "director": "Kurosawa"},
        {"title": "Ran", "director": "Kurosawa"},
        {"title": "Cleo", "director": "Varda"},
    ]
    # A single composite result stays an object, with its embeds.
    body = ok(await client.get("/rpc/film_by_id?fid=1&select=title,directors!director_id(name)"))
    assert body == {"title": "Ikiru", "directors": {"name": "Kurosawa"}}


async def test_one_to_many_and_computed_embeds_on_function_results(
    client: httpx.AsyncClient,
) -> None:
    body = ok(
        await client.get(
            "/rpc/directors_named?pattern=K%25&select=name,films!director_id(title)&films.order=id"
        )
    )
    assert body == [{"name": "Kurosawa", "films": [{"title": "Ikiru"}, {"title": "Ran"}]}]
    body = ok(
        await client.get("/rpc/directors_named?pattern=%25&select=name,latest_film(title)&order=id")
    )
    assert body == [
        {"name": "Kurosawa", "latest_film": {"title": "Ran"}},
        {"name": "Varda", "latest_film": {"title": "Cleo"}},
        {"name": "Nobody", "latest_film": None},
    ]


async def test_embeds_on_rows_written_by_a_volatile_function(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/rpc/new_author?select=id,name,w_books(title)", json={"id": 901, "name": "Nine"}
    )
    assert ok(resp) == [{"id": 901, "name": "Nine", "w_books": []}]
    assert resp.headers["content-range"] == "0-0/*"
    # Only the first object of an array body is called with.
    resp = await client.post(
        "/rpc/new_author?select=id,name,w_books(title)",
        json=[{"id": 902, "name": "Two"}, {"id": 903, "name": "Three"}],
    )
    assert ok(resp) == [{"id": 902, "name": "Two", "w_books": []}]
    body = ok(await client.get("/w_authors?id=in.(901,902,903)&select=id,name,country&order=id"))
    assert body == [
        {"id": 901, "name": "Nine", "country": "FR"},
        {"id": 902, "name": "Two", "country": "FR"},
    ]


async def test_no_relationship_from_a_table_function(client: httpx.AsyncClient) -> None:
    assert error(await client.get("/rpc/pairs_table?select=k,directors(name)")) == (
        400,
        {
            "code": "PGRST200",
            "details": "Searched for a foreign key relationship between 'pairs_table' and "
            "'directors' in the schema 'api', but no matches were found.",
            "hint": None,
            "message": "Could not find a relationship between 'pairs_table' and 'directors' "
            "in the schema cache",
        },
    )


# -- choosing the function ----------------------------------------------------------------------
async def test_overloads(client: httpx.AsyncClient) -> None:
    assert ok(await client.get("/rpc/over?a=1")) == "one"
    assert ok(await client.get("/rpc/over?a=1&b=2")) == "two"
    assert ok(await client.post("/rpc/over", json={"a": 1, "b": 2})) == "two"
    resp = await client.get("/rpc/amb?x=1")
    assert error(resp) == (
        300,
        {
            "code": "PGRST203",
            "details": None,
            "hint": "Try renaming the parameters or the function itself in the database so "
            "function overloading can be resolved",
            "message": "Could not choose the best candidate function between: "
            "api.amb(x => integer), api.amb(x => text)",
        },
    )


async def test_function_not_found(client: httpx.AsyncClient) -> None:
    add_them = "Perhaps you meant to call the function api.add_them(a, b)"
    assert error(await client.get("/rpc/add_them?a=1")) == (
        404,
        not_found("api.add_them", "(a)", "with parameter a", add_them),
    )
    assert error(await client.post("/rpc/add_them", json={"a": 1})) == (
        404,
        not_found(
            "api.add_them",
            "(a)",
            "with parameter a or with a single unnamed json/jsonb parameter",
            add_them,
        ),
    )
    # Unknown arguments are not ignored; the names are listed sorted.
    assert error(await client.get("/rpc/add_them?smthelse=blabla&a=1&b=2")) == (
        404,
        not_found("api.add_them", "(a, b, smthelse)", "with parameters a, b, smthelse", add_them),
    )
    assert error(await client.get("/rpc/xyz")) == (
        404,
        not_found("api.xyz", " without parameters", "without parameters", None),
    )
    noop = "Perhaps you meant to call the function api.noop"
    assert error(await client.get("/rpc/noopp")) == (
        404,
        not_found("api.noopp", " without parameters", "without parameters", noop),
    )
    assert error(await client.post("/rpc/noopp")) == (
        404,
        not_found(
            "api.noopp",
            " without parameters",
            "without parameters or with a single unnamed json/jsonb parameter",
            noop,
        ),
    )
    # A profile selects the schema searched.
    resp = await client.get("/rpc/add_them?a=1&b=2", headers={"Accept-Profile": "v2"})
    assert error(resp) == (404, not_found("v2.add_them", "(a, b)", "with parameters a, b", None))


async def test_raw_body_without_a_matching_function(client: httpx.AsyncClient) -> None:
    for content_type, pg_type in [
        ("text/plain", "text"),
        ("text/xml", "xml"),
        ("application/octet-stream", "bytea"),
    ]:
        resp = await client.post(
            "/rpc/add_them", content=b"1", headers={"Content-Type": content_type}
        )
        assert error(resp) == (
            404,
            not_found("api.add_them", "", f"with a single unnamed {pg_type} parameter", None),
        )


async def test_not_found_details_for_form_and_csv_bodies(client: httpx.AsyncClient) -> None:
    expected = (
        404,
        not_found(
            "api.add_them",
            "(a)",
            "with parameter a",
            "Perhaps you meant to call the function api.add_them(a, b)",
        ),
    )
    assert error(await client.post("/rpc/add_them", data={"a": "1"})) == expected
    resp = await client.post("/rpc/add_them", content=b"a\n1", headers={"Content-Type": "text/csv"})
    assert error(resp) == expected


async def test_no_hint_without_a_close_parameter_list(client: httpx.AsyncClient) -> None:
    assert error(await client.get("/rpc/over?wrong_arg=value")) == (
        404,
        not_found("api.over", "(wrong_arg)", "with parameter wrong_arg", None),
    )
    assert error(await client.get("/rpc/add_them?noclosealternative=1")) == (
        404,
        not_found(
            "api.add_them", "(noclosealternative)", "with parameter noclosealternative", None
        ),
    )


async def test_profiles(client: httpx.AsyncClient) -> None:
    resp = await client.get("/rpc/schema_name")
    assert (ok(resp), resp.headers["content-profile"]) == ("api", "api")
    resp = await client.get("/rpc/schema_name", headers={"Accept-Profile": "v2"})
    assert (ok(resp), resp.headers["content-profile"]) == ("v2", "v2")
    resp = await client.post("/rpc/schema_name", headers={"Content-Profile": "v2"})
    assert (ok(resp), resp.headers["content-profile"]) == ("v2", "v2")


async def test_execute_privilege(client: httpx.AsyncClient, token: Callable[..., str]) -> None:
    denied = {
        "code": "42501",
        "details": None,
        "hint": None,
        "message": "permission denied for function only_users",
    }
    resp = await client.get("/rpc/only_users")
    assert error(resp) == (401, denied)
    assert resp.headers["www-authenticate"] == "Bearer"
    other = {"Authorization": "Bearer " + token({"role": "other_user"})}
    assert error(await client.get("/rpc/only_users", headers=other)) == (403, denied)
    user = {"Authorization": "Bearer " + token({"role": "web_user"})}
    assert ok(await client.get("/rpc/only_users", headers=user)) == "web_user"


# -- volatility, transactions, settings ---------------------------------------------------------
async def test_get_runs_read_only(client: httpx.AsyncClient) -> None:
    read_only = (
        405,
        {
            "code": "25006",
            "details": None,
            "hint": None,
            "message": "cannot execute INSERT in a read-only transaction",
        },
    )
    assert error(await client.get("/rpc/bump")) == read_only
    resp = await client.head("/rpc/bump")
    assert (resp.status_code, resp.content) == (405, b"")
    # Not VOLATILE: read-only on POST too.
    assert ok(await client.get("/rpc/tx_mode")) == "on"
    assert ok(await client.post("/rpc/tx_mode")) == "on"
    info = ok(await client.get("/rpc/tx_info"))
    assert info["read_only"] == "on"


async def test_volatile_post_runs_read_write_and_exactly_once(app_factory: Any) -> None:
    """The sequence behind ``api.audit`` advances by one per call, with a count too."""
    async with app_factory(db_tx_end="rollback") as (_, http):
        first = ok(await http.post("/rpc/bump"))
        resp = await http.post("/rpc/bump", headers={"Prefer": "count=exact"})
        assert ok(resp) == first + 1
        assert resp.headers["content-range"] == "0-0/1"
        assert ok(await http.post("/rpc/bump", json={})) == first + 2
        assert ok(await http.get("/audit")) == []  # rolled back


async def test_failed_row_checks_roll_back_the_function(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/rpc/add_two_authors", json={"base": 910}, headers={"Accept": SINGULAR}
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
    resp = await client.post(
        "/rpc/add_two_authors",
        json={"base": 910},
        headers={"Prefer": "handling=strict, max-affected=1"},
    )
    assert error(resp) == (
        400,
        {
            "code": "PGRST124",
            "details": "The query affects 2 rows",
            "hint": None,
            "message": "Query result exceeds max-affected preference constraint",
        },
    )
    assert ok(await client.get("/w_authors?id=in.(910,911)")) == []


async def test_hoisted_settings(client: httpx.AsyncClient, app_factory: Any) -> None:
    """``SET default_transaction_isolation`` on the function only takes effect when hoisted
    to the transaction; both it and ``statement_timeout`` are hoisted by default."""
    assert ok(await client.post("/rpc/tx_info")) == {
        "isolation": "serializable",
        "timeout": "7s",
        "read_only": "off",
    }
    async with app_factory(db_hoisted_tx_settings=("statement_timeout",)) as (_, http):
        assert ok(await http.post("/rpc/tx_info")) == {
            "isolation": "read committed",
            "timeout": "7s",
            "read_only": "off",
        }


async def test_response_settings_from_the_function(client: httpx.AsyncClient) -> None:
    for method in ("GET", "POST"):
        resp = await client.request(method, "/rpc/with_headers")
        assert resp.status_code == 202
        assert resp.headers["x-fn"] == "yes"
        assert resp.headers["content-type"] == JSON
        assert resp.json() == '[{"X-Fn": "yes"}]202'


async def test_request_settings_seen_by_the_function(client: httpx.AsyncClient) -> None:
    for method in ("GET", "POST"):
        resp = await client.request(method, "/rpc/request_context?select=method,path,role")
        assert ok(resp) == [{"method": method, "path": "/rpc/request_context", "role": "web_anon"}]


# -- methods and preferences --------------------------------------------------------------------
async def test_other_methods_are_405(client: httpx.AsyncClient) -> None:
    for method in ("PUT", "PATCH", "DELETE"):
        resp = await client.request(method, "/rpc/add_them")
        assert error(resp) == (
            405,
            {
                "code": "PGRST101",
                "details": None,
                "hint": None,
                "message": f"Cannot use the {method} method on RPC",
            },
        )


async def test_options(client: httpx.AsyncClient) -> None:
    for url, allow in [
        ("/rpc/bump", "OPTIONS,POST"),
        ("/rpc/hello", "OPTIONS,GET,HEAD,POST"),
        ("/rpc/add_them?a=1&b=2", "OPTIONS,GET,HEAD,POST"),
    ]:
        resp = await client.options(url)
        assert (resp.status_code, resp.content) == (200, b"")
        assert resp.headers["allow"] == allow


async def test_options_on_an_unknown_function_is_the_get_error(client: httpx.AsyncClient) -> None:
    assert error(await client.options("/rpc/xyz")) == error(await client.get("/rpc/xyz"))


async def test_options_resolves_the_function_like_a_get(client: httpx.AsyncClient) -> None:
    get = await client.get("/rpc/add_them")
    assert get.status_code == 404
    assert error(await client.options("/rpc/add_them")) == error(get)


async def test_max_affected_with_strict_handling(client: httpx.AsyncClient) -> None:
    strict = {"Prefer": "handling=strict, max-affected=1"}
    exceeded = {
        "code": "PGRST124",
        "hint": None,
        "message": "Query result exceeds max-affected preference constraint",
    }
    resp = await client.post("/rpc/count_to", json={"n": 3}, headers=strict)
    assert error(resp) == (400, {**exceeded, "details": "The query affects 3 rows"})
    resp = await client.get("/rpc/pairs_table", headers=strict)  # RETURNS TABLE is a set
    assert error(resp) == (400, {**exceeded, "details": "The query affects 2 rows"})
    resp = await client.post("/rpc/count_to", json={"n": 1}, headers=strict)
    assert ok(resp) == [1]
    assert resp.headers["preference-applied"] == "handling=strict, max-affected=1"
    # Without handling=strict the preference is ignored.
    resp = await client.post("/rpc/count_to", json={"n": 3}, headers={"Prefer": "max-affected=1"})
    assert ok(resp) == [1, 2, 3]
    assert "preference-applied" not in resp.headers
    not_a_set = (
        400,
        {
            "code": "PGRST128",
            "details": None,
            "hint": None,
            "message": "Function must return SETOF or TABLE when max-affected preference is "
            "used with handling=strict",
        },
    )
    assert (
        error(await client.post("/rpc/add_them", json={"a": 1, "b": 2}, headers=strict))
        == not_a_set
    )
    assert error(await client.post("/rpc/noop", headers=strict)) == not_a_set


async def test_singular_object(client: httpx.AsyncClient) -> None:
    resp = await client.get(
        "/rpc/films_since?since=1980&select=id,title", headers={"Accept": SINGULAR}
    )
    assert resp.status_code == 200
    assert resp.headers["content-type"] == SINGULAR + "; charset=utf-8"
    assert resp.json() == {"id": 2, "title": "Ran"}
    resp = await client.post("/rpc/add_them", json={"a": 1, "b": 2}, headers={"Accept": SINGULAR})
    assert (resp.status_code, resp.json()) == (200, 3)
    for url, rows in [("/rpc/count_to?n=2", 2), ("/rpc/films_since?since=3000", 0)]:
        assert error(await client.get(url, headers={"Accept": SINGULAR})) == (
            406,
            {
                "code": "PGRST116",
                "details": f"The result contains {rows} rows",
                "hint": None,
                "message": "Cannot coerce the result to a single JSON object",
            },
        )


async def test_unacceptable_bodies_and_media_types(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/rpc/add_them", content=b"<a/>", headers={"Content-Type": "application/xml-foo"}
    )
    assert error(resp) == (
        400,
        {
            "code": "PGRST102",
            "details": None,
            "hint": None,
            "message": "Content-Type not acceptable: application/xml-foo",
        },
    )
    resp = await client.post(
        "/rpc/hello", content=b"sdfsdf", headers={"Content-Type": "application/json"}
    )
    assert error(resp) == (
        400,
        {"code": "PGRST102", "details": None, "hint": None, "message": "Empty or invalid json"},
    )
    unavailable = (
        406,
        {
            "code": "PGRST107",
            "details": None,
            "hint": None,
            "message": "None of these media types are available: audio/mpeg3",
        },
    )
    accept = {"Accept": "audio/mpeg3"}
    assert error(await client.get("/rpc/hello?name=world", headers=accept)) == unavailable
    assert (
        error(await client.post("/rpc/hello", json={"name": "world"}, headers=accept))
        == unavailable
    )


async def test_planned_count_on_a_function_result(client: httpx.AsyncClient) -> None:
    resp = await client.get(
        "/rpc/films_since?since=1960&select=title&year=lt.2000&limit=1&order=id",
        headers={"Prefer": "count=planned"},
    )
    # The total is the planner's estimate, so the status may be 200 or 206.
    assert resp.status_code in (200, 206), resp.text
    assert resp.json() == [{"title": "Ran"}]
    first, total = resp.headers["content-range"].split("/")
    assert first == "0-0" and total.isdigit()
    assert resp.headers["preference-applied"] == "count=planned"
