"""The operator table: one place to add an operator; what an operator may be."""

from __future__ import annotations

import msgspec
import pytest

from pgrest_asgi import (
    OPERATORS,
    ApiRequestError,
    Operator,
    PostgrestGrammar,
    RequestContext,
    SqlglotPlanner,
    Target,
)
from pgrest_asgi.endpoints import _text
from pgrest_asgi.schema.model import Column, QualifiedName, SchemaCache, Table

ITEMS = Table(
    schema="api",
    name="items",
    kind="table",
    columns=(Column(name="name", data_type="text", base_type="text", nullable=True),),
)
SCHEMA = SchemaCache(schemas=("api",), tables={QualifiedName("api", "items"): ITEMS})
CONTEXT = RequestContext(method="GET", target=Target("relation", "api", "items"))


@pytest.mark.parametrize("sql", ["^@", "&&", "-|-", "ILIKE", "IS DISTINCT FROM", "@@"])
def test_operators_are_operator_characters_or_keywords(sql: str) -> None:
    assert Operator(sql).sql == sql


@pytest.mark.parametrize("sql", ["", "= 1; DROP TABLE x", "like", "$1", "a b", "=\n"])
def test_anything_else_is_refused(sql: str) -> None:
    with pytest.raises(ValueError, match="an operator is PostgreSQL operator characters"):
        Operator(sql)


def test_an_operator_added_to_the_grammar_reaches_the_sql() -> None:
    grammar = PostgrestGrammar(operators={**OPERATORS, "startswith": Operator("^@")})
    request = grammar.parse(CONTEXT, [("name", "startswith.ab")])
    plan, params = SqlglotPlanner().plan(request, SCHEMA, CONTEXT)
    sql = SqlglotPlanner().build(plan, params).sql
    assert '"api"."items"."name" OPERATOR(^@) $1' in sql
    assert params == ["ab"]


def test_an_operator_no_table_defines_is_400() -> None:
    request = PostgrestGrammar().parse(CONTEXT, [("name", "eq.x")])
    # A grammar of a host's own that names an operator and attaches no entry.
    filt = request.filters[0]
    unknown = msgspec.structs.replace(
        filt, op=msgspec.structs.replace(filt.op, operator="nope", definition=None)
    )
    request = msgspec.structs.replace(request, filters=(unknown,))
    with pytest.raises(ApiRequestError) as info:
        SqlglotPlanner().plan(request, SCHEMA, CONTEXT)
    assert (info.value.status, info.value.code) == (400, "PGRST100")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        (b"raw", b"raw"),
        ("s", "s"),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (2.5, "2.5"),
        ({"a": [1, None]}, '{"a":[1,null]}'),
        ([1, 'a"b', "c\\d", None], '{"1","a\\"b","c\\\\d",NULL}'),
        ((), "{}"),
    ],
)
def test_endpoint_parameters_as_text(value: object, text: object) -> None:
    assert _text(value) == text


@pytest.mark.parametrize("name", ["in", "is", "fts", "not", "sim2", "trgm_sim", "ünï", ""])
def test_operator_names_the_grammar_cannot_read_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="names are ASCII letters only"):
        PostgrestGrammar(operators={**OPERATORS, name: Operator("%")})
