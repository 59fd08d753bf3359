"""Property test for writes and calls: any body, Content-Type, query string and Prefer header
either plans to SQL whose every ``$n`` is sent (and nothing else), or fails with a PostgREST
4xx — never another exception. Complements ``test_grammar_properties.py`` (reads).

Most requests are valid writes and calls built from the unit schemas (tests/strategies.py):
inserts of JSON, CSV and form bodies with real columns, upserts, PUT by key, filtered PATCH and
DELETE, calls with their arguments, each with ``select``/embeds and Prefer headers that apply.
The rest mix arbitrary bodies, media types, query strings and Prefer values. The test fails if
the share that reaches SQL building drops below ``MIN_SQL_SHARE``; ``pytest -s`` prints it.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from typing import Any

import msgspec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pgrest_asgi.context import RequestContext
from pgrest_asgi.errors import PgRestError
from pgrest_asgi.plan.planner import SqlglotPlanner
from pgrest_asgi.request.grammar import PostgrestGrammar
from pgrest_asgi.request.model import Target
from pgrest_asgi.settings import Settings
from tests.strategies import Col, Fn, Req, call_request, mix, write_request
from tests.unit.test_grammar_properties import UNIT_API, params
from tests.unit.test_sql import IDENT, LITERAL, SCHEMA, _films_with_routines

GRAMMAR = PostgrestGrammar()
PLANNER = SqlglotPlanner(Settings(db_max_rows=100))
FILMS = _films_with_routines()

KEYS = ["id", "name", "doc", "title", "year", "director_id", "a", "b", "since", "x", "", "ü"]
json_value: Any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
json_object = st.dictionaries(st.sampled_from(KEYS), json_value, max_size=4)
json_body = st.one_of(
    json_object,
    st.lists(json_object, max_size=3),
    json_value,
).map(msgspec.json.encode)
raw_body = st.one_of(
    json_body,
    json_body,
    st.binary(max_size=20),
    st.sampled_from([b"", b"{", b"id,name\n1,x\n", b"a=1&b=2&a=3", b"[" * 50]),
)
content_type = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=utf-8",
        "text/csv",
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/octet-stream",
        "text/xml",
        "image/png",
    ]
)
prefer = st.sampled_from(
    [
        "",
        "return=representation",
        "return=headers-only",
        "resolution=merge-duplicates",
        "resolution=ignore-duplicates, return=representation",
        "missing=default",
        "count=exact",
        "handling=strict, max-affected=1",
        "tx=rollback",
    ]
)
targets = st.sampled_from(
    [
        ("relation", "items", "items"),
        ("relation", "films", "films"),
        ("rpc", "add_them", "films"),
        ("rpc", "films_since", "films"),
        ("rpc", "nope", "films"),
    ]
)


@st.composite
def random_request(draw: st.DrawFn) -> Req:
    """Arbitrary body, media type, query string and Prefer on a table or function."""
    kind, name, _ = draw(targets)
    method = draw(st.sampled_from(["POST", "PATCH", "PUT", "DELETE", "GET"]))
    if kind == "rpc" and method not in ("GET", "POST"):
        method = "POST"
    headers = {"prefer": draw(prefer)}
    media = draw(content_type)
    if media is not None:
        headers["content-type"] = media
    path = f"/rpc/{name}" if kind == "rpc" else f"/{name}"
    return Req(method, path, draw(params), headers, draw(raw_body), False, name, kind)


WRITE_API = dataclasses.replace(
    UNIT_API,
    functions=(
        Fn("add_them", (Col("a", "int"), Col("b", "int"))),
        Fn("films_since", (Col("since", "int"),), returns="films"),
    ),
)
valid_write = write_request(WRITE_API, ["items", "films"])
valid_call = call_request(WRITE_API)
requests = mix((6, valid_write), (2, valid_call), (2, random_request()))

#: The share of requests that must reach SQL building (about 0.8 is measured).
MIN_SQL_SHARE = 0.6


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(req=requests)
def check_writes(outcomes: Counter[str], req: Req) -> None:
    schema = SCHEMA if req.target == "items" else FILMS
    validity = "valid" if req.valid else "invalid"
    what = f"{validity} {'call' if req.kind == 'rpc' else 'write'}"
    body = req.body if req.body is not None else b""
    try:
        context = RequestContext(
            method=req.method,
            target=Target(req.kind, "api", req.target),  # type: ignore[arg-type]
            headers=req.headers,
        )
        request = GRAMMAR.parse(context, req.params, body)
        plan, values = PLANNER.plan(request, schema, context)
        statement = PLANNER.build(plan, values)
    except PgRestError as exc:
        assert 400 <= exc.status < 500, exc
        event(f"{what}: rejected ({exc.code})")
        outcomes[f"{what}: rejected ({exc.code})"] += 1
        return
    event(f"{what}: reached SQL building")
    outcomes[f"{what}: sql"] += 1
    rest = LITERAL.sub("''", IDENT.sub('""', statement.sql))
    slots = {int(n) for n in re.findall(r"\$(\d+)", rest)}
    assert slots == set(range(1, len(values) + 1))
    # The body is a parameter, never SQL text.
    if len(body) > 2 and body.strip() and req.method != "DELETE":
        assert body.decode("latin-1") not in statement.sql


def test_any_write_or_call_is_an_error_or_safe_sql() -> None:
    outcomes: Counter[str] = Counter()
    check_writes(outcomes)
    total = sum(outcomes.values())
    sql = sum(n for k, n in outcomes.items() if k.endswith(": sql"))
    calls = sum(n for k, n in outcomes.items() if k.endswith("call: sql"))
    print(
        f"\nwrites and calls: {sql}/{total} reached SQL building ({calls} calls); "
        f"{sorted(outcomes.items())}"
    )
    assert sql >= MIN_SQL_SHARE * total, outcomes
    assert calls >= 0.1 * total, outcomes
