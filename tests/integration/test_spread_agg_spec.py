"""Spreads and aggregates checked against PostgREST's own spec,
test/spec/Feature/Query/SpreadQueriesSpec.hs and AggregateFunctionsSpec.hs, translated onto the
``sa_*`` tables of tests/fixtures/spread_agg_spec.sql (the spec's, renamed; same data). Each test
names the spec's ``describe``/``context``/``it`` path in a comment and asserts PostgREST's
answer (status and body; an object that names a key twice is kept whole, so a repeated key
fails the comparison).

Where the spec's request has no ``order``, its row order is PostgreSQL's plan's, so rows are
compared as a multiset (``unordered``); the order of values inside aggregated arrays is kept.
An embed the spec names ``rel`` appears under ``sa_rel`` here (the renamed relation).
Adapted: ``/supervisors?...&limit=3`` (unordered) is asked with ``order=name`` and all rows;
the spec's trash_details data is ours (keys summing to 24).

Left out, because tests/integration/test_embed.py already covers them on other tables: a nested
to-one spread (roles → films → posters), a to-one spread of ``*``, the plain aggregates
``count()``/``sum``/``max``/``min`` and ``avg`` with casts, ``count()`` inside a to-many embed.
To-many spreads with aggregates disabled are tested here only; test_embed.py's to-many spreads
run with aggregates enabled.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.integration.test_rpc import error, ok

JSON = "application/json; charset=utf-8"
NOT_ALLOWED = {
    "code": "PGRST123",
    "details": None,
    "hint": None,
    "message": "Use of aggregate functions is not allowed",
}


class unordered:  # lower case: reads as a function at the call sites
    """Rows compared as a multiset: ``unordered(body) == [...]`` ignores the row order."""

    def __init__(self, rows: list[Any]) -> None:
        self.rows = sorted(rows, key=lambda row: json.dumps(row, sort_keys=True))

    def __eq__(self, other: object) -> bool:
        other_rows = other.rows if isinstance(other, unordered) else other
        return isinstance(other_rows, list) and self.rows == unordered_sorted(other_rows)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"unordered({self.rows!r})"


def unordered_sorted(rows: list[Any]) -> list[Any]:
    return sorted(rows, key=lambda row: json.dumps(row, sort_keys=True))


class repeated(tuple[tuple[str, Any], ...]):  # lower case, like unordered
    """A JSON object that names a key more than once, as its ``(key, value)`` pairs in order."""

    def __new__(cls, *pairs: tuple[str, Any]) -> repeated:
        return super().__new__(cls, pairs)

    def __repr__(self) -> str:
        return f"repeated{tuple(self)!r}"


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any] | repeated:
    keys = [key for key, _ in pairs]
    return dict(pairs) if len(set(keys)) == len(keys) else repeated(*pairs)


Answer = tuple[int, Any]


def answer(resp: httpx.Response) -> Answer:
    """Status and JSON body; an object with a repeated key is kept whole as :class:`repeated`."""
    assert resp.headers.get("content-type") == JSON, (resp.status_code, resp.text)
    body = json.loads(resp.content, object_pairs_hook=_object)
    if resp.status_code >= 400:
        assert resp.headers.get("proxy-status") == f"PostgREST; error={body['code']}", body
    else:
        assert "proxy-status" not in resp.headers, resp.headers
    return resp.status_code, body


# == SpreadQueriesSpec: aggDisabledSpec, describe "spread embeds" ===============================
async def test_spread_many_to_one(client: httpx.AsyncClient) -> None:
    # it "works on a many-to-one relationship"
    resp = await client.get("/sa_projects?select=id,...sa_clients(client_name:name)")
    assert unordered(ok(resp)) == [
        {"id": 1, "client_name": "Microsoft"},
        {"id": 2, "client_name": "Microsoft"},
        {"id": 3, "client_name": "Apple"},
        {"id": 4, "client_name": "Apple"},
        {"id": 5, "client_name": None},
    ]
    resp = await client.get(
        "/sa_grandchild_entities?select=name,...sa_child_entities(parent_name:name,"
        "...sa_entities(grandparent_name:name))&limit=3"
    )
    assert ok(resp) == [
        {
            "name": "grandchild entity 1",
            "parent_name": "child entity 1",
            "grandparent_name": "entity 1",
        },
        {
            "name": "grandchild entity 2",
            "parent_name": "child entity 1",
            "grandparent_name": "entity 1",
        },
        {
            "name": "grandchild entity 3",
            "parent_name": "child entity 2",
            "grandparent_name": "entity 1",
        },
    ]
    resp = await client.get(
        "/sa_videogames?select=name,...sa_computed_designers(designer_name:name)"
    )
    assert unordered(ok(resp)) == [
        {"name": "Civilization I", "designer_name": "Sid Meier"},
        {"name": "Civilization II", "designer_name": "Sid Meier"},
        {"name": "Final Fantasy I", "designer_name": "Hironobu Sakaguchi"},
        {"name": "Final Fantasy II", "designer_name": "Hironobu Sakaguchi"},
    ]


async def test_spread_inside_a_normal_embed_and_one_to_one(client: httpx.AsyncClient) -> None:
    # it "works inside a normal embed"
    resp = await client.get(
        "/sa_grandchild_entities?select=name,"
        "child_entity:sa_child_entities(name,...sa_entities(parent_name:name))&limit=1"
    )
    assert ok(resp) == [
        {
            "name": "grandchild entity 1",
            "child_entity": {"name": "child entity 1", "parent_name": "entity 1"},
        }
    ]
    # it "works on a one-to-one relationship"
    resp = await client.get("/sa_country?select=name,...sa_capital(capital:name)")
    assert unordered(ok(resp)) == [
        {"name": "Afghanistan", "capital": "Kabul"},
        {"name": "Algeria", "capital": "Algiers"},
    ]


async def test_one_to_many_spread_needs_aggregates(client: httpx.AsyncClient) -> None:
    # it "fails when it's a one-to-many relationship and aggregates are disabled"
    assert answer(await client.get("/sa_clients?select=*,...sa_projects(*)")) == (400, NOT_ALLOWED)
    assert answer(await client.get("/sa_designers?select=*,...sa_computed_videogames(*)")) == (
        400,
        NOT_ALLOWED,
    )


async def test_many_to_many_spread_needs_aggregates(client: httpx.AsyncClient) -> None:
    # it "fails when it's a many-to-many relationship and aggregates are disabled"
    def row(sid: int, name: str, ids: list[int], names: list[str], *rest: list[int]) -> Any:
        factory_ids, category_ids = rest
        return repeated(
            ("id", sid),
            ("name", name),
            ("id", ids),
            ("name", names),
            ("factory_id", factory_ids),
            ("category_id", category_ids),
        )

    assert answer(await client.get("/sa_supervisors?select=*,...sa_processes(*)")) == (
        400,
        NOT_ALLOWED,
    )


async def test_junction_attributes_on_m2m(client: httpx.AsyncClient) -> None:
    # it "can include or exclude attributes of the junction on a m2m"
    resp = await client.get("/sa_users?select=*,tasks:sa_users_tasks(*,...sa_tasks(*))&limit=1")
    assert ok(resp) == [
        {
            "id": 1,
            "name": "Angela Martin",
            "tasks": [
                {"user_id": 1, "task_id": 1, "id": 1, "name": "Design w7", "project_id": 1},
                {"user_id": 1, "task_id": 2, "id": 2, "name": "Code w7", "project_id": 1},
                {"user_id": 1, "task_id": 3, "id": 3, "name": "Design w10", "project_id": 2},
                {"user_id": 1, "task_id": 4, "id": 4, "name": "Code w10", "project_id": 2},
            ],
        }
    ]
    resp = await client.get("/sa_users?select=*,tasks:sa_users_tasks(...sa_tasks(*))&limit=1")
    assert ok(resp) == [
        {
            "id": 1,
            "name": "Angela Martin",
            "tasks": [
                {"id": 1, "name": "Design w7", "project_id": 1},
                {"id": 2, "name": "Code w7", "project_id": 1},
                {"id": 3, "name": "Design w10", "project_id": 2},
                {"id": 4, "name": "Code w10", "project_id": 2},
            ],
        }
    ]


async def test_double_dot_on_a_to_one_spread(client: httpx.AsyncClient) -> None:
    # context "using the .. operator" / it "works as an alias of the ... operator on a to-one
    # spread"
    assert answer(await client.get("/sa_projects?select=id,..sa_clients(client_name:name)")) == (
        200,
        unordered(
            [
                {"id": 1, "client_name": "Microsoft"},
                {"id": 2, "client_name": "Microsoft"},
                {"id": 3, "client_name": "Apple"},
                {"id": 4, "client_name": "Apple"},
                {"id": 5, "client_name": None},
            ]
        ),
    )
    assert answer(await client.get("/sa_country?select=name,..sa_capital(capital:name)")) == (
        200,
        unordered(
            [
                {"name": "Afghanistan", "capital": "Kabul"},
                {"name": "Algeria", "capital": "Algiers"},
            ]
        ),
    )


async def test_double_dot_on_a_to_many_spread_without_aggregates(
    client: httpx.AsyncClient,
) -> None:
    # context "using the .. operator" / it "fails when it's a to-many relationship and
    # aggregates are disabled"
    assert answer(await client.get("/sa_clients?select=*,..sa_projects(*)")) == (400, NOT_ALLOWED)
    assert answer(await client.get("/sa_supervisors?select=*,..sa_processes(*)")) == (
        400,
        NOT_ALLOWED,
    )


# == SpreadQueriesSpec: aggEnabledSpec, context "one-to-many relationships as array aggregates" =
async def test_o2m_spread_columns(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "should aggregate a single spread column"
        resp = await http.get("/sa_factories?select=factory:name,...sa_processes(name)&id=lte.2")
        assert unordered(ok(resp)) == [
            {"factory": "Factory A", "name": ["Process A1", "Process A2"]},
            {"factory": "Factory B", "name": ["Process B1", "Process B2"]},
        ]
        resp = await http.get(
            "/sa_factories?select=factory:name,...sa_processes(processes:name)&id=lte.2"
        )
        assert unordered(ok(resp)) == [
            {"factory": "Factory A", "processes": ["Process A1", "Process A2"]},
            {"factory": "Factory B", "processes": ["Process B1", "Process B2"]},
        ]
        # it "should aggregate many spread columns"
        resp = await http.get(
            "/sa_factories?select=factory:name,"
            "...sa_processes(processes:name,categories:category_id)&id=lte.2"
        )
        assert unordered(ok(resp)) == [
            {
                "factory": "Factory A",
                "processes": ["Process A1", "Process A2"],
                "categories": [1, 2],
            },
            {
                "factory": "Factory B",
                "processes": ["Process B1", "Process B2"],
                "categories": [1, 1],
            },
        ]


async def test_o2m_spread_of_star(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "should work when selecting all columns, aggregating each one of them"
        resp = await http.get(
            "/sa_factories?select=factory:name,...sa_processes(*)&id=lte.2&order=name"
        )
        assert ok(resp) == [
            {
                "factory": "Factory A",
                "id": [1, 2],
                "name": ["Process A1", "Process A2"],
                "factory_id": [1, 1],
                "category_id": [1, 2],
            },
            {
                "factory": "Factory B",
                "id": [3, 4],
                "name": ["Process B1", "Process B2"],
                "factory_id": [2, 2],
                "category_id": [1, 1],
            },
        ]


async def test_to_many_spread_null_filter(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # context "one-to-many relationships as array aggregates" /
        # it "should return an empty array when no elements are found"
        resp = await http.get(
            "/sa_factories?select=factory:name,...sa_processes(processes:name)&sa_processes=is.null"
        )
        assert ok(resp) == [{"factory": "Factory D", "processes": []}]
        # context "many-to-many relationships as array aggregates" / (the same it)
        resp = await http.get(
            "/sa_operators?select=operator:name,...sa_processes(processes:name)"
            "&sa_processes=is.null"
        )
        assert ok(resp) == [{"operator": "Liz", "processes": []}]


async def test_o2m_spread_with_nested_spreads(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "should aggregate spread columns from a nested one-to-one relationship"
        resp = await http.get(
            "/sa_factories?select=factory:name,"
            "...sa_processes(process:name,...sa_process_costs(process_costs:cost))&id=lte.2&sa_processes.order=id"
        )
        assert unordered(ok(resp)) == [
            {
                "factory": "Factory A",
                "process": ["Process A1", "Process A2"],
                "process_costs": [150.00, 200.00],
            },
            {
                "factory": "Factory B",
                "process": ["Process B1", "Process B2"],
                "process_costs": [180.00, 70.00],
            },
        ]
        # it "should aggregate spread columns from a nested many-to-one relationship"
        resp = await http.get(
            "/sa_factories?select=factory:name,"
            "...sa_processes(process:name,...sa_process_categories(categories:name))&id=lte.2&sa_processes.order=id"
        )
        assert unordered(ok(resp)) == [
            {
                "factory": "Factory A",
                "process": ["Process A1", "Process A2"],
                "categories": ["Batch", "Mass"],
            },
            {
                "factory": "Factory B",
                "process": ["Process B1", "Process B2"],
                "categories": ["Batch", "Batch"],
            },
        ]
        # it "should work when selecting all columns in a nested to-one resource, aggregating
        # each one of them"
        resp = await http.get(
            "/sa_factories?select=factory:name,...sa_processes(*,...sa_process_costs(*))&id=lte.2&sa_processes.order=id"
        )
        assert unordered(ok(resp)) == [
            {
                "factory": "Factory A",
                "id": [1, 2],
                "name": ["Process A1", "Process A2"],
                "factory_id": [1, 1],
                "category_id": [1, 2],
                "process_id": [1, 2],
                "cost": [150.00, 200.00],
            },
            {
                "factory": "Factory B",
                "id": [3, 4],
                "name": ["Process B1", "Process B2"],
                "factory_id": [2, 2],
                "category_id": [1, 1],
                "process_id": [3, 4],
                "cost": [180.00, 70.00],
            },
        ]


async def test_o2m_spread_with_nested_to_many_spreads(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "should aggregate spread columns from a nested one-to-many relationship"
        assert answer(
            await http.get(
                "/sa_factories?select=factory:name,...sa_processes(process:name,"
                "...sa_process_supervisor(supervisor_ids:supervisor_id))&id=lte.2"
            )
        ) == (
            200,
            unordered(
                [
                    {
                        "factory": "Factory A",
                        "process": ["Process A1", "Process A2"],
                        "supervisor_ids": [1, 2],
                    },
                    {
                        "factory": "Factory B",
                        "process": ["Process B1", "Process B1", "Process B2", "Process B2"],
                        "supervisor_ids": [3, 4, 1, 2],
                    },
                ]
            ),
        )
        # it "should aggregate spread columns from a nested many-to-many relationship"
        assert answer(
            await http.get(
                "/sa_factories?select=factory:name,"
                "...sa_processes(process:name,...sa_supervisors(supervisors:name))&id=lte.2"
            )
        ) == (
            200,
            unordered(
                [
                    {
                        "factory": "Factory A",
                        "process": ["Process A1", "Process A2"],
                        "supervisors": ["Mary", "John"],
                    },
                    {
                        "factory": "Factory B",
                        "process": ["Process B1", "Process B1", "Process B2", "Process B2"],
                        "supervisors": ["Peter", "Sarah", "Mary", "John"],
                    },
                ]
            ),
        )


async def test_o2m_spread_with_nested_to_one_embeds(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "should aggregate a nested non-spread one-to-one relationship into an array of
        # objects"
        resp = await http.get(
            "/sa_factories?select=factory:name,...sa_processes(process:name,sa_process_costs(cost))"
            "&id=lte.2"
        )
        assert unordered(ok(resp)) == [
            {
                "factory": "Factory A",
                "process": ["Process A1", "Process A2"],
                "sa_process_costs": [{"cost": 150.00}, {"cost": 200.00}],
            },
            {
                "factory": "Factory B",
                "process": ["Process B1", "Process B2"],
                "sa_process_costs": [{"cost": 180.00}, {"cost": 70.00}],
            },
        ]
        # it "should aggregate a nested non-spread many-to-one relationship into an array of
        # objects"
        resp = await http.get(
            "/sa_factories?select=factory:name,"
            "...sa_processes(process:name,sa_process_categories(name))&id=lte.2"
        )
        # The order inside the arrays is the plan's (we give Factory B's processes as B2, B1).
        body = [
            {
                **row,
                "process": sorted(row["process"]),
                "sa_process_categories": sorted(
                    row["sa_process_categories"], key=lambda o: o["name"]
                ),
            }
            for row in ok(resp)
        ]
        assert unordered(body) == [
            {
                "factory": "Factory A",
                "process": ["Process A1", "Process A2"],
                "sa_process_categories": [{"name": "Batch"}, {"name": "Mass"}],
            },
            {
                "factory": "Factory B",
                "process": ["Process B1", "Process B2"],
                "sa_process_categories": [{"name": "Batch"}, {"name": "Batch"}],
            },
        ]


async def test_o2m_spread_with_nested_to_many_embeds(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "should aggregate a nested non-spread one-to-many relationship into an array of
        # objects"
        assert answer(
            await http.get(
                "/sa_factories?select=factory:name,"
                "...sa_processes(process:name,sa_process_supervisor(supervisor_id))&id=lte.2"
            )
        ) == (
            200,
            unordered(
                [
                    {
                        "factory": "Factory A",
                        "process": ["Process A1", "Process A2"],
                        "sa_process_supervisor": [{"supervisor_id": 1}, {"supervisor_id": 2}],
                    },
                    {
                        "factory": "Factory B",
                        "process": ["Process B1", "Process B1", "Process B2", "Process B2"],
                        "sa_process_supervisor": [
                            {"supervisor_id": 3},
                            {"supervisor_id": 4},
                            {"supervisor_id": 1},
                            {"supervisor_id": 2},
                        ],
                    },
                ]
            ),
        )
        # it "should aggregate a nested non-spread many-to-many relationship into an array of
        # objects"
        assert answer(
            await http.get(
                "/sa_factories?select=factory:name,"
                "...sa_processes(process:name,sa_supervisors(name))&id=lte.2"
            )
        ) == (
            200,
            unordered(
                [
                    {
                        "factory": "Factory A",
                        "process": ["Process A1", "Process A2"],
                        "sa_supervisors": [{"name": "Mary"}, {"name": "John"}],
                    },
                    {
                        "factory": "Factory B",
                        "process": ["Process B1", "Process B1", "Process B2", "Process B2"],
                        "sa_supervisors": [
                            {"name": "Peter"},
                            {"name": "Sarah"},
                            {"name": "Mary"},
                            {"name": "John"},
                        ],
                    },
                ]
            ),
        )


async def test_o2m_spread_grouped_by_star(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "should work when selecting all columns in the top resource, grouping by each one
        # of them"
        resp = await http.get(
            "/sa_factories?select=*,...sa_processes(process_ids:id,process_names:name)"
            "&id=lte.2&order=id"
        )
        assert ok(resp) == [
            {
                "id": 1,
                "name": "Factory A",
                "process_ids": [1, 2],
                "process_names": ["Process A1", "Process A2"],
            },
            {
                "id": 2,
                "name": "Factory B",
                "process_ids": [3, 4],
                "process_names": ["Process B1", "Process B2"],
            },
        ]
        # it "should work when selecting all columns in a non-spread embed resource, grouping by
        # each one of them"
        resp = await http.get(
            "/sa_factory_buildings?select=code,"
            "sa_factories(*,...sa_processes(process_ids:id,process_names:name))"
            "&factory_id=lte.2&order=factory_id"
        )
        a = {
            "id": 1,
            "name": "Factory A",
            "process_ids": [1, 2],
            "process_names": ["Process A1", "Process A2"],
        }
        b = {
            "id": 2,
            "name": "Factory B",
            "process_ids": [3, 4],
            "process_names": ["Process B1", "Process B2"],
        }
        assert ok(resp) == [
            {"code": "A001", "sa_factories": a},
            {"code": "A002", "sa_factories": a},
            {"code": "B001", "sa_factories": b},
            {"code": "B002", "sa_factories": b},
        ]


async def test_o2m_double_dot_distinct_values(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # context "using the .. operator to get distinct no null values" /
        # it "should work on a non-nested spread relationship"
        assert answer(
            await http.get("/sa_factories?select=factory:name,..sa_processes(category_id)&id=lte.2")
        ) == (
            200,
            unordered(
                [
                    {"factory": "Factory A", "category_id": [1, 2]},
                    {"factory": "Factory B", "category_id": [1]},
                ]
            ),
        )
        # it "should work when selecting all columns"
        assert answer(
            await http.get(
                "/sa_factories?select=factory:name,..sa_processes(*)&id=lte.2&order=name"
            )
        ) == (
            200,
            [
                {
                    "factory": "Factory A",
                    "id": [1, 2],
                    "name": ["Process A1", "Process A2"],
                    "factory_id": [1],
                    "category_id": [1, 2],
                },
                {
                    "factory": "Factory B",
                    "id": [3, 4],
                    "name": ["Process B1", "Process B2"],
                    "factory_id": [2],
                    "category_id": [1],
                },
            ],
        )
        # it "should work on a nested one-to-one relationship"
        assert answer(
            await http.get(
                "/sa_factories?select=factory:name,"
                "...sa_processes(..sa_process_costs(process_costs:cost))&id=eq.3"
            )
        ) == (200, [{"factory": "Factory C", "process_costs": [40.00, 70.00]}])


async def test_o2m_double_dot_nested_and_empty(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # context "using the .. operator to get distinct no null values" /
        # it "should return an empty array when no elements are found"
        resp = await http.get(
            "/sa_factories?select=factory:name,..sa_processes(processes:name)&sa_processes=is.null"
        )
        assert answer(resp) == (200, [{"factory": "Factory D", "processes": []}])
        # it "should work on a nested many-to-one relationship"
        resp = await http.get(
            "/sa_factories?select=factory:name,"
            "...sa_processes(..sa_process_categories(categories:name))&id=eq(any).{2,3}"
        )
        assert answer(resp) == (
            200,
            unordered(
                [
                    {"factory": "Factory B", "categories": ["Batch"]},
                    {"factory": "Factory C", "categories": ["Mass"]},
                ]
            ),
        )
        # it "should work on a nested one-to-many relationship"
        resp = await http.get(
            "/sa_factories?select=factory:name,"
            "...sa_processes(..sa_process_supervisor(supervisor_ids:supervisor_id))&id=eq.3"
        )
        assert answer(resp) == (200, [{"factory": "Factory C", "supervisor_ids": [3]}])
        # it "should work on a nested many-to-many relationship"
        resp = await http.get(
            "/sa_factories?select=factory:name,"
            "...sa_processes(..sa_supervisors(supervisors:name))&id=eq.3"
        )
        assert answer(resp) == (200, [{"factory": "Factory C", "supervisors": ["Peter"]}])


async def test_o2m_double_dot_nested_embeds(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # context "using the .. operator to get distinct no null values" / it "should work on a
        # nested non-spread one-to-one relationship, returning an array of objects with
        # distinct no-null values" (and many-to-one, one-to-many, many-to-many)
        resp = await http.get(
            "/sa_factories?select=factory:name,..sa_processes(sa_process_costs(cost))&id=eq.3"
        )
        assert answer(resp) == (
            200,
            [{"factory": "Factory C", "sa_process_costs": [{"cost": 40.00}, {"cost": 70.00}]}],
        )
        resp = await http.get(
            "/sa_factories?select=factory:name,..sa_processes(sa_process_categories(name))"
            "&id=eq(any).{2,3}"
        )
        assert answer(resp) == (
            200,
            unordered(
                [
                    {"factory": "Factory B", "sa_process_categories": [{"name": "Batch"}]},
                    {"factory": "Factory C", "sa_process_categories": [{"name": "Mass"}]},
                ]
            ),
        )
        resp = await http.get(
            "/sa_factories?select=factory:name,..sa_processes(sa_process_supervisor(supervisor_id))"
            "&id=eq.3"
        )
        assert answer(resp) == (
            200,
            [{"factory": "Factory C", "sa_process_supervisor": [{"supervisor_id": 3}]}],
        )
        resp = await http.get(
            "/sa_factories?select=factory:name,..sa_processes(sa_supervisors(name))&id=eq.3"
        )
        assert answer(resp) == (
            200,
            [{"factory": "Factory C", "sa_supervisors": [{"name": "Peter"}]}],
        )


# == SpreadQueriesSpec: aggEnabledSpec, context "many-to-many relationships as array aggregates"
async def test_m2m_spread_columns(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "should aggregate many spread columns"
        resp = await http.get(
            "/sa_operators?select=operator:name,"
            "...sa_processes(processes:name,categories:category_id)&id=lte.2"
        )
        assert unordered(ok(resp)) == [
            {
                "operator": "Anne",
                "processes": ["Process A1", "Process A2", "Process B2"],
                "categories": [1, 2, 1],
            },
            {"operator": "Louis", "processes": ["Process A1", "Process A2"], "categories": [1, 2]},
        ]
        # it "should work when selecting all columns, aggregating each one of them"
        resp = await http.get("/sa_operators?select=operator:name,...sa_processes(*)&id=lte.2")
        assert unordered(ok(resp)) == [
            {
                "operator": "Anne",
                "id": [1, 2, 4],
                "name": ["Process A1", "Process A2", "Process B2"],
                "factory_id": [1, 1, 2],
                "category_id": [1, 2, 1],
            },
            {
                "operator": "Louis",
                "id": [1, 2],
                "name": ["Process A1", "Process A2"],
                "factory_id": [1, 1],
                "category_id": [1, 2],
            },
        ]


async def test_m2m_spread_with_nested_spreads(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "should aggregate spread columns from a nested one-to-one relationship"
        resp = await http.get(
            "/sa_operators?select=operator:name,"
            "...sa_processes(process:name,...sa_process_costs(process_costs:cost))&id=lte.2"
        )
        assert unordered(ok(resp)) == [
            {
                "operator": "Anne",
                "process": ["Process A1", "Process A2", "Process B2"],
                "process_costs": [150.00, 200.00, 70.00],
            },
            {
                "operator": "Louis",
                "process": ["Process A1", "Process A2"],
                "process_costs": [150.00, 200.00],
            },
        ]


async def test_m2m_spread_with_a_nested_to_many_spread(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "should aggregate spread columns from a nested many-to-many relationship"
        assert answer(
            await http.get(
                "/sa_operators?select=operator:name,"
                "...sa_processes(process:name,...sa_supervisors(supervisors:name))&id=lte.2"
            )
        ) == (
            200,
            unordered(
                [
                    {
                        "operator": "Anne",
                        "process": ["Process A1", "Process A2", "Process B2", "Process B2"],
                        "supervisors": ["Mary", "John", "Mary", "John"],
                    },
                    {
                        "operator": "Louis",
                        "process": ["Process A1", "Process A2"],
                        "supervisors": ["Mary", "John"],
                    },
                ]
            ),
        )


async def test_m2m_spread_with_a_nested_to_one_embed(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "should aggregate a nested non-spread many-to-one relationship into an array of
        # objects"
        resp = await http.get(
            "/sa_operators?select=operator:name,"
            "...sa_processes(process:name,sa_process_categories(name))&id=lte.2"
        )
        assert unordered(ok(resp)) == [
            {
                "operator": "Anne",
                "process": ["Process A1", "Process A2", "Process B2"],
                "sa_process_categories": [{"name": "Batch"}, {"name": "Mass"}, {"name": "Batch"}],
            },
            {
                "operator": "Louis",
                "process": ["Process A1", "Process A2"],
                "sa_process_categories": [{"name": "Batch"}, {"name": "Mass"}],
            },
        ]


async def test_m2m_spread_with_a_nested_to_many_embed(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "should aggregate a nested non-spread one-to-many relationship into an array of
        # objects"
        assert answer(
            await http.get(
                "/sa_operators?select=operator:name,"
                "...sa_processes(process:name,sa_process_supervisor(supervisor_id))&id=lte.2"
            )
        ) == (
            200,
            unordered(
                [
                    {
                        "operator": "Anne",
                        "process": ["Process A1", "Process A2", "Process B2", "Process B2"],
                        "sa_process_supervisor": [
                            {"supervisor_id": 1},
                            {"supervisor_id": 2},
                            {"supervisor_id": 1},
                            {"supervisor_id": 2},
                        ],
                    },
                    {
                        "operator": "Louis",
                        "process": ["Process A1", "Process A2"],
                        "sa_process_supervisor": [{"supervisor_id": 1}, {"supervisor_id": 2}],
                    },
                ]
            ),
        )


async def test_spreads_inside_a_non_spread_embed_in_a_to_many_spread(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "should not aggregate to-one relationships when they're nested inside a non-spread
        # relationship, even if the latter is nested in a to-many spread"
        resp = await http.get(
            "/sa_supervisors?select=name,"
            "...sa_process_supervisor(sa_processes(name,...sa_process_costs(cost)))&id=lte.2"
        )
        assert unordered(ok(resp)) == [
            {
                "name": "John",
                "sa_processes": [
                    {"cost": 200.00, "name": "Process A2"},
                    {"cost": 70.00, "name": "Process B2"},
                ],
            },
            {
                "name": "Mary",
                "sa_processes": [
                    {"cost": 150.00, "name": "Process A1"},
                    {"cost": 70.00, "name": "Process B2"},
                ],
            },
        ]
        # it "should aggregate to-many relationships when they're nested inside a non-spread
        # relationship"
        resp = await http.get(
            "/sa_supervisors?select=name,"
            "...sa_process_supervisor(sa_processes(name,...sa_operators(operators:name)))&id=lte.2"
        )
        assert unordered(ok(resp)) == [
            {
                "name": "John",
                "sa_processes": [
                    {"name": "Process A2", "operators": ["Anne", "Louis", "Jeff"]},
                    {"name": "Process B2", "operators": ["Anne", "Jeff"]},
                ],
            },
            {
                "name": "Mary",
                "sa_processes": [
                    {"name": "Process A1", "operators": ["Anne", "Louis"]},
                    {"name": "Process B2", "operators": ["Anne", "Jeff"]},
                ],
            },
        ]


async def test_m2m_spread_grouped_by_star(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "should work when selecting all columns in the top resource, grouping by each one
        # of them"
        resp = await http.get(
            "/sa_processes?select=*,...sa_operators(operator_ids:id,operator_names:name)"
            "&id=lte.2&order=id"
        )
        assert ok(resp) == [
            {
                "id": 1,
                "name": "Process A1",
                "factory_id": 1,
                "category_id": 1,
                "operator_ids": [1, 2],
                "operator_names": ["Anne", "Louis"],
            },
            {
                "id": 2,
                "name": "Process A2",
                "factory_id": 1,
                "category_id": 2,
                "operator_ids": [1, 2, 3],
                "operator_names": ["Anne", "Louis", "Jeff"],
            },
        ]


async def test_m2m_double_dot_distinct_values(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # context "using the .. operator to get distinct no null values" /
        # it "should work on both the nested and top spread relationship, returning distinct
        # no-null values for both"
        select = "operator:name,..sa_processes(process:name,..sa_supervisors(supervisors:name))"
        assert answer(await http.get(f"/sa_operators?select={select}&id=lte.2")) == (
            200,
            unordered(
                [
                    {
                        "operator": "Anne",
                        "process": ["Process A1", "Process A2", "Process B2"],
                        "supervisors": ["John", "Mary"],
                    },
                    {
                        "operator": "Louis",
                        "process": ["Process A1", "Process A2"],
                        "supervisors": ["John", "Mary"],
                    },
                ]
            ),
        )


async def test_m2m_double_dot_columns(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # context "using the .. operator to get distinct no null values" /
        # it "should work on a non-nested spread relationship"
        resp = await http.get(
            "/sa_operators?select=operator:name,..sa_processes(category_id)&id=lte.2"
        )
        assert answer(resp) == (
            200,
            unordered(
                [
                    {"operator": "Anne", "category_id": [1, 2]},
                    {"operator": "Louis", "category_id": [1, 2]},
                ]
            ),
        )
        # it "should return an empty array when no elements are found"
        resp = await http.get(
            "/sa_operators?select=operator:name,..sa_processes(processes:name)&sa_processes=is.null"
        )
        assert answer(resp) == (200, [{"operator": "Liz", "processes": []}])
        # it "should work when selecting all columns"
        resp = await http.get("/sa_operators?select=operator:name,..sa_processes(*)&id=lte.2")
        assert answer(resp) == (
            200,
            unordered(
                [
                    {
                        "operator": "Anne",
                        "id": [1, 2, 4],
                        "name": ["Process A1", "Process A2", "Process B2"],
                        "factory_id": [1, 2],
                        "category_id": [1, 2],
                    },
                    {
                        "operator": "Louis",
                        "id": [1, 2],
                        "name": ["Process A1", "Process A2"],
                        "factory_id": [1],
                        "category_id": [1, 2],
                    },
                ]
            ),
        )


async def test_m2m_double_dot_nested(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # context "using the .. operator to get distinct no null values" /
        # it "should work on a nested one-to-one relationship"
        resp = await http.get(
            "/sa_operators?select=operator:name,"
            "...sa_processes(..sa_process_costs(process_costs:cost))&id=eq(any).{3,5}"
        )
        assert answer(resp) == (
            200,
            unordered(
                [
                    {"operator": "Alfred", "process_costs": [70.00]},
                    {"operator": "Jeff", "process_costs": [70.00, 180.00, 200.00]},
                ]
            ),
        )
        two = "&id=lte.2"
        # it "should work on a nested many-to-one relationship" (one-to-many, many-to-many)
        for select, key, values in (
            ("..sa_process_categories(categories:name)", "categories", ["Batch", "Mass"]),
            ("..sa_process_supervisor(supervisor_ids:supervisor_id)", "supervisor_ids", [1, 2]),
            ("..sa_supervisors(supervisors:name)", "supervisors", ["John", "Mary"]),
        ):
            resp = await http.get(
                f"/sa_operators?select=operator:name,...sa_processes({select}){two}"
            )
            assert answer(resp) == (
                200,
                unordered([{"operator": "Anne", key: values}, {"operator": "Louis", key: values}]),
            )
        # it "should work on a nested non-spread one-to-one relationship, returning an array of
        # objects with distinct no-null values" (many-to-one, one-to-many, many-to-many)
        costs = [{"cost": 150.00}, {"cost": 200.00}]
        for embed, anne, louis in (
            ("sa_process_costs(cost)", [{"cost": 70.00}, *costs], costs),
            ("sa_process_categories(name)", [{"name": "Batch"}, {"name": "Mass"}], None),
            (
                "sa_process_supervisor(supervisor_id)",
                [{"supervisor_id": 1}, {"supervisor_id": 2}],
                None,
            ),
            ("sa_supervisors(name)", [{"name": "John"}, {"name": "Mary"}], None),
        ):
            key = embed.split("(")[0]
            resp = await http.get(
                f"/sa_operators?select=operator:name,..sa_processes({embed}){two}"
            )
            assert answer(resp) == (
                200,
                unordered(
                    [
                        {"operator": "Anne", key: anne},
                        {"operator": "Louis", key: anne if louis is None else louis},
                    ]
                ),
            )


# == AggregateFunctionsSpec: allowed, describe "aggregate functions" ============================
async def test_count_without_a_field(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # context "performing a count without specifying a field"
        assert ok(await http.get("/sa_entities?select=count()")) == [{"count": 4}]
        assert ok(await http.get("/sa_entities?select=cnt:count()")) == [{"cnt": 4}]
        assert ok(await http.get("/sa_entities?select=count()::text")) == [{"count": "4"}]
        resp = await http.get("/sa_projects?select=c:count(),client_id&order=client_id.desc")
        assert ok(resp) == [
            {"c": 1, "client_id": None},
            {"c": 2, "client_id": 2},
            {"c": 2, "client_id": 1},
        ]


async def test_count_as_a_column(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # context "performing a count by using it as a column (backwards compat)"
        assert ok(await http.get("/sa_entities?select=count")) == [{"count": 4}]
        resp = await http.get("/sa_clients?select=name,sa_projects(count)")
        assert unordered(ok(resp)) == [
            {"name": "Apple", "sa_projects": [{"count": 2}]},
            {"name": "Microsoft", "sa_projects": [{"count": 2}]},
        ]


async def test_aggregates_on_a_field(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # context "performing an aggregation on one or more fields"
        url = "/sa_project_invoices?select=invoice_total."
        assert ok(await http.get(url + "sum()")) == [{"sum": 8800}]
        assert ok(await http.get(url + "avg()")) == [{"avg": 1100.0000000000000000}]
        assert ok(await http.get(url + "min()")) == [{"min": 100}]
        assert ok(await http.get(url + "max()")) == [{"max": 4000}]
        assert ok(await http.get(url + "count()")) == [{"count": 8}]
        # it "supports use of aggregates on RPC functions that return table values"
        assert ok(await http.get("/rpc/sa_getallprojects?select=id.max()")) == [{"max": 5}]


async def test_aggregates_grouped_aliased_and_cast(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "groups by any fields selected that do not have an aggregate applied"
        resp = await http.get(
            "/sa_project_invoices?select=invoice_total.sum(),invoice_total.max(),"
            "invoice_total.min(),project_id&order=project_id.desc"
        )
        assert ok(resp) == [
            {"sum": 4100, "max": 4000, "min": 100, "project_id": 4},
            {"sum": 3200, "max": 2000, "min": 1200, "project_id": 3},
            {"sum": 1200, "max": 700, "min": 500, "project_id": 2},
            {"sum": 300, "max": 200, "min": 100, "project_id": 1},
        ]
        # it "supports the use of aliases on fields that will be used in the group by"
        resp = await http.get(
            "/sa_project_invoices?select=invoice_total.sum(),invoice_total.max(),"
            "invoice_total.min(),pid:project_id&order=project_id.desc"
        )
        assert [row["pid"] for row in ok(resp)] == [4, 3, 2, 1]
        # it "allows you to cast the result of the aggregate"
        resp = await http.get(
            "/sa_project_invoices?select=total_charged:invoice_total.sum()::text,project_id"
            "&order=project_id.desc"
        )
        assert ok(resp) == [
            {"total_charged": "4100", "project_id": 4},
            {"total_charged": "3200", "project_id": 3},
            {"total_charged": "1200", "project_id": 2},
            {"total_charged": "300", "project_id": 1},
        ]
        # it "allows you to cast the input argument of the aggregate"
        resp = await http.get("/sa_trash_details?select=jsonb_col->>key::integer.sum()")
        assert ok(resp) == [{"sum": 24}]
        # it "allows the combination of an alias, a before cast, and an after cast"
        resp = await http.get("/sa_trash_details?select=s:jsonb_col->>key::integer.sum()::text")
        assert ok(resp) == [{"s": "24"}]


async def test_aggregates_grouped_by_an_embed(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "allows the use of an JSON-embedded relationship column as part of the group by"
        resp = await http.get(
            "/sa_project_invoices?select=project_id,total:invoice_total.sum(),sa_projects(name)"
            "&order=project_id"
        )
        assert ok(resp) == [
            {"project_id": 1, "total": 300, "sa_projects": {"name": "Windows 7"}},
            {"project_id": 2, "total": 1200, "sa_projects": {"name": "Windows 10"}},
            {"project_id": 3, "total": 3200, "sa_projects": {"name": "IOS"}},
            {"project_id": 4, "total": 4100, "sa_projects": {"name": "OSX"}},
        ]


async def test_aggregates_inside_embeds(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # context "performing aggregations that involve JSON-embedded relationships" /
        # it "supports all at once"
        resp = await http.get(
            "/sa_projects?select=name,sa_project_invoices(invoice_total.max(),invoice_total.min(),"
            "invoice_total.avg(),invoice_total.sum(),invoice_total.count())"
        )

        def row(name: str, avg: Any, mx: Any, mn: Any, sm: Any, ct: int) -> dict[str, Any]:
            agg = {"avg": avg, "max": mx, "min": mn, "sum": sm, "count": ct}
            return {"name": name, "sa_project_invoices": [agg]}

        assert unordered(ok(resp)) == unordered(
            [
                row("Windows 7", 150, 200, 100, 300, 2),
                row("Windows 10", 600, 700, 500, 1200, 2),
                row("IOS", 1600, 2000, 1200, 3200, 2),
                row("OSX", 2050, 4000, 100, 4100, 2),
                row("Orphan", None, None, None, None, 0),
            ]
        )


# -- context "performing aggregations on spreaded fields from an embedded resource" /
#    context "to-one spread relationships"
async def test_to_one_spread_aggregates(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "supports the use of aggregates on spreaded fields"
        resp = await http.get(
            "/sa_budget_expenses?select=total_expenses:expense_amount.sum(),"
            "...sa_budget_categories(budget_owner,total_budget:budget_amount.sum())"
            "&order=sa_budget_categories(budget_owner)"
        )
        assert ok(resp) == [
            {"total_expenses": 600.52, "budget_owner": "Brian Smith", "total_budget": 2000.42},
            {"total_expenses": 100.22, "budget_owner": "Jane Clarkson", "total_budget": 7000.41},
            {"total_expenses": 900.27, "budget_owner": "Sally Hughes", "total_budget": 500.23},
        ]
        # it "supports the use of aggregates on spreaded fields when only aggregates are
        # supplied"
        resp = await http.get(
            "/sa_budget_expenses?select=...sa_budget_categories(total_budget:budget_amount.sum())"
        )
        assert ok(resp) == [{"total_budget": 9501.06}]


async def test_to_one_spread_aggregates_grouped_by_other_spreads(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "supports aggregates from a spread relationships grouped by spreaded fields from
        # other relationships"
        resp = await http.get(
            "/sa_processes?select=...sa_process_costs(cost_sum:cost.sum()),"
            "...sa_process_categories(category:name)"
        )
        assert unordered(ok(resp)) == [
            {"cost_sum": 350.00, "category": "Mass"},
            {"cost_sum": 400.00, "category": "Batch"},
        ]


async def test_nested_to_one_spread_aggregates(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "supports aggregates on spreaded fields from nested relationships"
        resp = await http.get(
            "/sa_process_supervisor?select=...sa_processes(factory_id,...sa_process_costs(cost.sum()))"
        )
        assert unordered(ok(resp)) == [
            {"factory_id": 1, "sum": 350.00},
            {"factory_id": 2, "sum": 500.00},
            {"factory_id": 3, "sum": 110.00},
        ]


async def test_to_one_spread_aggregates_grouped_by_a_nested_embed(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "supports aggregates on spreaded fields from nested relationships, grouped by a
        # regular nested relationship"
        resp = await http.get(
            "/sa_process_supervisor?select="
            "...sa_processes(factory:sa_factories(name),...sa_process_costs(cost_sum:cost.sum()))"
        )
        assert unordered(ok(resp)) == [
            {"factory": {"name": "Factory A"}, "cost_sum": 350.00},
            {"factory": {"name": "Factory B"}, "cost_sum": 500.00},
            {"factory": {"name": "Factory C"}, "cost_sum": 110.00},
        ]


async def test_to_one_spread_aggregates_grouped_by_nested_spreads(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "supports aggregates on spreaded fields from nested relationships, grouped by
        # spreaded fields from other nested relationships"
        resp = await http.get(
            "/sa_process_supervisor?select=supervisor_id,...sa_processes("
            "...sa_process_costs(cost_sum:cost.sum()),...sa_process_categories(category:name))"
            "&order=supervisor_id"
        )
        # Rows of one supervisor_id come in any order.
        assert sorted(ok(resp), key=lambda r: (r["supervisor_id"], r["category"])) == [
            {"supervisor_id": 1, "cost_sum": 220.00, "category": "Batch"},
            {"supervisor_id": 2, "cost_sum": 70.00, "category": "Batch"},
            {"supervisor_id": 2, "cost_sum": 200.00, "category": "Mass"},
            {"supervisor_id": 3, "cost_sum": 180.00, "category": "Batch"},
            {"supervisor_id": 3, "cost_sum": 110.00, "category": "Mass"},
            {"supervisor_id": 4, "cost_sum": 180.00, "category": "Batch"},
        ]


async def test_to_one_spread_aggregates_under_a_to_many_embed(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "supports aggregates on spreaded fields from nested relationships, grouped by
        # spreaded fields from other nested relationships, using a nested relationship as top
        # parent"
        resp = await http.get(
            "/sa_supervisors?select=name,sa_process_supervisor(...sa_processes("
            "...sa_process_costs(cost.sum()),...sa_process_categories(name)))"
        )
        body = [
            {**row, "sa_process_supervisor": unordered_sorted(row["sa_process_supervisor"])}
            for row in ok(resp)
        ]
        assert unordered(body) == unordered(
            [
                {"name": "Mary", "sa_process_supervisor": [{"name": "Batch", "sum": 220.00}]},
                {
                    "name": "John",
                    "sa_process_supervisor": [
                        {"name": "Batch", "sum": 70.00},
                        {"name": "Mass", "sum": 200.00},
                    ],
                },
                {
                    "name": "Peter",
                    "sa_process_supervisor": [
                        {"name": "Batch", "sum": 180.00},
                        {"name": "Mass", "sum": 110.00},
                    ],
                },
                {"name": "Sarah", "sa_process_supervisor": [{"name": "Batch", "sum": 180.00}]},
                {"name": "Jane", "sa_process_supervisor": []},
            ]
        )


async def test_count_in_to_one_spreads(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # context "supports count() aggregate without specifying a field" /
        # it "works by itself in the embedded resource"
        resp = await http.get(
            "/sa_process_supervisor?select=supervisor_id,"
            "...sa_processes(processes_count:count())&order=supervisor_id"
        )
        assert ok(resp) == [
            {"supervisor_id": 1, "processes_count": 2},
            {"supervisor_id": 2, "processes_count": 2},
            {"supervisor_id": 3, "processes_count": 3},
            {"supervisor_id": 4, "processes_count": 1},
        ]
        # it "works alongside other columns in the embedded resource"
        resp = await http.get(
            "/sa_process_supervisor?select=...sa_supervisors(id,count())&order=sa_supervisors(id)"
        )
        assert ok(resp) == [
            {"id": 1, "count": 2},
            {"id": 2, "count": 2},
            {"id": 3, "count": 3},
            {"id": 4, "count": 1},
        ]
        resp = await http.get(
            "/sa_process_supervisor?select="
            "...sa_supervisors(supervisor:id,supervisor_count:count())"
            "&order=sa_supervisors(supervisor)"
        )
        assert ok(resp) == [
            {"supervisor": 1, "supervisor_count": 2},
            {"supervisor": 2, "supervisor_count": 2},
            {"supervisor": 3, "supervisor_count": 3},
            {"supervisor": 4, "supervisor_count": 1},
        ]


async def test_count_in_nested_to_one_spreads(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # context "supports count() aggregate without specifying a field" /
        # it "works on nested resources"
        resp = await http.get(
            "/sa_process_supervisor?select=supervisor:supervisor_id,"
            "...sa_processes(...sa_process_costs(process_costs_count:count()))&order=supervisor_id"
        )
        assert ok(resp) == [
            {"supervisor": 1, "process_costs_count": 2},
            {"supervisor": 2, "process_costs_count": 2},
            {"supervisor": 3, "process_costs_count": 3},
            {"supervisor": 4, "process_costs_count": 1},
        ]
        # it "works on nested resources grouped by spreaded fields"
        resp = await http.get(
            "/sa_process_supervisor?select=...sa_processes(factory_id,...sa_process_costs(count()))"
            "&order=sa_processes(factory_id)"
        )
        assert ok(resp) == [
            {"factory_id": 1, "count": 2},
            {"factory_id": 2, "count": 4},
            {"factory_id": 3, "count": 2},
        ]
        # it "works on different levels of the nested resources at the same time"
        resp = await http.get(
            "/sa_process_supervisor?select=...sa_processes(factory:factory_id,"
            "processes_count:count(),...sa_process_costs(process_costs_count:count()))"
            "&order=sa_processes(factory)"
        )
        assert ok(resp) == [
            {"factory": 1, "processes_count": 2, "process_costs_count": 2},
            {"factory": 2, "processes_count": 4, "process_costs_count": 4},
            {"factory": 3, "processes_count": 2, "process_costs_count": 2},
        ]


# -- context "to-many spread relationships"
async def test_to_many_spread_aggregates(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "supports the use of aggregates on spreaded fields"
        assert answer(
            await http.get(
                "/sa_budget_categories?select=budget_owner,total_budget:budget_amount.sum(),"
                "...sa_budget_expenses(total_expenses:expense_amount.sum())&order=budget_owner"
            )
        ) == (
            200,
            [
                {
                    "budget_owner": "Brian Smith",
                    "total_budget": 2000.42,
                    "total_expenses": 600.52,
                },
                {
                    "budget_owner": "Dana de Groot",
                    "total_budget": 500.33,
                    "total_expenses": None,
                },
                {
                    "budget_owner": "Jane Clarkson",
                    "total_budget": 9000.53,
                    "total_expenses": 100.22,
                },
                {
                    "budget_owner": "Sally Hughes",
                    "total_budget": 500.23,
                    "total_expenses": 900.27,
                },
            ],
        )


async def test_avg_in_a_to_many_spread_over_grouped_rows(app_factory: Any) -> None:
    # Not in PostgREST's spec: an average across the parent's grouped rows is the average of
    # every related row (Factory A 1, 2; B 3, 4; C 5 to 8: 4.5), not the average of each
    # factory's average (3.83...), and the count adds up.
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        resp = await http.get("/sa_factories?select=...sa_processes(id.avg(),count())")
        assert answer(resp) == (200, [{"avg": 4.5, "count": 8}])
        resp = await http.get("/sa_process_categories?select=...sa_processes(id.avg(),id.max())")
        assert answer(resp) == (200, [{"avg": 4.5, "max": 8}])
        # Through a to-one spread above the to-many one.
        resp = await http.get(
            "/sa_processes?select=...sa_factories(...sa_processes(id.avg()))&id=lte.2"
        )
        assert answer(resp) == (200, [{"avg": 1.5}])


async def test_to_many_spread_aggregates_only(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "supports the use of aggregates on spreaded fields when only aggregates are
        # supplied"
        assert answer(
            await http.get(
                "/sa_budget_categories?select="
                "...sa_budget_expenses(total_expense:expense_amount.sum())"
            )
        ) == (200, [{"total_expense": 1601.01}])
        # it "supports aggregates from a spread relationships grouped by spreaded fields from
        # other relationships"
        assert answer(
            await http.get(
                "/sa_processes?select=...sa_supervisors(supervisor_count:id.count()),"
                "...sa_process_categories(process_category:name)"
            )
        ) == (
            200,
            unordered(
                [
                    {"supervisor_count": 3, "process_category": "Mass"},
                    {"supervisor_count": 5, "process_category": "Batch"},
                ]
            ),
        )


async def test_to_many_spread_nested_aggregates(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # it "supports aggregates on spreaded fields from nested relationships"
        assert answer(
            await http.get(
                "/sa_supervisors?select=supervisor:name,"
                "...sa_processes(...sa_process_costs(cost_sum:cost.sum()))&order=name"
            )
        ) == (
            200,
            [
                {"supervisor": "Jane", "cost_sum": None},
                {"supervisor": "John", "cost_sum": 270.00},
                {"supervisor": "Mary", "cost_sum": 220.00},
                {"supervisor": "Peter", "cost_sum": 290.00},
                {"supervisor": "Sarah", "cost_sum": 180.00},
            ],
        )
        # it "supports aggregates on spreaded fields from nested relationships, grouped by
        # spreaded fields from other nested relationships"
        assert answer(
            await http.get(
                "/sa_process_supervisor?select=supervisor_id,...sa_processes("
                "...sa_factories(...sa_factory_buildings(size.sum())),"
                "...sa_process_categories(name))&order=supervisor_id"
            )
        ) == (
            200,
            unordered(
                [
                    {"supervisor_id": 1, "sum": 520, "name": "Batch"},
                    {"supervisor_id": 2, "sum": 170, "name": "Batch"},
                    {"supervisor_id": 2, "sum": 350, "name": "Mass"},
                    {"supervisor_id": 3, "sum": 170, "name": "Batch"},
                    {"supervisor_id": 3, "sum": 480, "name": "Mass"},
                    {"supervisor_id": 4, "sum": 170, "name": "Batch"},
                ]
            ),
        )


async def test_count_in_o2m_spreads(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # context "supports count() aggregate without specifying a field" / context
        # "one-to-many" / it "works alongside other aggregated columns in the embedded resource"
        assert answer(
            await http.get(
                "/sa_factories?select=factory:name,"
                "...sa_processes(process:id,process_count:count())&order=name"
            )
        ) == (
            200,
            [
                {"factory": "Factory A", "process": [1, 2], "process_count": 2},
                {"factory": "Factory B", "process": [3, 4], "process_count": 2},
                {"factory": "Factory C", "process": [5, 6, 7, 8], "process_count": 4},
                {"factory": "Factory D", "process": [], "process_count": 0},
            ],
        )
        # it "works on nested resources"
        assert answer(
            await http.get(
                "/sa_processes?select=process:id,"
                "...sa_factories(...sa_factory_buildings(buildings_count:count()))&order=id"
            )
        ) == (
            200,
            [
                {"process": 1, "buildings_count": 2},
                {"process": 2, "buildings_count": 2},
                {"process": 3, "buildings_count": 2},
                {"process": 4, "buildings_count": 2},
                {"process": 5, "buildings_count": 1},
                {"process": 6, "buildings_count": 1},
                {"process": 7, "buildings_count": 1},
                {"process": 8, "buildings_count": 1},
            ],
        )


async def test_count_in_m2m_spreads(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # context "many-to-many" / it "works by itself in the embedded resource"
        assert answer(
            await http.get("/sa_supervisors?select=name,...sa_processes(count())&order=name")
        ) == (
            200,
            [
                {"name": "Jane", "count": 0},
                {"name": "John", "count": 2},
                {"name": "Mary", "count": 2},
                {"name": "Peter", "count": 3},
                {"name": "Sarah", "count": 1},
            ],
        )
        # it "works on nested resources"
        assert answer(
            await http.get(
                "/sa_supervisors?select=id,...sa_processes(...sa_operators(count()))&order=id"
            )
        ) == (
            200,
            [
                {"id": 1, "count": 4},
                {"id": 2, "count": 5},
                {"id": 3, "count": 3},
                {"id": 4, "count": 1},
                {"id": 5, "count": 0},
            ],
        )


# == AggregateFunctionsSpec: disallowed =========================================================
async def test_aggregates_disallowed(client: httpx.AsyncClient) -> None:
    # describe "attempting to use an aggregate when aggregate functions are disallowed"
    # it "prevents the use of aggregates"
    resp = await client.get("/sa_project_invoices?select=invoice_total.sum()")
    assert error(resp) == (400, NOT_ALLOWED)
    # it "prevents the use of aggregates on embedded relationships"
    resp = await client.get("/sa_projects?select=name,sa_project_invoices(invoice_total.sum())")
    assert error(resp) == (400, NOT_ALLOWED)
    # it "prevents the use of aggregates on spread embeds"
    resp = await client.get("/sa_project_invoices?select=...sa_projects(id.count())")
    assert error(resp) == (400, NOT_ALLOWED)
    # count() too (the spec's first context, with aggregates off)
    assert error(await client.get("/sa_entities?select=count()")) == (400, NOT_ALLOWED)
