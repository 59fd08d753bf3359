"""Resource embedding checked against PostgREST's own spec tests: EmbedDisambiguationSpec,
EmbedInnerJoinSpec and ComputedRelsSpec (test/spec/Feature/Query/ in PostgREST's repository),
on models of their tables in tests/fixtures/embed_spec.sql (names prefixed ``es_``).

Where we differ from PostgREST the test keeps PostgREST's behaviour and is a strict xfail."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.test_embed import get


async def head_range(client: httpx.AsyncClient, url: str) -> str:
    resp = await client.head(url, headers={"Prefer": "count=exact"})
    assert resp.status_code == 200, resp.text
    assert resp.content == b""
    return resp.headers["content-range"]


async def error(client: httpx.AsyncClient, url: str) -> tuple[int, Any]:
    resp = await client.get(url)
    assert resp.headers["content-type"].startswith("application/json")
    return resp.status_code, resp.json()


def ambiguous(parent: str, target: str, rels: list[tuple[str, str]], options: list[str]) -> Any:
    return {
        "code": "PGRST201",
        "details": [
            {"cardinality": card, "embedding": f"{parent} with {target}", "relationship": rel}
            for card, rel in rels
        ],
        "hint": f"Try changing '{target}' to one of the following: "
        + ", ".join(f"'{target}!{o}'" for o in options)
        + ". Find the desired relationship in the 'details' key.",
        "message": "Could not embed because more than one relationship was found for "
        f"'{parent}' and '{target}'",
    }


def not_found(parent: str, target: str, hint: str | None = None) -> Any:
    using = f" using the hint '{hint}'" if hint else ""
    return {
        "code": "PGRST200",
        "details": f"Searched for a foreign key relationship between '{parent}' and "
        f"'{target}'{using} in the schema 'api', but no matches were found.",
        "hint": None,
        "message": f"Could not find a relationship between '{parent}' and '{target}' in the "
        "schema cache",
    }


# --- EmbedDisambiguationSpec: ambiguous requests that give 300 Multiple Choices -------------


async def test_o2m_and_m2m_to_the_same_target_are_ambiguous(client: httpx.AsyncClient) -> None:
    jobs = "es_jobs_site_id_fkey(site_id) and es_jobs_big_project_id_fkey(big_project_id)"
    assert await error(client, "/es_sites?select=*,es_big_projects(*)") == (
        300,
        ambiguous(
            "es_sites",
            "es_big_projects",
            [
                (
                    "many-to-one",
                    "main_project using es_sites(main_project_id) and "
                    "es_big_projects(big_project_id)",
                ),
                ("many-to-many", f"es_jobs using {jobs}"),
                ("many-to-many", f"es_main_jobs using {jobs}"),
            ],
            ["main_project", "es_jobs", "es_main_jobs"],
        ),
    )


async def test_ambiguous_circular_reference(client: httpx.AsyncClient) -> None:
    assert await error(client, "/es_agents?select=*,es_departments(*)") == (
        300,
        ambiguous(
            "es_agents",
            "es_departments",
            [
                (
                    "one-to-many",
                    "es_departments_head_id_fkey using es_agents(id) and es_departments(head_id)",
                ),
                (
                    "many-to-one",
                    "es_agents_department_id_fkey using es_agents(department_id) and "
                    "es_departments(id)",
                ),
            ],
            ["es_departments_head_id_fkey", "es_agents_department_id_fkey"],
        ),
    )


async def test_junction_with_four_foreign_keys(client: httpx.AsyncClient) -> None:
    rels = [
        (
            "many-to-many",
            f"es_whatev_jobs using es_whatev_jobs_site_id_{s}_fkey(site_id_{s}) and "
            f"es_whatev_jobs_project_id_{p}_fkey(project_id_{p})",
        )
        for s in (1, 2)
        for p in (1, 2)
    ]
    assert await error(client, "/es_whatev_sites?select=*,es_whatev_projects(*)") == (
        300,
        ambiguous("es_whatev_sites", "es_whatev_projects", rels, ["es_whatev_jobs"] * 4),
    )
    # Each of the four is reachable through spreads, following the details.
    for s, p, rows in [(1, 1, {1: [1]}), (1, 2, {1: [2]}), (2, 1, {2: [1]}), (2, 2, {2: [2]})]:
        body = await get(
            client,
            f"/es_whatev_sites?select=id,es_whatev_jobs!site_id_{s}"
            f"(...es_whatev_projects!project_id_{p}(id))&order=id",
        )
        assert body == [
            {"id": site, "es_whatev_jobs": [{"id": pid} for pid in rows.get(site, [])]}
            for site in (1, 2)
        ]


async def test_recursive_m2m_disambiguated_with_spreads(client: httpx.AsyncClient) -> None:
    subscribers = await get(
        client,
        "/es_posters?select=*,subscribers:es_subscriptions!subscribed(...es_posters!subscriber(*))"
        "&limit=1&order=id&subscribers.order=subscriber",
    )
    assert subscribers == [
        {
            "id": 1,
            "name": "Mark",
            "subscribers": [{"id": 3, "name": "Bill"}, {"id": 4, "name": "Jeff"}],
        }
    ]
    subscriptions = await get(
        client,
        "/es_posters?select=*,es_subscriptions!subscriber(...es_posters!subscribed(*))"
        "&limit=1&order=id",
    )
    assert subscriptions == [
        {"id": 1, "name": "Mark", "es_subscriptions": [{"id": 2, "name": "Elon"}]}
    ]


async def test_two_one_to_one_relationships_are_ambiguous(client: httpx.AsyncClient) -> None:
    assert await error(client, "/es_first?select=es_second(*)") == (
        300,
        ambiguous(
            "es_first",
            "es_second",
            [
                (
                    "one-to-one",
                    f"es_first_second_id_{n}_fkey using es_first(second_id_{n}) and es_second(id)",
                )
                for n in (1, 2)
            ],
            ["es_first_second_id_1_fkey", "es_first_second_id_2_fkey"],
        ),
    )


async def test_view_repeating_composite_key_columns_is_ambiguous(
    client: httpx.AsyncClient,
) -> None:
    rels = [
        (
            "many-to-one",
            f"es_i2459_composite_fkey using es_i2459_composite_v2(t1_a{a}, t1_b{b}) and "
            "es_i2459_composite_v1(a, b)",
        )
        for a in (1, 2)
        for b in (1, 2)
    ]
    assert await error(client, "/es_i2459_composite_v2?select=*,es_i2459_composite_v1(*)") == (
        300,
        ambiguous(
            "es_i2459_composite_v2",
            "es_i2459_composite_v1",
            rels,
            ["es_i2459_composite_fkey"] * 4,
        ),
    )


# --- EmbedDisambiguationSpec: disambiguating requests with embed hints ----------------------


async def test_embed_by_fk_name_with_the_fk_column(client: httpx.AsyncClient) -> None:
    body = await get(client, "/es_projects?id=in.(1,3)&select=id,name,client_id,client(id,name)")
    assert body == [
        {"id": 1, "name": "Windows 7", "client_id": 1, "client": {"id": 1, "name": "Microsoft"}},
        {"id": 3, "name": "IOS", "client_id": 2, "client": {"id": 2, "name": "Apple"}},
    ]
    by_column = await get(
        client, "/es_projects?id=in.(1,3)&select=id,name,client_id,client:client_id(id,name)"
    )
    assert by_column == body
    bare_column = await get(client, "/es_projects?id=eq.1&select=id,client_id(id,name)")
    assert bare_column == [{"id": 1, "client_id": {"id": 1, "name": "Microsoft"}}]


async def test_view_with_fk_hint_then_grandparent(client: httpx.AsyncClient) -> None:
    expected = {
        "id": 1,
        "name": "Design w7",
        "project": {"id": 1, "name": "Windows 7", "client": {"id": 1, "name": "Microsoft"}},
    }
    by_fk = await get(
        client,
        "/es_tasks?id=eq.1&select=id,name,project:es_projects_view!project(id,name,client(id,name))",
    )
    by_column = await get(
        client,
        "/es_tasks?id=eq.1&select=id,name,project:es_projects_view!project_id"
        "(id,name,client:client_id(id,name))",
    )
    assert by_fk == by_column == [expected]


async def test_embed_by_composite_fk_name(client: httpx.AsyncClient) -> None:
    body = await get(
        client,
        "/es_unit_workdays?select=unit_id,day,fst_shift(car_id,es_schedules(name)),"
        "snd_shift(camera_id,es_schedules(name))",
    )
    assert body == [
        {
            "unit_id": 1,
            "day": "2019-12-02",
            "fst_shift": {"car_id": "CAR-349", "es_schedules": {"name": "morning"}},
            "snd_shift": {"camera_id": "CAM-123", "es_schedules": {"name": "night"}},
        }
    ]


async def test_two_fks_to_the_same_table(client: httpx.AsyncClient) -> None:
    by_fk = await get(
        client, "/es_orders?id=eq.1&select=id, name, billing(address), shipping(address)"
    )
    assert by_fk == [
        {
            "id": 1,
            "name": "order 1",
            "billing": {"address": "address 1"},
            "shipping": {"address": "address 2"},
        }
    ]
    by_column = await get(
        client,
        "/es_orders?id=eq.1&select=id, name, billing_address_id(id), shipping_address_id(id)",
    )
    assert by_column == [
        {
            "id": 1,
            "name": "order 1",
            "billing_address_id": {"id": 1},
            "shipping_address_id": {"id": 2},
        }
    ]
    mixed = await get(
        client, "/es_orders?id=eq.1&select=id, name, billing_address_id(id), shipping(id)"
    )
    assert mixed == [
        {"id": 1, "name": "order 1", "billing_address_id": {"id": 1}, "shipping": {"id": 2}}
    ]


async def test_unknown_fk_hint_is_400(client: httpx.AsyncClient) -> None:
    assert await error(client, "/es_message?select=id,sender:es_person!space(name)&id=lt.4") == (
        400,
        not_found("es_message", "es_person", "space"),
    )


async def test_table_and_view_with_fk_or_column_hints(client: httpx.AsyncClient) -> None:
    view = await get(
        client,
        "/es_message?select=id,body,sender:es_person_detail!es_message_sender_fkey(name,sent),"
        "recipient:es_person_detail!es_message_recipient_fkey(name,received)&id=lt.4&order=id",
    )
    assert view == [
        {
            "id": 1,
            "body": "Hello Jane",
            "sender": {"name": "John", "sent": 2},
            "recipient": {"name": "Jane", "received": 2},
        },
        {
            "id": 2,
            "body": "Hi John",
            "sender": {"name": "Jane", "sent": 1},
            "recipient": {"name": "John", "received": 1},
        },
        {
            "id": 3,
            "body": "How are you doing?",
            "sender": {"name": "John", "sent": 2},
            "recipient": {"name": "Jane", "received": 2},
        },
    ]
    table = await get(
        client,
        "/es_message?select=id,sender:es_person!sender(name),recipient:es_person!recipient(name)"
        "&id=lt.3&order=id",
    )
    assert table == [
        {"id": 1, "sender": {"name": "John"}, "recipient": {"name": "Jane"}},
        {"id": 2, "sender": {"name": "Jane"}, "recipient": {"name": "John"}},
    ]


async def test_column_with_uppercase_chars(client: httpx.AsyncClient) -> None:
    body = await get(client, '/es_ghostBusters?select=escapeId(*)&order="escapeId"')
    assert body == [
        {"escapeId": {"so6meIdColumn": 1}},
        {"escapeId": {"so6meIdColumn": 3}},
        {"escapeId": {"so6meIdColumn": 5}},
    ]


async def test_disambiguate_o2m_and_m2m_with_fk_or_column(client: httpx.AsyncClient) -> None:
    by_fk = await get(client, "/es_sites?select=name,main_project(name)&site_id=eq.1")
    assert by_fk == [{"name": "site 1", "main_project": {"name": "big project 1"}}]
    by_column = await get(client, "/es_sites?select=name,main_project_id(name)&site_id=eq.1")
    assert by_column == [{"name": "site 1", "main_project_id": {"name": "big project 1"}}]


async def test_specify_the_junction(client: httpx.AsyncClient) -> None:
    jobs = await get(
        client,
        "/es_sites?select=*,es_big_projects!es_jobs(name)&site_id=in.(1,2)&order=site_id"
        "&es_big_projects.order=name",
    )
    assert jobs == [
        {
            "site_id": 1,
            "name": "site 1",
            "main_project_id": 1,
            "es_big_projects": [{"name": "big project 1"}],
        },
        {
            "site_id": 2,
            "name": "site 2",
            "main_project_id": None,
            "es_big_projects": [{"name": "big project 1"}, {"name": "big project 2"}],
        },
    ]
    main_jobs = await get(
        client,
        "/es_sites?select=*,es_big_projects!es_main_jobs(name)&site_id=in.(1,2)&order=site_id",
    )
    assert main_jobs == [
        {
            "site_id": 1,
            "name": "site 1",
            "main_project_id": 1,
            "es_big_projects": [{"name": "big project 1"}],
        },
        {"site_id": 2, "name": "site 2", "main_project_id": None, "es_big_projects": []},
    ]


async def test_view_columns_repeating_one_base_column(client: httpx.AsyncClient) -> None:
    for url in (
        "/es_i2459_simple_v1?select=*,es_i2459_simple_v2!t1_id1(*)",
        "/es_i2459_simple_v1?select=*,es_i2459_simple_v2!t1_id2(*)",
        "/es_i2459_simple_v2?select=*,es_i2459_simple_v1!t1_id1(*)",
        "/es_i2459_simple_v2?select=*,es_i2459_simple_v1!t1_id2(*)",
    ):
        resp = await client.get(url)
        assert (resp.status_code, resp.json()) == (200, []), url


# --- EmbedDisambiguationSpec: tables with self-reference foreign keys -----------------------


async def test_self_reference_parents_recursively(client: httpx.AsyncClient) -> None:
    body = await get(
        client, "/es_family_tree?id=in.(3,4)&select=id,parent(id,name,parent(*))&order=id"
    )
    assert body == [
        {"id": "3", "parent": {"id": "1", "name": "Parental Unit", "parent": None}},
        {
            "id": "4",
            "parent": {
                "id": "2",
                "name": "Kid One",
                "parent": {"id": "1", "name": "Parental Unit", "parent": None},
            },
        },
    ]


async def test_self_reference_children_recursively(client: httpx.AsyncClient) -> None:
    body = await get(
        client,
        "/es_family_tree?id=eq.1&select=id,name,children:es_family_tree!parent"
        "(id,name,children:es_family_tree!parent(id,name))&children.order=id",
    )
    assert body == [
        {
            "id": "1",
            "name": "Parental Unit",
            "children": [
                {"id": "2", "name": "Kid One", "children": [{"id": "4", "name": "Grandkid One"}]},
                {"id": "3", "name": "Kid Two", "children": [{"id": "5", "name": "Grandkid Two"}]},
            ],
        }
    ]
    up_down = await get(
        client,
        "/es_family_tree?id=eq.2&select=id,name,parent(id,name,children:es_family_tree!parent"
        "(id,name))&parent.children.order=id",
    )
    assert up_down == [
        {
            "id": "2",
            "name": "Kid One",
            "parent": {
                "id": "1",
                "name": "Parental Unit",
                "children": [{"id": "2", "name": "Kid One"}, {"id": "3", "name": "Kid Two"}],
            },
        }
    ]


async def test_self_reference_on_a_view(client: httpx.AsyncClient) -> None:
    body = await get(
        client, "/es_job?select=id,parent_id(*),children:es_job!parent_id(id,parent_id)&order=id"
    )
    assert body == [
        {"id": 1, "parent_id": None, "children": [{"id": 2, "parent_id": 1}]},
        {"id": 2, "parent_id": {"id": 1, "parent_id": None}, "children": []},
    ]


async def test_self_reference_views_repeating_a_column(client: httpx.AsyncClient) -> None:
    for url in (
        "/es_i2459_self_v1?select=*,parent(*),grandparent(*)",
        "/es_i2459_self_v2?select=*,parent(*),grandparent(*)",
    ):
        resp = await client.get(url)
        assert (resp.status_code, resp.json()) == (200, []), url


async def test_two_self_references(client: httpx.AsyncClient) -> None:
    parents = await get(
        client, "/es_organizations?select=id,name,referee(id,name),auditor(id,name)&id=eq.3"
    )
    assert parents == [
        {
            "id": 3,
            "name": "Acme",
            "referee": {"id": 1, "name": "Referee Org"},
            "auditor": {"id": 2, "name": "Auditor Org"},
        }
    ]
    refereeds = await get(
        client,
        "/es_organizations?select=id,name,refereeds:es_organizations!referee(id,name)&id=eq.1"
        "&refereeds.order=id",
    )
    assert refereeds == [
        {
            "id": 1,
            "name": "Referee Org",
            "refereeds": [{"id": 3, "name": "Acme"}, {"id": 4, "name": "Umbrella"}],
        }
    ]
    auditees = await get(
        client,
        "/es_organizations?select=id,name,auditees:es_organizations!auditor(id,name)&id=eq.2"
        "&auditees.order=id",
    )
    assert auditees == [
        {
            "id": 2,
            "name": "Auditor Org",
            "auditees": [{"id": 3, "name": "Acme"}, {"id": 4, "name": "Umbrella"}],
        }
    ]


async def test_self_references_with_other_relations(client: httpx.AsyncClient) -> None:
    m = "es_manager(name)"
    body = await get(
        client,
        f"/es_organizations?select=name,{m},referee(name,{m},auditor(name,{m})),"
        f"auditor(name,{m},referee(name,{m}))&id=eq.5",
    )
    assert body == [
        {
            "name": "Cyberdyne",
            "es_manager": {"name": "Cyberdyne Manager"},
            "referee": {
                "name": "Acme",
                "es_manager": {"name": "Acme Manager"},
                "auditor": {"name": "Auditor Org", "es_manager": {"name": "Auditor Manager"}},
            },
            "auditor": {
                "name": "Umbrella",
                "es_manager": {"name": "Umbrella Manager"},
                "referee": {"name": "Referee Org", "es_manager": {"name": "Referee Manager"}},
            },
        }
    ]
    down = await get(
        client,
        f"/es_organizations?select=name,{m},auditees:es_organizations!auditor(name,{m},"
        f"refereeds:es_organizations!referee(name,{m}))&id=eq.2&auditees.order=id"
        "&auditees.refereeds.order=id",
    )
    assert down == [
        {
            "name": "Auditor Org",
            "es_manager": {"name": "Auditor Manager"},
            "auditees": [
                {
                    "name": "Acme",
                    "es_manager": {"name": "Acme Manager"},
                    "refereeds": [
                        {"name": "Cyberdyne", "es_manager": {"name": "Cyberdyne Manager"}},
                        {"name": "Oscorp", "es_manager": {"name": "Oscorp Manager"}},
                    ],
                },
                {"name": "Umbrella", "es_manager": {"name": "Umbrella Manager"}, "refereeds": []},
            ],
        }
    ]


# --- EmbedDisambiguationSpec: m2m when the junction is in an internal schema ----------------


async def test_private_junction_with_an_exposed_view(client: httpx.AsyncClient) -> None:
    body = await get(client, "/es_screens?select=es_labels(name)&order=id&es_labels.order=id")
    assert body == [
        {"es_labels": [{"name": "fruit"}]},
        {"es_labels": [{"name": "vehicles"}]},
        {"es_labels": [{"name": "fruit"}, {"name": "vehicles"}]},
    ]


async def test_private_junction_only_is_400(client: httpx.AsyncClient) -> None:
    assert await error(client, "/es_end_1?select=es_end_2(*)") == (
        400,
        not_found("es_end_1", "es_end_2"),
    )


async def test_private_junction_with_an_exposed_homonym_is_400(client: httpx.AsyncClient) -> None:
    assert await error(client, "/es_schauspieler?select=es_filme(*)") == (
        400,
        not_found("es_schauspieler", "es_filme"),
    )


# --- EmbedDisambiguationSpec: embedding with a column as target doesn't consider views ------


async def test_column_target_self_reference_both_ways(client: httpx.AsyncClient) -> None:
    parent = await get(client, "/es_test?select=id,parent_id,parent:parent_id(id)&order=id")
    assert parent == [
        {"id": 1, "parent_id": None, "parent": None},
        {"id": 2, "parent_id": 1, "parent": {"id": 1}},
    ]
    childs = await get(client, "/es_test?select=id,parent_id,childs:es_test(id)&order=id")
    assert childs == [
        {"id": 1, "parent_id": None, "childs": [{"id": 2}]},
        {"id": 2, "parent_id": 1, "childs": []},
    ]


async def test_table_and_view_pointing_to_the_same_column(client: httpx.AsyncClient) -> None:
    body = await get(client, "/es_message?select=id,body,sender(id,name)&id=eq.5")
    assert body == [{"id": 5, "body": "What's up Jake", "sender": {"id": 4, "name": "Julie"}}]


async def test_table_and_view_pointing_to_the_same_composite_fk(
    client: httpx.AsyncClient,
) -> None:
    body = await get(client, "/es_activities?select=fst_shift(*)&order=id")
    assert body == [
        {
            "fst_shift": [
                {
                    "unit_id": 1,
                    "day": "2019-12-02",
                    "fst_shift_activity_id": 1,
                    "fst_shift_schedule_id": 1,
                    "snd_shift_activity_id": 2,
                    "snd_shift_schedule_id": 3,
                }
            ]
        },
        {"fst_shift": []},
    ]


# --- EmbedInnerJoinSpec ----------------------------------------------------------------------


async def test_inner_m2o_ignores_null_embeddings(client: httpx.AsyncClient) -> None:
    inner = await get(client, "/es_projects?select=id,es_clients!inner(id)&order=id")
    assert inner == [
        {"id": 1, "es_clients": {"id": 1}},
        {"id": 2, "es_clients": {"id": 1}},
        {"id": 3, "es_clients": {"id": 2}},
        {"id": 4, "es_clients": {"id": 2}},
    ]
    left = await get(client, "/es_projects?select=id,es_clients!left(id)&order=id")
    assert left == [*inner, {"id": 5, "es_clients": None}]
    assert await head_range(client, "/es_projects?select=id,es_clients!inner(id)") == "0-3/4"


async def test_inner_m2o_filtered(client: httpx.AsyncClient) -> None:
    url = "/es_projects?select=id,es_clients!inner(id)&order=id&es_clients.id="
    assert await get(client, url + "eq.1") == [
        {"id": 1, "es_clients": {"id": 1}},
        {"id": 2, "es_clients": {"id": 1}},
    ]
    assert await get(client, url + "eq.2") == [
        {"id": 3, "es_clients": {"id": 2}},
        {"id": 4, "es_clients": {"id": 2}},
    ]
    assert await get(client, url + "eq.0") == []
    assert await head_range(client, url + "eq.1") == "0-1/2"


async def test_inner_m2o_two_levels(client: httpx.AsyncClient) -> None:
    url = (
        "/es_tasks?select=id,es_projects!inner(id,es_clients!inner(id))&order=id"
        "&es_projects.es_clients.id=eq.1"
    )
    assert await get(client, url) == [
        {"id": t, "es_projects": {"id": p, "es_clients": {"id": 1}}}
        for t, p in [(1, 1), (2, 1), (3, 2), (4, 2)]
    ]
    assert await head_range(client, url) == "0-3/4"
    # Only the direct embedding's join filters the parents.
    left = (
        "/es_tasks?select=id,es_projects(id,es_clients!inner(id))&order=id"
        "&es_projects.es_clients.id=eq.2"
    )
    assert await get(client, left) == [
        *({"id": t, "es_projects": None} for t in (1, 2, 3, 4)),
        *(
            {"id": t, "es_projects": {"id": p, "es_clients": {"id": 2}}}
            for t, p in [(5, 3), (6, 3), (7, 4), (8, 4)]
        ),
    ]
    assert await head_range(client, left) == "0-7/8"


async def test_inner_m2o_on_views(client: httpx.AsyncClient) -> None:
    url = "/es_books?select=title,es_authors!inner(name)&es_authors.name=eq.George%20Orwell"
    assert await get(client, url) == [{"title": "1984", "es_authors": {"name": "George Orwell"}}]
    assert await head_range(client, url) == "0-0/1"
    o2m = "/es_authors?select=*,es_books!inner(*)&es_books.title=eq.1984"
    assert await get(client, o2m) == [
        {
            "id": 1,
            "name": "George Orwell",
            "es_books": [
                {
                    "id": 1,
                    "title": "1984",
                    "publication_year": 1949,
                    "author_id": 1,
                    "first_publisher_id": 1,
                }
            ],
        }
    ]
    assert await head_range(client, o2m) == "0-0/1"


async def test_inner_o2m(client: httpx.AsyncClient) -> None:
    base = "/es_entities?select=id,es_child_entities!{}(id)&order=id&es_child_entities.order=id"
    inner = [
        {"id": 1, "es_child_entities": [{"id": 1}, {"id": 2}, {"id": 4}, {"id": 5}]},
        {"id": 2, "es_child_entities": [{"id": 3}, {"id": 6}]},
    ]
    assert await get(client, base.format("inner")) == inner
    assert await get(client, base.format("left")) == [
        *inner,
        {"id": 3, "es_child_entities": []},
        {"id": 4, "es_child_entities": []},
    ]
    assert await head_range(client, base.format("inner")) == "0-1/2"
    filtered = base.format("inner") + "&es_child_entities.id="
    assert await get(client, filtered + "eq.1") == [{"id": 1, "es_child_entities": [{"id": 1}]}]
    assert await get(client, filtered + "eq.3") == [{"id": 2, "es_child_entities": [{"id": 3}]}]
    assert await get(client, filtered + "eq.0") == []
    assert await head_range(client, filtered + "eq.1") == "0-0/1"


async def test_inner_o2m_two_levels(client: httpx.AsyncClient) -> None:
    url = (
        "/es_entities?select=id,es_child_entities!inner(id,es_grandchild_entities!{}(id))"
        "&order=id&es_child_entities.order=id&es_child_entities.es_grandchild_entities.id="
    )
    assert await get(client, url.format("inner") + "in.(1,5)") == [
        {
            "id": 1,
            "es_child_entities": [
                {"id": 1, "es_grandchild_entities": [{"id": 1}]},
                {"id": 2, "es_grandchild_entities": [{"id": 5}]},
            ],
        }
    ]
    assert await get(client, url.format("inner") + "eq.2") == [
        {"id": 1, "es_child_entities": [{"id": 1, "es_grandchild_entities": [{"id": 2}]}]}
    ]
    assert await head_range(client, url.format("inner") + "in.(1,5)") == "0-0/1"
    left = url.format("left") + "eq.2"
    assert await get(client, left) == [
        {
            "id": 1,
            "es_child_entities": [
                {"id": 1, "es_grandchild_entities": [{"id": 2}]},
                {"id": 2, "es_grandchild_entities": []},
                {"id": 4, "es_grandchild_entities": []},
                {"id": 5, "es_grandchild_entities": []},
            ],
        },
        {
            "id": 2,
            "es_child_entities": [
                {"id": 3, "es_grandchild_entities": []},
                {"id": 6, "es_grandchild_entities": []},
            ],
        },
    ]
    assert await head_range(client, left) == "0-1/2"


async def test_inner_m2m(client: httpx.AsyncClient) -> None:
    base = "/es_products?select=id,es_suppliers!{}(id)&order=id&es_suppliers.order=id"
    inner = [
        {"id": 1, "es_suppliers": [{"id": 1}, {"id": 2}]},
        {"id": 2, "es_suppliers": [{"id": 1}, {"id": 3}]},
    ]
    assert await get(client, base.format("inner")) == inner
    assert await get(client, base.format("left")) == [*inner, {"id": 3, "es_suppliers": []}]
    assert await head_range(client, base.format("inner")) == "0-1/2"
    filtered = base.format("inner") + "&es_suppliers.id="
    assert await get(client, filtered + "eq.2") == [{"id": 1, "es_suppliers": [{"id": 2}]}]
    assert await get(client, filtered + "eq.3") == [{"id": 2, "es_suppliers": [{"id": 3}]}]
    assert await get(client, filtered + "eq.0") == []
    assert await head_range(client, filtered + "eq.2") == "0-0/1"


async def test_inner_m2m_two_levels(client: httpx.AsyncClient) -> None:
    url = (
        "/es_products?select=id,es_suppliers!inner(id,es_trade_unions!{}(id))&order=id"
        "&es_suppliers.order=id&es_suppliers.es_trade_unions.id=eq.{}"
    )
    for union in (3, 4):
        assert await get(client, url.format("inner", union)) == [
            {"id": 1, "es_suppliers": [{"id": 2, "es_trade_unions": [{"id": union}]}]}
        ]
    assert await head_range(client, url.format("inner", 3)) == "0-0/1"
    left = url.format("left", 3)
    assert await get(client, left) == [
        {
            "id": 1,
            "es_suppliers": [
                {"id": 1, "es_trade_unions": []},
                {"id": 2, "es_trade_unions": [{"id": 3}]},
            ],
        },
        {
            "id": 2,
            "es_suppliers": [{"id": 1, "es_trade_unions": []}, {"id": 3, "es_trade_unions": []}],
        },
    ]
    assert await head_range(client, left) == "0-1/2"


async def test_inner_m2o_and_m2m_combined(client: httpx.AsyncClient) -> None:
    url = (
        "/es_projects?select=name,es_clients!inner(name),es_users!inner(name)&order=id"
        "&es_users.order=id"
    )
    assert await get(client, url) == [
        {
            "name": "Windows 7",
            "es_clients": {"name": "Microsoft"},
            "es_users": [{"name": "Angela Martin"}, {"name": "Dwight Schrute"}],
        },
        {
            "name": "Windows 10",
            "es_clients": {"name": "Microsoft"},
            "es_users": [{"name": "Angela Martin"}],
        },
        {
            "name": "IOS",
            "es_clients": {"name": "Apple"},
            "es_users": [{"name": "Michael Scott"}, {"name": "Dwight Schrute"}],
        },
        {"name": "OSX", "es_clients": {"name": "Apple"}, "es_users": [{"name": "Michael Scott"}]},
    ]
    assert await head_range(client, url) == "0-3/4"


async def test_inner_with_rpc_and_hints(client: httpx.AsyncClient) -> None:
    rpc = "/rpc/es_getallprojects?select=id,es_clients!inner(id)&es_clients.id=eq.1&order=id"
    assert await get(client, rpc) == [
        {"id": 1, "es_clients": {"id": 1}},
        {"id": 2, "es_clients": {"id": 1}},
    ]
    assert await head_range(client, rpc) == "0-1/2"
    expected = [{"id": 3, "es_clients": {"id": 2}}, {"id": 4, "es_clients": {"id": 2}}]
    hinted = "/es_projects?select=id,es_clients!client!inner(id)&es_clients.id=eq.2&order=id"
    assert await get(client, hinted) == expected
    assert await head_range(client, hinted) == "0-1/2"
    by_fk = await get(client, "/es_projects?select=id,client!inner(id)&client.id=eq.2&order=id")
    assert by_fk == [{"id": 3, "client": {"id": 2}}, {"id": 4, "client": {"id": 2}}]


async def test_inner_with_several_o2m(client: httpx.AsyncClient) -> None:
    url = (
        "/es_client?select=id,name,es_contact!inner(name),es_clientinfo!inner(other)&order=id"
        "&es_contact.order=id"
    )
    assert await get(client, url) == [
        {
            "id": 1,
            "name": "Walmart",
            "es_contact": [{"name": "Wally Walton"}, {"name": "Wilma Wellers"}],
            "es_clientinfo": [{"other": "123 Main St"}],
        },
        {
            "id": 2,
            "name": "Target",
            "es_contact": [{"name": "Tabby Targo"}],
            "es_clientinfo": [{"other": "456 South 3rd St"}],
        },
        {
            "id": 3,
            "name": "Big Lots",
            "es_contact": [
                {"name": "Bobby Bots"},
                {"name": "Bonnie Bits"},
                {"name": "Billy Boats"},
            ],
            "es_clientinfo": [{"other": "789 Palm Tree Ln"}],
        },
    ]
    assert await head_range(client, url) == "0-2/3"
    assert await get(client, url + "&es_contact.name=eq.Wally%20Walton") == [
        {
            "id": 1,
            "name": "Walmart",
            "es_contact": [{"name": "Wally Walton"}],
            "es_clientinfo": [{"other": "123 Main St"}],
        }
    ]
    assert await get(client, url + "&es_clientinfo.other=eq.456%20South%203rd%20St") == [
        {
            "id": 2,
            "name": "Target",
            "es_contact": [{"name": "Tabby Targo"}],
            "es_clientinfo": [{"other": "456 South 3rd St"}],
        }
    ]


async def test_inner_alongside_another_embedding(client: httpx.AsyncClient) -> None:
    url = "/es_books?select=id,es_authors(name),es_publishers!inner(name)&id=gte.7&order=id"
    assert await get(client, url) == [
        {
            "id": 7,
            "es_authors": {"name": "Harper Lee"},
            "es_publishers": {"name": "J. B. Lippincott & Co."},
        },
        {"id": 8, "es_authors": {"name": "Kurt Vonnegut"}, "es_publishers": {"name": "Delacorte"}},
    ]
    assert await head_range(client, url) == "0-1/2"
    swapped = "/es_books?select=id,es_publishers!inner(name),es_authors(name)&id=gte.7"
    assert await head_range(client, swapped) == "0-1/2"


# --- ComputedRelsSpec --------------------------------------------------------------------------

DESIGNED = [
    {"name": "Civilization I", "designer": {"name": "Sid Meier"}},
    {"name": "Civilization II", "designer": {"name": "Sid Meier"}},
    {"name": "Final Fantasy I", "designer": {"name": "Hironobu Sakaguchi"}},
    {"name": "Final Fantasy II", "designer": {"name": "Hironobu Sakaguchi"}},
]
DESIGNERS = [
    {"name": "Sid Meier", "videogames": [{"name": "Civilization I"}, {"name": "Civilization II"}]},
    {
        "name": "Hironobu Sakaguchi",
        "videogames": [{"name": "Final Fantasy I"}, {"name": "Final Fantasy II"}],
    },
]


async def test_computed_many_to_one_and_one_to_many(client: httpx.AsyncClient) -> None:
    setof = await get(
        client, "/es_videogames?select=name,designer:es_computed_designers(name)&order=id"
    )
    noset = await get(
        client, "/es_videogames?select=name,designer:es_computed_designers_noset(name)&order=id"
    )
    assert setof == noset == DESIGNED
    o2m = await get(
        client, "/es_designers?select=name,videogames:es_computed_videogames(name)&order=id"
    )
    assert o2m == DESIGNERS


async def test_computed_with_inner_and_count(client: httpx.AsyncClient) -> None:
    resp = await client.get(
        "/es_designers?select=name,videogames:es_computed_videogames!inner(name)"
        "&videogames.name=eq.Civilization%20I",
        headers={"Prefer": "count=exact"},
    )
    assert resp.status_code == 200
    assert resp.json() == [{"name": "Sid Meier", "videogames": [{"name": "Civilization I"}]}]
    assert resp.headers["content-range"] == "0-0/1"
    for function in ("es_computed_designers", "es_computed_designers_noset"):
        resp = await client.get(
            f"/es_videogames?select=name,designer:{function}!inner(name)"
            "&designer.name=like.*Hironobu*&order=id",
            headers={"Prefer": "count=exact"},
        )
        assert resp.status_code == 200
        assert resp.json() == DESIGNED[2:]
        assert resp.headers["content-range"] == "0-1/2"


async def test_computed_with_rpc(client: httpx.AsyncClient) -> None:
    games = await get(
        client, "/rpc/es_getallvideogames?select=name,designer:es_computed_designers(name)&order=id"
    )
    assert games == DESIGNED
    designers = await get(
        client,
        "/rpc/es_getalldesigners?select=name,videogames:es_computed_videogames(name)&order=id",
    )
    assert designers == DESIGNERS


async def test_computed_with_mutations(app_factory: Any) -> None:
    async with app_factory(db_tx_end="rollback") as (_, http):
        rep = {"Prefer": "return=representation"}
        created = await http.post(
            "/es_videogames?select=name,designer:es_computed_designers(name)",
            json={"id": 5, "name": "Chrono Trigger", "designer_id": 2},
            headers=rep,
        )
        assert (created.status_code, created.json()) == (
            201,
            [{"name": "Chrono Trigger", "designer": {"name": "Hironobu Sakaguchi"}}],
        )
        patched = await http.patch(
            "/es_designers?select=name,videogames:es_computed_videogames(name)&id=eq.1",
            json={"name": "Sidney K. Meier"},
            headers=rep,
        )
        assert (patched.status_code, patched.json()) == (
            200,
            [{"name": "Sidney K. Meier", "videogames": DESIGNERS[0]["videogames"]}],
        )
        deleted = await http.delete(
            "/es_videogames?select=name,designer:es_computed_designers(name)&id=eq.3", headers=rep
        )
        assert (deleted.status_code, deleted.json()) == (200, [DESIGNED[2]])


async def test_computed_self_joins(client: httpx.AsyncClient) -> None:
    body = await get(
        client,
        "/es_web_content?select=name,es_child_web_content(name),es_parent_web_content(name)"
        "&id=in.(0,1)&order=id",
    )
    assert body == [
        {
            "name": "tardis",
            "es_child_web_content": [{"name": "fezz"}, {"name": "foo"}, {"name": "bar"}],
            "es_parent_web_content": {"name": "wat"},
        },
        {
            "name": "fezz",
            "es_child_web_content": [{"name": "wut"}],
            "es_parent_web_content": {"name": "tardis"},
        },
    ]


async def test_computed_overrides_detected_relationships(client: httpx.AsyncClient) -> None:
    assert await get(client, "/es_games?select=*,es_makers!inner(*)") == []
    assert await get(client, "/es_makers?select=*,es_games!inner(*)") == []
    # Two one-to-one relationships would otherwise be ambiguous.
    assert await get(client, "/es_first_1?select=*,es_second_1(*)") == [
        {"id": 1, "name": "first 1", "second_1_id": 1, "es_second_1": None}
    ]
    assert await get(client, "/es_second_1?select=*,es_first_1(*)") == [
        {"id": 1, "name": "second 1", "first_1_id": 1, "es_first_1": None}
    ]


async def test_overriding_function_keeps_other_computed_relationships(
    client: httpx.AsyncClient,
) -> None:
    # ComputedRelsSpec defines computed_designers next to designers(videogames).
    to_one = await get(client, "/es_games?select=name,designer:es_computed_makers(name)&order=id")
    assert to_one == DESIGNED
    to_many = await get(
        client, "/es_makers?select=name,videogames:es_computed_games(name)&order=id"
    )
    assert to_many == DESIGNERS


async def test_nested_computed_relationships_aliasing(client: httpx.AsyncClient) -> None:
    body = await get(client, "/es_fee?select=*,es_jsbaz(*,es_janedoe(*))&order=id")
    assert body == [
        {
            "id": f,
            "name": f"fee {f}",
            "es_jsbaz": [
                {"id": 10 * f, "fee_id": f, "es_janedoe": [{"id": f, "name": f"fee {f}"}]}
            ],
        }
        for f in (1, 2)
    ]
    deeper = await get(
        client, "/es_fee?select=id,es_jsbaz(id,es_johnsmith(id,es_fee(id,name)))&id=eq.2"
    )
    assert deeper == [
        {
            "id": 2,
            "es_jsbaz": [
                {"id": 20, "es_johnsmith": [{"id": 20, "es_fee": {"id": 2, "name": "fee 2"}}]}
            ],
        }
    ]


async def test_computed_after_an_ordinary_embed(client: httpx.AsyncClient) -> None:
    down = await get(
        client,
        "/es_projects?select=name,es_clients(name,es_computed_projects(name))&limit=1&order=id",
    )
    assert down == [
        {
            "name": "Windows 7",
            "es_clients": {"name": "Microsoft", "es_computed_projects": {"name": "Windows 7"}},
        }
    ]
    up = await get(
        client,
        "/es_clients?select=name,es_projects(name,es_computed_clients(name))&limit=1&order=id"
        "&es_projects.order=id",
    )
    assert up == [
        {
            "name": "Microsoft",
            "es_projects": [
                {"name": "Windows 7", "es_computed_clients": {"name": "Microsoft"}},
                {"name": "Windows 10", "es_computed_clients": {"name": "Microsoft"}},
            ],
        }
    ]


async def test_computed_relationship_overloaded_by_source(client: httpx.AsyncClient) -> None:
    items = await get(client, "/es_items?select=*,es_computed_rel_overload(*)&limit=1&order=id")
    assert items == [{"id": 1, "es_computed_rel_overload": [{"id": 1}]}]
    items2 = await get(client, "/es_items2?select=*,es_computed_rel_overload(*)&limit=1&order=id")
    assert items2 == [{"id": 1, "es_computed_rel_overload": [{"id": 1}, {"id": 2}]}]
    rpc = await get(client, "/rpc/es_search?id=1&select=*,es_computed_rel_overload(*)")
    assert rpc == [{"id": 1, "es_computed_rel_overload": [{"id": 1}]}]
    rpc2 = await get(client, "/rpc/es_search2?id=1&select=*,es_computed_rel_overload(*)")
    assert rpc2 == [{"id": 1, "es_computed_rel_overload": [{"id": 1}, {"id": 2}]}]
