"""Query string → ApiRequest, table-driven; and PostgREST-shaped parse errors."""

from __future__ import annotations

from typing import Any

import pytest

from pgrest_asgi.context import RequestContext
from pgrest_asgi.errors import ApiRequestError
from pgrest_asgi.request.grammar import Limits, PostgrestGrammar, parse_accept, parse_prefer
from pgrest_asgi.request.model import (
    Field,
    Filter,
    JsonStep,
    LogicTree,
    MediaType,
    OpExpr,
    OrderTerm,
    SelectEmbed,
    SelectField,
    SelectItem,
    Target,
)
from pgrest_asgi.request.operators import OPERATORS

T = Target("relation", "api", "items")
G = PostgrestGrammar()


def Op(operator: str, value: str | tuple[str, ...], **options: Any) -> OpExpr:
    """The parsed operation, with the operator's entry in the grammar's table attached."""
    return OpExpr(operator, value, definition=OPERATORS.get(operator), **options)


def parse(*params: tuple[str, str], method: str = "GET", **headers: str):  # type: ignore[no-untyped-def]
    return G.parse(RequestContext(method=method, target=T, headers=headers), list(params))


@pytest.mark.parametrize(
    ("select", "expected"),
    [
        ("id", (SelectField(Field("id")),)),
        ("*", (SelectField(Field("*")),)),
        ("id, name", (SelectField(Field("id")), SelectField(Field("name")))),
        ("n:name", (SelectField(Field("name"), alias="n"),)),
        ("price::text", (SelectField(Field("price"), cast="text"),)),
        ("p:price::numeric", (SelectField(Field("price"), alias="p", cast="numeric"),)),
        (
            "data->a->>b",
            (SelectField(Field("data", (JsonStep("->", "a"), JsonStep("->>", "b")))),),
        ),
        ("arr->0", (SelectField(Field("arr", (JsonStep("->", "0", True),))),)),
        ('"Weird Col"', (SelectField(Field("Weird Col")),)),
        ('"a,b.c"', (SelectField(Field("a,b.c")),)),
        ("total:amount.sum()", (SelectField(Field("amount"), alias="total", aggregate="sum"),)),
        (
            "owner(id,name)",
            (SelectEmbed("owner", (SelectField(Field("id")), SelectField(Field("name")))),),
        ),
        (
            "o:owner!fk_owner!inner(*)",
            (SelectEmbed("owner", (SelectField(Field("*")),), "o", "fk_owner", "inner"),),
        ),
        ("...tags(x)", (SelectEmbed("tags", (SelectField(Field("x")),), spread=True),)),
        (
            "..tags(t:x)",
            (
                SelectEmbed(
                    "tags", (SelectField(Field("x"), alias="t"),), spread=True, distinct=True
                ),
            ),
        ),
        (
            "..a:tags!inner(...b(x))",
            (
                SelectEmbed(
                    "tags",
                    (SelectEmbed("b", (SelectField(Field("x")),), spread=True),),
                    "a",
                    join="inner",
                    spread=True,
                    distinct=True,
                ),
            ),
        ),
        ("rel()", (SelectEmbed("rel", ()),)),
        ("count()", (SelectField(Field("*"), aggregate="count"),)),
        (
            "n:count()::int",
            (SelectField(Field("*"), alias="n", aggregate="count", aggregate_cast="int"),),
        ),
    ],
)
def test_select(select: str, expected: tuple[object, ...]) -> None:
    assert parse(("select", select)).select == expected


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("id", "eq.1", Filter(Field("id"), Op("eq", "1"))),
        ("id", "not.eq.1", Filter(Field("id"), Op("eq", "1", negated=True))),
        ("name", "like.*ab*", Filter(Field("name"), Op("like", "%ab%"))),
        ("name", "eq.a.b,c", Filter(Field("name"), Op("eq", "a.b,c"))),
        ("id", "in.(1,2,3)", Filter(Field("id"), Op("in", ("1", "2", "3")))),
        ("id", 'in.("a,b","c\\"d")', Filter(Field("id"), Op("in", ("a,b", 'c"d')))),
        ("id", "in.()", Filter(Field("id"), Op("in", ()))),
        ("x", "is.NULL", Filter(Field("x"), Op("is", "null"))),
        ("x", "not.is.not_null", Filter(Field("x"), Op("is", "not_null", negated=True))),
        ("t", "fts(english).cat", Filter(Field("t"), Op("fts", "cat", language="english"))),
        ("t", "wfts.cat dog", Filter(Field("t"), Op("wfts", "cat dog"))),
        ("n", "like(any).{a*,b*}", Filter(Field("n"), Op("like", "{a%,b%}", quantifier="any"))),
        ("r", "adj.[1,2)", Filter(Field("r"), Op("adj", "[1,2)"))),
        ("d->>k", "eq.v", Filter(Field("d", (JsonStep("->>", "k"),)), Op("eq", "v"))),
        ("x", "isdistinct.3", Filter(Field("x"), Op("isdistinct", "3"))),
    ],
)
def test_filters(key: str, value: str, expected: Filter) -> None:
    assert parse((key, value)).filters == (expected,)


def test_logic_tree() -> None:
    req = parse(("or", "(a.eq.1,not.and(b.gt.2,c.is.null))"), ("not.and", "(d.eq.x)"))
    assert req.logic == (
        LogicTree(
            "or",
            (
                Filter(Field("a"), Op("eq", "1")),
                LogicTree(
                    "and",
                    (
                        Filter(Field("b"), Op("gt", "2")),
                        Filter(Field("c"), Op("is", "null")),
                    ),
                    negated=True,
                ),
            ),
        ),
        LogicTree("and", (Filter(Field("d"), Op("eq", "x")),), negated=True),
    )


def test_logic_tree_quoted_value_with_reserved_characters() -> None:
    req = parse(("or", '(name.eq."a,b(c)",id.in.(1,2))'))
    assert req.logic[0].children == (
        Filter(Field("name"), Op("eq", "a,b(c)")),
        Filter(Field("id"), Op("in", ("1", "2"))),
    )


def test_order_limit_offset_and_embedded_modifiers() -> None:
    req = parse(
        ("order", "id.desc.nullslast,name,rel(x).asc"),
        ("limit", "10"),
        ("offset", "5"),
        ("tags.limit", "2"),
        ("tags.name", "eq.x"),
    )
    assert req.order == (
        OrderTerm(Field("id"), "desc", "last"),
        OrderTerm(Field("name")),
        OrderTerm(Field("x"), "asc", relation="rel"),
    )
    assert (req.limit, req.offset) == (10, 5)
    assert req.embedded[0].path == ("tags",)
    assert req.embedded[0].limit == 2
    assert req.embedded[0].filters == (Filter(Field("name"), Op("eq", "x")),)


def _error(*params: tuple[str, str]) -> ApiRequestError:
    with pytest.raises(ApiRequestError) as info:
        parse(*params)
    return info.value


@pytest.mark.parametrize(
    ("param", "message", "details"),
    [
        (
            ("id", "foo.1"),
            '"failed to parse filter (foo.1)" (line 1, column 1)',
            'unexpected "f" expecting "not" or operator (eq, gt, ...)',
        ),
        (
            ("id", "eq"),
            '"failed to parse filter (eq)" (line 1, column 3)',
            'unexpected end of input expecting "."',
        ),
        (
            ("x", "is.maybe"),
            '"failed to parse filter (is.maybe)" (line 1, column 4)',
            'unexpected "m" expecting "null" or "not_null" or "true" or "false" or "unknown"',
        ),
        (
            ("select", "id,("),
            '"failed to parse select parameter (id,()" (line 1, column 4)',
            'unexpected "(" expecting field name',
        ),
        (
            ("select", "prt.*,u.email"),
            '"failed to parse select parameter (prt.*,u.email)" (line 1, column 5)',
            'unexpected "*" expecting "sum", "avg", "count", "max" or "min"',
        ),
        (
            ("select", "*,created_by:auth.users!fk(id,email)"),
            '"failed to parse select parameter (*,created_by:auth.users!fk(id,email))" '
            "(line 1, column 19)",
            'unexpected "u" expecting "sum", "avg", "count", "max" or "min"',
        ),
        (
            ("select", "id,title,"),
            '"failed to parse select parameter (id,title,)" (line 1, column 10)',
            "unexpected end of input expecting field name",
        ),
        # The two order errors below are PostgREST's own spec expectations.
        (
            ("order", "id.ac"),
            '"failed to parse order (id.ac)" (line 1, column 4)',
            'unexpected "c" expecting "asc", "desc", "nullsfirst" or "nullslast"',
        ),
        (
            ("order", "id.descc"),
            '"failed to parse order (id.descc)" (line 1, column 8)',
            "unexpected 'c' expecting delimiter (.), \",\" or end of input",
        ),
        # PostgREST parses a tree as "or(" + the value: its columns count the "or".
        (
            ("or", "(a.eq.1,b.eq"),
            '"failed to parse logic tree ((a.eq.1,b.eq)" (line 1, column 15)',
            'unexpected end of input expecting "."',
        ),
        # SEC-43: NUL ends a field name; PostgREST shows it as Haskell shows a character.
        (
            ("select", "a\x00b"),
            '"failed to parse select parameter (a\x00b)" (line 1, column 2)',
            'unexpected \'\\NUL\' expecting letter, digit, "-", "->>", "->", "::", '
            '".", ")", "," or end of input',
        ),
        (
            ("select", "id,name;drop table items"),
            '"failed to parse select parameter (id,name;drop table items)" (line 1, column 8)',
            'unexpected \';\' expecting letter, digit, "-", "->>", "->", "::", '
            '".", ")", "," or end of input',
        ),
        (
            ("select", "rel(a b\x01)"),
            '"failed to parse select parameter (rel(a b\x01))" (line 1, column 8)',
            'unexpected \'\\SOH\' expecting letter, digit, "-", "->>", "->", "::", '
            '".", ")", "," or end of input',
        ),
        (
            ("select", '"a b";'),
            '"failed to parse select parameter ("a b";)" (line 1, column 6)',
            'unexpected \';\' expecting "->>", "->", "::", ".", ")", "," or end of input',
        ),
        (
            ("select", "*;"),
            '"failed to parse select parameter (*;)" (line 1, column 2)',
            'unexpected \';\' expecting ")", "," or end of input',
        ),
        (
            ("select", "a\u20acb"),
            '"failed to parse select parameter (a\u20acb)" (line 1, column 2)',
            'unexpected \'\\8364\' expecting letter, digit, "-", "->>", "->", "::", '
            '".", ")", "," or end of input',
        ),
        # SEC-50: ";" is no field-name character.
        (
            ("order", "id;drop"),
            '"failed to parse order (id;drop)" (line 1, column 3)',
            'unexpected \';\' expecting letter, digit, "-", "->>", "->", delimiter (.), '
            '"," or end of input',
        ),
        (
            ("order", "id.desc;drop"),
            '"failed to parse order (id.desc;drop)" (line 1, column 8)',
            "unexpected ';' expecting delimiter (.), \",\" or end of input",
        ),
        (
            ("order", '"id";drop'),
            '"failed to parse order ("id";drop)" (line 1, column 5)',
            'unexpected \';\' expecting "->>", "->", delimiter (.), "," or end of input',
        ),
        # The rest are PostgREST's own doctests (QueryParams.hs).
        (
            ("order", "clients(name,id)"),
            '"failed to parse order (clients(name,id))" (line 1, column 8)',
            'unexpected \'(\' expecting letter, digit, "-", "->>", "->", delimiter (.), '
            '"," or end of input',
        ),
        (
            ("order", "id.nullslasttt"),
            '"failed to parse order (id.nullslasttt)" (line 1, column 13)',
            "unexpected 't' expecting \",\" or end of input",
        ),
        (
            ("order", "id.asc.nlsfst"),
            '"failed to parse order (id.asc.nlsfst)" (line 1, column 8)',
            'unexpected "l" expecting "nullsfirst" or "nullslast"',
        ),
        (
            ("order", "id.asc.nullslasttt"),
            '"failed to parse order (id.asc.nullslasttt)" (line 1, column 17)',
            "unexpected 't' expecting \",\" or end of input",
        ),
        (
            ("order", "id.asc.smth34"),
            '"failed to parse order (id.asc.smth34)" (line 1, column 8)',
            'unexpected "s" expecting "nullsfirst" or "nullslast"',
        ),
        (
            ("select", "name!hint"),
            '"failed to parse select parameter (name!hint)" (line 1, column 5)',
            'unexpected \'!\' expecting letter, digit, "-", "->>", "->", "::", '
            '".", ")", "," or end of input',
        ),
    ],
)
def test_parse_errors(param: tuple[str, str], message: str, details: str) -> None:
    err = _error(param)
    assert (err.status, err.code, err.message, err.details) == (400, "PGRST100", message, details)


@pytest.mark.parametrize(
    ("key", "value"),
    [("limit", "abc"), ("offset", "1e99"), ("limit", "1.5"), ("offset", ""), ("tags.limit", "x")],
)
def test_unreadable_limit_or_offset_is_ignored(key: str, value: str) -> None:
    """SEC-50: PostgREST reads limit and offset with ``readMaybe``; what is no integer is
    ignored, as if the parameter were absent (and a later one replaces an earlier one)."""
    req = parse((key, value))
    assert (req.limit, req.offset) == (None, None)
    assert all(m.limit is None and m.offset is None for m in req.embedded)
    assert parse(("limit", "5"), ("limit", "abc")).limit is None


def test_limit_and_offset_values() -> None:
    assert (parse(("limit", " 7 ")).limit, parse(("offset", "007")).offset) == (7, 7)
    # Past bigint: no limit / past every row, without converting thousands of digits.
    assert parse(("limit", "9" * 5000)).limit == 2**63 - 1
    assert parse(("offset", "9" * 19)).offset == 2**63 - 1


def test_negative_limit_is_416() -> None:
    err = _error(("limit", "-1"))
    assert (err.status, err.code, err.details) == (
        416,
        "PGRST103",
        "Limit should be greater than or equal to zero.",
    )


def test_nesting_limit_is_enforced_cheaply() -> None:
    deep = "(" + "or(" * 1000 + "a.eq.1" + ")" * 1001
    err = _error(("or", deep))
    assert err.code == "PGRST100"
    small = PostgrestGrammar(limits=Limits(max_depth=3))
    with pytest.raises(ApiRequestError):
        small.parse(RequestContext(method="GET", target=T), [("or", "(or(or(or(a.eq.1))))")])


def test_term_limit() -> None:
    many = "(" + ",".join(f"a.eq.{i}" for i in range(1001)) + ")"
    assert _error(("or", many)).code == "PGRST100"
    # The limit is the whole parameter's, not one level's: 3 subtrees of 400 terms each.
    subtree = "and(" + ",".join(f"a.eq.{i}" for i in range(400)) + ")"
    error = _error(("or", "(" + ",".join([subtree] * 3) + ")"))
    assert (error.code, error.details) == (
        "PGRST100",
        'unexpected "," expecting at most 1000 terms',
    )
    parse(("or", "(" + ",".join([subtree] * 2) + ")"))  # 800 terms: within the limit
    # The same for select: items of embeds count with their parent's.
    embed = "e(" + ",".join(f"c{i}" for i in range(600)) + ")"
    assert _error(("select", f"{embed},{embed}")).code == "PGRST100"
    assert len(parse(("select", embed)).select) == 1


def test_range_header_only_on_get() -> None:
    assert parse(range="0-9").range == (0, 9)
    assert parse(range="5-").range == (5, None)
    assert parse(range="0-" + "9" * 5000).range == (0, 2**63 - 1)
    assert (
        G.parse(RequestContext(method="HEAD", target=T, headers={"range": "0-9"}), []).range is None
    )
    with pytest.raises(ApiRequestError) as info:
        parse(range="10-5")
    assert (info.value.status, info.value.code, info.value.details) == (
        416,
        "PGRST103",
        "The lower boundary must be lower than or equal to the upper boundary in the Range header.",
    )


@pytest.mark.parametrize(
    "value", ["items=a-b", "items=0-9", "a-b", " 0-9", "0-9 ", "-5", "0-9,20-29", ""]
)
def test_unparsable_range_header_is_ignored(value: str) -> None:
    """SEC-51: PostgREST reads ``Range`` with ``^([0-9]+)-([0-9]*)$`` and ignores any other
    value, the ``items=`` unit included."""
    assert parse(range=value).range is None


def test_prefer() -> None:
    p = parse_prefer("count=exact, return=representation,count=planned, bogus=1, tx=rollback")
    assert (p.count, p.return_, p.tx, p.invalid) == (
        "exact",
        "representation",
        "rollback",
        ("bogus=1",),
    )
    assert parse_prefer("timezone=America/Los_Angeles, max-affected=5").max_affected == 5


def test_prefer_max_affected_takes_ascii_digits_only() -> None:
    """A header is read as Latin-1: '\u00b2' passes ``str.isdigit`` but is no integer (it
    was a 500); it is an invalid preference like any other."""
    p = parse_prefer("max-affected=\u00b2, max-affected=\u0663")
    assert (p.max_affected, p.invalid) == (None, ("max-affected=\u00b2", "max-affected=\u0663"))


def test_accept_is_ordered_by_q() -> None:
    assert parse_accept("text/csv;q=0.5, Application/JSON, */*;q=0") == (
        MediaType("application/json"),
        MediaType("text/csv", (), 0.5),
    )


def test_canonical_query_sorts_params() -> None:
    req = parse(("select", "id,name"), ("id", "eq.1"), ("a b", "eq.x y"))
    assert req.canonical_query == "a%20b=eq.x%20y&id=eq.1&select=id,name"


# -- SEC-56: a cast's target is a type name, checked by the grammar ----------------------------
@pytest.mark.parametrize(
    ("cast", "canonical"),
    [
        # What PostgREST accepts and PostgreSQL reads as a type keeps working; bare words
        # are folded to lower case as PostgreSQL folds them.
        ("text", "text"),
        ("Int4", "int4"),
        ("INTEGER", "integer"),
        (" text ", "text"),
        ("num_t", "num_t"),
        ("a$b", "a$b"),
        ("ünï", "ünï"),
        ("double precision", "double precision"),
        ("Character  Varying", "character varying"),
        ("timestamp with time zone", "timestamp with time zone"),
        ("time without time zone", "time without time zone"),
        ("interval day to second", "interval day to second"),
        ("national char varying", "national char varying"),
        # Extensions: quoted names, modifiers of digits, array types.
        ('"My \\"Type\\""', '"My ""Type"""'),
        ("int[]", "int[]"),
        ("text [] []", "text[][]"),
        ("double precision[]", "double precision[]"),
        ("numeric(10,2)", "numeric(10,2)"),
        ("numeric (10)", "numeric(10)"),
        ("varchar(20)[]", "varchar(20)[]"),
        ("timestamp(3) with time zone", "timestamp(3) with time zone"),
        ("time(0)without time zone", "time(0) without time zone"),
        ("interval second(2)", "interval second(2)"),
        ("my_type(1,2)", "my_type(1,2)"),
        ('"My Type"(7)', '"My Type"(7)'),
    ],
)
def test_cast_type_names(cast: str, canonical: str) -> None:
    select = parse(("select", f"id::{cast}")).select
    assert select == (SelectField(Field("id"), cast=canonical),)
    aggregated = parse(("select", f"x::{cast}.sum()::{cast}")).select
    assert aggregated == (
        SelectField(Field("x"), cast=canonical, aggregate="sum", aggregate_cast=canonical),
    )


def _select_error(select: str, column: int, details: str) -> tuple[object, ...]:
    message = f'"failed to parse select parameter ({select})" (line 1, column {column})'
    return (400, "PGRST100", message, details)


@pytest.mark.parametrize(
    ("select", "column", "details"),
    [
        # The two requests of the report: a dollar quote after a type, and one spanning a
        # cast and an alias.
        ("id::int $a$", 9, 'unexpected "$" expecting "," or end of input'),
        ("id::$__$,x$__$:name", 5, 'unexpected "$" expecting a type name'),
        ("id::", 5, "unexpected end of input expecting a type name"),
        ("id::1int", 5, 'unexpected "1" expecting a type name'),
        ("id::int foo", 9, 'unexpected "f" expecting "," or end of input'),
        ("id::text;drop table x", 9, 'unexpected ";" expecting "," or end of input'),
        ("id::timestamp with foo", 20, 'unexpected "f" expecting "time"'),
        ("id::timestamp with", 19, 'unexpected end of input expecting "time"'),
        ("id::national foo", 14, 'unexpected "f" expecting "," or end of input'),
        (
            "id::interval day to",
            20,
            'unexpected end of input expecting "hour" or "minute" or "second"',
        ),
        ("id::int(10)", 8, 'unexpected "(" expecting "," or end of input'),
        ("id::varchar(10,2)", 15, 'unexpected "," expecting ")"'),
        ("id::numeric(1", 14, 'unexpected end of input expecting "," or ")"'),
        ("id::numeric(a)", 13, 'unexpected "a" expecting digit'),
        ("id::numeric(-1)", 13, 'unexpected "-" expecting digit'),
        ("id::numeric(1234567890)", 22, 'unexpected "0" expecting "," or ")"'),
        ("id::numeric(1,2,3)", 16, 'unexpected "," expecting ")"'),
        ("id::timestamp with time zone(3)", 29, 'unexpected "(" expecting "," or end of input'),
        ("id::int[3]", 8, 'unexpected "[" expecting "," or end of input'),
        ('id::""', 6, 'unexpected """ expecting a type name'),
        ('id::"a', 5, 'unexpected """ expecting "\\"" to close the quoted name'),
        ("rel(id::int $a$)", 13, 'unexpected "$" expecting ")"'),
        ("n:count()::int $a$", 16, 'unexpected "$" expecting "," or end of input'),
        ("x.sum()::$a$", 10, 'unexpected "$" expecting a type name'),
    ],
)
def test_cast_type_errors(select: str, column: int, details: str) -> None:
    err = _error(("select", select))
    assert (err.status, err.code, err.message, err.details) == _select_error(
        select, column, details
    )


def test_cast_type_with_nul_is_refused() -> None:
    err = _error(("select", 'id::"a\x00b"'))
    assert (err.code, err.details) == ("PGRST100", 'unexpected "\x00" expecting a type name')


# -- issue 12 item 5: grammar edge cases, as PostgREST's parser reads them ----------------------
SPECIAL_KEY = "!@#$%^&*_a"


def test_json_keys_take_characters_that_are_not_reserved() -> None:
    path = (JsonStep("->", SPECIAL_KEY), JsonStep("->>", "!@#$%^&*_e"))
    field = Field("data", path)
    assert parse(("select", f"data->{SPECIAL_KEY}->>!@#$%^&*_e::int")).select == (
        SelectField(field, cast="int"),
    )
    assert parse((f"data->{SPECIAL_KEY}->>!@#$%^&*_e", "eq.3")).filters == (
        Filter(field, Op("eq", "3")),
    )
    req = parse(("order", f"data->{SPECIAL_KEY}.asc,rel(j->{SPECIAL_KEY}).desc"))
    assert req.order == (
        OrderTerm(Field("data", (JsonStep("->", SPECIAL_KEY),)), "asc"),
        OrderTerm(Field("j", (JsonStep("->", SPECIAL_KEY),)), "desc", relation="rel"),
    )
    tree = parse(("or", f"(data->{SPECIAL_KEY}.eq.1)")).logic[0]
    assert tree.children == (Filter(Field("data", (JsonStep("->", SPECIAL_KEY),)), Op("eq", "1")),)
    # Pieces joined by "-" are stripped of spaces; a quoted key is taken as it is.
    assert parse(("select", "d-> a - b ->>'c d'")).select == (
        SelectField(Field("d", (JsonStep("->", "a-b"), JsonStep("->>", "'c d'")))),
    )
    assert parse(("select", 'd->"a.b(c)"')).select == (
        SelectField(Field("d", (JsonStep("->", "a.b(c)"),))),
    )


@pytest.mark.parametrize(
    ("select", "step"),
    [
        ("d->0", JsonStep("->", "0", True)),
        ("d->>-1", JsonStep("->>", "-1", True)),
        ("d->0xy1", JsonStep("->", "0xy1")),
        ("d->23-xy-45", JsonStep("->", "23-xy-45")),
        # An index must be followed by "->", "::", ".", "," or the end: PostgREST reads the
        # 0 of ``rel(d->0)`` as a key, and so do we.
        ("rel(d->0)", JsonStep("->", "0")),
        ("d->1 ", JsonStep("->", "1")),
    ],
)
def test_json_index_or_key(select: str, step: JsonStep) -> None:
    (item,) = parse(("select", select)).select
    field = item.items[0].field if isinstance(item, SelectEmbed) else item.field  # type: ignore[union-attr]
    assert field == Field("d", (step,))


@pytest.mark.parametrize(
    ("select", "column", "details"),
    [
        ("data->>--34", 9, 'unexpected "-" expecting digit'),
        (
            "data->>-78xy",
            11,
            'unexpected \'x\' expecting digit, "->", "::", ".", "," or end of input',
        ),
        ("data->>-xy-4", 9, 'unexpected "x" expecting digit'),
        (
            "data->(a",
            7,
            'unexpected "(" expecting "-", digit or any non reserved character different '
            "from: .,>()",
        ),
        (
            "data->",
            7,
            'unexpected end of input expecting "-", digit or any non reserved character '
            "different from: .,>()",
        ),
        ("data->a-", 9, "unexpected end of input"),
    ],
)
def test_json_path_errors(select: str, column: int, details: str) -> None:
    err = _error(("select", select))
    assert (err.status, err.code, err.message, err.details) == _select_error(
        select, column, details
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("in.()", ()),
        ("in.(    )", ()),
        ("in.(\t)", ()),
        ('in.("")', ()),
        ("in.( , )", ("", " ")),
        ("in.( ,3,4)", ("", "3", "4")),
        ("in.(,)", ("", "")),
        ("in. ( 1 , 2 ) ", ("1 ", " 2 ")),
        ('in.(")', ('"',)),
        ('in.(a,")', ("a", '"')),
        ('in.(Double"Quote"McGraw")', ('Double"Quote"McGraw"',)),
        ('in.("a"b,c)', ('"a"b', "c")),
        ('in.("a" ,b)', ('"a" ', "b")),
        ('in.("a,b","c\\"d\\\\")', ("a,b", 'c"d\\')),
        ("in.(\\)", ("\\",)),
    ],
)
def test_in_lists(value: str, expected: tuple[str, ...]) -> None:
    assert parse(("id", value)).filters == (Filter(Field("id"), Op("in", expected)),)


def test_whitespace_in_logic_trees() -> None:
    req = parse(("and", " ( and ( id.in.( 1, 2, 3 ) , id.eq.3 ) , not.or ( id.eq.2 , id.eq.3 ) ) "))
    assert req.logic == (
        LogicTree(
            "and",
            (
                LogicTree(
                    "and",
                    (
                        Filter(Field("id"), Op("in", ("1", " 2", " 3 "))),
                        # As in PostgREST, a value keeps the spaces before the "," or ")".
                        Filter(Field("id"), Op("eq", "3 ")),
                    ),
                ),
                LogicTree(
                    "or",
                    (Filter(Field("id"), Op("eq", "2 ")), Filter(Field("id"), Op("eq", "3 "))),
                    negated=True,
                ),
            ),
        ),
    )
    # A column may begin with "and"/"or".
    tree = parse(("or", "(and_col.eq.1, or_col.eq.2)")).logic[0]
    assert tree.children == (
        Filter(Field("and_col"), Op("eq", "1")),
        Filter(Field("or_col"), Op("eq", "2")),
    )


def test_what_follows_a_logic_tree_is_ignored() -> None:
    """PostgREST's parser stops at the tree's closing parenthesis (its spec sends
    ``and=(id.eq.1,id.neq.2))``)."""
    req = parse(("and", "(id.eq.1,id.neq.2))"))
    assert req.logic == (
        LogicTree("and", (Filter(Field("id"), Op("eq", "1")), Filter(Field("id"), Op("neq", "2")))),
    )


@pytest.mark.parametrize(
    ("key", "value", "column"),
    [("or", "()", 4), ("and", "( )", 6), ("not.or", "()", 8), ("a.or", "(x.eq.1,)", 11)],
)
def test_a_logic_tree_without_conditions(key: str, value: str, column: int) -> None:
    err = _error((key, value))
    assert (err.status, err.code, err.message, err.details) == (
        400,
        "PGRST100",
        f'"failed to parse logic tree ({value})" (line 1, column {column})',
        'unexpected ")" expecting field name (* or [a..z0..9_$]), negation operator (not) '
        "or logic operator (and, or)",
    )


def test_an_empty_select_is_every_column() -> None:
    assert parse(("select", "")).select == (SelectField(Field("*")),)
    assert parse(("select", "*,a(b())")).select == (
        SelectField(Field("*")),
        SelectEmbed("a", (SelectEmbed("b", ()),)),
    )
    assert parse(("select", "a(b(c()),d())")).select == (
        SelectEmbed("a", (SelectEmbed("b", (SelectEmbed("c", ()),)), SelectEmbed("d", ()))),
    )


@pytest.mark.parametrize(
    ("key", "path", "last"),
    [
        ('"kids".order', ("kids",), "order"),
        ('"a.b"."c d".limit', ("a.b", "c d"), "limit"),
        ('rel."k\\"x".offset', ("rel", 'k"x'), "offset"),
        ('"kids".not.and', ("kids",), "not.and"),
    ],
)
def test_an_embed_path_may_be_quoted(key: str, path: tuple[str, ...], last: str) -> None:
    value = {"order": "id", "limit": "1", "offset": "1"}.get(last, "(id.eq.1)")
    (mods,) = parse((key, value)).embedded
    assert mods.path == path
    if last == "order":
        assert mods.order == (OrderTerm(Field("id")),)
    elif last in ("limit", "offset"):
        assert getattr(mods, last) == 1
    else:
        assert mods.logic == (LogicTree("and", (Filter(Field("id"), Op("eq", "1")),), True),)
    req = parse(('"a.b".x->>k', "eq.1"))
    assert req.embedded[0].path == ("a.b",)
    assert req.embedded[0].filters == (Filter(Field("x", (JsonStep("->>", "k"),)), Op("eq", "1")),)


# -- the cache of parsed selects ----------------------------------------------------------------
SHAPE = "id,name,category:categories(name),reviews(stars,body)"


def _context() -> RequestContext:
    return RequestContext(method="GET", target=Target("relation", "api", "items"))


def test_a_select_shape_is_parsed_once() -> None:
    grammar = PostgrestGrammar()
    first = grammar.parse(_context(), [("select", SHAPE), ("id", "eq.1")])
    again = grammar.parse(_context(), [("select", SHAPE), ("id", "eq.2")])
    assert again.select is first.select  # the same immutable items
    assert again.filters != first.filters  # values are parsed per request


def test_a_failed_or_long_select_is_not_kept() -> None:
    grammar = PostgrestGrammar()
    with pytest.raises(ApiRequestError):
        grammar.parse(_context(), [("select", "id,(")])
    long = ",".join(f"c{i}" for i in range(600))  # over 2 KB
    grammar.parse(_context(), [("select", long)])
    assert grammar._selects == {}


def test_a_grammar_that_changes_select_parsing_is_not_cached() -> None:
    calls: list[str] = []

    class PerCaller(PostgrestGrammar):
        def parse_select(self, value: str) -> tuple[SelectItem, ...]:
            calls.append(value)  # e.g. a select that depends on who is asking
            return super().parse_select(value)

    grammar = PerCaller()
    for _ in range(3):
        grammar.parse(_context(), [("select", SHAPE)])
    assert calls == [SHAPE] * 3
    assert grammar._selects is None


def test_the_cache_is_bounded() -> None:
    grammar = PostgrestGrammar()
    for i in range(1100):
        grammar.parse(_context(), [("select", f"c{i}")])
    assert grammar._selects is not None and len(grammar._selects) <= 1024


# -- the common filter's fast path ---------------------------------------------------------------
@pytest.mark.parametrize("key", ["id", "name", "_x", "Weird_9", "a1"])
@pytest.mark.parametrize(
    "value",
    [
        "eq.5",
        "eq.",
        "not.eq.5",
        "neq.a.b.c",
        "gt.(1,2)",
        'eq."quoted"',
        "like.*abc*",
        "not.ilike.A*",
        "match.^a.*$",
        "eq.with space",
        "lte.2020-01-01T00:00:00+00:00",
        "cs.{1,2}",
        "ov.[1,5)",
        "isdistinct.null",
    ],
)
def test_plain_filters_read_as_the_parser_reads_them(key: str, value: str) -> None:
    slow = PostgrestGrammar()
    slow._plain_filters = False
    assert G.parse_filter(key, value) == slow.parse_filter(key, value)


def test_other_filters_take_the_parser() -> None:
    # Modifiers, built-in operators, paths and casts are the parser's: same answers, same errors.
    slow = PostgrestGrammar()
    slow._plain_filters = False
    for key, value in [
        ("id", "eq(any).{1,2}"),
        ("id", "in.(1,2)"),
        ("id", "is.null"),
        ("doc", "fts(english).cat"),
        ("data->a", "eq.1"),
        ("id", "not.in.(1)"),
    ]:
        assert G.parse_filter(key, value) == slow.parse_filter(key, value)
    for key, value in [("id", "nope.1"), ("id", "eq1"), ("id", "Eq.1")]:
        with pytest.raises(ApiRequestError) as fast_error:
            G.parse_filter(key, value)
        with pytest.raises(ApiRequestError) as slow_error:
            slow.parse_filter(key, value)
        assert fast_error.value.body() == slow_error.value.body()


def test_a_grammar_with_its_own_operators_reading_keeps_it() -> None:
    class Custom(PostgrestGrammar):
        def parse_op(self, key: str, value: str, *args: Any, **kwargs: Any) -> OpExpr:
            return OpExpr("eq", "always")

    assert Custom().parse_filter("id", "gt.1").op == OpExpr("eq", "always")
