"""The read grammar against real types: arrays, ranges, json/jsonb, tsvector, composite,
domain, computed fields — and CSV output."""

from __future__ import annotations

import os
from typing import Any

import httpx
import psycopg


async def ids(client: httpx.AsyncClient, query: str) -> list[int]:
    resp = await client.get(f"/things?select=id&order=id&{query}")
    assert resp.status_code == 200, resp.text
    return [row["id"] for row in resp.json()]


async def test_array_and_range_operators(client: httpx.AsyncClient) -> None:
    assert await ids(client, "tags=cs.{red}") == [1]
    assert await ids(client, "nums=cd.{1,2,3,4}") == [1, 3]
    assert await ids(client, "tags=ov.{blue,red}") == [1, 2]
    assert await ids(client, "during=adj.[5,6)") == [1]
    assert await ids(client, "during=sl.[6,9)") == [1]
    assert await ids(client, "during=sr.[1,2)") == [2]
    assert await ids(client, "during=nxr.[1,6)") == [1]
    assert await ids(client, "during=nxl.[5,6)") == [2]


async def test_json_paths_in_filters_and_select(client: httpx.AsyncClient) -> None:
    assert await ids(client, "doc->a->>b=eq.y") == [2]
    assert await ids(client, "doc->>n=eq.1") == [1]
    assert await ids(client, "data->>k=eq.v2") == [2]
    assert await ids(client, "doc->list->0=eq.30") == [2]
    assert await ids(client, "doc->list->>-1=eq.20") == [1]
    resp = await client.get("/things?select=id,doc->a->>b,first:doc->list->0,doc->n&id=eq.1")
    assert resp.json() == [{"id": 1, "b": "x", "first": 10, "n": 1}]


async def test_json_paths_on_arrays_and_composites(client: httpx.AsyncClient) -> None:
    resp = await client.get("/things?select=id,addr->>city,nums->1&id=lt.3&order=id")
    assert resp.json() == [
        {"id": 1, "city": "Paris", "nums": 2},
        {"id": 2, "city": "Lyon", "nums": 5},
    ]
    assert await ids(client, "addr->>city=eq.Lyon") == [2]
    assert await ids(client, "order=addr->>city.desc&addr=not.is.null") == [1, 2]


async def test_full_text_search(client: httpx.AsyncClient) -> None:
    assert await ids(client, "tsv=fts.cat") == [1]
    assert await ids(client, "tsv=fts(english).cats") == [1]
    assert await ids(client, "tsv=plfts.fat cats") == [1]
    assert await ids(client, "tsv=phfts(english).lazy dog") == [2]
    assert await ids(client, "tsv=wfts(english).fat or lazy") == [1, 2]
    assert await ids(client, "tsv=not.fts.cat&tsv=not.is.null") == [2]
    # A text column is converted with to_tsvector.
    assert await ids(client, "body=fts(english).cats") == [1]


async def test_domains_booleans_and_is(client: httpx.AsyncClient) -> None:
    assert await ids(client, "qty=gt.5") == [2]
    assert await ids(client, "flag=is.true") == [1]
    assert await ids(client, "flag=is.false") == [2]
    assert await ids(client, "flag=is.unknown") == [3]
    assert await ids(client, "flag=not.is.null") == [1, 2]
    assert await ids(client, "qty=in.(3,7)") == [1, 2]


async def test_computed_field(client: httpx.AsyncClient) -> None:
    resp = await client.get("/things?select=id,label&id=eq.2")
    assert resp.json() == [{"id": 2, "label": "thing-2"}]
    assert await ids(client, "label=eq.thing-1") == [1]
    assert await ids(client, "order=label.desc&limit=1") == [3]
    # Not part of *.
    assert "label" not in (await client.get("/things?id=eq.1")).json()[0]


async def test_casts_in_select(client: httpx.AsyncClient) -> None:
    resp = await client.get("/things?select=id::text,qty::numeric,tags::text&id=eq.1")
    assert resp.json() == [{"id": "1", "qty": 3, "tags": "{red,green}"}]
    bad = await client.get("/things?select=id::nosuchtype")
    assert (bad.status_code, bad.json()["code"]) == (400, "42704")


async def test_csv(client: httpx.AsyncClient) -> None:
    resp = await client.get(
        "/items?select=id,name,price&id=lt.3&order=id", headers={"Accept": "text/csv"}
    )
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/csv; charset=utf-8"
    assert resp.text == 'id,name,price\n1,"item 1",1.50\n2,"item 2",3.00'


async def test_nulls_stripped(client: httpx.AsyncClient) -> None:
    resp = await client.get(
        "/things?select=id,tags&id=eq.3",
        headers={"Accept": "application/vnd.pgrst.array+json;nulls=stripped"},
    )
    assert resp.content == b'[{"id":3}]'
    assert resp.headers["content-type"] == (
        "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8"
    )


async def test_in_list_with_70000_values_is_one_parameter(app_factory: Any) -> None:
    """SEC-49: an `in` list is one array parameter, so 70 000 values are fine (the protocol
    caps a statement at 65 535 parameters). httpx refuses URLs this long, so the request goes
    to the ASGI app directly."""
    values = ",".join(str(i) for i in range(1, 70_001))
    query = f"select=id&id=in.({values})&order=id&limit=2".encode()
    async with app_factory(server_max_url_length=1_000_000) as (app, _):
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/items",
            "raw_path": b"/items",
            "root_path": "",
            "query_string": query,
            "headers": [],
        }
        await app(scope, receive, send)
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b'[{"id":1}, \n {"id":2}]'


async def test_plan_media_type(app_factory: Any) -> None:
    async with app_factory(db_plan_enabled=True) as (_, http):
        text = await http.get(
            "/items?select=id&id=eq.1", headers={"Accept": "application/vnd.pgrst.plan"}
        )
        assert text.status_code == 200
        assert text.headers["content-type"] == (
            'application/vnd.pgrst.plan+text; for="application/json"; charset=utf-8'
        )
        # The plan of the request's query (an index or a sequential scan: on a 20-row table
        # PostgreSQL's choice follows the statistics of the moment).
        assert text.text.startswith("Aggregate")
        assert " on items " in text.text
        assert "(id = 1)" in text.text
        plan = await http.get(
            "/items?select=id&id=gt.1",
            headers={
                "Accept": 'application/vnd.pgrst.plan+json; for="text/csv"; options=analyze|verbose'
            },
        )
        assert plan.headers["content-type"] == (
            'application/vnd.pgrst.plan+json; for="text/csv"; options=analyze|verbose; '
            "charset=utf-8"
        )
        (explained,) = plan.json()
        assert "Actual Rows" in explained["Plan"]  # analyze ran
        assert "Output" in explained["Plan"]  # verbose
        # A write hidden in the query is still refused: the plan runs read-only.
        refused = await http.get(
            "/writer", headers={"Accept": "application/vnd.pgrst.plan; options=analyze"}
        )
        assert refused.status_code == 405


async def test_plan_media_type_needs_the_setting(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items", headers={"Accept": "application/vnd.pgrst.plan+json"})
    assert (resp.status_code, resp.json()["code"]) == (406, "PGRST107")


async def test_domain_representations(client: httpx.AsyncClient) -> None:
    """Implicit casts domain → json (output) and text → domain (filters), applied explicitly."""
    resp = await client.get("/paints?order=id")
    assert resp.json() == [
        {"id": 1, "name": "red", "color": "#ff0000"},
        {"id": 2, "name": "green", "color": "#00ff00"},
        {"id": 3, "name": "blue", "color": "#0000ff"},
    ]
    one = await client.get("/paints", params={"select": "name,color", "color": "eq.#00ff00"})
    assert one.json() == [{"name": "green", "color": "#00ff00"}]
    listed = await client.get(
        "/paints", params={"select": "id", "color": "in.(#0000ff,#ff0000)", "order": "id"}
    )
    assert listed.json() == [{"id": 1}, {"id": 3}]
    # A cast applies to the formatted (json) value, as PostgREST's does: json has no cast to
    # int, and its text keeps the JSON quotes.
    raw = await client.get("/paints?select=color::int&id=eq.3")
    assert (raw.status_code, raw.json()) == (
        400,
        {
            "code": "42846",
            "details": None,
            "hint": None,
            "message": "cannot cast type json to integer",
        },
    )
    text = await client.get("/paints?select=color::text&id=eq.3")
    assert text.json() == [{"color": '"#0000ff"'}]


async def test_geojson(client: httpx.AsyncClient, api_db: Any) -> None:
    """With PostGIS: a FeatureCollection built by ST_AsGeoJSON; without it: not acceptable.
    (CI installs PostGIS, so the first branch is what CI checks.)"""
    with psycopg.connect(api_db.dsn("pgrest_test")) as conn:
        row = conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'postgis'")
        has_postgis = row.fetchone() == (1,)
    if os.environ.get("CI"):
        assert has_postgis, "CI must install PostGIS (.ci/run)"
    headers = {"Accept": "application/geo+json"}
    if not has_postgis:
        resp = await client.get("/items", headers=headers)
        assert (resp.status_code, resp.json()["code"]) == (406, "PGRST107")
        return
    resp = await client.get("/places?order=id", headers=headers)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/geo+json; charset=utf-8"
    assert resp.json() == {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [2.35, 48.85]},
                "properties": {"id": 1, "name": "Paris"},
            },
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [4.83, 45.76]},
                "properties": {"id": 2, "name": "Lyon"},
            },
        ],
    }
    empty = await client.get("/places?id=eq.99", headers=headers)
    assert empty.json() == {"type": "FeatureCollection", "features": []}
