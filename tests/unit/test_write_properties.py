"""Property test for writes and calls: any body, Content-Type, query string and Prefer header
either plans to SQL whose every ``$n`` is sent (and nothing else), or fails with a PostgREST
4xx — never another exception. Complements ``test_grammar_properties.py`` (reads).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgrest_asgi.errors import PgRestError
from pgrest_asgi.plan.planner import SqlglotPlanner
from pgrest_asgi.request.grammar import PostgrestGrammar
from pgrest_asgi.request.model import Target
from pgrest_asgi.settings import Settings
from tests.unit.test_grammar_properties import params
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


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    target=targets,
    method=st.sampled_from(["POST", "PATCH", "PUT", "DELETE", "GET"]),
    query=params,
    body=raw_body,
    media=content_type,
    prefer_header=prefer,
)
def test_any_write_or_call_is_an_error_or_safe_sql(
    target: tuple[str, str, str],
    method: str,
    query: list[tuple[str, str]],
    body: bytes,
    media: str | None,
    prefer_header: str,
) -> None:
    kind, name, _ = target
    schema = SCHEMA if name == "items" else FILMS
    if kind == "rpc" and method not in ("GET", "POST"):
        method = "POST"
    headers = {"prefer": prefer_header}
    if media is not None:
        headers["content-type"] = media
    try:
        request = GRAMMAR.parse(method, Target(kind, "api", name), query, headers, body)  # type: ignore[arg-type]
        plan, values = PLANNER.plan(request, schema)
        statement = PLANNER.build(plan, values)
    except PgRestError as exc:
        assert 400 <= exc.status < 500, exc
        return
    rest = LITERAL.sub("''", IDENT.sub('""', statement.sql))
    slots = {int(n) for n in re.findall(r"\$(\d+)", rest)}
    assert slots == set(range(1, len(values) + 1))
    # The body is a parameter, never SQL text.
    if len(body) > 2 and body.strip() and method != "DELETE":
        assert body.decode("latin-1") not in statement.sql
