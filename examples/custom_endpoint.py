"""A host endpoint next to the API: ``GET /order-stats`` runs the host's own SQL as the caller.

A router subclass sends one path to a Python function (``Target.endpoint``); every other path
is the API as before. The app authenticates the request first, and ``request.query`` runs the
SQL the way the API runs its own statements: in a transaction as the caller's role, with the
request settings (``request.jwt.claims``, ``request.headers``, …) and the pre-request function,
and PostgreSQL's errors answered with PostgREST's status and body (an anonymous caller without
the grant gets 401, a bad number 400 ``22P02``). The value from the query string is the bind
parameter ``$1``, never SQL text. Row-level security reads the caller's ``customer`` claim, so
each customer gets statistics of their own orders only.

``Target.asgi(app)`` hands a path to a plain ASGI app instead: ``/ping`` is answered by
``ping`` itself, as the request arrived, without the API's authentication.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from pgrest_asgi import DefaultRouter, EndpointRequest, Hooks, PgRestApp, Response, Target

STATS_SQL = """
SELECT customer_id, count(*) AS orders, sum(total) AS total
FROM shop.orders WHERE total >= $1
GROUP BY customer_id ORDER BY customer_id
"""


async def order_stats(request: EndpointRequest) -> Response:
    query = parse_qs(request.context.query_string.decode("latin-1"))
    min_total = query.get("min_total", ["0"])[0]
    return Response.json(await request.query(STATS_SQL, [min_total]))


async def ping(
    scope: Mapping[str, Any],
    receive: Callable[[], Awaitable[Any]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    body = f"pong: {scope['method']} {scope['path']}".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class StatsRouter(DefaultRouter):
    def match(self, method: str, path: bytes, headers: Mapping[str, str]) -> Target:
        if path == b"/order-stats" and method == "GET":
            return Target.endpoint(order_stats)
        if path == b"/ping":
            return Target.asgi(ping)
        return super().match(method, path, headers)


def create_app(dsn: str, **settings: Any) -> PgRestApp:
    return PgRestApp(dsn, schemas=["shop"], hooks=Hooks(router=StatsRouter()), **settings)


#: The schema this example serves (a test loads it into a throwaway database).
SCHEMA_SQL = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'stats_authenticator') THEN
    CREATE ROLE stats_authenticator LOGIN NOINHERIT;
    CREATE ROLE stats_anon NOLOGIN;
    CREATE ROLE stats_customer NOLOGIN;
    GRANT stats_anon, stats_customer TO stats_authenticator;
  END IF;
END $$;

CREATE SCHEMA shop;
GRANT USAGE ON SCHEMA shop TO stats_anon, stats_customer;

CREATE TABLE shop.products (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO shop.products VALUES (1, 'tea'), (2, 'cake');
GRANT SELECT ON shop.products TO stats_anon, stats_customer;

CREATE TABLE shop.orders (id int PRIMARY KEY, customer_id int NOT NULL, total int NOT NULL);
INSERT INTO shop.orders VALUES (1, 1, 10), (2, 1, 30), (3, 2, 20), (4, 2, 50), (5, 1, 5);
ALTER TABLE shop.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_orders ON shop.orders TO stats_customer
  USING (customer_id = (current_setting('request.jwt.claims', true)::json->>'customer')::int);
GRANT SELECT ON shop.orders TO stats_customer;
"""
