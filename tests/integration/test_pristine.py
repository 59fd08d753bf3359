"""Each test using the fixture database starts from its data (tests/pristine.py)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.pristine import Restorer


async def test_written_rows_and_moved_sequences_are_put_back(
    client: httpx.AsyncClient, _restorer: Restorer
) -> None:
    assert _restorer.restore() == []  # this test, too, started from the fixture data
    resp = await client.post("/w_authors", json={"id": 4242, "name": "Temporary"})
    assert resp.status_code == 201
    resp = await client.post("/w_books?select=id", json={"title": "T"}, headers=REP)
    assert (resp.status_code, resp.json()) == (201, [{"id": 1000}])  # the identity's first
    resp = await client.delete("/w_books?id=eq.1", headers=REP)
    assert resp.json() == [{"id": 1, "title": "Earthsea", **BOOK_DEFAULTS}]
    assert sorted(_restorer.restore()) == ["api.w_authors", "api.w_books", "api.w_books_id_seq"]
    assert (await client.get("/w_authors?id=eq.4242")).json() == []
    assert (await client.get("/w_books?select=id&order=id")).json() == [{"id": 1}, {"id": 2}]
    resp = await client.post("/w_books?select=id", json={"title": "T"}, headers=REP)
    assert (resp.status_code, resp.json()) == (201, [{"id": 1000}])


async def test_a_rolled_back_write_leaves_only_its_sequence_to_reset(
    app_factory: Any, _restorer: Restorer
) -> None:
    async with app_factory(db_tx_end="rollback") as (_, http):
        resp = await http.post("/w_books?select=id", json={"title": "T"}, headers=REP)
        assert (resp.status_code, resp.json()) == (201, [{"id": 1000}])
    assert _restorer.restore() == ["api.w_books_id_seq"]


REP = {"Prefer": "return=representation"}
BOOK_DEFAULTS = {"author_id": 1, "pages": 100, "tags": None, "meta": None}
