"""SEC-57: JIT compilation is off in request transactions unless ``db-jit`` turns it on (a wide
embed's plan can otherwise keep a backend compiling for tens of seconds, beyond a cancel's
reach). The function is in tests/fixtures/session_state.sql."""

from __future__ import annotations

from typing import Any


async def test_jit_is_off_in_requests_by_default(client: Any) -> None:
    resp = await client.get("/rpc/jit_setting")
    assert (resp.status_code, resp.json()) == (200, "off")
    resp = await client.post("/rpc/jit_setting", json={})
    assert (resp.status_code, resp.json()) == (200, "off")


async def test_db_jit_leaves_postgresql_its_own_setting(app_factory: Any) -> None:
    async with app_factory(db_jit=True) as (_, http):
        resp = await http.get("/rpc/jit_setting")
        assert (resp.status_code, resp.json()) == (200, "on")
