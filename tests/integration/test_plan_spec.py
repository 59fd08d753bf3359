"""``application/vnd.pgrst.plan`` as PostgREST 16 answers it, ported from its
``Query/PlanSpec``: the Content-Type names ``for=`` always and ``options=`` when any were asked
(in PostgREST's fixed order), and the verbose plan shows the statement's output columns in
PostgREST's shape: total, page total, [header,] body."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.db

COLUMNS = ["items.id", "items.name", "items.price", 'items."Weird Col"']
ROW = 'ROW(items.id, items.name, items.price, items."Weird Col")'


def plan_of(accept: str) -> dict[str, str]:
    return {"Accept": accept}


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        (
            "application/vnd.pgrst.plan+json",
            'application/vnd.pgrst.plan+json; for="application/json"; charset=utf-8',
        ),
        (
            "application/vnd.pgrst.plan+json; options=buffers",
            'application/vnd.pgrst.plan+json; for="application/json"; options=buffers; '
            "charset=utf-8",
        ),
        (
            # Asked in any order, named in PostgREST's.
            "application/vnd.pgrst.plan+json; options=wal|analyze",
            'application/vnd.pgrst.plan+json; for="application/json"; options=analyze|wal; '
            "charset=utf-8",
        ),
        (
            'application/vnd.pgrst.plan+json; for="application/vnd.pgrst.object"; options=verbose',
            'application/vnd.pgrst.plan+json; for="application/vnd.pgrst.object+json"; '
            "options=verbose; charset=utf-8",
        ),
        (
            # PostgREST splits the Accept value at every ";", quotes or not: the stripped type
            # in for= loses its parameter, and the plan is JSON's. We read it the same way.
            "application/vnd.pgrst.plan+json; "
            'for="application/vnd.pgrst.array+json;nulls=stripped"',
            'application/vnd.pgrst.plan+json; for="application/json"; charset=utf-8',
        ),
        (
            "application/vnd.pgrst.plan",
            'application/vnd.pgrst.plan+text; for="application/json"; charset=utf-8',
        ),
        (
            'application/vnd.pgrst.plan+text; for="text/csv"; options=settings',
            'application/vnd.pgrst.plan+text; for="text/csv"; options=settings; charset=utf-8',
        ),
    ],
)
async def test_the_content_type_names_for_and_options(
    app_factory: Any, accept: str, content_type: str
) -> None:
    async with app_factory(db_plan_enabled=True) as (_, http):
        resp = await http.get("/items?id=in.(1,2,3)", headers=plan_of(accept))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == content_type
    if "+json" in content_type.split(";")[0]:
        (plan,) = resp.json()
        assert set(plan) >= {"Plan", "Planning"} if "buffers" in accept else {"Plan"}
    else:
        assert resp.text.startswith("Aggregate")


async def test_verbose_shows_the_output_columns(app_factory: Any) -> None:
    async with app_factory(db_plan_enabled=True) as (_, http):
        resp = await http.get(
            "/items", headers=plan_of("application/vnd.pgrst.plan+json; options=verbose")
        )
        (plan,) = resp.json()
        assert plan["Plan"]["Plans"][0]["Output"] == COLUMNS
        assert plan["Plan"]["Output"][2] == f"(COALESCE(json_agg({ROW}), '[]'::json))::text"

        single = await http.get(
            "/items",
            headers=plan_of(
                'application/vnd.pgrst.plan+json; for="application/vnd.pgrst.object"; '
                "options=verbose"
            ),
        )
        (plan,) = single.json()
        assert plan["Plan"]["Output"][2] == (
            f"(COALESCE((json_agg({ROW}) -> 0), 'null'::json))::text"
        )


async def test_a_write_plan_has_the_header_column_before_the_body(
    app_factory: Any, token: Any
) -> None:
    headers = {
        "Authorization": f"Bearer {token({'role': 'web_user'})}",
        "Prefer": "return=representation",
        **plan_of(
            'application/vnd.pgrst.plan+json; for="application/vnd.pgrst.object"; options=verbose'
        ),
    }
    async with app_factory(db_plan_enabled=True) as (_, http):
        resp = await http.delete("/items?id=eq.6", headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == (
            'application/vnd.pgrst.plan+json; for="application/vnd.pgrst.object+json"; '
            "options=verbose; charset=utf-8"
        )
        (plan,) = resp.json()
        body = plan["Plan"]["Output"][3]
        assert body.startswith("(COALESCE((json_agg(") and body.endswith("'null'::json))::text")
        # Only explained: the row is still there.
        assert (await http.get("/items?id=eq.6&select=id")).json() == [{"id": 6}]


async def test_plans_need_db_plan_enabled(app_factory: Any) -> None:
    async with app_factory() as (_, http):
        resp = await http.get("/items?id=in.(1,2,3)", headers=plan_of("application/vnd.pgrst.plan"))
    assert (resp.status_code, resp.json()) == (
        406,
        {
            "code": "PGRST107",
            "details": None,
            "hint": None,
            "message": "None of these media types are available: application/vnd.pgrst.plan",
        },
    )
