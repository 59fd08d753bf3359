"""Functions with a single unnamed parameter and their overloads, as PostgREST resolves and calls
them (its RpcSpec.hs "single unnamed param" cases, and its ``findProc`` rules on the ``up_*``
functions of tests/fixtures/unnamed_params_spec.sql).

The rules, as PostgREST has them: the argument names given (the query string's, or the body's
keys; none for a raw text, XML or binary body) pick the overloads whose parameters they fit,
where a single unnamed parameter is named ``""``; only when none fits does a POST fall back to
the overloads whose single unnamed parameter has the type of its Content-Type (json/jsonb for
JSON, text, xml, bytea). Two or more either way is 300 ``PGRST203``. A single unnamed parameter
always receives what was sent as a whole: the raw body, or the arguments as one JSON object.
Several of the answers that follow look odd; they are PostgREST's, and each says so.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.test_rpc import error, not_found, ok

TEXT = {"Content-Type": "text/plain"}
XML = {"Content-Type": "text/xml"}
BINARY = {"Content-Type": "application/octet-stream"}
JSON_CT = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
AMBIGUOUS_HINT = (
    "Try renaming the parameters or the function itself in the database so function "
    "overloading can be resolved"
)


def ambiguous(*signatures: str) -> tuple[int, dict[str, Any]]:
    return 300, {
        "code": "PGRST203",
        "details": None,
        "hint": AMBIGUOUS_HINT,
        "message": "Could not choose the best candidate function between: " + ", ".join(signatures),
    }


async def test_each_raw_body_fills_a_parameter_of_its_type(client: httpx.AsyncClient) -> None:
    # "can insert json directly", "can insert text directly", "can insert xml directly", "can
    # insert bytea directly" (answered as JSON: the spec's functions return media-type domains).
    doc = {"A": 1, "B": [2, {"C": None}]}
    assert ok(await client.post("/rpc/up_json", json=doc)) == doc
    assert ok(await client.post("/rpc/up_jsonb", json=doc)) == doc
    resp = await client.post("/rpc/up_text", content="unnamed text arg é".encode(), headers=TEXT)
    assert ok(resp) == "unnamed text arg é"
    note = b"<note><from>John</from><to>Jane</to></note>"
    assert ok(await client.post("/rpc/up_xml", content=note, headers=XML)) == note.decode()
    resp = await client.post("/rpc/up_bytea", content=b"\x00\xff\\x", headers=BINARY)
    assert ok(resp) == "00ff5c78"
    # A Content-Type's parameters change nothing.
    resp = await client.post(
        "/rpc/up_text", content=b"abc", headers={"Content-Type": "text/plain; charset=utf-8"}
    )
    assert ok(resp) == "abc"


async def test_invalid_xml_is_postgresqls_error(client: httpx.AsyncClient) -> None:
    # "should fail on /rpc/unnamed_xml_param when posting invalid xml": SQLSTATE 2200N is of
    # class 22, which PostgREST answers 400.
    resp = await client.post("/rpc/up_xml", content=b"<a><b></a>", headers=XML)
    status, body = error(resp)
    assert (status, body["code"], body["message"], body["hint"]) == (
        400,
        "2200N",
        "invalid XML content",
        None,
    )
    assert body["details"].startswith("line 1: ")


async def test_a_named_single_json_parameter_takes_no_body(client: httpx.AsyncClient) -> None:
    # "rejects json body when single param has a name".
    resp = await client.post("/rpc/up_named_json", json={"A": 1, "B": 2, "C": 3})
    assert error(resp) == (
        404,
        not_found(
            "api.up_named_json",
            "(A, B, C)",
            "with parameters A, B, C or with a single unnamed json/jsonb parameter",
            None,
        ),
    )
    assert ok(await client.post("/rpc/up_named_json", json={"data": {"x": 1}})) == {"x": 1}


async def test_raw_bodies_without_a_parameter_of_their_type(client: httpx.AsyncClient) -> None:
    # "will err when no function with single unnamed ... parameter exists and ... is
    # specified": no parameter list in the message, no hint.
    for headers, pg_type in [(TEXT, "text"), (XML, "xml"), (BINARY, "bytea")]:
        resp = await client.post("/rpc/up_json", content=b"x", headers=headers)
        assert error(resp) == (
            404,
            not_found("api.up_json", "", f"with a single unnamed {pg_type} parameter", None),
        )


async def test_overloads_by_the_type_of_the_unnamed_parameter(client: httpx.AsyncClient) -> None:
    url = "/rpc/up_typed"
    assert ok(await client.post(url, content=b"hi", headers=TEXT)) == "text: hi"
    assert ok(await client.post(url, content=b"<a/>", headers=XML)) == "xml: <a/>"
    assert ok(await client.post(url, content=b"\x01", headers=BINARY)) == "bytea: 01"
    assert ok(await client.post(url, content=b'{"a": 1}', headers=JSON_CT)) == 'json: {"a": 1}'
    # The vendor array type is JSON as a Content-Type (PostgREST decodes it so); the object one
    # and other +json types are not bodies.
    resp = await client.post(
        url, content=b"[]", headers={"Content-Type": "application/vnd.pgrst.array+json"}
    )
    assert ok(resp) == "json: []"
    resp = await client.post(
        url, content=b"{}", headers={"Content-Type": "application/vnd.pgrst.object+json"}
    )
    assert error(resp) == (
        400,
        {
            "code": "PGRST102",
            "details": None,
            "hint": None,
            "message": "Content-Type not acceptable: application/vnd.pgrst.object+json",
        },
    )
    # A JSON scalar is read as an empty array, as for every JSON body.
    assert ok(await client.post(url, content=b"5", headers=JSON_CT)) == "json: []"
    # CSV and form bodies have no fallback.
    # No hint: the unnamed overloads list as "()", which shares no letter pair with "(a)"
    # (PostgREST's fuzzy set compares the names' grams before their edit distance).
    resp = await client.post(url, content=b"a\n1", headers={"Content-Type": "text/csv"})
    assert error(resp) == (
        404,
        not_found("api.up_typed", "(a)", "with parameter a", None),
    )


async def test_the_empty_key_names_the_unnamed_parameter(client: httpx.AsyncClient) -> None:
    # What postgrest-js sends for rpc('f', {'': value}). The name "" fits every overload with a
    # single unnamed parameter, whatever its type, so these are ambiguous...
    resp = await client.post("/rpc/up_typed", json={"": "x"})
    assert error(resp) == ambiguous(
        "api.up_typed( => text)",
        "api.up_typed( => json)",
        "api.up_typed( => xml)",
        "api.up_typed( => bytea)",
    )
    # ...while with another key it fits none, and the JSON fallback takes the body.
    resp = await client.post("/rpc/up_typed", content=b'{"": "x", "y": 1}', headers=JSON_CT)
    assert ok(resp) == 'json: {"": "x", "y": 1}'


async def test_the_unnamed_parameter_receives_all_that_was_sent(client: httpx.AsyncClient) -> None:
    # Odd, and PostgREST's: the parameter gets the whole JSON object, not the value under "":
    # the body as sent (POST), or the arguments encoded as one object (GET, form).
    resp = await client.post("/rpc/up_text", content=b'{"": "v"}', headers=JSON_CT)
    assert ok(resp) == '{"": "v"}'
    assert ok(await client.post("/rpc/up_json", json={"": 5})) == {"": 5}
    assert ok(await client.post("/rpc/up_bytea", json={"": 1})) == b'{"":1}'.hex()
    assert ok(await client.get("/rpc/up_text?=hello")) == '{"":"hello"}'
    assert ok(await client.get("/rpc/up_json?=5")) == {"": "5"}
    assert ok(await client.post("/rpc/up_text", content=b"=v", headers=FORM)) == '{"":"v"}'
    # A parameter of a type no body fills is not callable at all.
    assert error(await client.post("/rpc/up_int", json={"": 1})) == (
        404,
        not_found(
            "api.up_int",
            "()",
            "with parameter  or with a single unnamed json/jsonb parameter",
            None,
        ),
    )


async def test_an_empty_json_body_is_the_empty_string(client: httpx.AsyncClient) -> None:
    # Odd, and PostgREST's: named parameters read an empty body as {}, but a single unnamed
    # one gets the empty string, which json does not accept; a blank body is not JSON at all.
    resp = await client.post("/rpc/up_json", content=b"", headers=JSON_CT)
    assert error(resp) == (
        400,
        {
            "code": "22P02",
            "details": "The input string ended unexpectedly.",
            "hint": None,
            "message": "invalid input syntax for type json",
        },
    )
    assert ok(await client.post("/rpc/up_text", content=b"", headers=TEXT)) == ""
    resp = await client.post("/rpc/up_json", content=b" ", headers=JSON_CT)
    assert error(resp) == (
        400,
        {"code": "PGRST102", "details": None, "hint": None, "message": "Empty or invalid json"},
    )


async def test_a_defaulted_unnamed_parameter(client: httpx.AsyncClient) -> None:
    # No arguments fit a parameter with a default, so GET and an empty object call it; odd, and
    # PostgREST's: with the (empty) arguments object, not its default.
    assert ok(await client.get("/rpc/up_default")) == "{}"
    assert ok(await client.post("/rpc/up_default", json={})) == "{}"
    # A raw body names no arguments either, so any raw body fits it (not only text) and is
    # passed as text: XML as its text, binary as UTF-8 if it is that.
    assert ok(await client.post("/rpc/up_default", content=b"<a/>", headers=XML)) == "<a/>"
    assert ok(await client.post("/rpc/up_default", content=b"ok", headers=BINARY)) == "ok"
    resp = await client.post("/rpc/up_default", content=b"\xff", headers=BINARY)
    assert error(resp) == (
        400,
        {
            "code": "22021",
            "details": None,
            "hint": None,
            "message": 'invalid byte sequence for encoding "UTF8": 0xff',
        },
    )


async def test_overloads_that_differ_by_a_default(client: httpx.AsyncClient) -> None:
    # f() and f(text DEFAULT …): no arguments fit both, on GET and on POST alike.
    both = ambiguous("api.up_default_over()", "api.up_default_over( => text)")
    assert error(await client.get("/rpc/up_default_over")) == both
    assert error(await client.post("/rpc/up_default_over", json={})) == both
    assert error(await client.post("/rpc/up_default_over")) == both
    # A raw body never calls a function without parameters, so it picks the other.
    resp = await client.post("/rpc/up_default_over", content=b"abc", headers=TEXT)
    assert ok(resp) == "unnamed: abc"
    assert ok(await client.get("/rpc/up_default_over?=x")) == 'unnamed: {"":"x"}'
    # The same with a named parameter: f() and f(a int DEFAULT 1).
    named = ambiguous("api.up_named_default()", "api.up_named_default(a => integer)")
    assert error(await client.get("/rpc/up_named_default")) == named
    assert error(await client.post("/rpc/up_named_default", json={})) == named
    assert ok(await client.get("/rpc/up_named_default?a=5")) == "a = 5"
    assert ok(await client.post("/rpc/up_named_default", json={"a": 5})) == "a = 5"
    # Odd, and PostgREST's: a raw body fits an overload whose parameters all have defaults,
    # called without arguments (the body is ignored)...
    assert ok(await client.post("/rpc/up_all_optional", content=b"x", headers=BINARY)) == 3
    # ...even when that call is ambiguous to PostgreSQL (42725, answered 400).
    resp = await client.post("/rpc/up_named_default", content=b"abc", headers=TEXT)
    assert error(resp) == (
        400,
        {
            "code": "42725",
            "details": None,
            "hint": "Could not choose a best candidate function. You might need to add explicit "
            "type casts.",
            "message": "function api.up_named_default() is not unique",
        },
    )


async def test_get_never_falls_back_to_the_body(client: httpx.AsyncClient) -> None:
    # "should call the function with no parameters and not fallback to the single unnamed
    # parameter function when using GET with Content-Type headers".
    for headers in (TEXT, BINARY, JSON_CT):
        assert error(await client.get("/rpc/up_text", headers=headers)) == (
            404,
            not_found(
                "api.up_text",
                " without parameters",
                "without parameters",
                "Perhaps you meant to call the function api.up_text()",
            ),
        )
