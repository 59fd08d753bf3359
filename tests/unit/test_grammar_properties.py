"""Property test: any query string → a PostgREST error or SQL with nothing unquoted from it.

Hypothesis builds query strings from the grammar's own vocabulary (operators, modifiers,
reserved characters, quotes, nesting) mixed with arbitrary text. For every one of them:

* parsing, planning and SQL generation either succeed or raise a ``PgRestError`` — never any
  other exception;
* in the SQL, every word outside quoted identifiers, string literals and parameters is one we
  wrote ourselves (keywords, ``pg_catalog`` functions, our aliases) or a cast's type name,
  which the grammar restricts to letters, digits, ``_``, space and ``[]``.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgrest_asgi.errors import PgRestError
from pgrest_asgi.plan.planner import SqlglotPlanner
from pgrest_asgi.request.grammar import PostgrestGrammar
from pgrest_asgi.request.model import Target
from pgrest_asgi.settings import Settings
from pgrest_asgi.sql.build import SqlCache, build_read
from tests.unit.test_sql import IDENT, LITERAL, SCHEMA

GRAMMAR = PostgrestGrammar()
PLANNER = SqlglotPlanner(Settings(db_max_rows=1000, db_plan_enabled=True))
TARGET = Target("relation", "api", "items")

OPERATORS = [
    "eq",
    "gt",
    "gte",
    "lt",
    "lte",
    "neq",
    "like",
    "ilike",
    "match",
    "imatch",
    "in",
    "is",
    "isdistinct",
    "fts",
    "plfts",
    "phfts",
    "wfts",
    "cs",
    "cd",
    "ov",
    "sl",
    "sr",
    "nxr",
    "nxl",
    "adj",
    "not",
    "foo",
]
PIECES = [
    *OPERATORS,
    ".",
    ",",
    "(",
    ")",
    '"',
    "\\",
    ":",
    "::",
    "->",
    "->>",
    "!",
    "*",
    "...",
    "(any)",
    "(all)",
    "(english)",
    "null",
    "true",
    "or",
    "and",
    "not.",
    "{",
    "}",
    "[",
    "]",
    "%",
    "$1",
    "'",
    ";",
    " ",
    "\x00",
    "ü",
    "id",
    "name",
    "a b",
    "desc",
    "nullslast",
    "0",
    "-1",
    "10",
    "x",
]

piece = st.sampled_from(PIECES)
free_text = st.text(max_size=8)
token = st.one_of(piece, piece, piece, free_text)
value = st.lists(token, max_size=12).map("".join)
KEYS = [
    "select",
    "order",
    "limit",
    "offset",
    "or",
    "and",
    "not.or",
    "id",
    "name",
    "data->a",
    "rel.name",
    "rel.order",
    "rel.limit",
    "columns",
    "a b",
    "ü",
    '"q""x"',
]
key = st.one_of(st.sampled_from(KEYS), st.lists(token, max_size=4).map("".join))
params = st.lists(st.tuples(key, value), max_size=6)
headers = st.fixed_dictionaries(
    {},
    optional={
        "prefer": st.sampled_from(["count=exact", "handling=strict, x=1", "return=minimal"]),
        "range": st.one_of(st.sampled_from(["0-9", "5-", "9-2", "a-b"]), free_text),
        "accept": st.one_of(
            st.sampled_from(
                [
                    "application/json",
                    "application/vnd.pgrst.object+json",
                    "text/csv",
                    "*/*;q=0.5",
                    "application/vnd.pgrst.array+json;nulls=stripped",
                    'application/vnd.pgrst.plan+json; for="text/csv"; options=analyze|wal',
                    "application/vnd.pgrst.plan; options=verbose|bogus",
                ]
            ),
            free_text,
        ),
    },
)

CAST_TYPE = re.compile(r"\bAS [A-Za-z0-9_ $\[\]]+\)")
OURS = {
    "WITH",
    "AS",
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IS",
    "NULL",
    "TRUE",
    "FALSE",
    "UNKNOWN",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "LIMIT",
    "OFFSET",
    "CAST",
    "COALESCE",
    "NULLIF",
    "BIGINT",
    "TEXT",
    "JSON",
    "INT",
    "ANY",
    "ALL",
    "LIKE",
    "ILIKE",
    "DISTINCT",
    "OPERATOR",
    "pg_catalog",
    "count",
    "json_agg",
    "json_strip_nulls",
    "current_setting",
    "to_tsvector",
    "to_tsquery",
    "plainto_tsquery",
    "phraseto_tsquery",
    "websearch_to_tsquery",
    "_postgrest_t",
    "total_result_set",
    "page_total",
    "body",
    "response_headers",
    "response_status",
    "1",
    "0",
    # CSV bodies and JSON paths on non-JSON columns.
    "to_jsonb",
    "row_to_json",
    "json_object_keys",
    "string_agg",
    "substr",
    "length",
    "chr",
    "10",
    "2",
    # Plan media type.
    "EXPLAIN",
    "FORMAT",
    "ANALYZE",
    "VERBOSE",
    "SETTINGS",
    "BUFFERS",
    "WAL",
}


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=params, headers=headers, method=st.sampled_from(["GET", "HEAD"]))
def test_any_query_string_is_an_error_or_safe_sql(
    params: list[tuple[str, str]], headers: dict[str, str], method: str
) -> None:
    try:
        request = GRAMMAR.parse(method, TARGET, params, headers)
        plan, values = PLANNER.plan(request, SCHEMA)
        sql = build_read(plan, SqlCache())
    except PgRestError as exc:
        assert 400 <= exc.status < 500
        return
    rest = CAST_TYPE.sub(")", LITERAL.sub("''", IDENT.sub('""', sql)))
    slots = [int(n) for n in re.findall(r"\$(\d+)", rest)]
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*|\d+", re.sub(r"\$\d+", "", rest)))
    assert words <= OURS, words - OURS
    # Every value is a parameter, and every parameter sent is used.
    assert sorted(set(slots)) == list(range(1, len(values) + 1))
