"""The response-cache example on real PostgreSQL.

Under the cache sits the default executor wrapped in ``Counting``, which records every
transaction that reaches PostgreSQL: a request answered from the cache adds nothing. Rows are
also changed behind the app's back (directly in PostgreSQL) to show that a hit really is the
kept answer and that a re-read really reads. The clock is a fake one the tests move.
Each test gets a database of its own loaded with the example's schema.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from examples.response_cache import SCHEMA_SQL, ResponseCache, create_app
from pgrest_asgi import DbResult, ExecutorWrapper, PgRestApp, RequestContext, Statement, TxSpec
from pgrest_asgi.pytest_plugin import DEFAULT_JWT_SECRET, TokenMaker
from pgrest_asgi.testing import Database, SqlSource

# The plugin's app signs with its default secret: tokens can be made at import.
ANN = TokenMaker(DEFAULT_JWT_SECRET).headers("rc_user", sub="ann")
BO = TokenMaker(DEFAULT_JWT_SECRET).headers("rc_user", sub="bo")


class Counting(ExecutorWrapper):
    """The default executor, recording ``METHOD path?query`` of each transaction it runs.
    While ``gate`` is set, reads wait for it (after ``entered`` is set)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def execute(
        self, statement: Statement, tx: TxSpec, context: RequestContext | None = None
    ) -> DbResult:
        assert context is not None
        self.calls.append(f"{tx.method} {context.path}?{context.query_string.decode()}")
        if self.gate is not None and tx.read_only:
            self.entered.set()
            await self.gate.wait()
        return await super().execute(statement, tx, context)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Setup:
    http: httpx.AsyncClient
    inner: Counting
    cache: ResponseCache
    clock: Clock
    db: psycopg.Connection[Any]


@pytest.fixture
def pgrest_sql() -> list[SqlSource]:
    return [SCHEMA_SQL]


@pytest.fixture
def inner() -> Counting:
    return Counting()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def pgrest_app(
    pgrest_settings: dict[str, Any], pgrest_database: Database, inner: Counting, clock: Clock
) -> AsyncIterator[PgRestApp]:
    settings = {**pgrest_settings, "db_anon_role": "rc_anon"}
    del settings["db_uri"]
    app = create_app(
        pgrest_database.dsn(user="rc_authenticator"), inner=inner, ttl=5.0, clock=clock, **settings
    )
    async with app.lifespan():
        yield app


@pytest.fixture
def setup(
    pgrest_client: httpx.AsyncClient,
    pgrest_app: PgRestApp,
    pgrest_database: Database,
    inner: Counting,
    clock: Clock,
) -> Iterator[Setup]:
    assert isinstance(pgrest_app.executor, ResponseCache)
    with psycopg.connect(pgrest_database.dsn(), autocommit=True) as db:
        yield Setup(pgrest_client, inner, pgrest_app.executor, clock, db)


async def _json(http: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None) -> Any:
    resp = await http.get(url, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_a_repeated_read_is_answered_from_the_cache(setup: Setup) -> None:
    http, url = setup.http, "/books?select=id,title&order=id"
    first = await http.get(url)
    assert first.json() == [
        {"id": 1, "title": "Earthsea"},
        {"id": 2, "title": "Dune"},
        {"id": 3, "title": "Lathe of Heaven"},
    ]
    setup.db.execute("UPDATE library.books SET title = 'changed' WHERE id = 1")
    again = await http.get(url)
    assert (again.status_code, again.headers, again.content) == (200, first.headers, first.content)
    assert again.headers["content-range"] == "0-2/*"
    assert setup.inner.calls == ["GET /books?select=id,title&order=id"]


async def test_other_parameters_and_head_are_other_entries(setup: Setup) -> None:
    http = setup.http
    assert await _json(http, "/books?select=title&id=eq.1") == [{"title": "Earthsea"}]
    assert await _json(http, "/books?select=title&id=eq.2") == [{"title": "Dune"}]
    for _ in range(2):
        head = await http.head("/books?select=title&id=eq.1")
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["content-range"] == "0-0/*"
        assert await _json(http, "/books?select=title&id=eq.1") == [{"title": "Earthsea"}]
    assert setup.inner.calls == [
        "GET /books?select=title&id=eq.1",
        "GET /books?select=title&id=eq.2",
        "HEAD /books?select=title&id=eq.1",
    ]


async def test_callers_never_share_entries(setup: Setup) -> None:
    """The same URL: ann and bo get their own notes (RLS reads the ``sub`` claim), and the
    anonymous role, which has no grant, gets PostgreSQL's refusal, never a user's rows.
    Errors are not kept."""
    http, url = setup.http, "/notes?select=body"
    assert await _json(http, url, ANN) == [{"body": "ann's note"}]
    assert await _json(http, url, BO) == [{"body": "bo's note"}]
    for _ in range(2):
        resp = await http.get(url)
        assert resp.status_code == 401
        assert resp.json() == {
            "code": "42501",
            "details": None,
            "hint": None,
            "message": "permission denied for table notes",
        }
    assert await _json(http, url, ANN) == [{"body": "ann's note"}]
    assert await _json(http, url, BO) == [{"body": "bo's note"}]
    assert setup.inner.calls == [f"GET {url}"] * 4


async def test_a_write_drops_the_entries_that_read_its_table(setup: Setup) -> None:
    """A PATCH of authors drops the reads of authors, embeds of authors included; reads
    that do not touch authors stay cached."""
    http = setup.http
    books = "/books?select=title&id=eq.1"
    embed = "/books?select=title,authors(name)&id=eq.1"
    authors = "/authors?select=name&id=eq.1"
    assert await _json(http, books) == [{"title": "Earthsea"}]
    assert await _json(http, embed) == [{"title": "Earthsea", "authors": {"name": "Le Guin"}}]
    assert await _json(http, authors) == [{"name": "Le Guin"}]
    resp = await http.patch("/authors?id=eq.1", json={"name": "Ursula K. Le Guin"}, headers=ANN)
    assert resp.status_code == 204
    assert await _json(http, books) == [{"title": "Earthsea"}]
    assert await _json(http, embed) == [
        {"title": "Earthsea", "authors": {"name": "Ursula K. Le Guin"}}
    ]
    assert await _json(http, authors) == [{"name": "Ursula K. Le Guin"}]
    assert setup.inner.calls == [
        f"GET {books}",
        f"GET {embed}",
        f"GET {authors}",
        "PATCH /authors?id=eq.1",
        f"GET {embed}",
        f"GET {authors}",
    ]


async def test_a_function_that_may_write_drops_everything(setup: Setup) -> None:
    http = setup.http
    assert await _json(http, "/authors?select=name&id=eq.2") == [{"name": "Herbert"}]
    assert await _json(http, "/notes?select=body", ANN) == [{"body": "ann's note"}]
    assert len(setup.cache.entries) == 2
    resp = await http.post(
        "/rpc/rename_author", json={"author_id": 2, "new_name": "Frank Herbert"}, headers=ANN
    )
    assert resp.status_code == 204
    assert setup.cache.entries == {}
    assert await _json(http, "/authors?select=name&id=eq.2") == [{"name": "Frank Herbert"}]
    assert len(setup.inner.calls) == 4


async def test_entries_expire_after_the_ttl(setup: Setup) -> None:
    http, url = setup.http, "/books?select=title&id=eq.2"
    assert await _json(http, url) == [{"title": "Dune"}]
    setup.db.execute("UPDATE library.books SET title = 'Dune (1965)' WHERE id = 2")
    setup.clock.now += 4.999
    assert await _json(http, url) == [{"title": "Dune"}]
    setup.clock.now = 1005.0
    assert await _json(http, url) == [{"title": "Dune (1965)"}]
    assert setup.inner.calls == [f"GET {url}"] * 2
    # The re-read is kept for another ttl.
    assert await _json(http, url) == [{"title": "Dune (1965)"}]
    assert len(setup.inner.calls) == 2


async def test_a_read_that_overlapped_a_write_is_not_kept(setup: Setup) -> None:
    """Its answer may predate the write: it is sent, but the next read asks again."""
    http, url = setup.http, "/books?select=title&id=eq.3"
    setup.inner.gate = asyncio.Event()
    read = asyncio.create_task(http.get(url))
    await setup.inner.entered.wait()
    resp = await http.patch("/books?id=eq.3", json={"title": "The Lathe of Heaven"}, headers=ANN)
    assert resp.status_code == 204
    setup.inner.gate.set()
    assert (await read).json() == [{"title": "The Lathe of Heaven"}]
    assert setup.cache.entries == {}
    assert await _json(http, url) == [{"title": "The Lathe of Heaven"}]
    assert await _json(http, url) == [{"title": "The Lathe of Heaven"}]
    assert setup.inner.calls == [f"GET {url}", "PATCH /books?id=eq.3", f"GET {url}"]
