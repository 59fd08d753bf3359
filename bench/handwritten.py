"""The baseline: what a developer would write by hand for each request the bench sends.

Bare ASGI + psycopg, the same pool settings as pgrest_asgi, JSON built in PostgreSQL and
passed through as bytes, every value bound as a parameter. One route per request shape of
``bench/run.py``, and nothing more: no role switching or per-request settings unless the
request carries a JWT, no validation beyond what PostgreSQL does.

- ``GET /items?id=eq.N``: one statement, as the authenticator (row b).
- the same with ``Authorization: Bearer …``: the token verified (joserfc, HS256), then the
  transaction written naively, each statement awaited in turn: ``BEGIN``; one ``SELECT`` of
  two ``set_config(…, true)`` (role, claims); the query; ``COMMIT`` (row a).
- ``GET /items?select=…&id=eq.N``: one statement, embeds as correlated subqueries (rows c, d).
- ``GET /items``: every row, one statement (the memory row).
- ``POST /items_w``: an object is one ``INSERT … VALUES ($1, $2)``; an array is one
  ``INSERT … SELECT … FROM json_populate_recordset(…, $1)`` (rows f, h).
- ``POST /rpc/item_total``: ``SELECT to_json(api.item_total($1::int, $2::int))`` (row g).
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import parse_qsl

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from psycopg import AsyncRawCursor
from psycopg_pool import AsyncConnectionPool

from pgrest_asgi.db.executor import register_bytes_loaders

SQL = "SELECT coalesce(json_agg(t), '[]')::text FROM (SELECT * FROM api.items WHERE id = $1) t"
ALL_SQL = "SELECT coalesce(json_agg(t), '[]')::text FROM (SELECT * FROM api.items) t"
#: Row c by hand: the item and its reviews (to-many), as a correlated subquery.
REVIEWS_SQL = (
    "SELECT coalesce(json_agg(t), '[]')::text FROM ("
    " SELECT i.id, i.name,"
    "  (SELECT coalesce(json_agg(r), '[]') FROM (SELECT stars, body FROM api.reviews"
    "    WHERE item_id = i.id) r) AS reviews"
    " FROM api.items i WHERE i.id = $1) t"
)
#: Row d by hand: the item, its category (to-one), its reviews (to-many).
EMBED_SQL = (
    "SELECT coalesce(json_agg(t), '[]')::text FROM ("
    " SELECT i.id, i.name,"
    "  (SELECT row_to_json(c) FROM (SELECT name FROM api.categories"
    "    WHERE id = i.category_id) c) AS category,"
    "  (SELECT coalesce(json_agg(r), '[]') FROM (SELECT stars, body FROM api.reviews"
    "    WHERE item_id = i.id) r) AS reviews"
    " FROM api.items i WHERE i.id = $1) t"
)
SELECTS = {
    "id,name,reviews(stars,body)": REVIEWS_SQL,
    "id,name,category:categories(name),reviews(stars,body)": EMBED_SQL,
}
ROLE_SQL = "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)"
INSERT_ONE_SQL = "INSERT INTO api.items_w (name, price) VALUES ($1, $2)"
# A bulk insert by hand: the request body goes to PostgreSQL untouched, as one json
# parameter, and PostgreSQL turns it into rows. One statement and one round trip whatever the
# row count, and Python never parses the 1 000 objects. The alternatives cost more in Python:
# executemany() parses the body and adapts every value (pipelined, but ~1 000 bound rows), and
# a multi-row VALUES list needs SQL text built per row count with 2 000 parameters.
INSERT_MANY_SQL = (
    "INSERT INTO api.items_w (name, price)"
    " SELECT name, price FROM json_populate_recordset(NULL::api.items_w, $1::json)"
)
RPC_SQL = "SELECT to_json(api.item_total($1::int, $2::int))::text"

JWT_KEY = OctKey.import_key(os.environ.get("BENCH_JWT_SECRET", "x" * 32))
JSON_HEADERS = [(b"content-type", b"application/json; charset=utf-8")]


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
        await lifespan(receive, send)
        return
    path = scope["path"]
    if scope["method"] == "GET" and path == "/items":
        status, body = await get_items(scope)
    elif scope["method"] == "POST" and path == "/items_w":
        status, body = await insert_items(await read_body(receive))
    elif scope["method"] == "POST" and path == "/rpc/item_total":
        status, body = await item_total(await read_body(receive))
    else:
        status, body = 404, b"{}"
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await pool.open(wait=True)
            await send({"type": "lifespan.startup.complete"})
        else:
            await pool.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def get_items(scope: dict[str, Any]) -> tuple[int, bytes]:
    params = dict(parse_qsl(scope["query_string"].decode()))
    if "id" not in params:
        return 200, await one_value(ALL_SQL, ())
    value = params["id"].removeprefix("eq.")
    sql = SELECTS[params["select"]] if "select" in params else SQL
    token = bearer_token(scope)
    if token is None:
        return 200, await one_value(sql, (value,))
    try:
        claims = jwt.decode(token, JWT_KEY, algorithms=["HS256"]).claims
        jwt.JWTClaimsRegistry().validate(claims)  # exp, nbf
    except (JoseError, ValueError):
        return 401, b'{"message":"invalid token"}'
    async with pool.connection() as conn, conn.transaction():  # BEGIN … COMMIT
        await conn.execute(ROLE_SQL, (claims["role"], json.dumps(claims)))
        cur = await conn.execute(sql, (value,))
        row = await cur.fetchone()
    return 200, row[0] if row else b"[]"


def bearer_token(scope: dict[str, Any]) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].decode()
    return None


async def insert_items(body: bytes) -> tuple[int, bytes]:
    if body.lstrip()[:1] == b"[":
        await execute(INSERT_MANY_SQL, (body.decode(),))
    else:
        item = json.loads(body)
        await execute(INSERT_ONE_SQL, (item["name"], item.get("price")))
    return 201, b""


async def item_total(body: bytes) -> tuple[int, bytes]:
    args = json.loads(body)
    return 200, await one_value(RPC_SQL, (args["item_id"], args["qty"]))


async def one_value(sql: str, params: tuple[Any, ...]) -> bytes:
    async with pool.connection() as conn:
        cur = await conn.execute(sql, params)
        row = await cur.fetchone()
    return row[0] if row else b"[]"


async def execute(sql: str, params: tuple[Any, ...]) -> None:
    async with pool.connection() as conn:
        await conn.execute(sql, params)
