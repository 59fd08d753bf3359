"""Fuzzing writes and calls against real PostgreSQL: whatever the body, Content-Type, query
string and Prefer header, the answer is never a 500, an error is PostgREST's JSON shape, and
nothing is kept (the app rolls every transaction back, as ``db-tx-end=rollback``).

Most requests are valid ones built from the fixture schema's real tables, columns, foreign keys
and functions (tests/strategies.py), so that they get through to PostgreSQL; the rest are
arbitrary. The app's executor counts the statements it runs, and each test fails if the share
of requests that reached PostgreSQL drops below ``MIN_DB_SHARE`` (``pytest -s`` prints it).

Hypothesis drives a synchronous test; requests run on one event loop kept for the module, with
one app (so the pool is opened once).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pgrest_asgi import PgRestApp
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import app_settings, client_for
from tests.strategies import (
    Api,
    Col,
    Fn,
    Rel,
    Req,
    Tbl,
    call_request,
    mix,
    read_params,
    write_request,
)
from tests.unit.test_grammar_properties import params
from tests.unit.test_write_properties import content_type, json_value, prefer

# tests/fixtures/schema.sql, as far as these requests use it. Keys are far from the rows other
# tests read (nothing is committed anyway).
FIXTURE_API = Api(
    tables={
        "w_authors": Tbl(
            "w_authors",
            (Col("id", "int"), Col("name", "text", required=True), Col("country", "text")),
            key=("id",),
            rels=(Rel("w_books", "w_books", to_one=False),),
            key_range=(5000, 5999),
        ),
        "w_books": Tbl(
            "w_books",
            (
                Col("id", "int"),
                Col("title", "text", required=True),
                Col("author_id", "int", values=(1, 2, None)),
                Col("pages", "int"),
                Col("tags", "text[]"),
                Col("meta", "jsonb"),
            ),
            key=("id",),
            rels=(Rel("w_authors", "w_authors", to_one=True),),
            key_range=(5000, 5999),
        ),
        "w_people": Tbl(
            "w_people",
            (Col("id", "int"), Col("email", "text", required=True), Col("name", "text")),
            key=("id",),
            key_range=(5000, 5999),
        ),
        "films": Tbl(
            "films",
            (
                Col("id", "int"),
                Col("title", "text"),
                Col("year", "int"),
                Col("director_id", "int"),
                Col("producer_id", "int"),
            ),
            key=("id",),
            rels=(Rel("roles", "roles", to_one=False), Rel("posters", "posters", to_one=True)),
        ),
        "roles": Tbl(
            "roles",
            (Col("film_id", "int"), Col("actor_id", "int"), Col("character", "text")),
            rels=(Rel("actors", "actors", to_one=True),),
        ),
        "actors": Tbl("actors", (Col("id", "int"), Col("name", "text"))),
        "posters": Tbl("posters", (Col("film_id", "int"), Col("url", "text"))),
    },
    functions=(
        Fn("add_them", (Col("a", "int"), Col("b", "int"))),
        Fn("sum_all", (Col("v", "int"),), variadic=True),
        Fn("echo_json", (), raw_json=True),
        Fn("films_since", (Col("since", "int"),), returns="films"),
        Fn("count_to", (Col("n", "int"),)),
        Fn("hello", (Col("name", "text"),)),
    ),
)
WRITABLE = ["w_authors", "w_books", "w_people"]

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
#: The PostgreSQL errors PostgREST itself answers with 500: 21000 (cardinality violation), e.g.
#: a merge upsert whose rows repeat a key ("ON CONFLICT DO UPDATE command cannot affect row a
#: second time").
SERVER_ERRORS = {"21000"}
#: The share of requests that must reach PostgreSQL (0.85 to 0.9 is measured).
MIN_DB_SHARE = 0.6


class Runner:
    def __init__(self, cluster: PostgresCluster) -> None:
        self.loop = asyncio.new_event_loop()
        self.app = PgRestApp(**app_settings(cluster, db_tx_end="rollback"))
        self.loop.run_until_complete(self.app.startup())
        self.client = client_for(self.app)
        #: Statements the app's executor ran (each one a trip to PostgreSQL).
        self.executed = 0
        execute = self.app.executor.execute

        async def counting(*args: Any, **kwargs: Any) -> Any:
            self.executed += 1
            return await execute(*args, **kwargs)

        self.app.executor.execute = counting  # type: ignore[method-assign]

    def request(self, method: str, url: str, **kwargs: Any) -> tuple[httpx.Response, bool]:
        """The response, and whether the request reached PostgreSQL."""
        before = self.executed
        resp = self.loop.run_until_complete(self.client.request(method, url, **kwargs))
        return resp, self.executed > before

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self.app.shutdown())
        self.loop.close()


@pytest.fixture(scope="module")
def runner(api_db: PostgresCluster) -> Iterator[Runner]:
    instance = Runner(api_db)
    yield instance
    instance.close()


def check(runner: Runner, outcomes: Counter[str], req: Req) -> None:
    """Send ``req``; never a 500, errors in PostgREST's shape; count where it ended."""
    resp, reached = runner.request(
        req.method, req.path, params=req.params, content=req.body, headers=req.headers
    )
    if resp.status_code >= 400:
        error = resp.json()
        assert set(error) == {"code", "details", "hint", "message"}, error
    if resp.status_code == 500:
        assert error["code"] in SERVER_ERRORS, error
    else:
        assert resp.status_code in ALLOWED, (resp.status_code, resp.text)
    validity = "valid" if req.valid else "invalid"
    outcome = f"{validity}: {'PostgreSQL' if reached else 'rejected'} ({resp.status_code})"
    event(outcome)
    outcomes[outcome] += 1


def report(name: str, outcomes: Counter[str]) -> None:
    total = sum(outcomes.values())
    reached = sum(n for k, n in outcomes.items() if ": PostgreSQL" in k)
    print(f"\n{name}: {reached}/{total} reached PostgreSQL; {sorted(outcomes.items())}")
    assert reached >= MIN_DB_SHARE * total, outcomes


@st.composite
def random_request(draw: st.DrawFn) -> Req:
    headers = {"Prefer": draw(prefer)}
    media = draw(content_type)
    if media is not None:
        headers["Content-Type"] = media
    method = draw(st.sampled_from(["POST", "PATCH", "PUT", "DELETE", "GET"]))
    path, _, query = draw(paths).partition("?")
    params_ = [tuple(query.split("=", 1))] if query else []
    return Req(method, path, params_, headers, draw(body), valid=False)  # type: ignore[arg-type]


requests = mix(
    (6, write_request(FIXTURE_API, WRITABLE)),
    (2, call_request(FIXTURE_API)),
    (2, random_request()),
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(req=requests)
def check_writes_and_calls(runner: Runner, outcomes: Counter[str], req: Req) -> None:
    check(runner, outcomes, req)


def test_no_write_or_call_is_a_server_error(runner: Runner) -> None:
    outcomes: Counter[str] = Counter()
    check_writes_and_calls(runner, outcomes)
    report("writes and calls", outcomes)


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


@st.composite
def write_with_a_query_string(draw: st.DrawFn) -> Req:
    """A valid write on w_books whose query string (select, embeds, filters, order) is valid
    too, or one with arbitrary extra parameters."""
    req = draw(write_request(FIXTURE_API, ["w_books"]))
    valid = draw(st.integers(0, 9)) < 8
    books = FIXTURE_API.tables["w_books"]
    if valid:
        extra = [
            (k, v)
            for k, v in draw(read_params(FIXTURE_API, books))
            if k not in ("limit", "offset")
            and not (req.method in ("POST", "PUT") and k != "select")
        ]
    else:
        extra = [*draw(READ_SHAPES), *draw(params)]
    req.params = [(k, v) for k, v in req.params if k != "select"] + extra
    accept = draw(st.sampled_from([None, None, "application/vnd.pgrst.object+json", "text/csv"]))
    if accept is not None:
        req.headers["Accept"] = accept
    req.valid = valid
    return req


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(req=write_with_a_query_string())
def check_write_query_strings(runner: Runner, outcomes: Counter[str], req: Req) -> None:
    check(runner, outcomes, req)


def test_no_write_query_string_is_a_server_error(runner: Runner) -> None:
    outcomes: Counter[str] = Counter()
    check_write_query_strings(runner, outcomes)
    report("writes with query strings", outcomes)
