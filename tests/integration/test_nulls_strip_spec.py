"""``nulls=stripped`` checked against PostgREST's own spec, test/spec/Feature/Query/
NullsStripSpec.hs, translated onto ``ns_organizations`` of tests/fixtures/nulls_strip_spec.sql
(the spec's organizations, renamed; same data), and extended to functions, embeds and the
``Accept`` variants PostgREST decodes.

As PostgREST decodes ``Accept``: ``application/vnd.pgrst.array+json`` and
``application/vnd.pgrst.array`` strip nulls when their only parameter (besides ``q``) is
``nulls=stripped``, and are plain JSON otherwise; ``application/vnd.pgrst.object(+json)`` is
singular either way. ``nulls=stripped`` on any other type (``application/json``, ``text/csv``)
changes nothing. Stripping is ``json_strip_nulls`` over the whole body: object members that are
null go, at every depth (embeds too), but nulls inside arrays stay. The only 406 is the
singular type's: a result that is not exactly one row. The writes run in an app whose
transactions roll back, so the data stays the spec's.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.test_rpc import error

ARRAY_STRIP = "application/vnd.pgrst.array+json;nulls=stripped"
SINGULAR_STRIP = "application/vnd.pgrst.object+json;nulls=stripped"
# The Content-Types PostgREST answers them with (SpecHelper's matchCTArrayStrip and
# matchCTSingularStrip): the parameter joined without a space, then the charset.
ARRAY_STRIP_CT = "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8"
SINGULAR_STRIP_CT = "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8"
JSON_CT = "application/json; charset=utf-8"

ALL_STRIPPED = [
    {"id": 1, "name": "Referee Org", "manager_id": 1},
    {"id": 2, "name": "Auditor Org", "manager_id": 2},
    {"id": 3, "name": "Acme", "referee": 1, "auditor": 2, "manager_id": 3},
    {"id": 4, "name": "Umbrella", "referee": 1, "auditor": 2, "manager_id": 4},
    {"id": 5, "name": "Cyberdyne", "referee": 3, "auditor": 4, "manager_id": 5},
    {"id": 6, "name": "Oscorp", "referee": 3, "auditor": 4, "manager_id": 6},
]
SELECTED_STRIPPED = [
    {"id": 1},
    {"id": 2},
    {"id": 3, "referee": 1, "auditor": 2},
    {"id": 4, "referee": 1, "auditor": 2},
    {"id": 5, "referee": 3, "auditor": 4},
    {"id": 6, "referee": 3, "auditor": 4},
]


def body(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


def accept(media: str) -> dict[str, str]:
    return {"Accept": media}


# -- "strip nulls from response" ----------------------------------------------------------------
async def test_array_strip_on_a_table(client: httpx.AsyncClient) -> None:
    # "strips nulls when Accept: application/vnd.pgrst.array+json;nulls=stripped" (GET), and
    # "... application/vnd.pgrst.array;nulls=stripped".
    for media in (ARRAY_STRIP, "application/vnd.pgrst.array;nulls=stripped"):
        resp = await client.get("/ns_organizations?select=*&order=id", headers=accept(media))
        assert body(resp) == ALL_STRIPPED


async def test_array_strip_on_written_rows(app_factory: Any) -> None:
    # The POST and PATCH halves, with and without the null columns selected ("strip nulls from
    # response even if explicitly selected").
    representation = {"Accept": ARRAY_STRIP, "Prefer": "return=representation"}
    new = {"id": 7, "name": "John", "referee": None, "auditor": None, "manager_id": 6}
    async with app_factory(db_tx_end="rollback") as (_, client):
        resp = await client.post("/ns_organizations?select=*", json=new, headers=representation)
        assert body(resp, 201) == [{"id": 7, "name": "John", "manager_id": 6}]
        resp = await client.post(
            "/ns_organizations?select=id,referee,auditor", json=new, headers=representation
        )
        assert body(resp, 201) == [{"id": 7}]
        change = {"name": "John", "referee": None}
        resp = await client.patch(
            "/ns_organizations?id=eq.3&select=*", json=change, headers=representation
        )
        assert body(resp) == [{"id": 3, "name": "John", "auditor": 2, "manager_id": 3}]
        resp = await client.patch(
            "/ns_organizations?id=eq.3&select=id,name,referee,auditor",
            json=change,
            headers=representation,
        )
        assert body(resp) == [{"id": 3, "name": "John", "auditor": 2}]


async def test_singular_strip_on_a_table(client: httpx.AsyncClient) -> None:
    # "strips nulls when Accept: application/vnd.pgrst.object+json;nulls=stripped", with and
    # without the null columns selected; application/vnd.pgrst.object is the same type.
    resp = await client.get("/ns_organizations?limit=1&order=id", headers=accept(SINGULAR_STRIP))
    assert body(resp) == {"id": 1, "name": "Referee Org", "manager_id": 1}
    for media in (SINGULAR_STRIP, "application/vnd.pgrst.object;nulls=stripped"):
        resp = await client.get(
            "/ns_organizations?select=id,referee,auditor&limit=1&order=id", headers=accept(media)
        )
        assert body(resp) == {"id": 1}


async def test_singular_strip_needs_one_row(client: httpx.AsyncClient) -> None:
    # "throws error when Accept: application/vnd.pgrst.object+json;nulls=stripped and result not
    # singular": the error is JSON.
    resp = await client.get("/ns_organizations?select=*", headers=accept(SINGULAR_STRIP))
    assert error(resp) == (
        406,
        {
            "code": "PGRST116",
            "details": "The result contains 6 rows",
            "hint": None,
            "message": "Cannot coerce the result to a single JSON object",
        },
    )
    resp = await client.get("/rpc/ns_organizations_all?id=gt.6", headers=accept(SINGULAR_STRIP))
    assert error(resp)[1]["details"] == "The result contains 0 rows"


async def test_array_strip_of_explicitly_selected_columns(client: httpx.AsyncClient) -> None:
    # "strip nulls from response even if explicitly selected" (GET).
    resp = await client.get(
        "/ns_organizations?select=id,referee,auditor&order=id", headers=accept(ARRAY_STRIP)
    )
    assert body(resp) == SELECTED_STRIPPED


async def test_no_strip_without_the_parameter(client: httpx.AsyncClient) -> None:
    # "doesn't strips nulls when Accept: application/vnd.pgrst.array+json"; nor does
    # nulls=stripped on a type other than the vendor ones.
    url = "/ns_organizations?select=id,referee,auditor&id=lt.3&order=id"
    plain = [
        {"id": 1, "referee": None, "auditor": None},
        {"id": 2, "referee": None, "auditor": None},
    ]
    for media in (
        "application/vnd.pgrst.array+json",
        "application/vnd.pgrst.array",
        "application/json;nulls=stripped",
        "application/vnd.pgrst.array+json;nulls=kept",
    ):
        resp = await client.get(url, headers=accept(media))
        assert (body(resp), resp.headers["content-type"]) == (plain, JSON_CT)
    resp = await client.get(url, headers=accept("text/csv;nulls=stripped"))
    assert (resp.status_code, resp.text) == (200, "id,referee,auditor\n1,,\n2,,")
    assert resp.headers["content-type"] == "text/csv; charset=utf-8"


async def test_accept_parameters_as_postgrest_reads_them(client: httpx.AsyncClient) -> None:
    # Spaces are dropped and q is not a parameter, as PostgREST reads Accept.
    url = "/ns_organizations?select=id,referee&id=lt.3&order=id"
    for media in (
        "application/vnd.pgrst.array+json; nulls=stripped",
        "application/vnd.pgrst.array+json;nulls=stripped;q=0.5",
        "text/html;q=0.1, application/vnd.pgrst.array+json;nulls=stripped",
    ):
        assert body(await client.get(url, headers=accept(media))) == [{"id": 1}, {"id": 2}]


async def test_other_parameters_cancel_the_strip(client: httpx.AsyncClient) -> None:
    # PostgREST decodes a vendor array type as stripping only when its parameters are exactly
    # nulls=stripped; with another one it is plain JSON.
    url = "/ns_organizations?select=id,referee&id=lt.3&order=id"
    resp = await client.get(url, headers=accept(ARRAY_STRIP + ";x=y"))
    assert body(resp) == [{"id": 1, "referee": None}, {"id": 2, "referee": None}]
    assert resp.headers["content-type"] == JSON_CT


async def test_content_types_of_stripped_responses(
    client: httpx.AsyncClient, app_factory: Any
) -> None:
    # matchCTArrayStrip and matchCTSingularStrip, on every response above that strips.
    for url, media, expected in [
        ("/ns_organizations?select=*", ARRAY_STRIP, ARRAY_STRIP_CT),
        (
            "/ns_organizations?select=*",
            "application/vnd.pgrst.array;nulls=stripped",
            ARRAY_STRIP_CT,
        ),
        ("/ns_organizations?limit=1", SINGULAR_STRIP, SINGULAR_STRIP_CT),
        (
            "/ns_organizations?limit=1",
            "application/vnd.pgrst.object;nulls=stripped",
            SINGULAR_STRIP_CT,
        ),
        ("/rpc/ns_organizations_all", ARRAY_STRIP, ARRAY_STRIP_CT),
        ("/rpc/ns_organization?id=1", ARRAY_STRIP, ARRAY_STRIP_CT),
        ("/rpc/ns_organization?id=1", SINGULAR_STRIP, SINGULAR_STRIP_CT),
        ("/rpc/ns_null_int", ARRAY_STRIP, ARRAY_STRIP_CT),
    ]:
        resp = await client.get(url, headers=accept(media))
        assert (resp.status_code, resp.headers["content-type"]) == (200, expected), url
    async with app_factory(db_tx_end="rollback") as (_, writer):
        resp = await writer.post(
            "/ns_organizations",
            json={"id": 7, "name": "John", "referee": None, "auditor": None, "manager_id": 6},
            headers={"Accept": ARRAY_STRIP, "Prefer": "return=representation"},
        )
        assert (resp.status_code, resp.headers["content-type"]) == (201, ARRAY_STRIP_CT)
        resp = await writer.patch(
            "/ns_organizations?id=eq.3",
            json={"referee": None},
            headers={"Accept": SINGULAR_STRIP, "Prefer": "return=representation"},
        )
        assert (resp.status_code, resp.headers["content-type"]) == (200, SINGULAR_STRIP_CT)


# -- functions and embeds -----------------------------------------------------------------------
async def test_strip_on_function_results(client: httpx.AsyncClient) -> None:
    resp = await client.get(
        "/rpc/ns_organizations_all?select=id,referee&id=lt.3", headers=accept(ARRAY_STRIP)
    )
    assert body(resp) == [{"id": 1}, {"id": 2}]
    resp = await client.post(
        "/rpc/ns_organizations_all?select=id,referee,auditor", headers=accept(ARRAY_STRIP)
    )
    assert body(resp) == SELECTED_STRIPPED
    # A single composite result is one object under either type; a NULL one is all nulls.
    referee = {"id": 1, "name": "Referee Org", "manager_id": 1}
    for media in (ARRAY_STRIP, SINGULAR_STRIP):
        assert body(await client.get("/rpc/ns_organization?id=1", headers=accept(media))) == referee
        assert body(await client.get("/rpc/ns_organization?id=99", headers=accept(media))) == {}
    # Scalars: a NULL stays null, and so do nulls inside arrays.
    for media in (ARRAY_STRIP, SINGULAR_STRIP):
        resp = await client.get("/rpc/ns_null_int", headers=accept(media))
        assert (resp.status_code, resp.text) == (200, "null")
    assert body(await client.get("/rpc/ns_ints", headers=accept(ARRAY_STRIP))) == [1, None, 3]


async def test_strip_inside_a_json_result(client: httpx.AsyncClient) -> None:
    # json_strip_nulls takes the whole body: a json value's null members go, at every depth.
    resp = await client.get("/rpc/ns_document", headers=accept(ARRAY_STRIP))
    assert (resp.status_code, resp.text) == (200, '{"b":{"d":[1,null]}}')
    resp = await client.get("/rpc/ns_document", headers=accept(SINGULAR_STRIP))
    assert (resp.status_code, resp.text) == (200, '{"b":{"d":[1,null]}}')


async def test_strip_inside_embeds(client: httpx.AsyncClient) -> None:
    url = "/ns_organizations?select=id,ref:referee(id,referee),aud:auditor(id,auditor)&id=eq.3"
    assert body(await client.get(url, headers=accept(ARRAY_STRIP))) == [
        {"id": 3, "ref": {"id": 1}, "aud": {"id": 2}}
    ]
    url = "/ns_organizations?select=id,ns_organizations!referee(id,auditor)&id=eq.1"
    assert body(await client.get(url, headers=accept(SINGULAR_STRIP))) == {
        "id": 1,
        "ns_organizations": [{"id": 3, "auditor": 2}, {"id": 4, "auditor": 2}],
    }
