"""Fuzzing writes and calls against real PostgreSQL: whatever the body, Content-Type, query
string and Prefer header, the answer is never a 500, an error is PostgREST's JSON shape, and
nothing is kept (the app rolls every transaction back, as ``db-tx-end=rollback``).

Hypothesis drives a synchronous test; requests run on one event loop kept for the test, with
one app (so the pool is opened once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgrest_asgi import PgRestApp
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import app_settings, client_for
from tests.unit.test_grammar_properties import params
from tests.unit.test_write_properties import content_type, json_value, prefer

KEYS = ["id", "title", "author_id", "pages", "tags", "meta", "email", "name", "a", "b", "v", "n"]
json_object = st.dictionaries(st.sampled_from(KEYS), json_value, max_size=4)
body = st.one_of(json_object, st.lists(json_object, max_size=3), json_value).map(
    msgspec.json.encode
) | st.sampled_from([b"", b"id,title\n1,x\n", b"title=x&pages=2", b"\xff\xfe", b"[[[[]]]]"])
paths = st.sampled_from(
    [
        "/w_books",
        "/w_books?id=eq.1",
        "/w_books?select=id,title,w_authors(name)",
        "/w_books?columns=id,title,tags",
        "/w_people?on_conflict=email",
        "/w_people?id=eq.5",
        "/rpc/add_them",
        "/rpc/sum_all",
        "/rpc/echo_json",
        "/rpc/films_since?select=title",
        "/rpc/count_to?n=eq.1",
    ]
)
ALLOWED = {200, 201, 204, 206, 300, 400, 401, 403, 404, 405, 406, 409, 413, 415, 416}


class Runner:
    def __init__(self, cluster: PostgresCluster) -> None:
        self.loop = asyncio.new_event_loop()
        self.app = PgRestApp(**app_settings(cluster, db_tx_end="rollback"))
        self.loop.run_until_complete(self.app.startup())
        self.client = client_for(self.app)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.request(method, url, **kwargs))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self.app.shutdown())
        self.loop.close()


@pytest.fixture(scope="module")
def runner(api_db: PostgresCluster) -> Iterator[Runner]:
    instance = Runner(api_db)
    yield instance
    instance.close()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=st.sampled_from(["POST", "PATCH", "PUT", "DELETE", "GET"]),
    path=paths,
    payload=body,
    media=content_type,
    prefer_header=prefer,
)
def test_no_write_or_call_is_a_server_error(
    runner: Runner,
    method: str,
    path: str,
    payload: bytes,
    media: str | None,
    prefer_header: str,
) -> None:
    headers = {"Prefer": prefer_header}
    if media is not None:
        headers["Content-Type"] = media
    resp = runner.request(method, path, content=payload, headers=headers)
    assert resp.status_code in ALLOWED, (resp.status_code, resp.text)
    if resp.status_code >= 400:
        error = resp.json()
        assert set(error) == {"code", "details", "hint", "message"}, error


READ_SHAPES = st.sampled_from(
    [
        [],
        [("select", "id,title,w_authors(name)")],
        [("select", "*,w_authors(*)"), ("order", "title.desc")],
        [("select", "title,author:w_authors!inner(name)"), ("w_authors.name", "like.*a*")],
        [("id", "gt.0"), ("or", "(pages.is.null,title.eq.x)")],
        [("select", "meta->a,tags->0"), ("order", "meta->>k")],
        [("select", "...w_authors(name)"), ("limit", "1")],
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=st.sampled_from(["POST", "PATCH", "PUT", "DELETE"]),
    shape=READ_SHAPES,
    extra=params,
    payload=body,
    prefer_header=prefer,
    accept=st.sampled_from([None, "application/vnd.pgrst.object+json", "text/csv"]),
)
def test_no_write_query_string_is_a_server_error(
    runner: Runner,
    method: str,
    shape: list[tuple[str, str]],
    extra: list[tuple[str, str]],
    payload: bytes,
    prefer_header: str,
    accept: str | None,
) -> None:
    headers = {"Prefer": prefer_header, "Content-Type": "application/json"}
    if accept is not None:
        headers["Accept"] = accept
    query = httpx.QueryParams([*shape, *extra])
    resp = runner.request(method, "/w_books", params=query, content=payload, headers=headers)
    assert resp.status_code in ALLOWED, (resp.status_code, resp.text)
    if resp.status_code >= 400:
        assert set(resp.json()) == {"code", "details", "hint", "message"}
