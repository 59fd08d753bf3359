"""URL → SQL text + parameters, against golden files a person can read and review.

Regenerate after an intended change with ``PGREST_UPDATE_GOLDEN=1 pytest tests/unit/test_sql.py``
and read the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from pgrest_asgi.context import RequestContext
from pgrest_asgi.errors import ApiRequestError
from pgrest_asgi.plan.planner import SqlglotPlanner
from pgrest_asgi.request.grammar import PostgrestGrammar
from pgrest_asgi.request.model import Target
from pgrest_asgi.schema.model import (
    ANY_ELEMENT,
    Column,
    MediaHandler,
    QualifiedName,
    SchemaCache,
    Table,
)
from pgrest_asgi.settings import Settings
from pgrest_asgi.sql.build import SqlCache, build_read, read_expression
from pgrest_asgi.sql.gucs import guc_statement

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("PGREST_UPDATE_GOLDEN") == "1"


def check_golden(path: Path, text: str) -> None:
    """``text`` must equal the golden file. Files are (re)written only when asked to, with
    ``PGREST_UPDATE_GOLDEN=1``, and never under CI (the ``CI`` variable set)."""
    if UPDATE:
        if os.environ.get("CI"):
            pytest.fail("PGREST_UPDATE_GOLDEN=1 is refused under CI: golden files are committed")
        path.write_text(text)
    elif not path.exists():
        pytest.fail(
            f"missing golden file {path}: create it with `PGREST_UPDATE_GOLDEN=1 pytest "
            f"tests/unit/test_sql.py`, review it and commit it"
        )
    assert text == path.read_text()


def _col(name: str, base: str = "text") -> Column:
    return Column(name=name, data_type=base, base_type=base, nullable=True)


SCHEMA = SchemaCache(
    schemas=("api",),
    tables={
        QualifiedName("api", "items"): Table(
            schema="api",
            name="items",
            kind="table",
            columns=(_col("id", "integer"), _col("name"), _col("doc", "tsvector")),
            primary_key=("id",),
        ),
        QualifiedName("api", 'we"ird %s'): Table(schema="api", name='we"ird %s', kind="table"),
        QualifiedName("api", "paints"): Table(
            schema="api",
            name="paints",
            kind="table",
            has_representations=True,
            columns=(
                _col("id", "integer"),
                Column(
                    name="color",
                    data_type="api.color",
                    base_type="integer",
                    nullable=True,
                    json_cast=QualifiedName("api", "color_to_json"),
                    text_cast=QualifiedName("api", "color_from_text"),
                ),
            ),
        ),
    },
    geojson_function=QualifiedName("public", "st_asgeojson"),
)


def _films_schema() -> SchemaCache:
    """films → directors (M2O), films ← roles → actors (M2M through roles)."""
    from pgrest_asgi.schema.model import ForeignKey
    from pgrest_asgi.schema.relationships import relationships_by_source

    def table(name: str, *cols: str, pk: tuple[str, ...] = ("id",)) -> Table:
        return Table(
            schema="api",
            name=name,
            kind="table",
            columns=tuple(_col(c) for c in cols),
            primary_key=pk,
        )

    tables = {
        QualifiedName("api", t.name): t
        for t in (
            table("films", "id", "title", "year", "director_id"),
            table("directors", "id", "last_name"),
            table("actors", "id", "name"),
            table("roles", "film_id", "actor_id", "character", pk=("film_id", "actor_id")),
        )
    }
    fks = (
        ForeignKey(
            constraint="films_director_id_fkey",
            table=QualifiedName("api", "films"),
            columns=("director_id",),
            foreign_table=QualifiedName("api", "directors"),
            foreign_columns=("id",),
        ),
        ForeignKey(
            constraint="roles_film_id_fkey",
            table=QualifiedName("api", "roles"),
            columns=("film_id",),
            foreign_table=QualifiedName("api", "films"),
            foreign_columns=("id",),
        ),
        ForeignKey(
            constraint="roles_actor_id_fkey",
            table=QualifiedName("api", "roles"),
            columns=("actor_id",),
            foreign_table=QualifiedName("api", "actors"),
            foreign_columns=("id",),
        ),
    )
    return SchemaCache(
        schemas=("api",),
        tables=tables,
        foreign_keys=fks,
        relationships=relationships_by_source(tables, fks),
    )


FILMS = _films_schema()
EMBED_CASES = {
    # A to-one and a to-many embed, a filter, order and limit.
    "embed_to_one_and_to_many": (
        "select=title,director:directors(last_name),roles(character)&year=gt.2000"
        "&order=title&limit=10"
    ),
    "embed_many_to_many_nested_modifiers": (
        "select=title,actors(name,roles(character))&actors.order=name&actors.limit=3"
        "&actors.name=like.A*"
    ),
    "embed_aggregates_grouped_by_embed": (
        "select=director:directors(last_name),count(),latest:year::int.max()::text"
    ),
    "embed_inner_null_filter_related_order": (
        "select=title,directors!inner(last_name),roles()&roles=not.is.null"
        "&order=directors(last_name).desc"
    ),
    # A to-many spread: arrays (distinct non-null ones for ..), a nested to-many spread and
    # embed joined to its rows, aggregates per parent row combined where the parent groups.
    "spread_to_many_nested_and_aggregates": (
        "select=director_id,...actors(..roles(character),n:count(),films(title))&actors.order=name"
    ),
}


@pytest.mark.parametrize("name", sorted(EMBED_CASES))
def test_golden_embed_sql(name: str) -> None:
    query = EMBED_CASES[name]
    request = PostgrestGrammar().parse(
        RequestContext(method="GET", target=Target("relation", "api", "films")),
        parse_qsl(query, keep_blank_values=True),
    )
    plan, params = SqlglotPlanner(Settings(db_aggregates_enabled=True)).plan(request, FILMS)
    text = f"-- GET /films?{query}\n{build_read(plan, SqlCache())}\n-- params: {params!r}\n"
    check_golden(GOLDEN / f"{name}.sql", text)


def _films_with_routines() -> SchemaCache:
    """FILMS plus functions: a scalar one and a table-valued one."""
    import msgspec

    from pgrest_asgi.schema.model import Routine, RoutineParam

    routines = {
        QualifiedName("api", "add_them"): (
            Routine(
                schema="api",
                name="add_them",
                params=(
                    RoutineParam(name="a", data_type="integer"),
                    RoutineParam(name="b", data_type="integer"),
                ),
                return_type="integer",
                volatility="immutable",
            ),
        ),
        QualifiedName("api", "films_since"): (
            Routine(
                schema="api",
                name="films_since",
                params=(RoutineParam(name="since", data_type="integer"),),
                return_type="films",
                return_type_schema="api",
                return_kind="composite",
                returns_set=True,
                volatility="stable",
            ),
        ),
    }
    films = FILMS.tables[QualifiedName("api", "films")]
    title = msgspec.structs.replace(films.columns[1], default="'untitled'::text")
    tables = dict(FILMS.tables)
    tables[films.qualified] = msgspec.structs.replace(
        films, columns=(films.columns[0], title, *films.columns[2:])
    )
    return msgspec.structs.replace(FILMS, tables=tables, routines=routines)


WRITE_CASES = {
    # An insert, with an embed on the inserted rows.
    "write_insert_representation_embed": (
        "POST",
        "films",
        "select=title,director:directors(last_name)",
        {"prefer": "return=representation"},
        b'[{"id": 1, "title": "a", "director_id": 1}]',
    ),
    "write_upsert_headers_only": (
        "POST",
        "films",
        "",
        {"prefer": "resolution=merge-duplicates, return=headers-only"},
        b'{"id": 1, "title": "a"}',
    ),
    "write_insert_missing_default": (
        "POST",
        "films",
        "columns=id,title",
        {"prefer": "missing=default"},
        b'[{"id": 1}]',
    ),
    "write_patch_filtered": ("PATCH", "films", "year=lt.1960", {}, b'{"title": "x"}'),
    "write_put": ("PUT", "films", "id=eq.1", {}, b'{"id": 1, "title": "x"}'),
    "write_delete_representation": (
        "DELETE",
        "films",
        "id=in.(1,2)&select=id,roles(character)",
        {"prefer": "return=representation"},
        None,
    ),
    # A function call.
    "rpc_scalar_get": ("GET", "rpc/add_them", "a=1&b=2", {}, None),
    "rpc_scalar_post": ("POST", "rpc/add_them", "", {}, b'{"a": 1, "b": 2}'),
    "rpc_table_embed": (
        "GET",
        "rpc/films_since",
        "since=1960&select=title,directors(last_name)&year=lt.2000&order=year",
        {},
        None,
    ),
}


@pytest.mark.parametrize("name", sorted(WRITE_CASES))
def test_golden_write_and_rpc_sql(name: str) -> None:
    method, path, query, headers, body = WRITE_CASES[name]
    kind, _, fn = path.rpartition("/")
    target = Target("rpc" if kind else "relation", "api", fn)
    request = PostgrestGrammar().parse(
        RequestContext(method=method, target=target, headers=headers),
        parse_qsl(query, keep_blank_values=True),
        body,
    )
    planner = SqlglotPlanner(Settings())
    plan, params = planner.plan(request, _films_with_routines())
    statement = planner.build(plan, params)
    extra = "".join(f"-- {k}: {v}\n" for k, v in headers.items())
    if body is not None:
        extra += f"-- body: {body.decode()}\n"
    text = f"-- {method} /{path}?{query}\n{extra}{statement.sql}\n-- params: {params!r}\n"
    check_golden(GOLDEN / f"{name}.sql", text)
    # Every parameter sent is used, and no value reaches the SQL text.
    used = {int(n) for n in re.findall(r"\$(\d+)", statement.sql)}
    assert used == set(range(1, len(params) + 1))


CASES = {
    "simple_eq": ("items", "select=id,name&id=eq.1"),
    "star_paging": ("items", "limit=10&offset=20"),
    "operators": (
        "items",
        "a=gt.1&b=gte.2&c=lt.3&d=lte.4&e=neq.5&f=like.*x*&g=ilike.y*&h=match.^a&i=imatch.b$"
        "&j=isdistinct.7&k=cs.{1}&l=cd.{2}&m=ov.{3}&n=sl.[1,2)&o=sr.[3,4)&p=nxr.[5,6)"
        "&q=nxl.[7,8)&r=adj.[9,10)",
    ),
    "in_is_not": ("items", "id=in.(1,2,3)&name=not.is.null&x=is.true&y=not.in.(a)"),
    "quantifiers": ("items", "id=eq(any).{1,2}&name=like(all).{a*,*b}"),
    "full_text": ("items", "doc=fts.cat&name=plfts(english).fat cats&name=not.wfts.x"),
    "logic": ("items", "or=(id.eq.1,and(name.like.a*,not.or(id.gt.5,id.lt.2)))&not.and=(a.eq.1)"),
    "json_paths": ("items", "select=id,data->a->>b,first:arr->0&data->>k=eq.v"),
    "casts_aliases": ("items", "select=ident:id::text,name&order=name.desc.nullslast,id"),
    "count_exact_paged": ("items", "select=id&limit=5"),
    "csv": ("items", "select=id,name&id=lt.3"),
    "count_planned": ("items", "select=id&id=gt.3&limit=5"),
    "domain_representation": ("paints", "select=id,color&color=in.(#ff0000)&id=eq.1"),
    "domain_star": ("paints", "color=eq.#00ff00"),
    "plan_json_analyze": ("items", "select=id&id=eq.1"),
    "geojson": ("items", "id=eq.1"),
    "weird_identifiers": ('we"ird %s', 'select="a\\"b",%C3%BCn%C3%AF,"pct%s"&"a\\"b"=eq.1'),
}


HEADERS = {
    "count_exact_paged": {"prefer": "count=exact"},
    "count_planned": {"prefer": "count=planned"},
    "csv": {"accept": "text/csv"},
    "plan_json_analyze": {"accept": "application/vnd.pgrst.plan+json; options=analyze"},
    "geojson": {"accept": "application/geo+json"},
}


def _plan(table: str, query: str, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    grammar = PostgrestGrammar()
    request = grammar.parse(
        RequestContext(
            method="GET", target=Target("relation", "api", table), headers=headers or {}
        ),
        parse_qsl(query, keep_blank_values=True),
    )
    planner = SqlglotPlanner(Settings(db_plan_enabled=True))
    return planner.plan(request, SCHEMA)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_sql(name: str) -> None:
    table, query = CASES[name]
    headers = HEADERS.get(name, {})
    plan, params = _plan(table, query, headers)
    statement = SqlglotPlanner(Settings()).build(plan, params)
    extra = "".join(f"-- {k}: {v}\n" for k, v in headers.items())
    text = f"-- GET /{table}?{query}\n{extra}{statement.sql}\n-- params: {params!r}\n"
    if statement.count_sql:
        text += f"{statement.count_sql}\n-- params: {list(statement.count_params)!r}\n"
    check_golden(GOLDEN / f"{name}.sql", text)


IDENT = re.compile(r'"(?:[^"]|"")*"')
LITERAL = re.compile(r"'(?:[^']|'')*'")
BUILTIN = re.compile(r"pg_catalog\.\w+")
OUR_LITERALS = {
    "''",
    "'[]'",
    "'null'",
    "'response.headers'",
    "'response.status'",
    "','",
    "'type'",
    "'FeatureCollection'",
    "'features'",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_no_value_reaches_the_sql_text(name: str) -> None:
    table, query = CASES[name]
    plan, params = _plan(table, query, HEADERS.get(name))
    sql = build_read(plan, SqlCache())
    outside_identifiers = BUILTIN.sub("", IDENT.sub('""', sql))
    assert set(LITERAL.findall(outside_identifiers)) <= OUR_LITERALS
    words = set(re.findall(r"[^\s(),.]+", outside_identifiers))
    for value in params:
        assert str(value) not in words, value


def test_planned_count_statement_renumbers_its_parameters() -> None:
    from pgrest_asgi.sql.build import build_planned_count

    plan, params = _plan(
        "items", "select=id,data->a&name=eq.x&id=gt.3&limit=5", {"prefer": "count=planned"}
    )
    sql, used = build_planned_count(plan)
    assert sql == (
        'EXPLAIN (FORMAT JSON) SELECT 1 FROM "api"."items" '
        'WHERE "api"."items"."name" = $1 AND "api"."items"."id" > $2'
    )
    assert [params[i - 1] for i in used] == ["x", "3"]
    assert "total_result_set" in build_read(plan, SqlCache())
    assert "pgrst_source_count" not in build_read(plan, SqlCache())


def test_estimated_count_is_capped_at_max_rows() -> None:
    grammar = PostgrestGrammar()
    request = grammar.parse(
        RequestContext(
            method="GET",
            target=Target("relation", "api", "items"),
            headers={"prefer": "count=estimated"},
        ),
        [("id", "gt.1")],
    )
    plan, _ = SqlglotPlanner(Settings(db_max_rows=10)).plan(request, SCHEMA)
    sql = build_read(plan, SqlCache())
    assert (
        '"pgrst_source_count" AS (SELECT 1 FROM "api"."items" WHERE "api"."items"."id" > $1 '
        "LIMIT 11)" in sql
    )
    unlimited, _ = SqlglotPlanner(Settings()).plan(request, SCHEMA)
    # No max-rows: still estimated (the larger of the exact count and the planner's).
    assert (unlimited.count, unlimited.count_cap) == ("estimated", None)


def test_cache_hit_skips_sqlglot(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = SqlCache()
    first, _ = _plan("items", "select=id&id=eq.1")
    second, params = _plan("items", "select=id&id=eq.999")
    assert first == second and hash(first) == hash(second)
    build_read(first, cache)
    calls: list[object] = []
    import pgrest_asgi.sql.build as build

    monkeypatch.setattr(build, "read_expression", lambda plan: calls.append(plan))
    build_read(second, cache)
    assert calls == [] and (cache.hits, cache.misses) == (1, 1)
    assert params == ["999"]


def test_different_shapes_differ() -> None:
    a, _ = _plan("items", "id=eq.1")
    b, _ = _plan("items", "id=gt.1")
    assert a != b
    assert read_expression(a).sql() != read_expression(b).sql()


def test_guc_statement_order_and_parameters() -> None:
    from pgrest_asgi.plan.model import TxSpec

    tx = TxSpec(
        read_only=True,
        role="web_user",
        claims_json='{"role":"web_user"}',
        method="GET",
        path="/items",
        headers_json="{}",
        cookies_json="{}",
        search_path='"api", "public"',
        timezone="UTC",
        role_settings=(("statement_timeout", "5s"),),
        settings=(("app.settings.k", "v"),),
    )
    sql, params = guc_statement(tx)
    assert sql == (
        "SELECT pg_catalog.set_config('search_path', $1, true), "
        "pg_catalog.set_config($2, $3, true), "
        "pg_catalog.set_config('role', $4, true), "
        "pg_catalog.set_config('request.jwt.claims', $5, true), "
        "pg_catalog.set_config('request.method', $6, true), "
        "pg_catalog.set_config('request.path', $7, true), "
        "pg_catalog.set_config('request.headers', $8, true), "
        "pg_catalog.set_config('request.cookies', $9, true), "
        "pg_catalog.set_config('timezone', $10, true), "
        "pg_catalog.set_config($11, $12, true)"
    )
    assert params == [
        '"api", "public"',
        "statement_timeout",
        "5s",
        "web_user",
        '{"role":"web_user"}',
        "GET",
        "/items",
        "{}",
        "{}",
        "UTC",
        "app.settings.k",
        "v",
    ]


# -- SEC-56: a cast's type is keywords or a quoted identifier, never tokenized text ------------
@pytest.mark.parametrize(
    ("type_name", "sql"),
    [
        ("text", '"text"'),
        ("Int4", '"int4"'),
        ("num_t", '"num_t"'),
        ("a$b", '"a$b"'),
        ("ünï", '"ünï"'),
        ('"My ""Type"""', '"My ""Type"""'),
        ('"$a$"', '"$a$"'),
        ("int", "INT"),
        ("double precision[]", "DOUBLE PRECISION[]"),
        ("character varying(20)", "CHARACTER VARYING(20)"),
        ("numeric(10,2)[][]", "NUMERIC(10,2)[][]"),
        ("timestamp with time zone", "TIMESTAMP WITH TIME ZONE"),
        ("timestamp(3) with time zone", "TIMESTAMP(3) WITH TIME ZONE"),
        ("interval day to second(3)", "INTERVAL DAY TO SECOND(3)"),
        ('"my type"(1,2)[]', '"my type"(1,2)[]'),
    ],
)
def test_cast_type_sql(type_name: str, sql: str) -> None:
    from sqlglot import exp

    from pgrest_asgi.sql.nodes import cast_to, render

    assert render(cast_to(exp.Column(this=exp.to_identifier("c")), type_name)) == (
        f"CAST(c AS {sql})"
    )


@pytest.mark.parametrize(
    "type_name",
    [
        "int $a$",
        "$__$",
        "int foo",
        "my type",
        "text;drop table x",
        "int(10)",
        "varchar(1,2)",
        "my_type(1,2,3)",
        "numeric(1234567890)",
        "timestamp with time zone(3)",
        "int4(3) with time zone",
        "timestamp with time zone with time zone",
        '""',
        '"a\x00b"',
        '"a"b"',
        "int[3]",
        "Text ",
        " text",
        "",
    ],
)
def test_cast_type_refuses_what_the_grammar_never_produces(type_name: str) -> None:
    """A custom grammar or planner pass that hands the builder anything else fails loudly."""
    from sqlglot import exp

    from pgrest_asgi.sql.nodes import cast_to

    with pytest.raises(ValueError, match="not a type name"):
        cast_to(exp.Column(this=exp.to_identifier("c")), type_name)


def test_cast_types_in_a_read() -> None:
    plan, params = _plan(
        "items",
        'select=a:id::Text,b:id::double precision[],c:id::"My \\"T"(1)[],'
        "d:id::timestamp(3) with time zone,e:id::numeric(10,2)",
    )
    sql = build_read(plan, SqlCache())
    column = '"api"."items"."id"'
    assert (
        f'SELECT CAST({column} AS "text") AS "a", CAST({column} AS DOUBLE PRECISION[]) AS "b", '
        f'CAST({column} AS "My ""T"(1)[]) AS "c", '
        f'CAST({column} AS TIMESTAMP(3) WITH TIME ZONE) AS "d", '
        f'CAST({column} AS NUMERIC(10,2)) AS "e" FROM'
    ) in sql
    assert params == []


@pytest.mark.parametrize(
    ("name", "relations", "writes"),
    [
        ("write_insert_representation_embed", ("films", "directors"), "films"),
        ("write_delete_representation", ("films", "roles"), "films"),
        ("rpc_scalar_get", (), None),
        ("rpc_table_embed", ("films", "directors"), None),
    ],
)
def test_a_statement_names_the_relations_of_its_rows(
    name: str, relations: tuple[str, ...], writes: str | None
) -> None:
    """``Statement.relations``/``writes``: what a cache or a tracer keys on."""
    method, path, query, headers, body = WRITE_CASES[name]
    kind, _, fn = path.rpartition("/")
    context = RequestContext(
        method=method, target=Target("rpc" if kind else "relation", "api", fn), headers=headers
    )
    request = PostgrestGrammar().parse(context, parse_qsl(query, keep_blank_values=True), body)
    planner = SqlglotPlanner(Settings())
    statement = planner.build(*planner.plan(request, _films_with_routines(), context))
    assert statement.relations == tuple(QualifiedName("api", r) for r in relations)
    assert statement.writes == (QualifiedName("api", writes) if writes else None)


# -- media type handlers --------------------------------------------------------------------------
def _handler(
    media: str, function: str, *, target: str | None = None, aggregate: bool = True
) -> MediaHandler:
    return MediaHandler(
        media_type=media,
        content_type="application/octet-stream" if media == "*/*" else media,
        function=QualifiedName("api", function),
        aggregate=aggregate,
        target=QualifiedName("api", target) if target else None,
        binary=media in ("*/*", "application/vnd.twkb"),
    )


TWKB = _handler("application/vnd.twkb", "twkb_agg", target="films")
FILMS_ANY = _handler("*/*", "films_any_agg", target="films")
OUTFUNC = _handler("pg/outfunc", "outfunc_agg")
OWN_JSON = _handler("application/json", "json_agg_films", target="films")
ADD_THEM_TEXT = _handler("text/plain", "add_them", aggregate=False)


def _with_handlers(handlers: dict[QualifiedName, dict[str, MediaHandler]]) -> SchemaCache:
    import msgspec

    return msgspec.structs.replace(_films_with_routines(), media_handlers=handlers)


HANDLERS = _with_handlers(
    {
        QualifiedName("api", "films"): {TWKB.media_type: TWKB},
        ANY_ELEMENT: {OUTFUNC.media_type: OUTFUNC},
        QualifiedName("api", "add_them"): {ADD_THEM_TEXT.media_type: ADD_THEM_TEXT},
    }
)

HANDLER_CASES = {
    # A table's own aggregate, over a domain on bytea: the row cast to the table's type, hex.
    "handler_table_aggregate": ("relation", "films", "year=gt.1960", "application/vnd.twkb"),
    # A generic one takes the rows as selected.
    "handler_generic_aggregate": ("relation", "films", "select=id,title", "pg/outfunc"),
    # A function's rows through the aggregate of the table whose rows they are.
    "handler_rpc_rows": ("rpc", "films_since", "since=1960", "application/vnd.twkb"),
    # A function returning the media type's domain: its value is the body.
    "handler_rpc_value": ("rpc", "add_them", "a=1&b=2", "text/plain"),
    # A generic aggregate over a scalar function's values.
    "handler_rpc_generic_scalar": ("rpc", "add_them", "a=1&b=2", "pg/outfunc"),
}


def _handler_plan(kind: str, name: str, query: str, accept: str | None, schema: SchemaCache):  # type: ignore[no-untyped-def]
    headers = {"accept": accept} if accept is not None else {}
    context = RequestContext(method="GET", target=Target(kind, "api", name), headers=headers)
    request = PostgrestGrammar().parse(context, parse_qsl(query, keep_blank_values=True))
    planner = SqlglotPlanner(Settings())
    return planner, *planner.plan(request, schema, context)


@pytest.mark.parametrize("name", sorted(HANDLER_CASES))
def test_golden_media_handler_sql(name: str) -> None:
    kind, fn, query, accept = HANDLER_CASES[name]
    planner, plan, params = _handler_plan(kind, fn, query, accept, HANDLERS)
    assert plan.media == "custom"
    statement = planner.build(plan, params)
    path = f"rpc/{fn}" if kind == "rpc" else fn
    text = f"-- GET /{path}?{query}\n-- accept: {accept}\n{statement.sql}\n-- params: {params!r}\n"
    check_golden(GOLDEN / f"{name}.sql", text)


def _chosen(
    accept: str | None,
    handlers: dict[QualifiedName, dict[str, MediaHandler]],
    query: str = "",
    target: tuple[str, str] = ("relation", "films"),
) -> MediaHandler | str:
    """The handler negotiated, or the built-in media kind."""
    _, plan, _ = _handler_plan(*target, query, accept, _with_handlers(handlers))
    return plan.handler if plan.handler is not None else plan.media


FILMS_KEY = QualifiedName("api", "films")


@pytest.mark.parametrize(
    ("accept", "handlers", "query", "expected"),
    [
        # A table's own */* handler answers any type, JSON included, and no Accept at all.
        ("application/json", {FILMS_KEY: {"*/*": FILMS_ANY}}, "", FILMS_ANY),
        (None, {FILMS_KEY: {"*/*": FILMS_ANY}}, "", FILMS_ANY),
        ("text/csv", {FILMS_KEY: {"*/*": FILMS_ANY, TWKB.media_type: TWKB}}, "", FILMS_ANY),
        # ...but never PostgREST's own vendor types.
        ("application/vnd.pgrst.object+json", {FILMS_KEY: {"*/*": FILMS_ANY}}, "", "singular"),
        (
            "application/vnd.pgrst.array+json;nulls=stripped",
            {FILMS_KEY: {"*/*": FILMS_ANY}},
            "",
            "json",
        ),
        # A plain vnd.pgrst.array is application/json, which a handler may make.
        ("application/vnd.pgrst.array", {FILMS_KEY: {"application/json": OWN_JSON}}, "", OWN_JSON),
        # Own handlers only for the default select; generic ones whatever the select.
        ("*/*", {FILMS_KEY: {"*/*": FILMS_ANY}}, "select=id", "json"),
        ("application/vnd.twkb", {FILMS_KEY: {TWKB.media_type: TWKB}}, "select=*", TWKB),
        ("pg/outfunc", {ANY_ELEMENT: {OUTFUNC.media_type: OUTFUNC}}, "select=id", OUTFUNC),
        # Own over generic, generic over built-in, q-values first.
        (
            "application/json",
            {
                FILMS_KEY: {"application/json": OWN_JSON},
                ANY_ELEMENT: {"application/json": OUTFUNC},
            },
            "",
            OWN_JSON,
        ),
        ("text/csv", {ANY_ELEMENT: {"text/csv": OUTFUNC}}, "", OUTFUNC),
        ("text/csv;q=0.5, pg/outfunc", {ANY_ELEMENT: {OUTFUNC.media_type: OUTFUNC}}, "", OUTFUNC),
        ("pg/outfunc;q=0.5, text/csv", {ANY_ELEMENT: {OUTFUNC.media_type: OUTFUNC}}, "", "csv"),
        # Another table's handlers are not these.
        ("*/*", {QualifiedName("api", "directors"): {"*/*": FILMS_ANY}}, "", "json"),
    ],
)
def test_media_handler_precedence(
    accept: str | None,
    handlers: dict[QualifiedName, dict[str, MediaHandler]],
    query: str,
    expected: MediaHandler | str,
) -> None:
    assert _chosen(accept, handlers, query) == expected


def test_no_handler_for_the_type_is_not_acceptable() -> None:
    with pytest.raises(ApiRequestError) as raised:
        _chosen("application/vnd.twkb", {ANY_ELEMENT: {OUTFUNC.media_type: OUTFUNC}})
    assert (raised.value.code, raised.value.message) == (
        "PGRST107",
        "None of these media types are available: application/vnd.twkb",
    )


def test_a_functions_rows_use_the_handlers_of_their_type() -> None:
    """``SETOF films``: the handlers of ``films`` (in the function's schema); a scalar
    function: its own."""
    handlers = {FILMS_KEY: {TWKB.media_type: TWKB}}
    assert _chosen("application/vnd.twkb", handlers, "since=1", ("rpc", "films_since")) == TWKB
    handlers = {QualifiedName("api", "add_them"): {"text/plain": ADD_THEM_TEXT}}
    assert _chosen("text/plain", handlers, "a=1&b=2", ("rpc", "add_them")) == ADD_THEM_TEXT
    assert _chosen(None, handlers, "a=1&b=2", ("rpc", "add_them")) == "json"
