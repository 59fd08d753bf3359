"""The exact text of bodies with embedded resources, byte for byte, as PostgREST 12 and later
writes them.

PostgREST builds an embedded object as ``row_to_json(…)::jsonb`` and an embedded array (of
objects, or of a to-many spread's values) as ``json_agg(…)::jsonb``: jsonb, so that a request
with aggregates can group by an embed, and so that ``..`` spreads can keep distinct values. The
response is ``json_agg`` of the rows, which writes a jsonb value as jsonb's own text. So:

* a row's own keys, to-one spread columns included, keep the order of ``select=`` and are
  written compactly (``{"title":"Ikiru","director":…}``), rows separated by ``, \\n``;
* inside an embedded object or array the keys are in jsonb's order (shorter keys first, then
  byte order), whatever ``select=`` says, and written with jsonb's spacing
  (``{"film_id": 1, "character": "Watanabe"}``), at every depth.

Clients that parse the JSON see no difference; these tests pin the bytes, so that a change of
the embed SQL (json instead of jsonb, say) cannot change them unnoticed.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.db

JSON = "application/json; charset=utf-8"


async def body(http: httpx.AsyncClient, url: str) -> bytes:
    resp = await http.get(url)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == JSON
    return resp.content


async def test_to_one(client: httpx.AsyncClient) -> None:
    url = "/films?select=title,director:directors!films_director_id_fkey(name,id)&id=lte.2&order=id"
    assert await body(client, url) == (
        b'[{"title":"Ikiru","director":{"id": 1, "name": "Kurosawa"}}, \n'
        b' {"title":"Ran","director":{"id": 1, "name": "Kurosawa"}}]'
    )
    # One-to-one, and no match: null.
    url = "/films?select=year,title,posters(url,film_id)&order=id"
    assert await body(client, url) == (
        b'[{"year":1952,"title":"Ikiru","posters":{"url": "ikiru.png", "film_id": 1}}, \n'
        b' {"year":1985,"title":"Ran","posters":null}, \n'
        b' {"year":1962,"title":"Cleo","posters":null}]'
    )


async def test_to_many(client: httpx.AsyncClient) -> None:
    url = "/films?select=title,roles(character,film_id,actor_id)&id=eq.2&roles.order=character"
    assert await body(client, url) == (
        b'[{"title":"Ran","roles":[{"film_id": 2, "actor_id": 1, "character": "Fujimaki"}, '
        b'{"film_id": 2, "actor_id": 2, "character": "Hidetora"}]}]'
    )
    # None: an empty array.
    url = "/directors?select=name,films!director_id(title)&id=eq.3"
    assert await body(client, url) == b'[{"name":"Nobody","films":[]}]'


async def test_many_to_many(client: httpx.AsyncClient) -> None:
    url = "/films?select=title,actors(name,id)&id=eq.2&actors.order=id"
    assert await body(client, url) == (
        b'[{"title":"Ran","actors":[{"id": 1, "name": "Shimura"}, {"id": 2, "name": "Nakadai"}]}]'
    )


async def test_nested(client: httpx.AsyncClient) -> None:
    url = (
        "/directors?select=name,films!director_id(title,year,roles(character,actors(name,id)))"
        "&id=eq.1&films.order=id&films.roles.order=character"
    )
    assert await body(client, url) == (
        b'[{"name":"Kurosawa","films":['
        b'{"year": 1952, "roles": [{"actors": {"id": 1, "name": "Shimura"}, '
        b'"character": "Watanabe"}], "title": "Ikiru"}, '
        b'{"year": 1985, "roles": [{"actors": {"id": 1, "name": "Shimura"}, '
        b'"character": "Fujimaki"}, {"actors": {"id": 2, "name": "Nakadai"}, '
        b'"character": "Hidetora"}], "title": "Ran"}]}]'
    )


async def test_to_one_spreads(client: httpx.AsyncClient) -> None:
    # Spread columns are the row's own keys: select order, compact.
    url = (
        "/roles?select=character,"
        "...films(title,year,...directors!films_director_id_fkey(director:name))&film_id=eq.1"
    )
    assert await body(client, url) == (
        b'[{"character":"Watanabe","title":"Ikiru","year":1952,"director":"Kurosawa"}]'
    )
    # An embed inside a spread is still an embedded object.
    url = "/roles?select=character,...films(title,posters(url,film_id))&film_id=eq.1"
    assert await body(client, url) == (
        b'[{"character":"Watanabe","title":"Ikiru","posters":{"url": "ikiru.png", "film_id": 1}}]'
    )


async def test_to_many_spreads(app_factory: Any) -> None:
    async with app_factory(db_aggregates_enabled=True) as (_, http):
        # Each column an array (jsonb's text), under the row's own keys.
        url = "/directors?select=name,...films!director_id(title,year)&id=eq.1&films.order=id"
        assert await body(http, url) == (
            b'[{"name":"Kurosawa","title":["Ikiru", "Ran"],"year":[1952, 1985]}]'
        )
        # A to-many embed inside: one object per joined row.
        url = (
            "/directors?select=name,...films!director_id(title,roles(character,film_id))"
            "&id=eq.1&films.order=id&films.roles.order=character"
        )
        assert await body(http, url) == (
            b'[{"name":"Kurosawa","title":["Ikiru", "Ran", "Ran"],'
            b'"roles":[{"film_id": 1, "character": "Watanabe"}, '
            b'{"film_id": 2, "character": "Fujimaki"}, {"film_id": 2, "character": "Hidetora"}]}]'
        )
        # Grouped by an embed, with an aggregate.
        url = "/films?select=director:directors!films_director_id_fkey(name,id),n:count()"
        resp = await http.get(url)
        assert sorted(resp.content.removeprefix(b"[").removesuffix(b"]").split(b", \n ")) == [
            b'{"director":{"id": 1, "name": "Kurosawa"},"n":2}',
            b'{"director":{"id": 2, "name": "Varda"},"n":1}',
        ]
