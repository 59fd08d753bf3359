"""Edge cases of the URL grammar checked against PostgREST's own spec tests: JsonOperatorSpec,
QuerySpec and AndOrParamsSpec (test/spec/Feature/Query/ in PostgREST's repository), on models
of their tables in tests/fixtures/grammar_edge_spec.sql (names prefixed ``ge_``) and on the
``ws_``/``rs_`` tables of tests/fixtures/schema.sql.

Every error body is compared byte for byte (PostgREST's key order, compact JSON)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import msgspec
import pytest

JSON = "application/json; charset=utf-8"
#: The special characters of PostgREST's spec keys, URL-encoded (a raw ``#`` would begin the
#: URL's fragment, which clients do not send).
SPECIAL = quote("!@#$%^&*_", safe="")


async def rows(client: httpx.AsyncClient, url: str) -> Any:
    resp = await client.get(url)
    assert (resp.status_code, resp.headers["content-type"]) == (200, JSON), resp.text
    return resp.json()


async def error(client: httpx.AsyncClient, url: str) -> tuple[int, Any]:
    """Status and body of an error, which must be exactly PostgREST's bytes."""
    resp = await client.get(url)
    body = resp.json()
    ordered = {k: body[k] for k in ("code", "details", "hint", "message")}
    assert resp.content == msgspec.json.encode(ordered)
    assert resp.headers["content-type"] == JSON
    return resp.status_code, body


def parse_error(part: str, value: str, column: int, details: str) -> Any:
    return {
        "code": "PGRST100",
        "details": details,
        "hint": None,
        "message": f'"failed to parse {part} ({value})" (line 1, column {column})',
    }


# --- JsonOperatorSpec: keys, indexes, bad paths ------------------------------------------------


async def test_a_key_may_hold_characters_that_are_not_reserved(client: httpx.AsyncClient) -> None:
    url = f"/ge_json_arr?id=eq.10&select=data->{SPECIAL}d->>{SPECIAL}e::integer"
    assert await rows(client, url) == [{"!@#$%^&*_e": 3}]


async def test_a_reserved_character_in_a_key_is_an_error(client: httpx.AsyncClient) -> None:
    url = f"/ge_json_arr?id=eq.10&select=data->({SPECIAL}d->>{SPECIAL}e::integer"
    assert await error(client, url) == (
        400,
        parse_error(
            "select parameter",
            "data->(!@#$%^&*_d->>!@#$%^&*_e::integer",
            7,
            'unexpected "(" expecting "-", digit or any non reserved character different '
            "from: .,>()",
        ),
    )


async def test_filter_and_order_on_a_key_with_special_characters(
    client: httpx.AsyncClient,
) -> None:
    url = f"/ge_json_arr?select=data->{SPECIAL}d&data->{SPECIAL}d->>{SPECIAL}e=eq.3"
    assert await rows(client, url) == [{"!@#$%^&*_d": {"!@#$%^&*_e": 3}}]
    # The same key in order (PostgREST's doctest) and in a logic tree.
    url = f"/ge_json_arr?select=id&id=in.(9,10)&order=data->>{SPECIAL}d.asc.nullslast"
    assert await rows(client, url) == [{"id": 10}, {"id": 9}]
    url = f"/ge_json_arr?select=id&or=(data->{SPECIAL}d->>{SPECIAL}e.eq.3,id.eq.1)"
    assert await rows(client, url) == [{"id": 1}, {"id": 10}]


async def test_only_well_formed_numbers_are_indexes(client: httpx.AsyncClient) -> None:
    url = "/ge_json_arr?select=data->0->0xy1->1->23-xy-45->1->xy-6->>0::int&id=eq.9"
    assert await rows(client, url) == [{"xy-6": 3}]
    url = "/ge_json_arr?select=data->>-1::int&id=in.(1,2)"
    assert await rows(client, url) == [{"data": 3}, {"data": 6}]
    url = "/ge_json_arr?select=data&data->-1->b->>-1=eq.5"
    assert await rows(client, url) == [{"data": [{"a": [1, 2, 3]}, {"b": [4, 5]}]}]


@pytest.mark.parametrize(
    ("select", "column", "details"),
    [
        # The spec's case, and PostgREST's doctests of its JSON path parser.
        ("data->>--34", 9, 'unexpected "-" expecting digit'),
        (
            "data->>-78xy",
            11,
            'unexpected \'x\' expecting digit, "->", "::", ".", "," or end of input',
        ),
        ("data->>-xy-4", 9, 'unexpected "x" expecting digit'),
    ],
)
async def test_a_bad_json_path_is_an_error(
    client: httpx.AsyncClient, select: str, column: int, details: str
) -> None:
    assert await error(client, f"/ge_json_arr?select={select}") == (
        400,
        parse_error("select parameter", select, column, details),
    )


# --- QuerySpec: in lists ---------------------------------------------------------------------


async def test_in_values_without_quotes(client: httpx.AsyncClient) -> None:
    """A lone ``"`` is a value; so is a value with quotes inside it, and backslashes."""
    assert await rows(client, '/ge_names?name=in.(")') == [{"name": '"'}]
    url = '/ge_names?name=in.(Double"Quote"McGraw")'
    assert await rows(client, url) == [{"name": 'Double"Quote"McGraw"'}]
    assert await rows(client, "/ge_names?name=in.(\\)") == [{"name": "\\"}]
    url = "/ge_names?name=in.(/\\Slash/\\Beast/\\)"
    assert await rows(client, url) == [{"name": "/\\Slash/\\Beast/\\"}]


async def test_in_values_with_quotes(client: httpx.AsyncClient) -> None:
    url = '/ge_names?name=in.("Hebdon, John","Williams, Mary","Smith, Joseph")'
    assert await rows(client, url) == [
        {"name": "Hebdon, John"},
        {"name": "Williams, Mary"},
        {"name": "Smith, Joseph"},
    ]
    url = '/ge_names?name=in.(David White,"Hebdon, John")'
    assert await rows(client, url) == [{"name": "Hebdon, John"}, {"name": "David White"}]
    assert await rows(client, '/ge_names?name=in.("Double O Seven(007)")') == [
        {"name": "Double O Seven(007)"}
    ]
    url = '/ge_names?name=in.("Double\\"Quote\\"McGraw\\"")'
    assert await rows(client, url) == [{"name": 'Double"Quote"McGraw"'}]
    assert await rows(client, '/ge_names?name=in.("\\\\")') == [{"name": "\\"}]
    assert await rows(client, '/ge_names?name=in.("D\\a\\vid W\\h\\ite")') == [
        {"name": "David White"}
    ]


@pytest.mark.parametrize(
    "column",
    [
        "int_data",
        "text_data",
        "bool_data",
        "bin_data",
        "char_data",
        "date_data",
        "real_data",
        "time_data",
    ],
)
async def test_in_with_no_value_is_the_empty_set(client: httpx.AsyncClient, column: str) -> None:
    assert await rows(client, f"/ge_col_types?{column}=in.()") == []


async def test_in_of_blanks(client: httpx.AsyncClient) -> None:
    # Spaces alone are no value: the empty set, and everything for not.in.
    assert await rows(client, "/ge_col_types?int_data=in.(    )") == []
    assert await rows(client, "/ge_col_types?select=int_data&int_data=not.in.()") == [
        {"int_data": 1}
    ]
    # PostgREST reads ("") as no value too (its parser gives the same one empty value).
    assert await rows(client, '/ge_col_types?int_data=in.("")') == []
    # But an empty value beside others is a value: "" is no integer.
    bad = {
        "code": "22P02",
        "details": None,
        "hint": None,
        "message": 'invalid input syntax for type integer: ""',
    }
    assert await error(client, "/ge_col_types?int_data=in.( ,3,4)") == (400, bad)
    # ( , ) is two values, "" and " ": not the empty set.
    assert await error(client, "/ge_col_types?int_data=in.( , )") == (400, bad)
    assert await rows(client, "/ge_names?name=in.( , )") == []
    # Spaces around the parentheses are skipped, not those around the commas.
    assert await rows(client, "/ge_names?name=in.( David White,Larry Thompson )") == [
        {"name": "David White"}
    ]


# --- QuerySpec: select -----------------------------------------------------------------------


async def test_an_empty_root_select_gives_all_columns(client: httpx.AsyncClient) -> None:
    projects = [
        {"id": 1, "name": "Windows 7", "client_id": 1},
        {"id": 2, "name": "Windows 10", "client_id": 1},
        {"id": 3, "name": "IOS", "client_id": 2},
        {"id": 4, "name": "OSX", "client_id": 2},
        {"id": 5, "name": "Orphan", "client_id": None},
    ]
    assert await rows(client, "/rs_projects?select=&order=id") == projects
    assert await rows(client, "/rpc/rs_getallprojects?select=&order=id") == projects


async def test_empty_embeds(client: httpx.AsyncClient) -> None:
    url = "/ws_projects?select=id,name,ws_clients()&order=id&limit=2"
    assert await rows(client, url) == [
        {"id": 1, "name": "Windows 7"},
        {"id": 2, "name": "Windows 10"},
    ]
    url = "/ws_projects?select=id,name,ws_clients!inner()&ws_clients.id=eq.2&order=id"
    assert await rows(client, url) == [{"id": 3, "name": "IOS"}, {"id": 4, "name": "OSX"}]
    url = "/ws_users?select=*,ws_tasks!inner()&ws_tasks.id=eq.3"
    assert await rows(client, url) == [{"id": 1, "name": "Angela Martin"}]


async def test_empty_embeds_nested_in_embeds(client: httpx.AsyncClient) -> None:
    users = [
        {"id": 1, "name": "Angela Martin"},
        {"id": 2, "name": "Michael Scott"},
        {"id": 3, "name": "Dwight Schrute"},
    ]
    url = "/ws_users?select=*,ws_users_tasks(ws_tasks(ws_projects()))&order=id"
    assert await rows(client, url) == users
    url = "/ws_users?select=*,ws_tasks(ws_projects(ws_clients()),ws_users_tasks())&order=id"
    assert await rows(client, url) == users
    url = (
        "/ws_users?select=*,ws_tasks!inner(ws_projects(ws_clients()),ws_users_tasks(),name)"
        "&ws_tasks.id=eq.3"
    )
    assert await rows(client, url) == [
        {"id": 1, "name": "Angela Martin", "ws_tasks": [{"name": "Design w10"}]}
    ]
    url = (
        "/ws_users?select=*,ws_users_tasks!inner(ws_tasks!inner(ws_projects()))"
        "&ws_users_tasks.ws_tasks.id=eq.3"
    )
    assert await rows(client, url) == [{"id": 1, "name": "Angela Martin"}]


# --- AndOrParamsSpec: whitespace, zero conditions, what follows the tree ----------------------


async def test_whitespace_inside_logic_trees(client: httpx.AsyncClient) -> None:
    url = (
        "/ge_entities?and=( and ( id.in.( 1, 2, 3 ) , id.eq.3 ) , or ( id.eq.2 , id.eq.3 ) )"
        "&select=id"
    )
    assert await rows(client, url) == [{"id": 3}]
    url = "/ge_grandchild_entities?or=(id.eq.1, id.eq.2, id.eq.3)&select=id"
    assert await rows(client, url) == [{"id": 1}, {"id": 2}, {"id": 3}]
    url = "/ge_grandchild_entities?and=(id.in.(1,2), id.in.(3,1), id.in.(1,4))&select=id"
    assert await rows(client, url) == [{"id": 1}]
    url = (
        "/ge_grandchild_entities?or=( id.eq.1, id.eq.2, and(id.in.(1,3), id.in.(2,3)), id.eq.4 )"
        "&select=id"
    )
    assert await rows(client, url) == [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 4}]
    url = (
        "/ge_grandchild_entities?and=( id.eq.1, not.or(id.eq.2, id.eq.3), id.in.(1,4),"
        " or(id.eq.1, id.eq.4) )&select=id"
    )
    assert await rows(client, url) == [{"id": 1}]


async def test_a_logic_tree_cannot_have_zero_conditions(client: httpx.AsyncClient) -> None:
    expecting = (
        "field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)"
    )
    assert await error(client, "/ge_entities?or=()") == (
        400,
        parse_error("logic tree", "()", 4, f'unexpected ")" expecting {expecting}'),
    )
    # The column counts the key's operator, as PostgREST parses "not.and()" as one text.
    assert await error(client, "/ge_entities?not.and=()") == (
        400,
        parse_error("logic tree", "()", 9, f'unexpected ")" expecting {expecting}'),
    )


async def test_a_logic_tree_can_have_a_single_condition(client: httpx.AsyncClient) -> None:
    assert await rows(client, "/ge_entities?or=(id.eq.1)&select=id") == [{"id": 1}]
    assert await rows(client, "/ge_entities?and=(id.eq.1)&select=id") == [{"id": 1}]


async def test_what_follows_a_logic_tree_is_ignored(client: httpx.AsyncClient) -> None:
    # Odd, but PostgREST's: its parser stops at the tree's closing parenthesis, and its spec
    # ("can handle eq and neq") sends this extra ")".
    assert await rows(client, "/ge_entities?and=(id.eq.1,id.neq.2))&select=id") == [{"id": 1}]


async def test_columns_that_begin_with_and_or_or(client: httpx.AsyncClient) -> None:
    url = "/ge_grandchild_entities?or=(and_starting_col.eq.smth, or_starting_col.eq.smth)"
    assert await rows(client, url) == []


async def test_logic_tree_values_with_quotes(client: httpx.AsyncClient) -> None:
    url = (
        '/ge_grandchild_entities?or=(name.eq."(grandchild,entity,4)",'
        'name.eq."(grandchild,entity,5)")&select=id'
    )
    assert await rows(client, url) == [{"id": 4}, {"id": 5}]
    url = '/ge_grandchild_entities?or=(id.in.("1","2"),id.in.("3","4"))&select=id'
    assert await rows(client, url) == [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 4}]


async def test_logic_trees_on_embedded_levels(client: httpx.AsyncClient) -> None:
    url = (
        "/ge_entities?ge_child_entities.ge_grandchild_entities.or=(id.eq.1,id.eq.2)"
        "&select=id,ge_child_entities(id,ge_grandchild_entities(id))&order=id"
        "&ge_child_entities.order=id"
    )
    assert await rows(client, url) == [
        {
            "id": 1,
            "ge_child_entities": [
                {"id": 1, "ge_grandchild_entities": [{"id": 1}, {"id": 2}]},
                {"id": 2, "ge_grandchild_entities": []},
                {"id": 4, "ge_grandchild_entities": []},
                {"id": 5, "ge_grandchild_entities": []},
            ],
        },
        {
            "id": 2,
            "ge_child_entities": [
                {"id": 3, "ge_grandchild_entities": []},
                {"id": 6, "ge_grandchild_entities": []},
            ],
        },
        {"id": 3, "ge_child_entities": []},
        {"id": 4, "ge_child_entities": []},
    ]


async def test_an_embed_path_may_be_quoted(client: httpx.AsyncClient) -> None:
    """A key's embed path is made of field names, quoted or not (PostgREST's tree path)."""
    key = quote('"ge_child_entities"')
    url = (
        f"/ge_entities?select=id,ge_child_entities(id)&id=eq.1&{key}.order=id.desc"
        f"&{key}.id=lt.5&{key}.limit=2"
    )
    assert await rows(client, url) == [{"id": 1, "ge_child_entities": [{"id": 4}, {"id": 2}]}]
