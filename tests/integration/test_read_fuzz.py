"""SEC-55: fuzzing reads against real PostgreSQL over ``httpx.ASGITransport``: whatever the
query string and the read headers, the answer is never a 500, an error is PostgREST's JSON
shape, and a HEAD has no body.

Most requests are valid reads built from the fixture schema's real tables, columns and
relationships (tests/strategies.py: selects with aliases, casts, JSON paths and embeds, typed
filters with every operator, logic trees, order, paging, embed modifiers), so that they get
through to PostgreSQL; the rest have one part garbled, or are made of the grammar's own
vocabulary and arbitrary text (tests/unit/test_grammar_properties.py, where the same requests
are checked without a database). The test fails if the share of requests that reached
PostgreSQL drops below ``MIN_DB_SHARE`` (``pytest -s`` prints it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pgrest_asgi.testing import PostgresCluster
from tests.integration.test_write_fuzz import FIXTURE_API, Runner
from tests.strategies import Api, Col, Params, Rel, Tbl, mix, read_params
from tests.unit.test_grammar_properties import headers, key, params, valid_headers, value

# tests/fixtures/schema.sql, as far as these reads use it: tables web_anon may read, with
# relationships that embed without ambiguity.
READ_API = Api(
    tables={
        "items": Tbl(
            "items", (Col("id", "int"), Col("name", "text"), Col("price", "numeric")), key=("id",)
        ),
        "things": Tbl(
            "things",
            (
                Col("id", "int"),
                Col("tags", "text[]"),
                Col("doc", "jsonb"),
                Col("tsv", "tsvector"),
                Col("body", "text"),
            ),
            key=("id",),
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
            rels=(
                Rel("roles", "roles", to_one=False),
                Rel("posters", "posters", to_one=True),
                Rel("actors", "actors", to_one=False),
            ),
        ),
        "roles": Tbl(
            "roles",
            (Col("film_id", "int"), Col("actor_id", "int"), Col("character", "text")),
            key=("film_id", "actor_id"),
            rels=(Rel("films", "films", to_one=True), Rel("actors", "actors", to_one=True)),
        ),
        "actors": Tbl(
            "actors",
            (Col("id", "int"), Col("name", "text")),
            key=("id",),
            rels=(Rel("roles", "roles", to_one=False), Rel("films", "films", to_one=False)),
        ),
        "posters": Tbl(
            "posters",
            (Col("film_id", "int"), Col("url", "text")),
            key=("film_id",),
            rels=(Rel("films", "films", to_one=True),),
        ),
        "parents": Tbl(
            "parents", (Col("id", "int"),), key=("id",), rels=(Rel("children", "children", False),)
        ),
        "children": Tbl(
            "children",
            (Col("id", "int"), Col("parent_id", "int")),
            key=("id",),
            rels=(Rel("parents", "parents", to_one=True),),
        ),
        "w_authors": FIXTURE_API.tables["w_authors"],
        "w_books": FIXTURE_API.tables["w_books"],
    }
)
TABLES = sorted(READ_API.tables)
#: What a read may be answered: a success, 300 (an ambiguous embed), a client error.
ALLOWED = {200, 206, 300, 400, 401, 403, 404, 405, 406, 416}
#: The share of requests that must reach PostgreSQL (0.7 to 0.77 is measured; ``pytest -s``).
MIN_DB_SHARE = 0.5

Read = tuple[str, Params, dict[str, str], bool]


@st.composite
def valid_read(draw: st.DrawFn) -> Read:
    name = draw(st.sampled_from(TABLES))
    return name, draw(read_params(READ_API, READ_API.tables[name])), draw(valid_headers), True


@st.composite
def garbled_read(draw: st.DrawFn) -> Read:
    """A valid read with one key or value replaced by grammar pieces and arbitrary text."""
    name, query, hdrs, _ = draw(valid_read())
    if not query:
        return name, draw(params), hdrs, False
    i = draw(st.integers(0, len(query) - 1))
    k, v = query[i]
    query[i] = (draw(key), v) if draw(st.booleans()) else (k, draw(value))
    return name, query, hdrs, False


random_read = st.tuples(st.sampled_from(TABLES), params, headers, st.just(False))
reads = mix((7, valid_read()), (1, garbled_read()), (2, random_read))


@pytest.fixture(scope="module")
def runner(api_db: PostgresCluster) -> Iterator[Runner]:
    instance = Runner(api_db)
    yield instance
    instance.close()


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(read=reads, method=st.sampled_from(["GET", "GET", "HEAD"]))
def check_reads(runner: Runner, outcomes: Counter[str], read: Read, method: str) -> None:
    name, query, hdrs, valid = read
    # Header values as the UTF-8 bytes a client would send (httpx encodes text as ASCII).
    raw = {k: v.encode() for k, v in hdrs.items()}
    resp, reached = runner.request(method, f"/{name}", params=query, headers=raw)
    assert resp.status_code in ALLOWED, (resp.status_code, resp.text, query, hdrs)
    if method == "HEAD":
        assert resp.content == b""
    elif resp.status_code >= 400:
        error = resp.json()
        assert set(error) == {"code", "details", "hint", "message"}, error
    outcome = f"{'valid' if valid else 'invalid'}: "
    outcome += f"{'PostgreSQL' if reached else 'rejected'} ({resp.status_code})"
    event(outcome)
    outcomes[outcome] += 1


def test_no_read_query_string_is_a_server_error(runner: Runner) -> None:
    outcomes: Counter[str] = Counter()
    check_reads(runner, outcomes)
    total = sum(outcomes.values())
    reached = sum(n for k, n in outcomes.items() if ": PostgreSQL" in k)
    print(f"\nreads: {reached}/{total} reached PostgreSQL; {sorted(outcomes.items())}")
    assert reached >= MIN_DB_SHARE * total, outcomes
