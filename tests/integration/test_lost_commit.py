"""REL-25: the connection is lost after COMMIT was sent, before its answer arrives.

Whether the transaction committed cannot be known from the client's side, so the request must
not be retried (a retry could write twice): the answer is a 503, and the row exists at most
once. A small proxy between the app and PostgreSQL (on a unix socket of its own) forwards
everything until PostgreSQL's answer to COMMIT, then drops that answer and closes both sides.
"""

from __future__ import annotations

import asyncio
import struct
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from pgrest_asgi.observe import Event
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import API_DB

#: CommandComplete ('C') for COMMIT: the message the proxy swallows once armed.
_COMMIT_DONE = b"COMMIT\x00"


class CommitEater:
    """Forwards both ways; once ``armed``, the server's answer to a COMMIT is dropped and the
    client's connection closed instead."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.armed = False
        self.eaten = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(self.upstream)

        async def client_to_server() -> None:
            while data := await reader.read(65536):
                up_writer.write(data)
                await up_writer.drain()
            up_writer.close()

        async def server_to_client() -> None:
            # The first byte from the server is no message when the client asked for SSL; the
            # app's connections never do on a unix socket.
            while True:
                head = await up_reader.readexactly(5)
                kind, length = head[:1], struct.unpack("!i", head[1:])[0]
                body = await up_reader.readexactly(length - 4)
                if self.armed and kind == b"C" and body == _COMMIT_DONE:
                    self.eaten += 1
                    writer.close()
                    up_writer.close()
                    return
                writer.write(head + body)
                await writer.drain()

        tasks = [asyncio.create_task(client_to_server()), asyncio.create_task(server_to_client())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        writer.close()
        up_writer.close()


@asynccontextmanager
async def commit_eater(cluster: PostgresCluster) -> AsyncIterator[tuple[CommitEater, str]]:
    """The proxy, and a DSN for the authenticator that goes through it."""
    eater = CommitEater(cluster.socket_path)
    with tempfile.TemporaryDirectory(prefix="pgrest-proxy-") as directory:
        path = Path(directory) / f".s.PGSQL.{cluster.port}"
        server = await asyncio.start_unix_server(eater.handle, path=str(path))
        try:
            dsn = make_conninfo(cluster.dsn(API_DB, user="authenticator"), host=directory)
            yield eater, dsn
        finally:
            server.close()
            await server.wait_closed()


async def rows_with(cluster: PostgresCluster, key: int) -> int:
    async with await psycopg.AsyncConnection.connect(cluster.dsn(API_DB)) as admin:
        cur = await admin.execute("SELECT count(*) FROM api.w_authors WHERE id = %s", [key])
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


async def test_a_lost_commit_answer_is_503_and_never_retried(
    app_factory: Any, api_db: PostgresCluster
) -> None:
    key = 500_000 + uuid.uuid4().int % 400_000
    async with (
        commit_eater(api_db) as (eater, dsn),
        app_factory(db_uri=dsn, db_pool=1, db_channel_enabled=False) as (app, http),
    ):
        events: list[Event] = []
        app.executor.observer = events.append
        eater.armed = True
        resp = await http.post("/w_authors", json={"id": key, "name": "maybe"})
        eater.armed = False
        assert eater.eaten == 1
        assert resp.status_code == 503
        body = resp.json()
        assert (body["code"], body["message"]) == ("PGRST000", "Database connection error.")
        assert resp.headers["retry-after"] == "1"
        # Not retried: a retry could have written the row twice.
        assert [e.name for e in events if e.name == "db.retry"] == []
        # PostgreSQL did commit (the answer was lost on the way): the row is there once.
        assert await rows_with(api_db, key) == 1
        # The app goes on serving through a new connection.
        again = await http.get(f"/w_authors?id=eq.{key}&select=name")
        assert (again.status_code, again.json()) == (200, [{"name": "maybe"}])
