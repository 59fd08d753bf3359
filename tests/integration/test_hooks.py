"""Hook contracts over HTTP: what a custom authenticator's answer means, host endpoints'
responses, late-bound defaults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from pgrest_asgi import (
    AuthResult,
    CatalogLoader,
    ColumnExpr,
    Cond,
    DefaultRouter,
    EndpointRequest,
    Event,
    Executor,
    ExecutorWrapper,
    Hooks,
    JwtAuthenticator,
    PgRestApp,
    Plan,
    PlanContext,
    PsycopgExecutor,
    QualifiedName,
    RequestContext,
    Response,
    RowsNode,
    SchemaCache,
    SqlglotPlanner,
    Statement,
    Target,
    TxSpec,
    check,
    transform,
)
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import API_DB, app_settings, client_for, make_token


class SignedOut(JwtAuthenticator):
    """Everyone runs as other_user; a request without a key counts as anonymous."""

    async def authenticate(
        self, scope: Mapping[str, Any], headers: Mapping[str, str]
    ) -> AuthResult:
        anonymous = "x-key" not in headers
        claims = {"role": "other_user"}
        return AuthResult(
            role="other_user",
            claims_json='{"role":"other_user"}',
            anonymous=anonymous,
            claims=claims,
        )


async def test_an_anonymous_caller_is_401_whatever_its_role(api_db: PostgresCluster) -> None:
    cfg = app_settings(api_db)
    app = PgRestApp(cfg.pop("db_uri"), hooks=Hooks(authenticator=SignedOut()), **cfg)
    async with app.lifespan(), client_for(app) as http:
        anonymous = await http.get("/secrets")
        signed_in = await http.get("/secrets", headers={"X-Key": "k"})
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "42501")
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert (signed_in.status_code, signed_in.json()["code"]) == (403, "42501")


async def stats(request: EndpointRequest) -> Response:
    return await request.respond(
        "SELECT pg_catalog.set_config('response.status', '202', true) AS status, "
        "pg_catalog.set_config('response.headers', '[{\"X-Made-By\": \"sql\"}]', true) AS h, "
        "$1::int AS n",
        [dict(request.params).get("n", "0")],
    )


class Router(DefaultRouter):
    def match(self, method: str, path: bytes, headers: Mapping[str, str]) -> Target:
        if path == b"/stats":
            return Target.endpoint(stats)
        return super().match(method, path, headers)


async def test_an_endpoint_answers_as_the_api_does(api_db: PostgresCluster) -> None:
    cfg = app_settings(api_db)
    hooks = Hooks(router=Router(), schema_loader=CatalogLoader())
    app = PgRestApp(cfg.pop("db_uri"), hooks=hooks, **cfg)
    async with app.lifespan(), client_for(app) as http:
        resp = await http.get("/stats?n=7")
        head = await http.head("/stats?n=7")
        # The late-bound loader took the app's schemas: the API is served as usual.
        items = await http.get("/items?id=eq.1&select=id")
    assert (resp.status_code, resp.headers["x-made-by"]) == (202, "sql")
    assert resp.headers["content-type"] == "application/json; charset=utf-8"
    assert resp.json() == [{"status": "202", "h": '[{"X-Made-By": "sql"}]', "n": 7}]
    assert (head.status_code, head.content, "content-length" in head.headers) == (202, b"", False)
    assert items.json() == [{"id": 1}]


class TaggingExecutor(PsycopgExecutor):
    """One extra statement in every transaction, from the caller's claims."""

    def before_main(
        self, statement: Statement, tx: TxSpec, context: RequestContext | None
    ) -> Sequence[tuple[str, Sequence[Any]]]:
        tag = context.headers.get("x-tag", "none") if context is not None else "none"
        return [("SELECT pg_catalog.set_config('app.settings.greeting', $1, true)", [tag])]


async def test_before_main_adds_a_statement_to_every_transaction(
    api_db: PostgresCluster,
) -> None:
    cfg = app_settings(api_db)
    events: list[Event] = []
    hooks = Hooks(executor=ExecutorWrapper(TaggingExecutor()), observer=events.append)
    app = PgRestApp(cfg.pop("db_uri"), hooks=hooks, **cfg)
    async with app.lifespan(), client_for(app) as http:
        # After the request settings (app.settings.greeting = 'hello'), before the main query.
        resp = await http.get("/rpc/request_context?select=greeting", headers={"X-Tag": "t1"})
        plain = await http.get("/rpc/request_context?select=greeting")
        # The wrapped executor took the app's observer: its events reach the host (a function
        # that leaves a LISTEN behind gets its connection discarded, with an event).
        user = {"Authorization": "Bearer " + make_token({"role": "web_user"})}
        listened = await http.post("/rpc/ss_listen", json={}, headers=user)
    assert (resp.status_code, resp.json()) == (200, [{"greeting": "t1"}])
    assert plain.json() == [{"greeting": "none"}]
    assert listened.status_code == 200
    assert "db.session_discarded" in {event.name for event in events}


ITEMS = QualifiedName("api", "items")


def cheap_items(plan: Plan, ctx: PlanContext) -> Plan:
    """A write rule: no item may be written with a price of 1000 or more."""
    limit = ctx.param("1000")

    def visit(node: RowsNode) -> RowsNode:
        if node.relation != ITEMS:
            return node
        return check(node, Cond(ColumnExpr("price"), "<", limit))

    return transform(plan, visit)


async def _price(cluster: PostgresCluster, item: int) -> Any:
    async with await psycopg.AsyncConnection.connect(cluster.dsn(API_DB)) as conn:
        row = await (
            await conn.execute("SELECT price FROM api.items WHERE id = %s", [item])
        ).fetchone()
    return None if row is None else str(row[0])


async def test_a_write_rule_check_refuses_rows_and_writes_nothing(api_db: PostgresCluster) -> None:
    cfg = app_settings(api_db)
    app = PgRestApp(
        cfg.pop("db_uri"), hooks=Hooks(planner=SqlglotPlanner(passes=(cheap_items,))), **cfg
    )
    user = {"Authorization": "Bearer " + make_token({"role": "web_user"})}
    refused = {
        "code": "42501",
        "details": None,
        "hint": None,
        "message": 'new row violates a write rule for table "items"',
    }
    async with app.lifespan(), client_for(app) as http:
        # One row of two fails: nothing is inserted.
        resp = await http.post(
            "/items",
            json=[{"id": 901, "name": "ok", "price": 5}, {"id": 902, "name": "no", "price": 5000}],
            headers=user,
        )
        assert (resp.status_code, resp.json()) == (403, refused)
        assert (await _price(api_db, 901), await _price(api_db, 902)) == (None, None)
        resp = await http.post("/items", json={"id": 903, "name": "ok", "price": 5}, headers=user)
        assert resp.status_code == 201
        # An update whose new value fails is refused; the row keeps its value.
        resp = await http.patch("/items?id=eq.3", json={"price": 1000}, headers=user)
        assert (resp.status_code, resp.json()) == (403, refused)
        assert await _price(api_db, 3) == "4.50"
        resp = await http.patch(
            "/items?id=eq.3", json={"price": 999}, headers={**user, "Prefer": "return=minimal"}
        )
        assert resp.status_code == 204
        # An upsert that would update a row to a refused value, with a representation.
        resp = await http.post(
            "/items?select=id",
            json={"id": 903, "name": "ok", "price": 7000},
            headers={**user, "Prefer": "resolution=merge-duplicates,return=representation"},
        )
        assert (resp.status_code, resp.json()) == (403, refused)
        assert await _price(api_db, 903) == "5.00"


class TimingOutLoader(CatalogLoader):
    """The catalog queries, after a statement that hits its statement_timeout: from the second
    load on, a reload fails in PostgreSQL as a slow catalog would (REL-33)."""

    def __init__(self) -> None:
        super().__init__()
        self.loads = 0

    async def load(self, executor: Executor) -> SchemaCache:
        self.loads += 1
        if self.loads > 1:
            async with executor.maintenance_connection() as conn:
                await conn.execute("SET statement_timeout = '50ms'")
                await conn.execute("SELECT pg_catalog.pg_sleep(5)")
        return await super().load(executor)


async def test_a_reload_that_times_out_keeps_the_old_cache(api_db: PostgresCluster) -> None:
    """REL-33: the old cache keeps serving, and the failure is an event the host sees."""
    cfg = app_settings(api_db)
    events: list[Event] = []
    hooks = Hooks(schema_loader=TimingOutLoader(), observer=events.append)
    app = PgRestApp(cfg.pop("db_uri"), hooks=hooks, **cfg)
    async with app.lifespan(), client_for(app) as http:
        before = app.schema_cache
        assert await app.reload_schema() is False
        assert app.schema_cache is before
        assert (await http.get("/items?select=id&id=eq.1")).json() == [{"id": 1}]
    failed = [event for event in events if event.name == "schema_cache.failed"]
    assert len(failed) == 1
    assert failed[0].level == "error"
    assert "canceling statement due to statement timeout" in failed[0].message
