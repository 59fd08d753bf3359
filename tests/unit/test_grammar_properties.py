"""Property test: any query string → a PostgREST error or SQL with nothing unquoted from it.

Most requests are valid ones built from the unit schemas' real tables, columns and
relationships (tests/strategies.py): selects with aliases, casts, JSON paths and embeds, typed
filters with every operator, logic trees, order, paging, embed modifiers. The rest are made of
the grammar's own vocabulary (operators, modifiers, reserved characters, quotes, nesting) mixed
with arbitrary text, or are valid requests with one value garbled. For every one of them:

* parsing, planning and SQL generation either succeed or raise a ``PgRestError`` — never any
  other exception;
* in the SQL, every word outside quoted identifiers, string literals and parameters is one we
  wrote ourselves (keywords, ``pg_catalog`` functions, our aliases) or a cast's type name,
  which the grammar restricts to letters, digits, ``_``, space and ``[]``.

The test counts how many requests reached SQL building and fails if the share drops below
``MIN_SQL_SHARE`` (a generator that stopped producing valid requests would test little);
``pytest -s`` prints the counts.
"""

from __future__ import annotations

import re
from collections import Counter

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pgrest_asgi.context import RequestContext
from pgrest_asgi.errors import PgRestError
from pgrest_asgi.plan.planner import SqlglotPlanner
from pgrest_asgi.request.grammar import PostgrestGrammar
from pgrest_asgi.request.model import Target
from pgrest_asgi.settings import Settings
from pgrest_asgi.sql.build import SqlCache, build_read
from tests.strategies import Api, Col, Params, Rel, Tbl, mix, read_params
from tests.unit.test_sql import FILMS, IDENT, LITERAL, SCHEMA

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
    # Embeds: lateral joins.
    "LEFT",
    "INNER",
    "CROSS",
    "JOIN",
    "LATERAL",
    "ON",
    # Plan media type.
    "EXPLAIN",
    "FORMAT",
    "ANALYZE",
    "VERBOSE",
    "SETTINGS",
    "BUFFERS",
    "WAL",
}


# -- Valid reads on the unit schemas --------------------------------------------------------
def _films_table(
    name: str, *cols: str, rels: tuple[Rel, ...], key: tuple[str, ...] = ("id",)
) -> Tbl:
    return Tbl(name, tuple(Col(c, "text") for c in cols), key=key, rels=rels)


UNIT_API = Api(
    tables={
        "items": Tbl(
            "items", (Col("id", "int"), Col("name", "text"), Col("doc", "tsvector")), key=("id",)
        ),
        "films": _films_table(
            "films",
            "id",
            "title",
            "year",
            "director_id",
            rels=(
                Rel("directors", "directors", to_one=True),
                Rel("roles", "roles", to_one=False),
                Rel("actors", "actors", to_one=False),
            ),
        ),
        "directors": _films_table(
            "directors", "id", "last_name", rels=(Rel("films", "films", to_one=False),)
        ),
        "actors": _films_table(
            "actors",
            "id",
            "name",
            rels=(Rel("films", "films", to_one=False), Rel("roles", "roles", to_one=False)),
        ),
        "roles": _films_table(
            "roles",
            "film_id",
            "actor_id",
            "character",
            rels=(Rel("films", "films", to_one=True), Rel("actors", "actors", to_one=True)),
            key=("film_id", "actor_id"),
        ),
    }
)
SCHEMAS = {"items": SCHEMA, "films": FILMS, "directors": FILMS, "actors": FILMS, "roles": FILMS}

valid_headers = st.fixed_dictionaries(
    {},
    optional={
        "prefer": st.sampled_from(["count=exact", "count=planned", "handling=lenient"]),
        "range": st.sampled_from(["0-9", "5-", "0-0"]),
        "accept": st.sampled_from(
            [
                "application/json",
                "text/csv",
                "*/*",
                "application/vnd.pgrst.array+json;nulls=stripped",
                'application/vnd.pgrst.plan+json; for="application/json"; options=analyze',
            ]
        ),
    },
)


@st.composite
def valid_read(draw: st.DrawFn) -> tuple[str, Params, dict[str, str], bool]:
    name = draw(st.sampled_from(list(UNIT_API.tables)))
    return name, draw(read_params(UNIT_API, UNIT_API.tables[name])), draw(valid_headers), True


@st.composite
def garbled_read(draw: st.DrawFn) -> tuple[str, Params, dict[str, str], bool]:
    """A valid read with one key or value replaced by grammar pieces."""
    name, query, hdrs, _ = draw(valid_read())
    if not query:
        return name, draw(params), hdrs, False
    i = draw(st.integers(0, len(query) - 1))
    k, v = query[i]
    query[i] = (draw(key), v) if draw(st.booleans()) else (k, draw(value))
    return name, query, hdrs, False


random_read = st.tuples(st.just("items"), params, headers, st.just(False))
reads = mix((7, valid_read()), (1, garbled_read()), (2, random_read))

#: The share of requests that must reach SQL building (about 0.75 is measured).
MIN_SQL_SHARE = 0.6


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(read=reads, method=st.sampled_from(["GET", "HEAD"]))
def check_reads(
    outcomes: Counter[str], read: tuple[str, Params, dict[str, str], bool], method: str
) -> None:
    name, query, hdrs, valid = read
    kind = "valid" if valid else "invalid"
    try:
        context = RequestContext(
            method=method, target=Target("relation", "api", name), headers=hdrs
        )
        request = GRAMMAR.parse(context, query)
        plan, values = PLANNER.plan(request, SCHEMAS[name], context)
        sql = build_read(plan, SqlCache())
    except PgRestError as exc:
        assert 400 <= exc.status < 500
        outcome = f"{kind}: rejected ({exc.code})"
        event(outcome)
        outcomes[outcome] += 1
        return
    event(f"{kind}: reached SQL building")
    outcomes[f"{kind}: sql"] += 1
    rest = CAST_TYPE.sub(")", LITERAL.sub("''", IDENT.sub('""', sql)))
    slots = [int(n) for n in re.findall(r"\$(\d+)", rest)]
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*|\d+", re.sub(r"\$\d+", "", rest)))
    assert words <= OURS, words - OURS
    # Every value is a parameter, and every parameter sent is used.
    assert sorted(set(slots)) == list(range(1, len(values) + 1))


def test_any_query_string_is_an_error_or_safe_sql() -> None:
    outcomes: Counter[str] = Counter()
    check_reads(outcomes)
    total = sum(outcomes.values())
    sql = outcomes["valid: sql"] + outcomes["invalid: sql"]
    print(f"\nreads: {sql}/{total} reached SQL building; {sorted(outcomes.items())}")
    assert sql >= MIN_SQL_SHARE * total, outcomes
