"""The request shapes ``bench/run.py`` drives through wrk, each the same request to both apps.

Every scenario is a wrk Lua script; ``TOKENS`` in it becomes the JWTs, comma-separated. N is
random per request over the 100 000 items.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

#: The secret both apps verify tokens with (HS256), at least 32 characters.
JWT_SECRET = "bench-secret-bench-secret-bench-secret-0123"
#: Distinct users, so the claims (and request.jwt.claims) differ between requests.
TOKEN_USERS = 100

_RANDOM = "math.randomseed(os.time())\n"

GET_LUA = (
    _RANDOM
    + """
request = function()
  return wrk.format("GET", "/items?%sid=eq." .. math.random(1, 100000))
end
"""
)

JWT_LUA = (
    _RANDOM
    + """
local tokens = {TOKENS}
request = function()
  local headers = {["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]}
  return wrk.format("GET", "/items?id=eq." .. math.random(1, 100000), headers)
end
"""
)

INSERT_ONE_LUA = """
wrk.method = "POST"
wrk.path = "/items_w"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Prefer"] = "return=minimal"
wrk.body = '{"name":"widget","price":9.99}'
"""

BULK_ROWS = 1000
INSERT_BULK_LUA = f"""
local rows = {{}}
for i = 1, {BULK_ROWS} do
  rows[i] = string.format('{{"name":"item %d","price":%d.50}}', i, i % 1000)
end
wrk.method = "POST"
wrk.path = "/items_w"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Prefer"] = "return=minimal"
wrk.body = "[" .. table.concat(rows, ",") .. "]"
"""

RPC_LUA = (
    _RANDOM
    + """
request = function()
  local body = '{"item_id":' .. math.random(1, 100000) .. ',"qty":3}'
  return wrk.format("POST", "/rpc/item_total", {["Content-Type"] = "application/json"}, body)
end
"""
)


@dataclass(frozen=True)
class Scenario:
    key: str  # the --only choice
    row: str  # the row letter
    title: str
    ours: str  # what pgrest_asgi runs for it
    theirs: str  # what the hand-written app runs for it
    lua: str
    #: One request of the scenario (method, path, JSON body), sent to both apps before the
    #: timing: their statuses and JSON must match.
    probe: tuple[str, str, str | None]
    writes: bool = False  # empty api.items_w before every timed run
    rows_per_request: int = 0  # > 0: also report rows/s
    jwt: bool = False  # the probe carries a token


WRK_SCENARIOS = (
    Scenario(
        "jwt",
        "a",
        "GET /items?id=eq.N with a JWT (role web_user)",
        "token verified (cached per token), one pipelined transaction: role, claims, "
        "request settings, the query",
        "token verified (joserfc), BEGIN; SELECT set_config(role), set_config(claims); "
        "the query; COMMIT: four awaited statements",
        JWT_LUA,
        ("GET", "/items?id=eq.42", None),
        jwt=True,
    ),
    Scenario(
        "get",
        "b",
        "GET /items?id=eq.N, anonymous",
        "the whole per-request transaction as web_anon",
        "one statement as the authenticator, no transaction, no role switch",
        GET_LUA % "",
        ("GET", "/items?id=eq.42", None),
    ),
    Scenario(
        "reviews",
        "c",
        "GET /items?select=id,name,reviews(stars,body)&id=eq.N",
        "the whole transaction, the embed as PostgREST builds it",
        "one statement, the reviews as a correlated subquery",
        GET_LUA % "select=id,name,reviews(stars,body)&",
        ("GET", "/items?select=id,name,reviews(stars,body)&id=eq.42", None),
    ),
    Scenario(
        "embed",
        "d",
        "two-level embed: select=id,name,category:categories(name),reviews(…)",
        "the whole transaction, both embeds as PostgREST builds them",
        "one statement, two correlated subqueries",
        GET_LUA % "select=id,name,category:categories(name),reviews(stars,body)&",
        (
            "GET",
            "/items?select=id,name,category:categories(name),reviews(stars,body)&id=eq.42",
            None,
        ),
    ),
    Scenario(
        "insert",
        "f",
        "POST /items_w, one row, Prefer: return=minimal",
        "the whole transaction, the body passed as one json parameter",
        "json.loads, then INSERT … VALUES ($1, $2)",
        INSERT_ONE_LUA,
        ("POST", "/items_w", '{"name":"widget","price":9.99}'),
        writes=True,
    ),
    Scenario(
        "bulk",
        "f",
        "POST /items_w, 1 000 rows in one JSON array, Prefer: return=minimal",
        "the whole transaction, the body passed as one json parameter",
        "INSERT … SELECT … FROM json_populate_recordset(NULL::api.items_w, $1), the body "
        "bound untouched",
        INSERT_BULK_LUA,
        ("POST", "/items_w", '[{"name":"a","price":1.5},{"name":"b","price":2}]'),
        writes=True,
        rows_per_request=BULK_ROWS,
    ),
    Scenario(
        "rpc",
        "g",
        'POST /rpc/item_total {"item_id":N,"qty":3}, a scalar result',
        "the whole transaction, the call built from the function's signature",
        "json.loads, then SELECT to_json(api.item_total($1::int, $2::int))",
        RPC_LUA,
        ("POST", "/rpc/item_total", '{"item_id":42,"qty":3}'),
    ),
)


def tokens(secret: str = JWT_SECRET, users: int = TOKEN_USERS) -> list[str]:
    """HS256 tokens with a role claim (web_user), one per user, valid for a day."""
    from joserfc import jwt
    from joserfc.jwk import OctKey

    key = OctKey.import_key(secret)
    expires = int(time.time()) + 86400
    return [
        jwt.encode(
            {"alg": "HS256", "typ": "JWT"},
            {"role": "web_user", "sub": f"user-{n}", "exp": expires},
            key,
        )
        for n in range(users)
    ]


def lua_script(scenario: Scenario) -> str:
    listed = ", ".join(f'"{t}"' for t in tokens())
    return scenario.lua.replace("TOKENS", listed)
