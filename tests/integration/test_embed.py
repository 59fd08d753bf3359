"""Resource embedding through lateral joins: every relationship kind, hints, !inner,
embedded filters, and PostgREST's PGRST108/200/201 errors."""

from __future__ import annotations

from typing import Any

import httpx


async def get(client: httpx.AsyncClient, url: str, **kwargs: Any) -> Any:
    resp = await client.get(url, **kwargs)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_many_to_one_by_column_hint(client: httpx.AsyncClient) -> None:
    body = await get(client, "/films?select=title,directors!director_id(name)&order=id")
    assert body == [
        {"title": "Ikiru", "directors": {"name": "Kurosawa"}},
        {"title": "Ran", "directors": {"name": "Kurosawa"}},
        {"title": "Cleo", "directors": {"name": "Varda"}},
    ]


async def test_many_to_one_by_fk_column_and_constraint_name(client: httpx.AsyncClient) -> None:
    body = await get(client, "/films?select=title,producer:producer_id(name)&order=id")
    assert body == [
        {"title": "Ikiru", "producer": {"name": "Varda"}},
        {"title": "Ran", "producer": None},
        {"title": "Cleo", "producer": None},
    ]
    body = await get(client, "/films?select=id,films_director_id_fkey(name)&id=eq.3")
    assert body == [{"id": 3, "films_director_id_fkey": {"name": "Varda"}}]


async def test_one_to_many_with_modifiers(client: httpx.AsyncClient) -> None:
    body = await get(
        client,
        "/directors?select=name,films!director_id(title,year)&order=id"
        "&films.order=year.desc&films.year=gt.1950",
    )
    assert body == [
        {
            "name": "Kurosawa",
            "films": [{"title": "Ran", "year": 1985}, {"title": "Ikiru", "year": 1952}],
        },
        {"name": "Varda", "films": [{"title": "Cleo", "year": 1962}]},
        {"name": "Nobody", "films": []},
    ]
    limited = await get(
        client, "/directors?select=id,films!director_id(id)&id=eq.1&films.order=id&films.limit=1"
    )
    assert limited == [{"id": 1, "films": [{"id": 1}]}]


async def test_many_to_many_and_nesting(client: httpx.AsyncClient) -> None:
    body = await get(
        client,
        "/directors?select=name,films!director_id(title,actors(name))&id=eq.1"
        "&films.order=id&films.actors.order=name",
    )
    assert body == [
        {
            "name": "Kurosawa",
            "films": [
                {"title": "Ikiru", "actors": [{"name": "Shimura"}]},
                {"title": "Ran", "actors": [{"name": "Nakadai"}, {"name": "Shimura"}]},
            ],
        }
    ]


async def test_one_to_one(client: httpx.AsyncClient) -> None:
    body = await get(client, "/films?select=id,posters(url)&order=id&limit=2")
    assert body == [{"id": 1, "posters": {"url": "ikiru.png"}}, {"id": 2, "posters": None}]


async def test_self_reference(client: httpx.AsyncClient) -> None:
    body = await get(client, "/staff?select=name,boss:boss_id(name)&order=id")
    assert body == [
        {"name": "Boss", "boss": None},
        {"name": "Ann", "boss": {"name": "Boss"}},
        {"name": "Bob", "boss": {"name": "Boss"}},
    ]
    reports = await get(client, "/staff?select=name,staff!boss_id(name)&id=eq.1&staff.order=id")
    assert reports == [{"name": "Boss", "staff": [{"name": "Ann"}, {"name": "Bob"}]}]


async def test_inner_join_filters_parents_and_count(client: httpx.AsyncClient) -> None:
    resp = await client.get(
        "/films?select=title,posters!inner(url)&limit=10", headers={"Prefer": "count=exact"}
    )
    assert resp.json() == [{"title": "Ikiru", "posters": {"url": "ikiru.png"}}]
    assert resp.headers["content-range"] == "0-0/1"
    many = await get(
        client, "/directors?select=name,films!director_id!inner(title)&films.year=gt.1980"
    )
    assert many == [{"name": "Kurosawa", "films": [{"title": "Ran"}]}]


async def test_empty_embed_filters_without_output(client: httpx.AsyncClient) -> None:
    body = await get(client, "/films?select=title,actors!inner()&actors.name=eq.Marchand")
    assert body == [{"title": "Cleo"}]


async def test_ambiguous_embed_is_300(client: httpx.AsyncClient) -> None:
    resp = await client.get("/films?select=title,directors(name)")
    assert resp.status_code == 300
    assert resp.json() == {
        "code": "PGRST201",
        "details": [
            {
                "cardinality": "many-to-one",
                "embedding": "films with directors",
                "relationship": "films_director_id_fkey using films(director_id) and directors(id)",
            },
            {
                "cardinality": "many-to-one",
                "embedding": "films with directors",
                "relationship": "films_producer_id_fkey using films(producer_id) and directors(id)",
            },
        ],
        "hint": "Try changing 'directors' to one of the following: "
        "'directors!films_director_id_fkey', 'directors!films_producer_id_fkey'. Find the "
        "desired relationship in the 'details' key.",
        "message": "Could not embed because more than one relationship was found for 'films' "
        "and 'directors'",
    }


async def test_unknown_relationship_is_400(client: httpx.AsyncClient) -> None:
    resp = await client.get("/films?select=title,actor(name)")
    assert resp.status_code == 400
    assert resp.json() == {
        "code": "PGRST200",
        "details": "Searched for a foreign key relationship between 'films' and 'actor' in "
        "the schema 'api', but no matches were found.",
        "hint": "Perhaps you meant 'actors' instead of 'actor'.",
        "message": "Could not find a relationship between 'films' and 'actor' in the schema cache",
    }


async def test_filter_on_a_resource_not_embedded_is_108(client: httpx.AsyncClient) -> None:
    resp = await client.get("/films?select=title&actors.name=eq.x")
    assert resp.status_code == 400
    assert resp.json() == {
        "code": "PGRST108",
        "details": None,
        "hint": "Verify that 'actors' is included in the 'select' query parameter.",
        "message": "'actors' is not an embedded resource in this request",
    }


async def test_max_rows_caps_embedded_levels(app_factory: Any) -> None:
    async with app_factory(db_max_rows=1) as (_, http):
        resp = await http.get("/directors?select=id,films!director_id(id)&id=eq.1&films.order=id")
        assert resp.json() == [{"id": 1, "films": [{"id": 1}]}]


async def test_null_filters_on_embeds(client: httpx.AsyncClient) -> None:
    with_poster = await get(client, "/films?select=title,posters(url)&posters=not.is.null")
    assert with_poster == [{"title": "Ikiru", "posters": {"url": "ikiru.png"}}]
    without = await get(client, "/films?select=id,posters()&posters=is.null&order=id")
    assert without == [{"id": 2}, {"id": 3}]
    no_films = await get(client, "/directors?select=name,films!director_id()&films=is.null")
    assert no_films == [{"name": "Nobody"}]
    either = await get(
        client,
        "/films?select=id,posters()&or=(posters.not.is.null,id.eq.3)&order=id",
    )
    assert either == [{"id": 1}, {"id": 3}]


async def test_other_operators_on_an_embed_name_filter_the_column(
    client: httpx.AsyncClient,
) -> None:
    bad = await client.get("/films?select=id,posters(url)&posters=eq.1")
    assert (bad.status_code, bad.json()) == (
        400,
        {
            "code": "42703",
            "details": None,
            "hint": None,
            "message": "column films.posters does not exist",
        },
    )


async def test_related_order(client: httpx.AsyncClient) -> None:
    body = await get(
        client, "/films?select=title,d:directors!director_id(name)&order=d(name).desc,id"
    )
    assert [row["title"] for row in body] == ["Cleo", "Ikiru", "Ran"]
    to_many = await client.get("/directors?select=name,films!director_id(title)&order=films(title)")
    assert (to_many.status_code, to_many.json()) == (
        400,
        {
            "code": "PGRST118",
            "details": "'directors' and 'films' do not form a many-to-one or one-to-one "
            "relationship",
            "hint": None,
            "message": "A related order on 'films' is not possible",
        },
    )
    missing = await client.get("/films?select=title&order=directors(name)")
    assert (missing.status_code, missing.json()["code"]) == (400, "PGRST108")


async def test_embed_below_a_many_to_many(client: httpx.AsyncClient) -> None:
    body = await get(
        client,
        "/films?select=title,actors(name,roles(character))&id=eq.2&actors.order=name"
        "&actors.roles.order=character",
    )
    assert body == [
        {
            "title": "Ran",
            "actors": [
                {"name": "Nakadai", "roles": [{"character": "Hidetora"}]},
                {
                    "name": "Shimura",
                    "roles": [{"character": "Fujimaki"}, {"character": "Watanabe"}],
                },
            ],
        }
    ]


async def test_to_many_embed_on_1000_parents_is_one_statement(
    client: httpx.AsyncClient, monkeypatch: Any
) -> None:
    import pgrest_asgi.db.executor as executor

    sent: list[list[bytes]] = []
    original = executor.run_pipeline

    async def recording(conn: Any, messages: Any) -> Any:
        sent.append([m.sql for m in messages])
        return await original(conn, messages)

    monkeypatch.setattr(executor, "run_pipeline", recording)
    resp = await client.get("/parents?select=id,children(id)&order=id&children.order=id")
    body = resp.json()
    assert len(body) == 1000
    assert body[0] == {"id": 1, "children": [{"id": 1}, {"id": 2}]}
    assert body[-1] == {"id": 1000, "children": [{"id": 1999}, {"id": 2000}]}
    # One round trip: RESET ALL, the settings, and a single main statement (which carries the
    # session check's columns around the read).
    assert len(sent) == 1
    assert [sql.split(b" ")[0] for sql in sent[0]] == [b"RESET", b"SELECT", b"SELECT"]
    assert sent[0][2].startswith(b"SELECT pgrst_main.*, pg_catalog.pg_advisory_unlock_all()")
    assert b" FROM (WITH " in sent[0][2]


async def test_to_one_spread(client: httpx.AsyncClient) -> None:
    body = await get(
        client, "/films?select=title,...directors!director_id(director:name)&order=id&limit=2"
    )
    assert body == [
        {"title": "Ikiru", "director": "Kurosawa"},
        {"title": "Ran", "director": "Kurosawa"},
    ]
    star = await get(client, "/films?select=id,...posters(*)&id=eq.1")
    assert star == [{"id": 1, "film_id": 1, "url": "ikiru.png"}]
    nested = await get(
        client, "/roles?select=character,...films(title,...posters(url))&film_id=eq.1"
    )
    assert nested == [{"character": "Watanabe", "title": "Ikiru", "url": "ikiru.png"}]


async def test_embedding_views(client: httpx.AsyncClient) -> None:
    body = await get(client, "/recent_films?select=title,directors(name)&order=id")
    assert body == [
        {"title": "Ran", "directors": {"name": "Kurosawa"}},
        {"title": "Cleo", "directors": {"name": "Varda"}},
    ]
    view_to_view = await get(
        client, "/director_list?select=name,recent_films(title)&id=eq.1&recent_films.order=id"
    )
    assert view_to_view == [{"name": "Kurosawa", "recent_films": [{"title": "Ran"}]}]


async def test_aggregates(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        assert await get(http, "/films?select=count()") == [{"count": 3}]
        grouped = await get(http, "/films?select=director_id,count()&order=director_id")
        assert grouped == [{"director_id": 1, "count": 2}, {"director_id": 2, "count": 1}]
        sums = await get(http, "/films?select=total:year.sum(),year.max(),year.min()")
        assert sums == [{"total": 5899, "max": 1985, "min": 1952}]
        cast = await get(http, "/films?select=year::numeric.avg()::int")
        assert cast == [{"avg": 1966}]
        per_director = await get(http, "/directors?select=name,films!director_id(count())&order=id")
        assert per_director == [
            {"name": "Kurosawa", "films": [{"count": 2}]},
            {"name": "Varda", "films": [{"count": 1}]},
            {"name": "Nobody", "films": [{"count": 0}]},
        ]
        by_embed = await get(http, "/films?select=directors!director_id(name),count()")
        assert sorted(by_embed, key=lambda r: r["count"]) == [
            {"directors": {"name": "Varda"}, "count": 1},
            {"directors": {"name": "Kurosawa"}, "count": 2},
        ]


async def test_to_many_spread(app_factory: Any) -> None:
    # PostgREST serves to-many spreads only with aggregates enabled (400 PGRST123 otherwise: see
    # test_one_to_many_spread_needs_aggregates in test_spread_agg_spec.py).
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        body = await get(
            http,
            "/directors?select=name,...films!director_id(titles:title,year)"
            "&order=id&films.order=year",
        )
        assert body == [
            {"name": "Kurosawa", "titles": ["Ikiru", "Ran"], "year": [1952, 1985]},
            {"name": "Varda", "titles": ["Cleo"], "year": [1962]},
            {"name": "Nobody", "titles": [], "year": []},
        ]
        junction = await get(http, "/films?select=title,...actors(name)&id=eq.2&actors.order=name")
        assert junction == [{"title": "Ran", "name": ["Nakadai", "Shimura"]}]
        star = await get(http, "/actors?select=id,...roles(*)&id=eq.3")
        assert star == [{"id": 3, "film_id": [3], "actor_id": [3], "character": ["Cleo"]}]
        # Aggregates are computed over each row's related rows, then combined where the
        # parent groups its rows (counts add up).
        # (grouped by name: order by a grouped column)
        counted = await get(http, "/directors?select=name,...films!director_id(count())&order=name")
        assert counted == [
            {"name": "Kurosawa", "count": 2},
            {"name": "Nobody", "count": 0},
            {"name": "Varda", "count": 1},
        ]
        total = await get(http, "/directors?select=...films!director_id(n:count(),y:year.max())")
        assert total == [{"n": 3, "y": 1985}]
        cast = await get(http, "/directors?select=...films!director_id(count()::text)")
        assert cast == [{"count": "3"}]
        # ..: distinct non-null values; a to-many spread nested in one joins its rows.
        years = await get(http, "/directors?select=name,..films!director_id(director_id)&order=id")
        assert years == [
            {"name": "Kurosawa", "director_id": [1]},
            {"name": "Varda", "director_id": [2]},
            {"name": "Nobody", "director_id": []},
        ]
        joined = await get(
            http,
            "/directors?select=name,...films!director_id(title,...roles(character))&id=eq.1"
            "&films.order=id&films.roles.order=character",
        )
        assert joined == [
            {
                "name": "Kurosawa",
                "title": ["Ikiru", "Ran", "Ran"],
                "character": ["Watanabe", "Fujimaki", "Hidetora"],
            }
        ]


async def test_computed_relationships(client: httpx.AsyncClient) -> None:
    co_stars = await get(client, "/actors?select=name,co_stars(name)&id=eq.1&co_stars.order=name")
    assert co_stars == [{"name": "Shimura", "co_stars": [{"name": "Nakadai"}]}]
    # ROWS 1 makes it to-one: an object, not an array.
    latest = await get(client, "/directors?select=name,latest_film(title)&order=id")
    assert latest == [
        {"name": "Kurosawa", "latest_film": {"title": "Ran"}},
        {"name": "Varda", "latest_film": {"title": "Cleo"}},
        {"name": "Nobody", "latest_film": None},
    ]
    # Recursion through a computed relationship.
    nested = await get(
        client,
        "/actors?select=name,co_stars(name,co_stars(name))&id=eq.2&co_stars.co_stars.order=name",
    )
    assert nested == [
        {
            "name": "Nakadai",
            "co_stars": [
                {"name": "Shimura", "co_stars": [{"name": "Nakadai"}]},
            ],
        }
    ]


async def test_embedding_across_exposed_schemas(client: httpx.AsyncClient) -> None:
    body = await get(client, "/films?select=title,reviews(stars)&id=eq.1&reviews.order=id")
    assert body == [{"title": "Ikiru", "reviews": [{"stars": 5}, {"stars": 4}]}]
    back = await get(
        client, "/reviews?select=id,films(title)&id=eq.3", headers={"Accept-Profile": "v2"}
    )
    assert back == [{"id": 3, "films": {"title": "Cleo"}}]


async def test_embedding_a_partitioned_table(client: httpx.AsyncClient) -> None:
    body = await get(client, "/films?select=title,screenings(day)&id=eq.2&screenings.order=day")
    assert body == [{"title": "Ran", "screenings": [{"day": "2024-05-01"}, {"day": "2025-05-01"}]}]
    # Partitions themselves are not exposed.
    assert (await client.get("/screenings_2024")).status_code == 404


async def test_legacy_target_names(client: httpx.AsyncClient, app_factory: Any) -> None:
    resp = await client.get(
        "/directors?select=name,works:films!director_id(title)&id=eq.1&films.order=year.desc"
    )
    assert resp.json() == [{"name": "Kurosawa", "works": [{"title": "Ran"}, {"title": "Ikiru"}]}]
    assert resp.headers["warning"] == (
        '299 pgrest_asgi/0.1.0 "Embedded resource was referenced by relation name even though '
        "it has an alias. This is deprecated and will stop working in a future release. Update "
        '`films` to `works` in query string filters, orders or limits."'
    )
    by_alias = await client.get(
        "/directors?select=name,works:films!director_id(title)&id=eq.1&works.order=year"
    )
    assert "warning" not in by_alias.headers
    async with app_factory(url_use_legacy_target_names=False) as (_, http):
        refused = await http.get(
            "/directors?select=name,works:films!director_id(title)&films.order=year"
        )
        assert refused.status_code == 400
        assert refused.json()["code"] == "PGRST108"
        assert refused.json()["details"] == (
            "Target names are not allowed in filters if they have an alias"
        )


async def test_same_target_twice_with_hints_and_inner(client: httpx.AsyncClient) -> None:
    body = await get(
        client,
        "/films?select=title,director:directors!director_id(name),"
        "producer:directors!producer_id!inner(name)",
    )
    assert body == [
        {"title": "Ikiru", "director": {"name": "Kurosawa"}, "producer": {"name": "Varda"}}
    ]


async def test_aggregates_hoisted_from_to_one_spreads(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        per_director = await get(http, "/films?select=...directors!director_id(name,count())")
        assert sorted(per_director, key=lambda r: r["name"]) == [
            {"name": "Kurosawa", "count": 2},
            {"name": "Varda", "count": 1},
        ]
        latest = await get(
            http, "/roles?select=...films(latest:year.max()),actor_id&order=actor_id"
        )
        assert latest == [
            {"latest": 1985, "actor_id": 1},
            {"latest": 1985, "actor_id": 2},
            {"latest": 1962, "actor_id": 3},
        ]
