"""Function calls checked against PostgREST's own spec, test/spec/Feature/Query/RpcSpec.hs,
translated onto the ``rs_*`` functions and tables at the end of tests/fixtures/schema.sql (the
spec's, renamed; only this file uses them). Each test names the spec's ``describe``/``context``
path in a comment and asserts PostgREST's answer.

Left out, because tests/integration/test_rpc.py already covers them: scalar/JSON/form/CSV
arguments, ``?columns=``, the first object of an array body, GET filters vs arguments, the
PGRST202/203 bodies of add_them/over/amb, the Range header ignored on POST, the result shapes
(void, null, SETOF scalar, OUT/INOUT/TABLE, quoted names, same-named column), 405 on writes
from GET and on other methods, exactly-once calls, GUC headers and statuses, privileges.
Left out, as asked: OpenAPI, ``Prefer: params=single-object``, procedures, custom media-type
handlers (``Accept: text/plain|text/xml|application/octet-stream`` on functions returning
media-type domains), JWT/GUC probes, ``temp_file_limit`` (needs a superuser role).
"""

from __future__ import annotations

import httpx

from tests.integration.test_rpc import error, not_found, ok

JSON = "application/json; charset=utf-8"
CSV = "text/csv; charset=utf-8"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
COUNT = {"Prefer": "count=exact"}


# -- "a proc that returns a set" ----------------------------------------------------------------
async def test_set_paginated_by_range_header_and_limit_offset(client: httpx.AsyncClient) -> None:
    # "returns paginated results" / "using the Range header", "using limit and offset".
    resp = await client.get("/rpc/rs_getitemrange?min=2&max=4", headers={"Range": "1-1"})
    assert ok(resp) == [{"id": 4}]
    assert resp.headers["content-range"] == "1-1/*"
    resp = await client.post("/rpc/rs_getitemrange?limit=1&offset=1", json={"min": 2, "max": 4})
    assert ok(resp) == [{"id": 4}]
    assert resp.headers["content-range"] == "1-1/*"
    resp = await client.get("/rpc/rs_getitemrange?min=2&max=4&limit=1&offset=1")
    assert ok(resp) == [{"id": 4}]
    assert resp.headers["content-range"] == "1-1/*"
    resp = await client.head("/rpc/rs_getitemrange?min=2&max=4&limit=1&offset=1")
    assert (resp.status_code, resp.content) == (200, b"")
    assert resp.headers["content-type"] == JSON
    assert resp.headers["content-range"] == "1-1/*"


async def test_set_total_count(client: httpx.AsyncClient) -> None:
    # "includes total count if requested" / "using the Range header", "using limit and offset".
    resp = await client.get("/rpc/rs_getitemrange?min=2&max=4", headers={"Range": "1-1", **COUNT})
    assert (resp.status_code, resp.json()) == (206, [{"id": 4}])
    assert resp.headers["content-range"] == "1-1/2"
    resp = await client.post(
        "/rpc/rs_getitemrange?limit=1&offset=1", json={"min": 2, "max": 4}, headers=COUNT
    )
    assert (resp.status_code, resp.json()) == (206, [{"id": 4}])
    assert resp.headers["content-range"] == "1-1/2"
    resp = await client.get("/rpc/rs_getitemrange?min=2&max=4&limit=1&offset=1", headers=COUNT)
    assert (resp.status_code, resp.json()) == (206, [{"id": 4}])
    assert resp.headers["content-range"] == "1-1/2"
    resp = await client.head("/rpc/rs_getitemrange?min=2&max=4&limit=1&offset=1", headers=COUNT)
    assert (resp.status_code, resp.content) == (206, b"")
    assert resp.headers["content-type"] == JSON
    assert resp.headers["content-range"] == "1-1/2"


async def test_exact_count_on_head_with_an_inner_embed(client: httpx.AsyncClient) -> None:
    # "includes exact count if requested".
    resp = await client.head("/rpc/rs_getallprojects", headers=COUNT)
    assert (resp.status_code, resp.content) == (200, b"")
    assert resp.headers["content-range"] == "0-4/5"
    resp = await client.head(
        "/rpc/rs_getallprojects?select=*,rs_clients!inner(*)&rs_clients.id=eq.1", headers=COUNT
    )
    assert (resp.status_code, resp.content) == (200, b"")
    assert resp.headers["content-range"] == "0-1/2"


async def test_exact_count_of_a_domain_result_is_one(client: httpx.AsyncClient) -> None:
    # "includes exact count of 1 for functions that return a single scalar, domain or composite".
    resp = await client.get("/rpc/rs_ret_domain?val=8", headers=COUNT)
    assert (resp.status_code, resp.content) == (200, b"8")
    assert resp.headers["content-range"] == "0-0/1"


async def test_csv_from_post_and_head(client: httpx.AsyncClient) -> None:
    # "returns CSV".
    accept = {"Accept": "text/csv"}
    resp = await client.post("/rpc/rs_getitemrange", json={"min": 2, "max": 4}, headers=accept)
    assert (resp.status_code, resp.content) == (200, b"id\n3\n4")
    assert resp.headers["content-type"] == CSV
    resp = await client.get("/rpc/rs_getitemrange?min=2&max=4", headers=accept)
    assert (resp.status_code, resp.content) == (200, b"id\n3\n4")
    assert resp.headers["content-type"] == CSV
    resp = await client.head("/rpc/rs_getitemrange?min=2&max=4", headers=accept)
    assert (resp.status_code, resp.content) == (200, b"")
    assert resp.headers["content-type"] == CSV


async def test_range_header_is_ignored_on_head(client: httpx.AsyncClient) -> None:
    # "ignores Range header when method is different than GET" / "without limit and offset",
    # "with limit and offset", "does not throw an invalid range error" (the HEAD halves).
    resp = await client.head("/rpc/rs_getitemrange?min=2&max=4", headers={"Range": "1-1", **COUNT})
    assert (resp.status_code, resp.content) == (200, b"")
    assert resp.headers["content-type"] == JSON
    assert resp.headers["content-range"] == "0-1/2"
    for range_ in ("1-1", "0-0"):
        resp = await client.head(
            "/rpc/rs_getitemrange?min=2&max=5&limit=2&offset=1",
            headers={"Range": range_, **COUNT},
        )
        assert (resp.status_code, resp.content) == (206, b"")
        assert resp.headers["content-type"] == JSON
        assert resp.headers["content-range"] == "1-2/3"


# -- "unknown function" -------------------------------------------------------------------------
async def test_unknown_function_and_arguments_hints(client: httpx.AsyncClient) -> None:
    # "should fail with 404 and hint the closest proc on unknown proc name".
    assert error(await client.get("/rpc/rs_sayhell")) == (
        404,
        not_found(
            "api.rs_sayhell",
            " without parameters",
            "without parameters",
            "Perhaps you meant to call the function api.rs_sayhello",
        ),
    )
    # "should fail with 404 on unknown proc args".
    assert (await client.get("/rpc/rs_sayhello")).status_code == 404
    assert (await client.get("/rpc/rs_sayhello?any_arg=value")).status_code == 404
    # "should fail with 404 and hint the closest args on unknown proc args".
    assert error(await client.get("/rpc/rs_sayhello?nam=Peter")) == (
        404,
        not_found(
            "api.rs_sayhello",
            "(nam)",
            "with parameter nam",
            "Perhaps you meant to call the function api.rs_sayhello(name)",
        ),
    )
    # "should fail with 404 for overloaded functions with unknown args" (the second request).
    assert error(await client.get("/rpc/rs_overloaded?a=1&b=2&wrong_arg=value")) == (
        404,
        not_found(
            "api.rs_overloaded",
            "(a, b, wrong_arg)",
            "with parameters a, b, wrong_arg",
            "Perhaps you meant to call the function api.rs_overloaded(a, b, c)",
        ),
    )


async def test_no_hint_when_no_overload_has_close_parameters(client: httpx.AsyncClient) -> None:
    # "unknown function" / "should fail with 404 for overloaded functions with unknown args"
    # (the first request).
    assert error(await client.get("/rpc/rs_overloaded?wrong_arg=value")) == (
        404,
        not_found("api.rs_overloaded", "(wrong_arg)", "with parameter wrong_arg", None),
    )


async def test_ambiguous_overloads_with_the_same_parameter_names(
    client: httpx.AsyncClient,
) -> None:
    # "ambiguous overloaded functions with same parameters' names but different types".
    assert error(await client.get("/rpc/rs_overloaded_same_args?arg=value")) == (
        300,
        {
            "code": "PGRST203",
            "details": None,
            "hint": "Try renaming the parameters or the function itself in the database so "
            "function overloading can be resolved",
            "message": "Could not choose the best candidate function between: "
            "api.rs_overloaded_same_args(arg => integer), "
            "api.rs_overloaded_same_args(arg => xml), "
            "api.rs_overloaded_same_args(arg => text, num => integer)",
        },
    )


# -- "shaping the response returned by a proc" / "foreign entities embedding" -------------------
async def test_volatile_set_function_read_by_get_and_post(client: httpx.AsyncClient) -> None:
    # "returns a project", "select works on the first level" (rs_getproject is VOLATILE).
    project = [{"id": 1, "name": "Windows 7", "client_id": 1}]
    assert ok(await client.post("/rpc/rs_getproject", json={"id": 1})) == project
    assert ok(await client.get("/rpc/rs_getproject?id=1")) == project
    resp = await client.post("/rpc/rs_getproject?select=id,name", json={"id": 1})
    assert ok(resp) == [{"id": 1, "name": "Windows 7"}]


async def test_embed_from_views_over_a_hidden_schema(client: httpx.AsyncClient) -> None:
    # "can embed if the related tables are in a hidden schema but exposed as views".
    expected = {"id": 2, "rs_articleStars": [{"userId": 3}]}
    resp = await client.post(
        "/rpc/rs_single_article?select=id,rs_articleStars(userId)", json={"id": 2}
    )
    assert ok(resp) == expected
    resp = await client.get("/rpc/rs_single_article?id=2&select=id,rs_articleStars(userId)")
    assert ok(resp) == expected


async def test_no_embed_of_a_table_outside_the_exposed_schemas(client: httpx.AsyncClient) -> None:
    # "cannot embed if the related table is not in the exposed schema" (the spec checks only
    # the status; PostgREST's hint is the closest related name in the schema, as ours).
    expected = {
        "code": "PGRST200",
        "details": "Searched for a foreign key relationship between 'rs_articles' and "
        "'rs_article_stars' in the schema 'api', but no matches were found.",
        "hint": "Perhaps you meant 'rs_articleStars' instead of 'rs_article_stars'.",
        "message": "Could not find a relationship between 'rs_articles' and 'rs_article_stars' "
        "in the schema cache",
    }
    resp = await client.post("/rpc/rs_single_article?select=*,rs_article_stars(*)", json={"id": 1})
    assert error(resp) == (400, expected)
    resp = await client.get("/rpc/rs_single_article?id=1&select=*,rs_article_stars(*)")
    assert error(resp) == (400, expected)


async def test_embed_many_to_many_nested_and_through_a_wide_junction(
    client: httpx.AsyncClient,
) -> None:
    # "can embed an M2M relationship table" (the embedded order is fixed here; the spec relies
    # on scan order), "... that has a parent relationship table".
    body = ok(
        await client.get("/rpc/rs_getallusers?select=name,rs_tasks(name)&id=gt.1&rs_tasks.order=id")
    )
    assert body == [
        {
            "name": "Michael Scott",
            "rs_tasks": [{"name": "Design IOS"}, {"name": "Code IOS"}, {"name": "Design OSX"}],
        },
        {"name": "Dwight Schrute", "rs_tasks": [{"name": "Design w7"}, {"name": "Design IOS"}]},
    ]
    body = ok(
        await client.get(
            "/rpc/rs_getallusers?select=name,rs_tasks(name,project:rs_projects(name))&id=gt.1"
            "&rs_tasks.order=id"
        )
    )
    assert body == [
        {
            "name": "Michael Scott",
            "rs_tasks": [
                {"name": "Design IOS", "project": {"name": "IOS"}},
                {"name": "Code IOS", "project": {"name": "IOS"}},
                {"name": "Design OSX", "project": {"name": "OSX"}},
            ],
        },
        {
            "name": "Dwight Schrute",
            "rs_tasks": [
                {"name": "Design w7", "project": {"name": "Windows 7"}},
                {"name": "Design IOS", "project": {"name": "IOS"}},
            ],
        },
    ]
    # PostgREST #2565: a junction whose primary key has a column of its own.
    assert ok(await client.get("/rpc/rs_get_yards?select=rs_groups(*)")) == []


async def test_embed_one_to_one(client: httpx.AsyncClient) -> None:
    # "can embed an O2O relationship".
    body = ok(await client.get("/rpc/rs_allcapitals?select=name,country:rs_country(name)"))
    assert body == [
        {"name": "Kabul", "country": {"name": "Afghanistan"}},
        {"name": "Algiers", "country": {"name": "Algeria"}},
    ]
    body = ok(await client.get("/rpc/rs_allcountries?select=name,capital:rs_capital(name)"))
    assert body == [
        {"name": "Afghanistan", "capital": {"name": "Kabul"}},
        {"name": "Algeria", "capital": {"name": "Algiers"}},
    ]


async def test_embed_on_a_setof_domain_over_a_table_type(client: httpx.AsyncClient) -> None:
    # "can embed if rpc returns domain of table type".
    expected = [
        {"id": 1, "name": "Windows 7", "client": {"id": 1}, "rs_tasks": [{"id": 1}, {"id": 2}]}
    ]
    select = "select=id,name,client:rs_clients(id),rs_tasks(id)"
    assert ok(await client.post(f"/rpc/rs_getproject_domain?{select}", json={"id": 1})) == expected
    assert ok(await client.get(f"/rpc/rs_getproject_domain?id=1&{select}")) == expected


# -- "proc return types" ------------------------------------------------------------------------
async def test_scalar_return_types(client: httpx.AsyncClient) -> None:
    # "returns array", "returns setof integers" (an overload without named parameters is never
    # chosen), "returns enum value", "returns domain value", "returns range".
    assert ok(await client.post("/rpc/rs_ret_array", json={})) == [1, 2, 3]
    assert ok(await client.post("/rpc/rs_ret_setof_integers", json={})) == [1, 2, 3]
    assert ok(await client.post("/rpc/rs_ret_enum", json={"val": "foo"})) == "foo"
    assert ok(await client.post("/rpc/rs_ret_domain", json={"val": "8"})) == 8
    assert ok(await client.post("/rpc/rs_ret_range", json={"low": 10, "up": 20})) == "[10,20)"


async def test_table_of_enum_domain_and_range_columns(client: httpx.AsyncClient) -> None:
    # "returns row of scalars".
    assert ok(await client.post("/rpc/rs_ret_scalars", json={})) == [
        {"a": "scalars", "b": "foo", "c": 1, "d": "[10,20)"}
    ]


async def test_composite_results(client: httpx.AsyncClient) -> None:
    # "returns composite type in exposed schema", "returns single row from table",
    # "different types when overloaded" / "returns composite type".
    assert ok(await client.post("/rpc/rs_ret_point_2d", json={})) == {"x": 10, "y": 5}
    assert ok(await client.post("/rpc/rs_single_article?select=id", json={"id": 2})) == {"id": 2}
    resp = await client.post("/rpc/rs_ret_point_overloaded", json={"x": 1, "y": 2})
    assert ok(resp) == {"x": 1, "y": 2}


async def test_domain_over_a_composite_type(client: httpx.AsyncClient) -> None:
    # "returns domain of composite type".
    assert ok(await client.post("/rpc/rs_ret_composite_domain", json={})) == {"x": 10, "y": 5}


async def test_composite_type_in_a_hidden_schema_is_401(client: httpx.AsyncClient) -> None:
    # "cannot return composite type in hidden schema" (the spec checks only the status).
    resp = await client.post("/rpc/rs_ret_point_3d", json={})
    assert resp.status_code == 401, resp.text
    assert resp.json()["code"] == "42501"


PROJECT1 = {"id": 1, "name": "Windows 7", "client_id": 1}
PROJECT2 = {"id": 2, "name": "Windows 10", "client_id": 1}


async def test_record_result(client: httpx.AsyncClient) -> None:
    # "returns a record type".
    assert ok(await client.post("/rpc/rs_returns_record", content=b"")) == PROJECT1
    resp = await client.post("/rpc/rs_returns_record_params", json={"id": 1, "name": "Windows%"})
    assert ok(resp) == PROJECT1


async def test_setof_record_result(client: httpx.AsyncClient) -> None:
    # "returns a setof record type".
    assert ok(await client.post("/rpc/rs_returns_setof_record", content=b"")) == [
        PROJECT1,
        PROJECT2,
    ]
    resp = await client.post(
        "/rpc/rs_returns_setof_record_params", json={"id": 1, "name": "Windows%"}
    )
    assert ok(resp) == [PROJECT1, PROJECT2]


# -- "proc argument types" ----------------------------------------------------------------------
VARIED = {
    "double": 3.1,
    "varchar": "hello",
    "boolean": True,
    "date": "2019-01-01",
    "money": "$0.00",
    "enum": "foo",
    "arr": ["a", "b", "c"],
    "integer": 43,
}
VARIED_QUERY = (
    "double=3.1&varchar=hello&boolean=true&date=20190101&money=0&enum=foo&arr=%7Ba,b,c%7D"
    "&integer=43"
)


async def test_varied_argument_types(client: httpx.AsyncClient) -> None:
    # "accepts a variety of arguments (Postgres >= 10)", "... with GET", "... from an html form".
    body = {
        **VARIED,
        "date": "20190101",
        "money": 0,
        "json": {"some key": "some value"},
        "jsonb": {"another key": [1, 2, "3"]},
    }
    assert ok(await client.post("/rpc/rs_varied_arguments", json=body)) == {
        **VARIED,
        "json": {"some key": "some value"},
        "jsonb": {"another key": [1, 2, "3"]},
    }
    expected = {**VARIED, "json": {}, "jsonb": {}}
    assert ok(await client.get(f"/rpc/rs_varied_arguments?{VARIED_QUERY}")) == expected
    resp = await client.post(
        "/rpc/rs_varied_arguments", content=VARIED_QUERY.encode(), headers=FORM
    )
    assert ok(resp) == expected


# -- "improper input" ---------------------------------------------------------------------------
async def test_raise_is_400_and_assert_is_500(client: httpx.AsyncClient) -> None:
    # "treats simple plpgsql raise as invalid input", "treats plpgsql assert as internal
    # server error" (the spec checks the status and that the body is an error).
    resp = await client.post("/rpc/rs_problem", content=b"{}")
    assert error(resp) == (
        400,
        {"code": "P0001", "details": None, "hint": None, "message": "bad thing"},
    )
    resp = await client.post("/rpc/rs_assert", content=b"{}")
    assert error(resp) == (
        500,
        {"code": "P0004", "details": None, "hint": None, "message": "bad thing"},
    )


# -- "procs with OUT/INOUT params" --------------------------------------------------------------
async def test_out_and_inout_parameters(client: httpx.AsyncClient) -> None:
    # "returns an object result when there is a single OUT param" (json), "... many OUT
    # params", "... many INOUT params"; "can handle procs with args that have a DEFAULT value".
    resp = await client.get("/rpc/rs_single_json_out_param?a=1&b=two")
    assert ok(resp) == {"my_json": {"a": 1, "b": "two"}}
    assert ok(await client.get("/rpc/rs_many_out_params")) == {
        "my_json": {"a": 1, "b": "two"},
        "num": 3,
        "str": "four",
    }
    resp = await client.get("/rpc/rs_many_inout_params?num=1&str=two&b=false")
    assert ok(resp) == {"num": 1, "str": "two", "b": False}
    resp = await client.get("/rpc/rs_many_inout_params?num=1&str=two")
    assert ok(resp) == {"num": 1, "str": "two", "b": True}


# -- "procs with VARIADIC params" ---------------------------------------------------------------
async def test_variadic_with_a_default(client: httpx.AsyncClient) -> None:
    # "works with POST", "works with GET and repeated params" and "works with POST and
    # repeated params from html form" (n=0 through DEFAULT, n=1, n>1).
    resp = await client.post("/rpc/rs_variadic_param", json={"v": ["hi", "hello", "there"]})
    assert ok(resp) == ["hi", "hello", "there"]
    assert ok(await client.get("/rpc/rs_variadic_param")) == []
    assert ok(await client.get("/rpc/rs_variadic_param?v=hi")) == ["hi"]
    assert ok(await client.get("/rpc/rs_variadic_param?v=hi&v=there")) == ["hi", "there"]
    for form, expected in [(b"", []), (b"v=hi&v=there", ["hi", "there"])]:
        resp = await client.post("/rpc/rs_variadic_param", content=form, headers=FORM)
        assert ok(resp) == expected


async def test_variadic_from_a_single_form_value(client: httpx.AsyncClient) -> None:
    # "procs with VARIADIC params" / "works with POST and repeated params from html form" /
    # "n=1".
    resp = await client.post("/rpc/rs_variadic_param", content=b"v=hi", headers=FORM)
    assert ok(resp) == ["hi"]


async def test_repeated_argument_next_to_a_variadic_one(client: httpx.AsyncClient) -> None:
    # "returns last value for repeated non-variadic params in function with other VARIADIC
    # arguments".
    resp = await client.get("/rpc/rs_sayhello_variadic?name=ignored&name=world&v=unused")
    assert ok(resp) == "Hello, world"


# -- raised errors ------------------------------------------------------------------------------
async def test_pt_code_without_a_number_is_500(client: httpx.AsyncClient) -> None:
    # "defaults to status 500 if RAISE code is PT not followed by a number".
    assert error(await client.get("/rpc/rs_raise_bad_pt")) == (
        500,
        {"code": "PT40A", "details": None, "hint": None, "message": "Wrong"},
    )


async def test_raise_sqlstate_pgrst(client: httpx.AsyncClient) -> None:
    # "get message and details from raise sqlstate" (custom status texts cannot be checked:
    # ASGI has no reason phrase).
    resp = await client.get("/rpc/rs_raise_sqlstate_test2")
    assert (resp.status_code, resp.json()) == (
        332,
        {"code": "123", "message": "ABC", "details": None, "hint": None},
    )
    assert resp.headers["x-header"] == "str"
    resp = await client.get("/rpc/rs_raise_sqlstate_test3")
    assert (resp.status_code, resp.json()) == (
        404,
        {"code": "123", "message": "ABC", "details": None, "hint": None},
    )
    assert resp.headers["x-header"] == "str"
    message = "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error"
    detail_hint = (
        "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional "
        "key: 'status_text'."
    )
    assert error(await client.get("/rpc/rs_raise_sqlstate_invalid_json_message")) == (
        500,
        {
            "code": "PGRST121",
            "message": message,
            "details": "Invalid JSON value for MESSAGE: 'INVALID'",
            "hint": "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and "
            "optional keys: 'details', 'hint'.",
        },
    )
    assert error(await client.get("/rpc/rs_raise_sqlstate_invalid_json_details")) == (
        500,
        {
            "code": "PGRST121",
            "message": message,
            "details": "Invalid JSON value for DETAIL: 'INVALID'",
            "hint": detail_hint,
        },
    )


async def test_raise_sqlstate_pgrst_without_detail(client: httpx.AsyncClient) -> None:
    # "get message and details from raise sqlstate" / "returns error for missing DETAIL option
    # in the RAISE statement".
    assert error(await client.get("/rpc/rs_raise_sqlstate_missing_details")) == (
        500,
        {
            "code": "PGRST121",
            "message": "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
            "details": "DETAIL is missing in the RAISE statement",
            "hint": "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and "
            "optional key: 'status_text'.",
        },
    )


# -- "should work with an overloaded function" --------------------------------------------------
async def test_overloads_by_argument_names(client: httpx.AsyncClient) -> None:
    # overloaded(), overloaded(int, int), overloaded(text, text, text) and the html-form ones.
    assert ok(await client.get("/rpc/rs_overloaded")) == [1, 2, 3]
    resp = await client.get("/rpc/rs_overloaded?a=1&b=2")
    assert (resp.status_code, resp.content) == (200, b"3")
    assert ok(await client.get("/rpc/rs_overloaded?a=1&b=2&c=3")) == "123"
    for form, expected in [(b"", [1, 2, 3]), (b"a=1&b=2", 3), (b"a=1&b=2&c=3", "123")]:
        resp = await client.post("/rpc/rs_overloaded_html_form", content=form, headers=FORM)
        assert ok(resp) == expected


async def test_overloads_that_differ_by_a_defaulted_parameter(client: httpx.AsyncClient) -> None:
    # "embedding overloaded functions with the same signature except for the last param with a
    # default value" (PostgREST #1672).
    url = "/rpc/rs_overloaded_default?select=id,name,rs_users(name)&rs_users.order=id"
    assert ok(await client.post(url, json={})) == [
        {"id": 2, "name": "Code w7", "rs_users": [{"name": "Angela Martin"}]}
    ]
    resp = await client.post("/rpc/rs_overloaded_default", json={"must_param": 1})
    assert ok(resp) == {"val": 1}
    assert ok(await client.post(url, json={"a": 4})) == [
        {
            "id": 5,
            "name": "Design IOS",
            "rs_users": [{"name": "Michael Scott"}, {"name": "Dwight Schrute"}],
        }
    ]
    resp = await client.post("/rpc/rs_overloaded_default", json={"a": 2, "must_param": 4})
    assert ok(resp) == {"a": 2, "val": 4}


# -- "only for GET rpc" -------------------------------------------------------------------------
async def test_not_in_filter_on_a_result_column_named_like_an_argument(
    client: httpx.AsyncClient,
) -> None:
    # "should work with filters that have the not operator" (the not.in half).
    resp = await client.get("/rpc/rs_get_projects_below?id=5&id=not.in.(1,3)&select=id")
    assert ok(resp) == [{"id": 2}, {"id": 4}]


async def test_full_text_search_on_results(client: httpx.AsyncClient) -> None:
    # "should work with filters that use the fts operator on tsvector columns", "... on text and
    # json columns", "should work with the phraseto_tsquery function".
    fun = [{"text_search_vector": "'fun':5 'imposs':9 'kind':3"}]
    for flt in ("fts(english).impossible", "plfts.impossible", "wfts.impossible"):
        assert ok(await client.get(f"/rpc/rs_get_tsearch?text_search_vector={flt}")) == fun
    assert (
        ok(await client.get("/rpc/rs_get_tsearch?text_search_vector=phfts(english).impossible"))
        == fun
    )
    assert ok(
        await client.get("/rpc/rs_get_tsearch?text_search_vector=not.fts(english).fun%7Crat")
    ) == [
        {"text_search_vector": "'amus':5 'fair':7 'impossibl':9 'peu':4"},
        {"text_search_vector": "'art':4 'spass':5 'unmog':7"},
    ]
    english = "It's kind of fun to do the impossible"
    french = "C'est un peu amusant de faire l'impossible"
    german = "Es ist eine Art Spaß, das Unmögliche zu machen"
    url = "/rpc/rs_get_tsearch_to_tsvector?select=text_search&text_search="
    for flt in ("fts(english).impossible", "plfts.impossible", "wfts.impossible"):
        assert ok(await client.get(url + flt)) == [
            {"text_search": english},
            {"text_search": french},
        ]
    assert ok(await client.get(url + "not.fts(english).fun%7Crat")) == [
        {"text_search": french},
        {"text_search": german},
    ]


async def test_argument_of_a_type_in_the_public_schema(client: httpx.AsyncClient) -> None:
    # "should work with an argument of custom type in public schema".
    assert ok(await client.get("/rpc/rs_test_arg?my_arg=something")) == "foobar"


# -- "GUC headers on function calls" ------------------------------------------------------------
async def test_the_same_header_set_twice_on_a_void_function(client: httpx.AsyncClient) -> None:
    # "can set the same http header twice".
    resp = await client.get("/rpc/rs_set_cookie_twice")
    assert (resp.status_code, resp.content) == (204, b"")
    assert "content-type" not in resp.headers
    assert resp.headers.get_list("set-cookie") == [
        "sessionid=38afes7a8; HttpOnly; Path=/",
        "id=a3fWa; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Secure; HttpOnly",
    ]


# -- "single unnamed param" ---------------------------------------------------------------------
async def test_no_single_unnamed_json_parameter(client: httpx.AsyncClient) -> None:
    # "will err when no function with single unnamed json parameter exists and application/json
    # is specified". PostgREST's schema cache has no rs_unnamed_int_param(int), so its hint is
    # the closest function name in the schema (test.unnamed_text_param in its own fixtures).
    resp = await client.post(
        "/rpc/rs_unnamed_int_param",
        content=b'{"x": 1, "y": 2}',
        headers={"Content-Type": "application/json"},
    )
    assert error(resp) == (
        404,
        not_found(
            "api.rs_unnamed_int_param",
            "(x, y)",
            "with parameters x, y or with a single unnamed json/jsonb parameter",
            "Perhaps you meant to call the function api.rs_unnamed_xml_param",
        ),
    )


async def test_single_unnamed_parameter_among_overloads(client: httpx.AsyncClient) -> None:
    # "should be able to resolve when a single unnamed json parameter exists and other
    # overloaded functions are found", "should be able to fallback to the single unnamed
    # parameter function when other overloaded functions are not found" (answered as JSON here:
    # the spec's text/bytea overloads return media-type domains), "should call the function
    # with no parameters ... when using GET with Content-Type headers".
    url = "/rpc/rs_overloaded_unnamed_param"
    json_ct = {"Content-Type": "application/json"}
    assert ok(await client.post(url, content=b"{}", headers=json_ct)) == 1
    assert ok(await client.post(url, content=b'{"x": 1, "y": 2}', headers=json_ct)) == 3
    doc = b'{"A": 1, "B": 2, "C": 3}'
    assert ok(await client.post(url, content=doc, headers=json_ct)) == {"A": 1, "B": 2, "C": 3}
    resp = await client.post(
        url, content=b"unnamed text arg", headers={"Content-Type": "text/plain"}
    )
    assert ok(resp) == "unnamed text arg"
    resp = await client.post(
        url, content=b"\x89PNG", headers={"Content-Type": "application/octet-stream"}
    )
    assert ok(resp) == "\\x89504e47"
    for content_type in ("text/plain", "application/octet-stream"):
        assert ok(await client.get(url, headers={"Content-Type": content_type})) == 1


async def test_csv_body_never_falls_back_to_an_unnamed_parameter(
    client: httpx.AsyncClient,
) -> None:
    # "should fail to fallback to any single unnamed parameter function when using an
    # unsupported Content-Type header".
    resp = await client.post(
        "/rpc/rs_overloaded_unnamed_param",
        content=b"a,b\n1,2\n4,6\n100,200",
        headers={"Content-Type": "text/csv"},
    )
    assert error(resp) == (
        404,
        not_found(
            "api.rs_overloaded_unnamed_param",
            "(a, b)",
            "with parameters a, b",
            "Perhaps you meant to call the function api.rs_overloaded_unnamed_param(x, y)",
        ),
    )


async def test_unnamed_json_and_jsonb_overloads_are_ambiguous(client: httpx.AsyncClient) -> None:
    # "should fail with multiple choices when two fallback functions with single unnamed json
    # and jsonb parameters exist".
    resp = await client.post(
        "/rpc/rs_overloaded_unnamed_json_jsonb_param",
        content=b'{"A": 1, "B": 2, "C": 3}',
        headers={"Content-Type": "application/json"},
    )
    assert error(resp) == (
        300,
        {
            "code": "PGRST203",
            "details": None,
            "hint": "Try renaming the parameters or the function itself in the database so "
            "function overloading can be resolved",
            "message": "Could not choose the best candidate function between: "
            "api.rs_overloaded_unnamed_json_jsonb_param( => json), "
            "api.rs_overloaded_unnamed_json_jsonb_param( => jsonb)",
        },
    )


async def test_invalid_xml_body(client: httpx.AsyncClient) -> None:
    # "should fail on /rpc/unnamed_xml_param when posting invalid xml" (without the spec's
    # Accept: text/xml, a media-type handler here).
    resp = await client.post(
        "/rpc/rs_unnamed_xml_param", content=b"<", headers={"Content-Type": "text/xml"}
    )
    assert error(resp) == (
        400,
        {
            "code": "2200N",
            "details": "line 1: StartTag: invalid element name\n<\n ^",
            "hint": None,
            "message": "invalid XML content",
        },
    )


# -- "a proc with bit and char parameters" (PostgREST #1586) ------------------------------------
async def test_char_parameters_are_not_truncated(client: httpx.AsyncClient) -> None:
    # "modifies the param type from character to character varying".
    resp = await client.get("/rpc/rs_char_param_select?char_=abcdefg&char_arr={abc,abcdefg}")
    assert ok(resp) == [{"char_": "abcdefg", "char_arr": ["abc", "abcdefg"]}]
    resp = await client.post(
        "/rpc/rs_char_param_insert", json={"char_": "abcdefg", "char_arr": "{abc,abcdefg}"}
    )
    assert error(resp) == (
        400,
        {
            "code": "22001",
            "details": None,
            "hint": None,
            "message": "value too long for type character(5)",
        },
    )


async def test_bit_parameters_are_not_truncated(client: httpx.AsyncClient) -> None:
    # "modifies the param type from bit to bit varying".
    resp = await client.get("/rpc/rs_bit_param_select?bit_=101010&bit_arr={101,101010}")
    assert ok(resp) == [{"bit_": "101010", "bit_arr": ["101", "101010"]}]
    resp = await client.post(
        "/rpc/rs_bit_param_insert", json={"bit_": "101010", "bit_arr": "{101,101010}"}
    )
    assert error(resp) == (
        400,
        {
            "code": "22026",
            "details": None,
            "hint": None,
            "message": "bit string length 6 does not match type bit(5)",
        },
    )
