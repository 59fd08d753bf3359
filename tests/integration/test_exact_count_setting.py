"""REL-08: exact counts can be turned off by configuration (``db-exact-count``, an extension).
``Prefer: count=exact`` is then an invalid preference: ignored, or refused under
``handling=strict``; the planner's estimates stay available."""

from __future__ import annotations

from typing import Any


async def test_exact_count_turned_off(app_factory: Any) -> None:
    async with app_factory(db_exact_count=False) as (_, http):
        resp = await http.get(
            "/items?select=id&order=id&limit=2", headers={"Prefer": "count=exact"}
        )
        assert resp.status_code == 200
        assert resp.json() == [{"id": 1}, {"id": 2}]
        assert resp.headers["content-range"] == "0-1/*"
        assert "preference-applied" not in resp.headers

        strict = await http.get(
            "/items?select=id&limit=2", headers={"Prefer": "handling=strict, count=exact"}
        )
        assert strict.status_code == 400
        assert strict.json() == {
            "code": "PGRST122",
            "details": "Invalid preferences: count=exact",
            "hint": None,
            "message": "Invalid preferences given with handling=strict",
        }

        planned = await http.get("/items?select=id&limit=2", headers={"Prefer": "count=planned"})
        assert planned.status_code in (200, 206)
        assert planned.headers["preference-applied"] == "count=planned"


async def test_exact_count_is_on_by_default(client: Any) -> None:
    resp = await client.get("/items?select=id&order=id&limit=2", headers={"Prefer": "count=exact"})
    assert resp.status_code == 206
    assert resp.headers["content-range"] == "0-1/20"
    assert resp.headers["preference-applied"] == "count=exact"
