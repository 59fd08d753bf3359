"""The baseline: what a developer would write by hand for GET /items?id=eq.N.

Bare ASGI + psycopg, the same pool settings as pgrest_asgi, JSON built in PostgreSQL and
passed through as bytes. No role switching, no per-request settings: one statement.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl

from psycopg import AsyncRawCursor
from psycopg_pool import AsyncConnectionPool

from pgrest_asgi.db.executor import register_bytes_loaders

SQL = "SELECT coalesce(json_agg(t), '[]')::text FROM (SELECT * FROM api.items WHERE id = $1) t"
#: The embed scenario written by hand: the item, its category (to-one), its reviews (to-many).
EMBED_SQL = (
    "SELECT coalesce(json_agg(t), '[]')::text FROM ("
    " SELECT i.id, i.name,"
    "  (SELECT row_to_json(c) FROM (SELECT name FROM api.categories"
    "    WHERE id = i.category_id) c) AS category,"
    "  (SELECT coalesce(json_agg(r), '[]') FROM (SELECT stars, body FROM api.reviews"
    "    WHERE item_id = i.id) r) AS reviews"
    " FROM api.items i WHERE i.id = $1) t"
)


async def _configure(conn: Any) -> None:
    register_bytes_loaders(conn)
    conn.cursor_factory = AsyncRawCursor


pool = AsyncConnectionPool(
    os.environ["BENCH_DSN"],
    min_size=int(os.environ.get("BENCH_POOL", "10")),
    max_size=int(os.environ.get("BENCH_POOL", "10")),
    kwargs={"autocommit": True, "prepare_threshold": 0},
    configure=_configure,
    open=False,
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await pool.open(wait=True)
                await send({"type": "lifespan.startup.complete"})
            else:
                await pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    params = dict(parse_qsl(scope["query_string"].decode()))
    value = params.get("id", "eq.0").removeprefix("eq.")
    async with pool.connection() as conn:
        cur = await conn.execute(EMBED_SQL if "select" in params else SQL, (value,))
        row = await cur.fetchone()
    body = row[0] if row else b"[]"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
