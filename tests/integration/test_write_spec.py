"""Writes checked against PostgREST's own spec: test/spec/Feature/Query/InsertSpec.hs,
UpdateSpec.hs, DeleteSpec.hs and UpsertSpec.hs, translated onto the ``ws_*`` tables of
tests/fixtures/schema.sql (the spec's tables, renamed; only this file writes to them).

PostgREST runs each spec request in a transaction it rolls back; the session app here
commits, so each test uses its own rows, or orders its requests so that each sees the state
the spec expects. Every test asserts PostgREST's answer.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.integration.test_write import JSON, error, rows

SINGULAR = "application/vnd.pgrst.object+json; charset=utf-8"
CSV = "text/csv; charset=utf-8"
REP = {"Prefer": "return=representation"}


def pairs(text: str) -> Any:
    """JSON with every object as its list of (key, value) pairs: duplicate keys stay."""
    return json.loads(text, object_pairs_hook=list)


def empty_created(resp: httpx.Response, status: int = 201) -> None:
    assert (resp.status_code, resp.content) == (status, b""), resp.text
    assert "content-type" not in resp.headers
    assert resp.headers["content-length"] == "0"


# -- InsertSpec ---------------------------------------------------------------------------------
MENAGERIE = {
    "double": 3.14159,
    "varchar": "testing!",
    "boolean": False,
    "date": "1900-01-01",
    "money": "$3.99",
    "enum": "foo",
}


async def test_insert_disparate_json_types(client: httpx.AsyncClient) -> None:
    # InsertSpec "Posting new record" / "disparate json types".
    resp = await client.post("/ws_menagerie", json={"integer": 13, **MENAGERIE})
    empty_created(resp)
    resp = await client.post(
        "/ws_menagerie?select=integer,varchar", json=[{"integer": 14, **MENAGERIE}], headers=REP
    )
    assert resp.status_code == 201
    assert resp.headers["content-type"] == JSON
    assert resp.headers["preference-applied"] == "return=representation"
    assert resp.headers["content-length"] == "37"
    assert resp.json() == [{"integer": 14, "varchar": "testing!"}]
    # select is ignored without a representation.
    resp = await client.post(
        "/ws_menagerie?select=integer,varchar", json=[{"integer": 15, **MENAGERIE}]
    )
    empty_created(resp)
    resp = await client.post(
        "/ws_menagerie?select=integer,varchar",
        json=[{"integer": 16, **MENAGERIE}],
        headers={"Prefer": "return=minimal"},
    )
    empty_created(resp)
    assert resp.headers["preference-applied"] == "return=minimal"
    # The same from an html form.
    resp = await client.post(
        "/ws_menagerie",
        content=b"integer=7&double=2.71828&varchar=forms+are+fun&"
        b"boolean=false&date=1900-01-01&money=$3.99&enum=foo",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    empty_created(resp)
    assert await rows(client, "/ws_menagerie?integer=eq.7&select=varchar,boolean,enum") == [
        {"varchar": "forms are fun", "boolean": False, "enum": "foo"}
    ]


async def test_insert_rejects_non_uniform_arrays(client: httpx.AsyncClient) -> None:
    keys_differ = (
        400,
        {
            "code": "PGRST102",
            "details": None,
            "hint": None,
            "message": "All object keys must match",
        },
    )
    resp = await client.post(
        "/ws_articles",
        json=[{"id": 100, "body": "xxxxx"}, 123, "xxxx", {"id": 111, "body": "xxxx"}],
    )
    assert error(resp) == keys_differ
    assert resp.headers["content-type"] == JSON
    resp = await client.post(
        "/ws_articles",
        json=[{"id": 100, "body": "xxxxx"}, {"id": 111, "body": "xxxx", "owner": "me"}],
    )
    assert error(resp) == keys_differ
    assert await rows(client, "/ws_articles?id=in.(100,111)") == []


async def test_insert_full_representation(client: httpx.AsyncClient) -> None:
    # Two Prefer headers combine.
    resp = await client.post(
        "/ws_projects?select=id,name,ws_clients(id,name)",
        json={"id": 6, "name": "New Project", "client_id": 2},
        headers=[("Prefer", "return=representation"), ("Prefer", "count=exact")],
    )
    assert resp.status_code == 201
    assert resp.headers["content-type"] == JSON
    assert "location" not in resp.headers
    assert resp.headers["content-range"] == "*/1"
    assert resp.headers["preference-applied"] == "return=representation, count=exact"
    assert resp.json() == [
        {"id": 6, "name": "New Project", "ws_clients": {"id": 2, "name": "Apple"}}
    ]
    resp = await client.post(
        "/ws_projects?select=pId:id::text,pName:name,cId:client_id::text",
        json={"id": 7, "name": "New Project", "client_id": 2},
        headers=REP,
    )
    assert resp.status_code == 201
    assert resp.headers["content-range"] == "*/*"
    assert resp.headers["preference-applied"] == "return=representation"
    assert "location" not in resp.headers
    assert resp.json() == [{"pId": "7", "pName": "New Project", "cId": "2"}]
    resp = await client.post(
        "/ws_projects?select=name,client_id",
        json={"id": 10, "name": "New Project", "client_id": 2},
        headers=REP,
    )
    assert (resp.status_code, resp.json()) == (201, [{"name": "New Project", "client_id": 2}])
    assert "location" not in resp.headers


async def test_insert_headers_only_location(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/ws_projects?select=name,client_id",
        json={"id": 11, "name": "New Project", "client_id": 2},
        headers={"Prefer": "return=headers-only"},
    )
    empty_created(resp)
    assert resp.headers["location"] == "/ws_projects?id=eq.11"
    assert resp.headers["content-range"] == "*/*"
    assert resp.headers["preference-applied"] == "return=headers-only"
    # No representation asked for: no Location.
    resp = await client.post(
        "/ws_projects?select=name,client_id",
        json={"id": 12, "name": "New Project", "client_id": 2},
    )
    empty_created(resp)
    assert "location" not in resp.headers
    # A partitioned table's key.
    resp = await client.post(
        "/ws_car_models",
        json={"name": "Enzo", "year": 2021},
        headers={"Prefer": "return=headers-only"},
    )
    empty_created(resp)
    assert resp.headers["location"] == "/ws_car_models?name=eq.Enzo&year=eq.2021"
    assert resp.headers["content-range"] == "*/*"
    assert resp.headers["preference-applied"] == "return=headers-only"
    # A key the sequence chose.
    resp = await client.post(
        "/ws_auto_pk",
        json={"non_nullable_string": "not null"},
        headers={"Prefer": "return=headers-only"},
    )
    empty_created(resp)
    assert resp.headers["location"] == "/ws_auto_pk?id=eq.1"
    assert resp.headers["preference-applied"] == "return=headers-only"


async def test_insert_without_key(client: httpx.AsyncClient) -> None:
    resp = await client.post("/ws_simple_pk", json={"extra": "foo"})
    assert error(resp) == (
        400,
        {
            "code": "23502",
            "details": "Failing row contains (null, foo).",
            "hint": None,
            "message": 'null value in column "k" of relation "ws_simple_pk" violates not-null '
            "constraint",
        },
    )
    assert resp.headers["content-type"] == JSON
    # Into a table with no primary key.
    resp = await client.post("/ws_no_pk", json={"a": "foo", "b": "bar"})
    empty_created(resp)
    assert "location" not in resp.headers
    resp = await client.post("/ws_no_pk", json={"a": "bar", "b": "baz"}, headers=REP)
    assert (resp.status_code, resp.json()) == (201, [{"a": "bar", "b": "baz"}])
    assert "location" not in resp.headers
    assert resp.headers["preference-applied"] == "return=representation"
    resp = await client.post("/ws_no_pk", json=[], headers=REP)
    assert (resp.status_code, resp.json()) == (201, [])
    resp = await client.post("/ws_no_pk", json={"a": None, "b": "foo"}, headers=REP)
    assert (resp.status_code, resp.json()) == (201, [{"a": None, "b": "foo"}])
    assert "location" not in resp.headers


async def test_insert_compound_key(client: httpx.AsyncClient) -> None:
    resp = await client.post("/ws_compound_pk", json={"k1": 12, "k2": "Rock & R+ll"}, headers=REP)
    assert (resp.status_code, resp.json()) == (
        201,
        [{"k1": 12, "k2": "Rock & R+ll", "extra": None}],
    )
    assert "location" not in resp.headers
    resp = await client.post(
        "/ws_compound_pk", json=[{"k1": 21, "k2": "hello world"}, {"k1": 22, "k2": "bye for now"}]
    )
    empty_created(resp)
    assert "location" not in resp.headers


async def test_invalid_and_missing_payloads(client: httpx.AsyncClient) -> None:
    invalid = (
        400,
        {"code": "PGRST102", "details": None, "hint": None, "message": "Empty or invalid json"},
    )
    resp = await client.post("/ws_simple_pk", content=b"}{ x = 2")
    assert error(resp) == invalid
    assert resp.headers["content-type"] == JSON
    assert resp.headers["content-length"] == "80"
    # UpdateSpec: the same for PATCH.
    assert error(await client.patch("/ws_simple_pk", content=b"}{ x = 2")) == invalid
    assert error(await client.patch("/ws_items", content=b"")) == invalid
    resp = await client.post("/ws_simple_pk", json={"k": "k1", "extra": "e1"})
    empty_created(resp)


async def test_insert_json_values_and_whitespace(client: httpx.AsyncClient) -> None:
    resp = await client.post("/ws_json_table", json={"data": {"foo": "bar"}}, headers=REP)
    assert (resp.status_code, resp.json()) == (201, [{"data": {"foo": "bar"}}])
    resp = await client.post("/ws_json_table", json={"data": [1, 2, 3]}, headers=REP)
    assert (resp.status_code, resp.json()) == (201, [{"data": [1, 2, 3]}])
    headers = {**REP, "Content-Type": "application/json"}
    resp = await client.post(
        "/ws_json_table",
        content=b'\t \n \r { "data": { "foo":"bar" } }\t \n \r ',
        headers=headers,
    )
    assert (resp.status_code, resp.json()) == (201, [{"data": {"foo": "bar"}}])
    resp = await client.post(
        "/ws_json_table",
        content=b'\t \n \r [{ "data": { "foo":"bar" } }, \t \n \r {"data": 34}]\t \n \r ',
        headers=headers,
    )
    assert (resp.status_code, resp.json()) == (201, [{"data": {"foo": "bar"}}, {"data": 34}])


async def test_insert_empty_objects(client: httpx.AsyncClient) -> None:
    empty_created(await client.post("/ws_items", json={}))
    resp = await client.post(
        "/ws_items", content=b"[{}]", headers={"Content-Type": "application/json"}
    )
    assert (resp.status_code, resp.content) == (201, b"")
    empty_created(await client.post("/ws_items", json=[{}, {}]))
    assert await rows(client, "/ws_items?id=gte.100&order=id") == [
        {"id": 100},
        {"id": 101},
        {"id": 102},
        {"id": 103},
    ]
    resp = await client.post("/ws_items2", json={}, headers=REP)
    assert (resp.status_code, resp.json()) == (201, [{"id": 20}])
    resp = await client.post("/ws_items2?select=id", json={}, headers=REP)
    assert (resp.status_code, resp.json()) == (201, [{"id": 21}])


async def test_insert_bit_and_char_with_length(client: httpx.AsyncClient) -> None:
    # https://github.com/PostgREST/postgrest/issues/2861
    resp = await client.post("/ws_bitchar?select=bit", json={"bit": "10101"}, headers=REP)
    assert (resp.status_code, resp.json()) == (201, [{"bit": "10101"}])
    resp = await client.post("/ws_bitchar?select=char", json={"char": "abcde"}, headers=REP)
    assert (resp.status_code, resp.json()) == (201, [{"char": "abcde"}])


async def test_insert_columns_parameter(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/ws_articles?columns=id,body",
        json={"id": 200, "body": "xxx", "smth": "here", "other": "stuff", "fake_id": 13},
        headers=REP,
    )
    assert (resp.status_code, resp.json()) == (
        201,
        [{"id": 200, "body": "xxx", "owner": "web_anon"}],
    )
    resp = await client.post(
        "/ws_articles?columns=id,body&select=id,body",
        json=[
            {"id": 201, "body": "yyy", "smth": "here", "other": "stuff", "fake_id": 13},
            {"id": 202, "body": "zzz", "garbage": "%%$&", "kkk": "jjj"},
            {"id": 203, "body": "aaa", "hey": "ho"},
        ],
        headers=REP,
    )
    assert (resp.status_code, resp.json()) == (
        201,
        [{"id": 201, "body": "yyy"}, {"id": 202, "body": "zzz"}, {"id": 203, "body": "aaa"}],
    )
    # Array elements that are not objects.
    resp = await client.post(
        "/ws_articles?columns=id,body",
        json=[{"id": 204, "body": "yyy"}, 333, "asdf", {"id": 205, "body": "zzz"}],
    )
    assert resp.status_code == 400
    assert await rows(client, "/ws_articles?id=in.(204,205)") == []


async def test_blank_columns_parameter(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/ws_articles?columns=", json=[{"id": 206, "body": "yyy"}, {"id": 207, "body": "zzz"}]
    )
    assert error(resp) == (
        400,
        {
            "code": "PGRST100",
            "details": "unexpected end of input expecting field name (* or [a..z0..9_$])",
            "hint": None,
            "message": '"failed to parse columns parameter ()" (line 1, column 1)',
        },
    )


async def test_missing_table_wins_over_bad_columns(client: httpx.AsyncClient) -> None:
    missing = (
        404,
        {
            "code": "PGRST205",
            "details": None,
            "hint": None,
            "message": "Could not find the table 'api.garlic' in the schema cache",
        },
    )
    body = [{"id": 204, "body": "yyy"}, {"id": 205, "body": "zzz"}]
    assert error(await client.post("/garlic?columns=helicopter", json=body)) == missing
    resp = await client.patch("/garlic?columns=helicopter", json=body, headers=REP)
    assert error(resp) == missing


async def test_missing_default(client: httpx.AsyncClient) -> None:
    prefer = [("Prefer", "return=representation"), ("Prefer", "missing=default")]
    applied = "missing=default, return=representation"
    resp = await client.post(
        "/ws_complex_items?columns=id,name,field-with_sep,arr_data",
        json=[
            {"id": 4, "name": "Vier"},
            {"id": 5, "name": "Funf", "arr_data": None},
            {"id": 6, "name": "Sechs", "field-with_sep": 6, "arr_data": "{1,2,3}"},
        ],
        headers=prefer,
    )
    assert resp.status_code == 201, resp.text
    assert resp.headers["preference-applied"] == applied
    assert resp.json() == [
        {"id": 4, "name": "Vier", "settings": None, "arr_data": None, "field-with_sep": 1},
        {"id": 5, "name": "Funf", "settings": None, "arr_data": None, "field-with_sep": 1},
        {"id": 6, "name": "Sechs", "settings": None, "arr_data": [1, 2, 3], "field-with_sep": 6},
    ]
    # A generated column has no default to write.
    resp = await client.post(
        "/ws_generated?columns=a,b", json=[{"a": "val"}, {"a": "val", "b": "val"}], headers=prefer
    )
    assert error(resp) == (
        400,
        {
            "code": "428C9",
            "details": 'Column "b" is a generated column.',
            "hint": None,
            "message": 'cannot insert a non-DEFAULT value into column "b"',
        },
    )
    # A column's own default wins over its domain's.
    resp = await client.post(
        "/ws_evil_friends_with_column_default?columns=id,name",
        json={"name": "Demon"},
        headers=prefer,
    )
    assert (resp.status_code, resp.json()) == (201, [{"id": 420, "name": "Demon"}])
    assert resp.headers["preference-applied"] == applied


async def test_missing_default_of_a_view_column(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/ws_complex_items_view?columns=id,name",
        json=[{"id": 7, "name": "Sieben"}, {"id": 8}],
        headers=[("Prefer", "return=representation"), ("Prefer", "missing=default")],
    )
    assert resp.status_code == 201, resp.text
    assert resp.headers["preference-applied"] == "missing=default, return=representation"
    assert resp.json() == [
        {"id": 7, "name": "Sieben", "settings": None, "arr_data": None, "field-with_sep": 1},
        {"id": 8, "name": "Default", "settings": None, "arr_data": None, "field-with_sep": 1},
    ]


async def test_missing_default_of_a_domain(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/ws_evil_friends?columns=id,name",
        json={"name": "Lu"},
        headers=[("Prefer", "return=representation"), ("Prefer", "missing=default")],
    )
    assert (resp.status_code, resp.json()) == (201, [{"id": 666, "name": "Lu"}])
    assert resp.headers["preference-applied"] == "missing=default, return=representation"


async def test_missing_default_reads_the_body_as_jsonb(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/ws_tbl_w_json?columns=id,data",
        content=b'{ "data": { "a": 1, "a": 2 }, "id": 3 }',
        headers={
            "Content-Type": "application/json",
            "Prefer": "return=representation, missing=default",
        },
    )
    assert resp.status_code == 201, resp.text
    assert resp.headers["preference-applied"] == "missing=default, return=representation"
    assert pairs(resp.text) == [[("id", 3), ("data", [("a", 2)])]]


async def test_json_duplicate_keys_are_kept(client: httpx.AsyncClient) -> None:
    for url in ("/ws_tbl_w_json", "/ws_tbl_w_json?columns=id,data"):
        resp = await client.post(
            url,
            content=b'{ "data": { "a": 1, "a": 2 }, "id": 4 }',
            headers={"Content-Type": "application/json", **REP},
        )
        assert resp.status_code == 201, resp.text
        assert pairs(resp.text) == [[("id", 4), ("data", [("a", 1), ("a", 2)])]]


async def test_insert_unicode(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/ws_simple_pk?select=extra,k", json={"k": "棋圍", "extra": "￥"}, headers=REP
    )
    assert (resp.status_code, resp.json()) == (201, [{"extra": "￥", "k": "棋圍"}])
    resp = await client.post(
        "/ws_simple_pk?select=extra,k",
        json={"k": "圍棋", "extra": "￥"},
        headers={"Prefer": "return=headers-only"},
    )
    assert (resp.status_code, resp.content) == (201, b"")
    location = resp.headers["location"]
    assert location == "/ws_simple_pk?k=eq.%E5%9C%8D%E6%A3%8B"
    assert await rows(client, location) == [{"k": "圍棋", "extra": "￥"}]
    resp = await client.delete(location)
    assert (resp.status_code, resp.content) == (204, b"")
    assert "content-type" not in resp.headers
    assert await rows(client, location) == []


async def test_csv_insert(client: httpx.AsyncClient) -> None:
    headers = {"Content-Type": "text/csv", "Accept": "text/csv", **REP}
    resp = await client.post("/ws_no_pk", content=b"a,b\nbar,baz", headers=headers)
    assert (resp.status_code, resp.headers["content-type"], resp.text) == (
        201,
        CSV,
        "a,b\nbar,baz",
    )
    resp = await client.post("/ws_no_pk", content=b"a,b\nNULL,foo", headers=headers)
    assert (resp.status_code, resp.headers["content-type"], resp.text) == (201, CSV, "a,b\n,foo")
    resp = await client.post(
        "/ws_projects?select=id",
        content=b"id,name,client_id\n8,Xenix,1\n9,Windows NT,1",
        headers=headers,
    )
    assert (resp.status_code, resp.headers["content-type"], resp.text) == (201, CSV, "id\n8\n9")
    assert resp.headers["content-range"] == "*/*"
    resp = await client.post(
        "/ws_no_pk", content=b"a,b\nfoo,bar\nbaz", headers={"Content-Type": "text/csv"}
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
    assert resp.headers["content-type"] == JSON


async def test_insert_sets_owner_from_the_jwt(client: httpx.AsyncClient, token: Any) -> None:
    # InsertSpec "Row level permission": a trigger reads the claims.
    resp = await client.post(
        "/ws_authors_only",
        json={"secret": "nyancat"},
        headers={"Authorization": f"Bearer {token({'role': 'web_user', 'id': 'jdoe'})}", **REP},
    )
    assert (resp.status_code, resp.json()) == (201, [{"owner": "jdoe", "secret": "nyancat"}])
    resp = await client.post(
        "/ws_authors_only",
        json={"secret": "lolcat", "owner": "hacker"},
        headers={"Authorization": f"Bearer {token({'role': 'web_user', 'id': 'jroe'})}", **REP},
    )
    assert (resp.status_code, resp.json()) == (201, [{"owner": "jroe", "secret": "lolcat"}])


async def test_insert_embeds_a_self_referenced_parent(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/ws_web_content?select=id,name,parent_content:p_web_id(name)",
        json={"id": 6, "name": "wot", "p_web_id": 4},
        headers=REP,
    )
    assert (resp.status_code, resp.json()) == (
        201,
        [{"id": 6, "name": "wot", "parent_content": {"name": "wut"}}],
    )
    assert resp.headers["content-type"] == JSON
    assert "location" not in resp.headers


async def test_insert_with_limited_privileges(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/ws_limited_stars?select=article_id,user_id",
        json={"article_id": 2, "user_id": 1},
        headers=REP,
    )
    assert (resp.status_code, resp.json()) == (201, [{"article_id": 2, "user_id": 1}])
    denied = (
        401,
        {
            "code": "42501",
            "details": None,
            "hint": None,
            "message": "permission denied for table ws_limited_stars",
        },
    )
    resp = await client.post(
        "/ws_limited_stars?select=article_id,user_id,created_at",
        json={"article_id": 2, "user_id": 2},
        headers=REP,
    )
    assert error(resp) == denied
    resp = await client.post("/ws_limited_stars", json={"article_id": 3, "user_id": 1}, headers=REP)
    assert error(resp) == denied
    # No SELECT at all: return=minimal still inserts.
    resp = await client.post(
        "/ws_insertonly", json={"v": "some value"}, headers={"Prefer": "return=minimal"}
    )
    empty_created(resp)
    assert resp.headers["preference-applied"] == "return=minimal"


async def test_insert_into_views(client: httpx.AsyncClient) -> None:
    resp = await client.post("/ws_compound_pk_view", json={"k1": 1, "k2": "test", "extra": 2})
    empty_created(resp)
    assert "location" not in resp.headers
    resp = await client.post(
        "/ws_compound_pk_view",
        json={"k1": 2, "k2": "test", "extra": 2},
        headers={"Prefer": "return=headers-only"},
    )
    empty_created(resp)
    assert resp.headers["location"] == "/ws_compound_pk_view?k1=eq.2&k2=eq.test"
    assert resp.headers["content-range"] == "*/*"
    assert resp.headers["preference-applied"] == "return=headers-only"


async def test_insert_into_a_view_keyed_by_two_tables(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/ws_with_multiple_pks",
        json={"pk1": 1, "pk2": 2},
        headers={"Prefer": "return=headers-only"},
    )
    empty_created(resp)
    assert resp.headers["location"] == "/ws_with_multiple_pks?pk1=eq.1&pk2=eq.2"
    assert resp.headers["content-range"] == "*/*"
    assert resp.headers["preference-applied"] == "return=headers-only"


async def test_insert_into_a_view_with_a_null_key_part(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/ws_null_pk_competitors", json={"id": 1}, headers={"Prefer": "return=headers-only"}
    )
    empty_created(resp)
    assert resp.headers["location"] == "/ws_null_pk_competitors?id=eq.1&sponsor_id=is.null"
    assert resp.headers["content-range"] == "*/*"
    assert resp.headers["preference-applied"] == "return=headers-only"


async def test_insert_domain_representations(client: httpx.AsyncClient) -> None:
    todo = {"name": "party", "label_color": "#001100", "due_at": "2018-01-03T11:00:00+00"}
    resp = await client.post(
        "/ws_datarep_todos", json={"id": 5, **todo}, headers={"Prefer": "return=headers-only"}
    )
    empty_created(resp)
    assert resp.headers["location"] == "/ws_datarep_todos?id=eq.5"
    resp = await client.post(
        "/ws_datarep_todos?select=id,label_color", json={"id": 6, **todo}, headers=REP
    )
    assert (resp.status_code, resp.json()) == (201, [{"id": 6, "label_color": "#001100"}])
    assert resp.headers["content-range"] == "*/*"
    # ?columns: the other keys are not parsed at all.
    resp = await client.post(
        "/ws_datarep_todos?columns=id,label_color&select=id,name,label_color",
        json={**todo, "id": 7, "due_at": "invalid but should be ignored"},
        headers=REP,
    )
    assert (resp.status_code, resp.json()) == (
        201,
        [{"id": 7, "name": None, "label_color": "#001100"}],
    )


# -- UpdateSpec ---------------------------------------------------------------------------------
async def test_patch_unknown_and_empty_tables(client: httpx.AsyncClient) -> None:
    resp = await client.patch("/ws_tiobe_pl", json={"real": False})
    assert error(resp) == (
        404,
        {
            "code": "PGRST205",
            "details": None,
            "hint": "Perhaps you meant the table 'api.ws_tiobe_pls'",
            "message": "Could not find the table 'api.ws_tiobe_pl' in the schema cache",
        },
    )
    resp = await client.patch("/ws_empty_table", json={"extra": 20})
    assert (resp.status_code, resp.content) == (204, b"")
    assert "content-type" not in resp.headers


async def test_patch_items(client: httpx.AsyncClient) -> None:
    resp = await client.patch(
        "/ws_items?id=eq.2",
        content=b'\t \n \r { "id": 2 } \t \n \r ',
        headers={"Content-Type": "application/json", **REP},
    )
    assert (resp.status_code, resp.json()) == (200, [{"id": 2}])
    resp = await client.patch("/ws_items?id=eq.2", json={"id": 2}, headers=REP)
    assert (resp.status_code, resp.json()) == (200, [{"id": 2}])
    assert resp.headers["content-range"] == "0-0/*"
    assert resp.headers["preference-applied"] == "return=representation"
    resp = await client.patch("/ws_items?id=eq.999999", json={"id": 999999}, headers=REP)
    assert (resp.status_code, resp.text) == (200, "[]")
    assert resp.headers["preference-applied"] == "return=representation"
    resp = await client.patch("/ws_items?id=eq.99999999", json={"id": 42})
    assert resp.status_code == 204
    # select is ignored without a representation.
    for _ in range(2):
        resp = await client.patch(
            "/ws_items?id=eq.1&select=id", json={"id": 1}, headers={"Prefer": "return=minimal"}
        )
        assert (resp.status_code, resp.content) == (204, b"")
        assert "content-type" not in resp.headers
        assert resp.headers["content-range"] == "0-0/*"
        assert resp.headers["preference-applied"] == "return=minimal"


async def test_patch_filtered_by_computed_columns(client: httpx.AsyncClient) -> None:
    resp = await client.patch("/ws_items?is_first=eq.true", json={"id": 1}, headers=REP)
    assert (resp.status_code, resp.json()) == (200, [{"id": 1}])
    assert resp.headers["content-type"] == JSON
    assert resp.headers["content-range"] == "0-0/*"
    assert resp.headers["preference-applied"] == "return=representation"
    resp = await client.patch("/ws_items?always_true=eq.false", json={"id": 1}, headers=REP)
    assert (resp.status_code, resp.text) == (200, "[]")
    assert resp.headers["preference-applied"] == "return=representation"


async def test_patch_returns_computed_columns(client: httpx.AsyncClient) -> None:
    resp = await client.patch(
        "/ws_items?id=eq.1&select=id,always_true", json={"id": 1}, headers=REP
    )
    assert (resp.status_code, resp.json()) == (200, [{"id": 1, "always_true": True}])


async def test_patch_returns_overloaded_computed_columns(client: httpx.AsyncClient) -> None:
    for table in ("ws_items", "ws_items2"):
        resp = await client.patch(
            f"/{table}?id=eq.1&select=id,computed_overload", json={"id": 1}, headers=REP
        )
        assert (resp.status_code, resp.json()) == (200, [{"id": 1, "computed_overload": True}])
        assert resp.headers["preference-applied"] == "return=representation"


async def test_patch_with_an_empty_body(client: httpx.AsyncClient) -> None:
    for url in ("/ws_items", "/ws_items?select=id"):
        for body in (b"{}", b"[]", b"[{}]"):
            resp = await client.patch(
                url, content=body, headers={"Content-Type": "application/json"}
            )
            assert (resp.status_code, resp.content) == (204, b""), (url, body)
            assert "content-type" not in resp.headers
            assert resp.headers["content-range"] == "*/*"
    for url in ("/ws_items", "/ws_items?select=id"):
        resp = await client.patch(url, json={}, headers=REP)
        assert (resp.status_code, resp.text) == (200, "[]"), url
        assert resp.headers["content-range"] == "*/*"
        assert resp.headers["preference-applied"] == "return=representation"


async def test_patch_with_an_empty_body_selecting_an_overloaded_column(
    client: httpx.AsyncClient,
) -> None:
    resp = await client.patch("/ws_items?select=id,computed_overload", json={}, headers=REP)
    assert (resp.status_code, resp.text) == (200, "[]")
    assert resp.headers["content-range"] == "*/*"
    assert resp.headers["preference-applied"] == "return=representation"


async def test_patch_rows_without_a_key(app_factory: Any) -> None:
    async with app_factory(db_tx_end="commit-allow-override") as (_, client):
        assert await rows(client, "/ws_no_pk?select=a&b=eq.1") == []
        resp = await client.patch(
            "/ws_no_pk?b=eq.0", json={"b": "1"}, headers={"Prefer": "tx=commit"}
        )
        assert (resp.status_code, resp.content) == (204, b"")
        assert "content-type" not in resp.headers
        assert resp.headers["content-range"] == "0-1/*"
        assert resp.headers["preference-applied"] == "tx=commit"
        assert await rows(client, "/ws_no_pk?select=a&b=eq.1&order=a") == [{"a": "1"}, {"a": "2"}]
        resp = await client.patch(
            "/ws_no_pk?b=eq.1", json={"b": "0"}, headers={"Prefer": "tx=commit"}
        )
        assert resp.status_code == 204
        resp = await client.patch("/ws_no_pk?a=eq.1", json={"b": None}, headers=REP)
        assert (resp.status_code, resp.json()) == (200, [{"a": "1", "b": None}])
        resp = await client.patch("/ws_no_pk?a=eq.1", json={"a": "圍棋", "b": "￥"}, headers=REP)
        assert (resp.status_code, resp.json()) == (200, [{"a": "圍棋", "b": "￥"}])


async def test_patch_ordered_representation(client: httpx.AsyncClient) -> None:
    # UpdateSpec "with ordering on top-level resource": DESC puts NULLs first.
    resp = await client.patch("/ws_no_pk_ordered?order=a.desc", json={"b": "1"}, headers=REP)
    assert (resp.status_code, resp.json()) == (
        200,
        [{"a": None, "b": "1"}, {"a": "2", "b": "1"}, {"a": "1", "b": "1"}],
    )
    assert resp.headers["content-type"] == JSON
    assert resp.headers["preference-applied"] == "return=representation"


async def test_patch_columns_parameter(client: httpx.AsyncClient) -> None:
    body = {"body": "Some real content", "smth": "here", "other": "stuff", "fake_id": 13}
    resp = await client.patch("/ws_articles?id=eq.1&columns=body", json=body, headers=REP)
    assert (resp.status_code, resp.json()) == (
        200,
        [{"id": 1, "body": "Some real content", "owner": "web_anon"}],
    )
    resp = await client.patch("/ws_articles?id=eq.2001&columns=body", json=body, headers=REP)
    assert (resp.status_code, resp.json()) == (200, [])
    resp = await client.patch(
        "/ws_articles?id=eq.1&columns=helicopter", json={"body": "yyy"}, headers=REP
    )
    assert error(resp) == (
        400,
        {
            "code": "PGRST204",
            "details": None,
            "hint": None,
            "message": "Could not find the 'helicopter' column of 'ws_articles' in the schema "
            "cache",
        },
    )


async def test_patch_missing_default(client: httpx.AsyncClient) -> None:
    prefer = [("Prefer", "return=representation"), ("Prefer", "missing=default")]
    settings = {"foo": {"int": 1, "bar": "baz"}}
    resp = await client.patch(
        "/ws_complex_items?id=eq.3&columns=name,field-with_sep",
        json={"name": "Tres"},
        headers=prefer,
    )
    assert (resp.status_code, resp.json()) == (
        200,
        [
            {
                "id": 3,
                "name": "Tres",
                "settings": settings,
                "arr_data": [1, 2, 3],
                "field-with_sep": 1,
            }
        ],
    )
    assert resp.headers["preference-applied"] == "missing=default, return=representation"


async def test_patch_missing_default_of_a_view_column(client: httpx.AsyncClient) -> None:
    resp = await client.patch(
        "/ws_complex_items_view?id=eq.30&columns=arr_data,name",
        json={"arr_data": None},
        headers=[("Prefer", "return=representation"), ("Prefer", "missing=default")],
    )
    assert (resp.status_code, resp.json()) == (
        200,
        [
            {
                "id": 30,
                "name": "Default",
                "settings": {"foo": {"int": 1, "bar": "baz"}},
                "arr_data": None,
                "field-with_sep": 3,
            }
        ],
    )
    assert resp.headers["preference-applied"] == "missing=default, return=representation"


async def test_patch_bit_and_char_with_length(client: httpx.AsyncClient) -> None:
    resp = await client.patch(
        "/ws_bitchar?select=bit,char&char=eq.aaaaa", json={"bit": "11100"}, headers=REP
    )
    assert (resp.status_code, resp.json()) == (200, [{"bit": "11100", "char": "aaaaa"}])
    assert resp.headers["preference-applied"] == "return=representation"
    resp = await client.patch(
        "/ws_bitchar?select=bit,char&bit=eq.00000", json={"char": "zzzyy"}, headers=REP
    )
    assert (resp.status_code, resp.json()) == (200, [{"bit": "00000", "char": "zzzyy"}])


async def test_patch_embeds_self_references(client: httpx.AsyncClient) -> None:
    children = [{"name": "fezz"}, {"name": "foo"}, {"name": "bar"}]
    resp = await client.patch(
        "/ws_web_content?id=eq.0&select=id,name,ws_web_content(name)",
        json={"name": "tardis-patched"},
        headers=REP,
    )
    assert (resp.status_code, resp.json()) == (
        200,
        [{"id": 0, "name": "tardis-patched", "ws_web_content": children}],
    )
    assert resp.headers["content-type"] == JSON
    assert resp.headers["preference-applied"] == "return=representation"
    resp = await client.patch(
        "/ws_web_content?id=eq.0&select=id,name,ws_web_content(name)&ws_web_content.name=like.f*",
        json={"name": "tardis-patched"},
        headers=REP,
    )
    assert resp.json() == [{"id": 0, "name": "tardis-patched", "ws_web_content": children[:2]}]
    select = "id,name,ws_web_content(name,ws_web_content(name)),parent_content:p_web_id(name)"
    resp = await client.patch(
        f"/ws_web_content?id=eq.0&select={select}", json={"name": "tardis-patched-2"}, headers=REP
    )
    assert resp.json() == [
        {
            "id": 0,
            "name": "tardis-patched-2",
            "ws_web_content": [
                {"name": "fezz", "ws_web_content": [{"name": "wut"}]},
                {"name": "foo", "ws_web_content": []},
                {"name": "bar", "ws_web_content": []},
            ],
            "parent_content": {"name": "wat"},
        }
    ]
    resp = await client.patch(
        f"/ws_web_content?id=eq.0&select={select}&ws_web_content.name=like.f*"
        "&ws_web_content.ws_web_content.id=eq.4&parent_content.name=neq.wat",
        json={"name": "tardis-patched-2"},
        headers=REP,
    )
    assert resp.json() == [
        {
            "id": 0,
            "name": "tardis-patched-2",
            "ws_web_content": [
                {"name": "fezz", "ws_web_content": [{"name": "wut"}]},
                {"name": "foo", "ws_web_content": []},
            ],
            "parent_content": None,
        }
    ]
    # The key is not selected: the embeds still join on it.
    resp = await client.patch(
        "/ws_web_content?id=eq.0&select=name,ws_web_content(name)",
        json={"name": "tardis-patched"},
        headers=REP,
    )
    assert resp.json() == [{"name": "tardis-patched", "ws_web_content": children}]
    resp = await client.patch(
        "/ws_web_content?id=eq.0&select=name,ws_web_content(name)&ws_web_content.name=like.b*",
        json={"name": "tardis-patched"},
        headers=REP,
    )
    assert resp.json() == [{"name": "tardis-patched", "ws_web_content": [{"name": "bar"}]}]


async def test_patch_embeds_many_to_many_and_parent(client: httpx.AsyncClient) -> None:
    resp = await client.patch(
        "/ws_users?id=eq.1&select=name,ws_tasks(name,project:ws_projects(name))",
        json={"name": "Kevin Malone"},
        headers=REP,
    )
    assert (resp.status_code, resp.json()) == (
        200,
        [
            {
                "name": "Kevin Malone",
                "ws_tasks": [
                    {"name": "Design w7", "project": {"name": "Windows 7"}},
                    {"name": "Code w7", "project": {"name": "Windows 7"}},
                    {"name": "Design w10", "project": {"name": "Windows 10"}},
                    {"name": "Code w10", "project": {"name": "Windows 10"}},
                ],
            }
        ],
    )
    resp = await client.patch(
        "/ws_users?id=eq.1&select=name,ws_tasks(name,project:ws_projects(name))"
        "&ws_tasks.name=ilike.code*&ws_tasks.project.name=like.*10",
        json={"name": "Kevin Malone"},
        headers=REP,
    )
    assert resp.json() == [
        {
            "name": "Kevin Malone",
            "ws_tasks": [
                {"name": "Code w7", "project": None},
                {"name": "Code w10", "project": {"name": "Windows 10"}},
            ],
        }
    ]


async def test_patch_embeds_one_to_one(client: httpx.AsyncClient) -> None:
    resp = await client.patch(
        "/ws_students_info?id=eq.1&select=address,ws_students(name)",
        json={"address": "New Street 1"},
        headers=REP,
    )
    assert (resp.status_code, resp.json()) == (
        200,
        [{"address": "New Street 1", "ws_students": {"name": "John Doe"}}],
    )
    resp = await client.patch(
        "/ws_students?id=eq.1&select=name,ws_students_info(address)",
        json={"name": "Johnny Doe"},
        headers=REP,
    )
    assert (resp.status_code, resp.json()) == (
        200,
        [{"name": "Johnny Doe", "ws_students_info": {"address": "New Street 1"}}],
    )
    resp = await client.patch(
        "/ws_students?id=eq.1&select=name,ws_students_info(address)"
        "&ws_students_info.code=like.0002",
        json={"name": "Johnny Doe"},
        headers=REP,
    )
    assert resp.json() == [{"name": "Johnny Doe", "ws_students_info": None}]


async def test_patch_with_limited_privileges(client: httpx.AsyncClient) -> None:
    resp = await client.patch(
        "/ws_app_users?id=eq.1", json={"password": "passxyz"}, headers={"Prefer": "return=minimal"}
    )
    assert (resp.status_code, resp.content) == (204, b"")
    assert "content-type" not in resp.headers
    assert resp.headers["preference-applied"] == "return=minimal"
    resp = await client.patch("/ws_app_users?id=eq.1", json={"password": "passabc"})
    assert (resp.status_code, resp.content) == (204, b"")


async def test_patch_domain_representations(client: httpx.AsyncClient) -> None:
    resp = await client.patch(
        "/ws_datarep_todos?id=eq.2",
        json={"label_color": "#221100"},
        headers={"Prefer": "return=headers-only"},
    )
    assert (resp.status_code, resp.content) == (204, b"")
    assert resp.headers["content-range"] == "0-0/*"
    resp = await client.patch(
        "/ws_datarep_todos?id=eq.2&select=id,label_color",
        json={"label_color": "#221100"},
        headers=REP,
    )
    assert (resp.status_code, resp.json()) == (200, [{"id": 2, "label_color": "#221100"}])
    assert resp.headers["content-range"] == "0-0/*"
    resp = await client.patch(
        "/ws_datarep_todos?id=lt.4&select=id,name,label_color&order=id",
        json={"label_color": "#221100"},
        headers=REP,
    )
    assert (resp.status_code, resp.json()) == (
        200,
        [
            {"id": 1, "name": "Report", "label_color": "#221100"},
            {"id": 2, "name": "Essay", "label_color": "#221100"},
            {"id": 3, "name": "Algebra", "label_color": "#221100"},
        ],
    )
    assert resp.headers["content-range"] == "0-2/*"


# -- DeleteSpec ---------------------------------------------------------------------------------
async def test_delete_shapes_the_representation(client: httpx.AsyncClient) -> None:
    resp = await client.delete("/ws_items?id=eq.3&select=id", headers={"Prefer": "return=minimal"})
    assert (resp.status_code, resp.content) == (204, b"")
    assert "content-type" not in resp.headers
    assert resp.headers["content-range"] == "*/*"
    assert resp.headers["preference-applied"] == "return=minimal"
    resp = await client.delete("/ws_complex_items?id=eq.20&select=id,name", headers=REP)
    assert (resp.status_code, resp.json()) == (200, [{"id": 20, "name": "Two"}])
    assert resp.headers["content-range"] == "*/*"
    resp = await client.delete(
        "/ws_complex_items?id=eq.21&select=ciId:id::text,ciName:name", headers=REP
    )
    assert (resp.status_code, resp.json()) == (200, [{"ciId": "21", "ciName": "Three"}])
    resp = await client.delete(
        "/ws_tasks?id=eq.8&select=id,name,project:ws_projects(id)", headers=REP
    )
    assert (resp.status_code, resp.json()) == (
        200,
        [{"id": 8, "name": "Code OSX", "project": {"id": 4}}],
    )
    assert resp.headers["content-range"] == "*/*"


async def test_delete_embeds_one_to_one(client: httpx.AsyncClient) -> None:
    resp = await client.delete(
        "/ws_students?id=eq.2&select=name,ws_students_info(address)", headers=REP
    )
    assert (resp.status_code, resp.json()) == (
        200,
        [{"name": "Jane Doe", "ws_students_info": {"address": "Street 2"}}],
    )
    assert resp.headers["content-type"] == JSON
    resp = await client.delete(
        "/ws_students_info?id=eq.3&select=address,ws_students(name)", headers=REP
    )
    assert (resp.status_code, resp.json()) == (
        200,
        [{"address": "Street 3", "ws_students": {"name": "Jim Doe"}}],
    )


async def test_delete_unknown_table(client: httpx.AsyncClient) -> None:
    resp = await client.delete("/ws_tiobe_pl?id=eq.101")
    assert error(resp) == (
        404,
        {
            "code": "PGRST205",
            "details": None,
            "hint": "Perhaps you meant the table 'api.ws_tiobe_pls'",
            "message": "Could not find the table 'api.ws_tiobe_pl' in the schema cache",
        },
    )


async def test_delete_with_limited_privileges(client: httpx.AsyncClient) -> None:
    resp = await client.delete("/ws_app_users?id=eq.2", headers=REP)
    assert resp.status_code == 401
    # A body on a DELETE is ignored.
    resp = await client.request(
        "DELETE",
        "/ws_app_users?id=eq.2&select=id,email",
        json={"password": "passxyz"},
        headers=REP,
    )
    assert (resp.status_code, resp.json()) == (200, [{"id": 2, "email": "abc@123.com"}])
    assert resp.headers["content-range"] == "*/*"
    resp = await client.delete("/ws_app_users?id=eq.3", headers={"Prefer": "return=minimal"})
    assert (resp.status_code, resp.content) == (204, b"")
    assert "content-type" not in resp.headers
    assert resp.headers["preference-applied"] == "return=minimal"
    resp = await client.delete("/ws_app_users?id=eq.4")
    assert (resp.status_code, resp.content) == (204, b"")
    assert await rows(client, "/ws_app_users?select=id&order=id") == [{"id": 1}]


async def test_delete_ordered_with_embeds(client: httpx.AsyncClient) -> None:
    resp = await client.delete(
        "/ws_artists?id=in.(11,12)&select=id,name,ws_albums(title)&order=id.desc", headers=REP
    )
    assert (resp.status_code, resp.json()) == (
        200,
        [
            {
                "id": 12,
                "name": "black country, new road",
                "ws_albums": [{"title": "ants from up above"}],
            },
            {
                "id": 11,
                "name": "duster",
                "ws_albums": [{"title": "stratosphere"}, {"title": "contemporary movement"}],
            },
        ],
    )
    assert resp.headers["content-type"] == JSON
    assert resp.headers["preference-applied"] == "return=representation"


async def test_delete_body_lengths(client: httpx.AsyncClient) -> None:
    resp = await client.delete(
        "/ws_compound_pk?k1=eq.31&select=k1", headers=[*REP.items(), ("Prefer", "count=exact")]
    )
    assert (resp.status_code, resp.content) == (200, b'[{"k1":31}]')
    assert resp.headers["content-length"] == "11"
    assert resp.headers["content-range"] == "*/1"
    assert resp.headers["preference-applied"] == "return=representation, count=exact"


async def test_no_content_length_on_204(client: httpx.AsyncClient) -> None:
    # DeleteSpec "succeeds with 204 and deletion count", UpdateSpec "can update a single item".
    resp = await client.delete("/ws_compound_pk?k1=eq.32")
    assert (resp.status_code, resp.headers["content-range"]) == (204, "*/*")
    assert "content-length" not in resp.headers
    resp = await client.patch("/ws_empty_table", json={"extra": 20})
    assert resp.status_code == 204
    assert "content-length" not in resp.headers


# -- UpsertSpec ---------------------------------------------------------------------------------
MERGE = [("Prefer", "return=representation"), ("Prefer", "resolution=merge-duplicates")]
IGNORE = [("Prefer", "return=representation"), ("Prefer", "resolution=ignore-duplicates")]
MERGED = "resolution=merge-duplicates, return=representation"
IGNORED = "resolution=ignore-duplicates, return=representation"


async def test_upsert_merge_on_primary_keys(client: httpx.AsyncClient) -> None:
    body = [
        {"name": "Javascript", "rank": 6},
        {"name": "Java", "rank": 2},
        {"name": "C", "rank": 1},
    ]
    resp = await client.post("/ws_tiobe_pls", json=body, headers=MERGE)
    assert (resp.status_code, resp.json()) == (201, body)
    assert resp.headers["preference-applied"] == MERGED
    assert resp.headers["content-type"] == JSON
    body = [{"name": "Python", "rank": 6}, {"name": "Java", "rank": 2}, {"name": "C", "rank": 1}]
    resp = await client.post("/ws_tiobe_pls", json=body, headers=MERGE)
    assert (resp.status_code, resp.json()) == (200, body)
    assert resp.headers["preference-applied"] == MERGED
    # A composite key.
    resp = await client.post(
        "/ws_employees",
        json=[
            {"first_name": "Frances M.", "last_name": "Roe", "salary": "30000"},
            {"first_name": "Peter S.", "last_name": "Yang", "salary": 42000},
        ],
        headers=MERGE,
    )
    assert (resp.status_code, resp.json()) == (
        201,
        [
            {
                "first_name": "Frances M.",
                "last_name": "Roe",
                "salary": "$30,000.00",
                "company": "One-Up Realty",
                "occupation": "Author",
            },
            {
                "first_name": "Peter S.",
                "last_name": "Yang",
                "salary": "$42,000.00",
                "company": None,
                "occupation": None,
            },
        ],
    )
    assert resp.headers["preference-applied"] == MERGED
    # A partitioned table's composite key.
    body = [
        {"name": "Murcielago", "year": 2001, "car_brand_name": None},
        {"name": "Roma", "year": 2021, "car_brand_name": "Ferrari"},
    ]
    resp = await client.post("/ws_car_models", json=body, headers=MERGE)
    assert (resp.status_code, resp.json()) == (201, body)
    assert resp.headers["preference-applied"] == MERGED
    # Only key columns.
    body = [{"id": 1}, {"id": 2}, {"id": 4}]
    resp = await client.post("/ws_only_pk", json=body, headers=MERGE)
    assert (resp.status_code, resp.json()) == (201, body)
    assert resp.headers["preference-applied"] == MERGED


async def test_upsert_merge_of_nothing_is_a_200(client: httpx.AsyncClient) -> None:
    resp = await client.post("/ws_tiobe_pls", json=[], headers=MERGE)
    assert (resp.status_code, resp.json()) == (200, [])
    assert resp.headers["content-type"] == JSON


async def test_upsert_merge_on_unique_keys(client: httpx.AsyncClient) -> None:
    body = [{"key1": 1, "key2": 1, "value": "B"}, {"key1": 1, "key2": 2, "value": "C"}]
    resp = await client.post("/ws_compound_unique?on_conflict=key1,key2", json=body, headers=MERGE)
    assert (resp.status_code, resp.json()) == (201, body)
    assert resp.headers["preference-applied"] == MERGED


async def test_upsert_with_surrogate_keys_and_missing_default(client: httpx.AsyncClient) -> None:
    for table, extra in (
        ("ws_surr_serial", "existing value"),
        ("ws_surr_identity", "existing value"),
        ("ws_Surr_Gen_Default", "existing value cs"),
    ):
        resp = await client.post(
            f"/{table}?columns=id,name&select=name,extra",
            json=[{"id": 1, "name": "updated value"}, {"name": "new value"}],
            headers=[*MERGE, ("Prefer", "missing=default")],
        )
        assert (resp.status_code, resp.json()) == (
            201,
            [
                {"name": "updated value", "extra": extra},
                {"name": "new value", "extra": None},
            ],
        ), table
        assert (
            resp.headers["preference-applied"]
            == "resolution=merge-duplicates, missing=default, return=representation"
        )
        resp = await client.post(
            f"/{table}?columns=id,name&select=name,extra",
            json=[{"id": 1, "name": "ignored value"}, {"name": "another value"}],
            headers=[*IGNORE, ("Prefer", "missing=default")],
        )
        assert (resp.status_code, resp.json()) == (
            201,
            [{"name": "another value", "extra": None}],
        ), table
        assert (
            resp.headers["preference-applied"]
            == "resolution=ignore-duplicates, missing=default, return=representation"
        )


async def test_upsert_without_a_key_is_an_insert(client: httpx.AsyncClient) -> None:
    resp = await client.post("/ws_no_pk", json=[{"a": "u1", "b": "u0"}], headers=MERGE)
    assert (resp.status_code, resp.json()) == (201, [{"a": "u1", "b": "u0"}])
    assert resp.headers["content-type"] == JSON
    assert resp.headers["preference-applied"] == "return=representation"


async def test_upsert_ignore_duplicates(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/ws_tiobe_pls",
        json=[{"name": "PHP", "rank": 9}, {"name": "Python", "rank": 10}],
        headers=IGNORE,
    )
    assert (resp.status_code, resp.json()) == (201, [{"name": "PHP", "rank": 9}])
    assert resp.headers["preference-applied"] == IGNORED
    resp = await client.post(
        "/ws_employees",
        json=[
            {
                "first_name": "Daniel B.",
                "last_name": "Lyon",
                "salary": "72000",
                "company": None,
                "occupation": None,
            },
            {
                "first_name": "Sara M.",
                "last_name": "Torpey",
                "salary": 60000,
                "company": "Burstein-Applebee",
                "occupation": "Soil scientist",
            },
        ],
        headers=IGNORE,
    )
    assert (resp.status_code, resp.json()) == (
        201,
        [
            {
                "first_name": "Sara M.",
                "last_name": "Torpey",
                "salary": "$60,000.00",
                "company": "Burstein-Applebee",
                "occupation": "Soil scientist",
            }
        ],
    )
    resp = await client.post(
        "/ws_car_models",
        json=[
            {"name": "Murcielago", "year": 2001, "car_brand_name": "Ferrari"},
            {"name": "Huracán", "year": 2021, "car_brand_name": "Lamborghini"},
        ],
        headers=IGNORE,
    )
    assert (resp.status_code, resp.json()) == (
        201,
        [{"name": "Huracán", "year": 2021, "car_brand_name": "Lamborghini"}],
    )
    resp = await client.post(
        "/ws_single_unique?on_conflict=unique_key",
        json=[
            {"unique_key": 1, "value": "B"},
            {"unique_key": 2, "value": "C"},
            {"unique_key": 3, "value": "D"},
        ],
        headers=IGNORE,
    )
    assert (resp.status_code, resp.json()) == (
        201,
        [{"unique_key": 2, "value": "C"}, {"unique_key": 3, "value": "D"}],
    )
    assert resp.headers["preference-applied"] == IGNORED
    resp = await client.post(
        "/ws_compound_unique?on_conflict=key1,key2",
        json=[
            {"key1": 2, "key2": 1, "value": "B"},
            {"key1": 2, "key2": 2, "value": "C"},
            {"key1": 2, "key2": 3, "value": "D"},
        ],
        headers=IGNORE,
    )
    assert (resp.status_code, resp.json()) == (
        201,
        [{"key1": 2, "key2": 2, "value": "C"}, {"key1": 2, "key2": 3, "value": "D"}],
    )
    resp = await client.post("/ws_only_pk", json=[{"id": 1}, {"id": 2}, {"id": 3}], headers=IGNORE)
    assert (resp.status_code, resp.json()) == (201, [{"id": 3}])
    assert resp.headers["preference-applied"] == IGNORED
    # Nothing created is still a 201.
    for body in (
        [{"name": "Java", "rank": 1}],
        [{"name": "Java", "rank": 1}, {"name": "C", "rank": 2}],
    ):
        resp = await client.post("/ws_tiobe_pls", json=body, headers=IGNORE)
        assert (resp.status_code, resp.json()) == (201, [])
        assert resp.headers["content-type"] == JSON


async def test_put_restrictions(client: httpx.AsyncClient) -> None:
    resp = await client.put(
        "/ws_tiobe_pls?name=eq.Javascript&offset=1", json=[{"name": "Javascript", "rank": 1}]
    )
    assert error(resp) == (
        400,
        {
            "code": "PGRST114",
            "details": None,
            "hint": None,
            "message": "limit/offset querystring parameters are not allowed for PUT",
        },
    )
    assert resp.headers["content-type"] == JSON
    not_pk = (
        405,
        {
            "code": "PGRST105",
            "details": None,
            "hint": None,
            "message": "Filters must include all and only primary key columns with 'eq' operators",
        },
    )
    go = [{"name": "Go", "rank": 19}]
    for url in (
        "/ws_tiobe_pls?rank=eq.19",
        "/ws_tiobe_pls?id=not.eq.Java",
        "/ws_tiobe_pls?id=in.(Go)",
        "/ws_tiobe_pls?and=(id.eq.Go)",
    ):
        assert error(await client.put(url, json=go)) == not_pk, url
    susan = [
        {
            "first_name": "Susan",
            "last_name": "Heidt",
            "salary": "48000",
            "company": "GEX",
            "occupation": "Railroad engineer",
        }
    ]
    for url in ("/ws_employees?first_name=eq.Susan", "/ws_employees?last_name=eq.Heidt"):
        assert error(await client.put(url, json=susan)) == not_pk, url
    mismatch = (
        400,
        {
            "code": "PGRST115",
            "details": None,
            "hint": None,
            "message": "Payload values do not match URL in primary key column(s)",
        },
    )
    resp = await client.put("/ws_tiobe_pls?name=eq.MATLAB", json=[{"name": "Perl", "rank": 17}])
    assert error(resp) == mismatch
    resp = await client.put("/ws_employees?first_name=eq.Wendy&last_name=eq.Anderson", json=susan)
    assert error(resp) == mismatch
    assert await rows(client, "/ws_tiobe_pls?name=in.(Perl,MATLAB)") == []


async def test_put_inserts(client: httpx.AsyncClient) -> None:
    assert await rows(client, "/ws_tiobe_pls?name=eq.Go") == []
    resp = await client.put(
        "/ws_tiobe_pls?name=eq.Go", json=[{"name": "Go", "rank": 19}], headers=REP
    )
    assert (resp.status_code, resp.json()) == (201, [{"name": "Go", "rank": 19}])
    resp = await client.put(
        "/ws_employees?first_name=eq.Susan&last_name=eq.Heidt",
        json=[
            {
                "first_name": "Susan",
                "last_name": "Heidt",
                "salary": "48000",
                "company": "GEX",
                "occupation": "Railroad engineer",
            }
        ],
        headers=REP,
    )
    assert (resp.status_code, resp.json()) == (
        201,
        [
            {
                "first_name": "Susan",
                "last_name": "Heidt",
                "salary": "$48,000.00",
                "company": "GEX",
                "occupation": "Railroad engineer",
            }
        ],
    )
    resp = await client.put(
        "/ws_car_models?name=eq.Supra&year=eq.2021",
        json=[{"name": "Supra", "year": 2021}],
        headers=REP,
    )
    assert (resp.status_code, resp.json()) == (
        201,
        [{"name": "Supra", "year": 2021, "car_brand_name": None}],
    )
    resp = await client.put("/ws_only_pk?id=eq.10", json=[{"id": 10}], headers=REP)
    assert (resp.status_code, resp.json()) == (201, [{"id": 10}])
    resp = await client.put(
        "/ws_tiobe_pls?name=eq.Ruby",
        json=[{"name": "Ruby", "rank": 11}],
        headers={**REP, "Accept": "application/vnd.pgrst.object+json"},
    )
    assert (resp.status_code, resp.json()) == (201, {"name": "Ruby", "rank": 11})
    assert resp.headers["content-type"] == SINGULAR


async def test_put_updates(client: httpx.AsyncClient) -> None:
    resp = await client.put(
        "/ws_tiobe_pls?name=eq.Java", json=[{"name": "Java", "rank": 13}], headers=REP
    )
    assert (resp.status_code, resp.json()) == (200, [{"name": "Java", "rank": 13}])
    # Only the first object is put.
    resp = await client.put(
        "/ws_tiobe_pls?name=eq.Java",
        json=[{"name": "Java", "rank": 19}, {"name": "Swift", "rank": 12}],
        headers={**REP, "Accept": "application/vnd.pgrst.object+json"},
    )
    assert (resp.status_code, resp.json()) == (200, {"name": "Java", "rank": 19})
    assert resp.headers["content-type"] == SINGULAR
    assert await rows(client, "/ws_tiobe_pls?name=eq.Swift") == []
    resp = await client.put(
        "/ws_employees?first_name=eq.Frances M.&last_name=eq.Roe",
        json=[
            {
                "first_name": "Frances M.",
                "last_name": "Roe",
                "salary": "60000",
                "company": "Gamma Gas",
                "occupation": "Railroad engineer",
            }
        ],
        headers=REP,
    )
    assert (resp.status_code, resp.json()) == (
        200,
        [
            {
                "first_name": "Frances M.",
                "last_name": "Roe",
                "salary": "$60,000.00",
                "company": "Gamma Gas",
                "occupation": "Railroad engineer",
            }
        ],
    )
    body = [{"name": "DeLorean", "year": 1981, "car_brand_name": None}]
    resp = await client.put("/ws_car_models?name=eq.DeLorean&year=eq.1981", json=body, headers=REP)
    assert (resp.status_code, resp.json()) == (200, body)
    resp = await client.put("/ws_only_pk?id=eq.1", json=[{"id": 1}], headers=REP)
    assert (resp.status_code, resp.json()) == (200, [{"id": 1}])
    # The Range header does not apply.
    resp = await client.put(
        "/ws_tiobe_pls?name=eq.Java",
        json=[{"name": "Java", "rank": 5}],
        headers={**REP, "Range": "1-1"},
    )
    assert (resp.status_code, resp.json()) == (200, [{"name": "Java", "rank": 5}])


async def test_upsert_camel_case_key(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/ws_UnitTest",
        json=[
            {"idUnitTest": 1, "nameUnitTest": "name of unittest 1"},
            {"idUnitTest": 2, "nameUnitTest": "name of unittest 2"},
        ],
        headers=MERGE,
    )
    assert (resp.status_code, resp.json()) == (
        201,
        [
            {"idUnitTest": 1, "nameUnitTest": "name of unittest 1"},
            {"idUnitTest": 2, "nameUnitTest": "name of unittest 2"},
        ],
    )
    assert resp.headers["preference-applied"] == MERGED
    resp = await client.post(
        "/ws_UnitTest",
        json=[
            {"idUnitTest": 1, "nameUnitTest": "name of unittest 1"},
            {"idUnitTest": 3, "nameUnitTest": "name of unittest 3"},
        ],
        headers=IGNORE,
    )
    assert (resp.status_code, resp.json()) == (
        201,
        [{"idUnitTest": 3, "nameUnitTest": "name of unittest 3"}],
    )
    assert resp.headers["preference-applied"] == IGNORED
    resp = await client.put(
        "/ws_UnitTest?idUnitTest=eq.1", json=[{"idUnitTest": 1, "nameUnitTest": "unit test 1"}]
    )
    assert (resp.status_code, resp.content) == (204, b"")
    assert "content-type" not in resp.headers
    assert await rows(client, "/ws_UnitTest?idUnitTest=eq.1") == [
        {"idUnitTest": 1, "nameUnitTest": "unit test 1"}
    ]
    resp = await client.put(
        "/ws_UnitTest?idUnitTest=eq.1",
        json=[{"idUnitTest": 1, "nameUnitTest": "unit test 1"}],
        headers={"Prefer": "return=minimal"},
    )
    assert (resp.status_code, resp.content) == (204, b"")
    assert resp.headers["preference-applied"] == "return=minimal"


async def test_upsert_ordered_with_embeds(client: httpx.AsyncClient) -> None:
    # UpsertSpec "with ordering".
    resp = await client.put(
        "/ws_web_content?id=eq.0&select=id,name,ws_web_content(name)&ws_web_content.order=name.asc",
        json={"id": 0, "name": "tardis-upserted", "p_web_id": 5},
        headers=REP,
    )
    assert (resp.status_code, resp.json()) == (
        200,
        [
            {
                "id": 0,
                "name": "tardis-upserted",
                "ws_web_content": [{"name": "bar"}, {"name": "fezz"}, {"name": "foo"}],
            }
        ],
    )
    assert resp.headers["content-type"] == JSON
    assert resp.headers["preference-applied"] == "return=representation"
    resp = await client.post(
        "/ws_artists?select=id,name,ws_albums(title)&order=id.desc",
        json=[{"id": 1, "name": "duster-updated"}, {"id": 2, "name": "bcnr-updated"}],
        headers=MERGE,
    )
    assert (resp.status_code, resp.json()) == (
        200,
        [
            {"id": 2, "name": "bcnr-updated", "ws_albums": [{"title": "ants from up above"}]},
            {
                "id": 1,
                "name": "duster-updated",
                "ws_albums": [{"title": "stratosphere"}, {"title": "contemporary movement"}],
            },
        ],
    )
    assert resp.headers["content-type"] == JSON
