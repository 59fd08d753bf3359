"""Paging at the edges, ported from PostgREST's ``Query/RangeSpec`` (v16): an offset past the
last row, with and without a count, a ``Range`` header or ``limit``; negative offsets."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.db

COUNT = {"Prefer": "count=exact"}
ALL = [{"id": i} for i in range(1, 16)]


def past_end(offset: int, total: int) -> dict[str, Any]:
    return {
        "code": "PGRST103",
        "details": f"An offset of {offset} was requested, but there are only {total} rows.",
        "hint": None,
        "message": "Requested range not satisfiable",
    }


@pytest.mark.parametrize(
    ("path", "headers", "offset", "total"),
    [
        # A table.
        ("/rs_items?offset=100", COUNT, 100, 15),
        ("/rs_items?offset=100&limit=2", COUNT, 100, 15),
        ("/rs_items", {"Range": "100-199", **COUNT}, 100, 15),
        # A function's rows.
        ("/rpc/rs_getitemrange?offset=100&min=0&max=15", COUNT, 100, 15),
        ("/rpc/rs_getitemrange?min=0&max=15", {"Range": "100-199", **COUNT}, 100, 15),
        # A nonzero offset when there are no rows at all.
        ("/rpc/rs_getitemrange?offset=1&min=2&max=2", COUNT, 1, 0),
        ("/rpc/rs_getitemrange?min=2&max=2", {"Range": "1-2", **COUNT}, 1, 0),
    ],
)
async def test_an_offset_past_the_last_row_with_a_count_is_416(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], offset: int, total: int
) -> None:
    resp = await client.get(path, headers=headers)
    assert (resp.status_code, resp.json()) == (416, past_end(offset, total))
    assert resp.headers["content-range"] == f"*/{total}"
    assert resp.headers["content-type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/rs_items?offset=100", {}),
        ("/rs_items?offset=100&limit=2", {}),
        ("/rs_items", {"Range": "100-199"}),
        ("/rpc/rs_getitemrange?offset=100&min=0&max=15", {}),
        ("/rpc/rs_getitemrange?min=2&max=2", {"Range": "0-1"}),
    ],
)
async def test_without_a_count_an_offset_past_the_end_is_an_empty_page(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    """Without a count nobody knows where the end is: 200, ``[]``, ``*/*``."""
    resp = await client.get(path, headers=headers)
    assert (resp.status_code, resp.content) == (200, b"[]")
    assert resp.headers["content-range"] == "*/*"


@pytest.mark.parametrize("offset", ["0", "-4", "-99999999999999999999"])
async def test_a_zero_or_negative_offset_is_a_no_op(client: httpx.AsyncClient, offset: str) -> None:
    resp = await client.get(f"/rs_items?select=id&offset={offset}&order=id")
    assert (resp.status_code, resp.json()) == (200, ALL)
    assert resp.headers["content-range"] == "0-14/*"


async def test_ranges_beyond_the_length_are_truncated(client: httpx.AsyncClient) -> None:
    resp = await client.get("/rpc/rs_getitemrange?min=0&max=15", headers={"Range": "10-100"})
    assert (resp.status_code, resp.headers["content-range"]) == (200, "10-14/*")
    resp = await client.get("/rs_items?select=id&order=id.asc&limit=3&offset=2")
    assert (resp.json(), resp.headers["content-range"]) == (
        [{"id": 3}, {"id": 4}, {"id": 5}],
        "2-4/*",
    )
