"""pgrest_asgi behind a real PgBouncer in transaction pooling mode (tests/pgbouncer.py).

The app's ``db-uri`` goes through PgBouncer (``pool_mode = transaction``, two server
connections for the app's four), with ``db-prepared-statements = false``; the NOTIFY listener
connects to PostgreSQL directly (``db-listen-uri``). PgBouncer runs with what
docs/how-to/pgbouncer.md asks for: ``server_reset_query_always = 1``.

The module overrides ``app``, ``client`` and ``app_factory``, so the read, write and RPC
suites' core cases bound below run unchanged through PgBouncer, with their exact statuses,
headers and bodies. Then: every request is one transaction, roles and request settings never
cross between concurrent requests sharing server connections, the listener reloads the schema
over its direct connection, and what happens when it goes through PgBouncer instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
import pytest

from pgrest_asgi import PgRestApp
from pgrest_asgi.hooks import Hooks
from pgrest_asgi.observe import Event
from pgrest_asgi.schema.listener import SchemaListener
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import API_DB, app_settings, client_for, make_token
from tests.integration import test_read, test_roles_and_gucs, test_rpc, test_write
from tests.pgbouncer import PgBouncer

pytestmark = pytest.mark.db

#: Generous: a wait ends as soon as what it waits for happens; this only bounds a failure.
WAIT = 60.0
#: Server connections PgBouncer opens per database and user: fewer than the app's pool.
BOUNCER_POOL = 2
APP_POOL = 4

USER_A = {"Authorization": "Bearer " + make_token({"role": "web_user", "sub": "alice"})}
USER_B = {"Authorization": "Bearer " + make_token({"role": "other_user", "sub": "bob"})}


def through(bouncer: PgBouncer, cluster: PostgresCluster, **overrides: Any) -> dict[str, Any]:
    """App settings with ``db-uri`` through PgBouncer and the listener on PostgreSQL."""
    settings: dict[str, Any] = {
        "db_uri": bouncer.dsn(API_DB, user="authenticator"),
        "db_prepared_statements": False,
        "db_listen_uri": cluster.dsn(API_DB, user="authenticator"),
        "db_pool": APP_POOL,
    }
    settings.update(overrides)
    return app_settings(cluster, **settings)


@pytest.fixture(scope="module")
def bouncer(api_db: PostgresCluster) -> Iterator[PgBouncer]:
    with PgBouncer(
        api_db, pool_size=BOUNCER_POOL, settings={"server_reset_query_always": "1"}
    ) as running:
        yield running


@pytest.fixture(scope="module")
async def app(api_db: PostgresCluster, bouncer: PgBouncer) -> AsyncIterator[PgRestApp]:
    instance = PgRestApp(**through(bouncer, api_db))
    async with instance.lifespan():
        yield instance


@pytest.fixture(scope="module")
async def client(app: PgRestApp) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


@pytest.fixture
def app_factory(api_db: PostgresCluster, bouncer: PgBouncer) -> Callable[..., Any]:
    """As conftest's, through PgBouncer."""

    @asynccontextmanager
    async def factory(**overrides: Any) -> AsyncIterator[tuple[PgRestApp, httpx.AsyncClient]]:
        instance = PgRestApp(**through(bouncer, api_db, **overrides))
        async with instance.lifespan(), client_for(instance) as http:
            yield instance, http

    return factory


# -- the suites' core cases, through PgBouncer ------------------------------------------------

test_read_select_columns_and_eq = test_read.test_select_columns_and_eq
test_read_filter_value_typed_by_postgres = test_read.test_filter_value_typed_by_postgres
test_read_count_exact = test_read.test_count_exact_gives_206_for_a_partial_page
test_read_head = test_read.test_head_has_headers_and_no_body
test_read_quoted_identifiers = test_read.test_quoted_and_weird_identifiers
test_read_unknown_column = test_read.test_unknown_column_is_postgres_error
test_read_operators = test_read.test_operators_against_real_types
test_read_singular_object = test_read.test_singular_object
test_read_count_planned = test_read.test_count_planned
test_read_max_rows = test_read.test_max_rows

test_write_insert_minimal = test_write.test_insert_minimal
test_write_bulk_insert = test_write.test_bulk_insert_with_representation_and_count
test_write_insert_embeds = test_write.test_insert_representation_embeds_related_rows
test_write_database_errors = test_write.test_database_errors_on_insert
test_write_upsert = test_write.test_upsert_merge_and_ignore
test_write_patch = test_write.test_patch
test_write_delete = test_write.test_delete
test_write_privileges_follow_the_role = test_write.test_write_privileges_follow_the_role
test_write_max_affected_rolls_back = test_write.test_max_affected_rolls_back
test_write_tx_rollback = test_write.test_tx_rollback
test_write_deferred_constraint = test_write.test_deferred_constraint_fails_at_commit
test_write_bulk_insert_is_atomic = test_write.test_bulk_insert_is_atomic

test_rpc_scalar = test_rpc.test_scalar_from_query_string_and_json_body
test_rpc_result_shapes = test_rpc.test_result_shapes
test_rpc_void = test_rpc.test_void_is_204_without_content_type
test_rpc_paging = test_rpc.test_select_filter_order_and_paging
test_rpc_range_and_count = test_rpc.test_range_header_and_exact_count
test_rpc_execute_privilege = test_rpc.test_execute_privilege
test_rpc_get_runs_read_only = test_rpc.test_get_runs_read_only
test_rpc_volatile_post_exactly_once = test_rpc.test_volatile_post_runs_read_write_and_exactly_once
test_rpc_failed_row_checks_roll_back = test_rpc.test_failed_row_checks_roll_back_the_function
test_rpc_hoisted_settings = test_rpc.test_hoisted_settings
test_rpc_response_settings = test_rpc.test_response_settings_from_the_function
test_rpc_request_settings = test_rpc.test_request_settings_seen_by_the_function

test_gucs_anonymous_request_settings = test_roles_and_gucs.test_anonymous_request_settings
test_gucs_jwt_role_and_claims = test_roles_and_gucs.test_jwt_role_and_claims
test_gucs_concurrent_roles = test_roles_and_gucs.test_concurrent_requests_keep_their_own_role
test_gucs_row_level_security = test_roles_and_gucs.test_row_level_security
test_gucs_session_settings_do_not_leak = test_roles_and_gucs.test_session_settings_do_not_leak
test_gucs_pre_request = test_roles_and_gucs.test_pre_request
test_gucs_tx_end = test_roles_and_gucs.test_tx_end
test_gucs_raised_errors = test_roles_and_gucs.test_raised_errors


# -- the requests really go through PgBouncer -------------------------------------------------


def _server_backends(bouncer: PgBouncer) -> set[int]:
    """The PostgreSQL backends of PgBouncer's server connections to the fixture database as
    the authenticator: those the app's requests may run on."""
    return {
        int(str(server["remote_pid"]))
        for server in bouncer.show("SERVERS")
        if (server["database"], server["user"]) == (API_DB, "authenticator")
    }


async def test_requests_run_on_pgbouncers_server_connections(
    client: httpx.AsyncClient, app: PgRestApp, bouncer: PgBouncer
) -> None:
    """The app's connections are PgBouncer's clients; the backends that serve them are
    PgBouncer's server connections, no more of them than its pool has."""
    resps = await asyncio.gather(*(client.get("/rpc/pgb_probe", headers=USER_A) for _ in range(40)))
    assert {r.status_code for r in resps} == {200}
    served = {r.json()["pid"] for r in resps}
    clients = [
        c
        for c in bouncer.show("CLIENTS")
        if (c["database"], c["user"]) == (API_DB, "authenticator")
    ]
    # The app's connections are there (how many the pool has opened by now is its business:
    # it grows them in the background, slower on a loaded machine).
    assert clients
    servers = _server_backends(bouncer)
    assert 1 <= len(servers) <= BOUNCER_POOL
    assert served <= servers
    # The listener connects to PostgreSQL itself (db-listen-uri).
    listener = app.lifecycle.listener
    assert listener is not None and listener.listening and not listener.pooled


# -- one request, one transaction -------------------------------------------------------------


def _txid_status(cluster: PostgresCluster, xid: str) -> str:
    with psycopg.connect(cluster.dsn(API_DB), autocommit=True) as conn:
        row = conn.execute("SELECT txid_status(%s::bigint)", [xid]).fetchone()
    assert row is not None
    return str(row[0])


async def test_every_statement_of_a_request_runs_in_its_one_transaction(
    app_factory: Callable[..., Any], api_db: PostgresCluster
) -> None:
    """The request settings, the pre-request function and the main statement see one
    transaction on one backend, for reads (implicit transaction) and writes (explicit)."""
    async with app_factory(db_pre_request="api.pgb_pre_request") as (_, http):
        for method, read_only in (("GET", "on"), ("POST", "off")):
            for headers, role, sub in ((USER_A, "web_user", "alice"), ({}, "web_anon", None)):
                resp = await http.request(method, "/rpc/pgb_probe", headers=headers)
                assert resp.status_code == 200, resp.text
                probe = resp.json()
                assert probe["txid"] == probe["pre_txid"]
                assert probe["pid"] == probe["pre_pid"]
                assert (probe["role"], probe["sub"]) == (role, sub)
                assert (probe["path"], probe["read_only"]) == ("/rpc/pgb_probe", read_only)
                assert probe["tenant"] == ""
                assert _txid_status(api_db, probe["txid"]) == "committed"


async def test_a_write_that_fails_midway_leaves_nothing(
    client: httpx.AsyncClient, api_db: PostgresCluster
) -> None:
    resp = await client.post("/rpc/pgb_write", json={"id": 1})
    assert resp.status_code == 200, resp.text
    committed = resp.json()
    assert _txid_status(api_db, committed) == "committed"
    resp = await client.post("/rpc/pgb_write", json={"id": 2, "fail": True})
    assert resp.status_code == 400
    body = resp.json()
    assert (body["code"], body["details"], body["hint"]) == ("P0001", None, None)
    xid = body["message"].removeprefix("failed in transaction ")
    assert xid.isdigit() and xid != committed
    assert _txid_status(api_db, xid) == "aborted"
    resp = await client.get("/pgb_log?select=id,txid&order=id")
    assert (resp.status_code, resp.json()) == (200, [{"id": 1, "txid": committed}])


async def test_concurrent_requests_never_see_each_others_role_or_settings(
    app_factory: Callable[..., Any], bouncer: PgBouncer
) -> None:
    """Many requests over more app connections than PgBouncer has server connections, each
    reading its own role, claims and settings, mixed with requests that leave a session-level
    setting behind on whatever server connection they ran on: nothing crosses over."""
    async with app_factory(db_pool=8) as (_, http):
        headers = {"web_user": USER_A, "other_user": USER_B, "web_anon": {}}
        subs = {"web_user": "alice", "other_user": "bob", "web_anon": None}

        async def probe(i: int) -> tuple[str, dict[str, Any]]:
            role = ("web_user", "other_user", "web_anon")[i % 3]
            method = "GET" if i % 2 else "POST"
            resp = await http.request(method, "/rpc/pgb_probe", headers=headers[role])
            assert resp.status_code == 200, resp.text
            return role, resp.json()

        async def leak() -> None:
            resp = await http.get("/leaky")
            assert (resp.status_code, resp.json()) == (200, [{"tenant": "42"}])

        jobs = [probe(i) for i in range(240)] + [leak() for _ in range(60)]
        results = [r for r in await asyncio.gather(*jobs) if r is not None]
        assert len(results) == 240
        wrong = [
            (role, p)
            for role, p in results
            if (p["role"], p["sub"], p["tenant"]) != (role, subs[role], "")
        ]
        assert wrong == []
        served = {p["pid"] for _, p in results}
        assert served <= _server_backends(bouncer)
        assert len(_server_backends(bouncer)) <= BOUNCER_POOL


async def test_what_one_request_leaves_in_the_session_the_next_never_sees(
    client: httpx.AsyncClient,
) -> None:
    """A cursor held open, a temporary table, an SQL ``PREPARE``: left on a server connection
    by one user's function, gone for the next (PgBouncer's reset query after every
    transaction; the app's own session check can only close its connection to PgBouncer)."""
    resp = await client.post("/rpc/ss_cursor", json={"secret": "mine"}, headers=USER_A)
    assert resp.status_code == 200
    resp = await client.post("/rpc/ss_fetch", json={}, headers=USER_B)
    assert (resp.status_code, resp.json()) == (200, "absent")
    resp = await client.post("/rpc/ss_make_temp", json={"secret": "A's"}, headers=USER_A)
    assert (resp.status_code, resp.json()) == (200, "made")
    resp = await client.post("/rpc/ss_read_temp", json={}, headers=USER_B)
    assert (resp.status_code, resp.json()) == (200, "absent")
    for _ in range(2):
        resp = await client.post("/rpc/ss_prepare", json={}, headers=USER_A)
        assert (resp.status_code, resp.json()) == (200, "prepared")
    resp = await client.get("/rpc/ss_channels")
    assert (resp.status_code, resp.json()) == (200, "")


# -- the NOTIFY listener ----------------------------------------------------------------------


async def _poll(check: Callable[[], Any], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)


async def test_a_schema_reload_notified_reaches_the_app_over_db_listen_uri(
    app_factory: Callable[..., Any], api_db: PostgresCluster
) -> None:
    async with app_factory() as (app, http):
        listener = app.lifecycle.listener
        assert listener.listening and not listener.pooled
        resp = await http.get("/pgb_new")
        assert resp.status_code == 404
        api_db.run_sql(
            "CREATE TABLE api.pgb_new (id int); INSERT INTO api.pgb_new VALUES (7);"
            " GRANT SELECT ON api.pgb_new TO web_anon; NOTIFY pgrst, 'reload schema'",
            dbname=API_DB,
        )
        try:

            async def visible() -> bool:
                resp = await http.get("/pgb_new")
                return resp.status_code == 200 and resp.content == b'[{"id":7}]'

            assert await _poll(visible)
        finally:
            api_db.run_sql("DROP TABLE api.pgb_new; NOTIFY pgrst, 'reload schema'", dbname=API_DB)


async def test_without_db_listen_uri_the_app_says_the_listener_needs_it(
    api_db: PostgresCluster, bouncer: PgBouncer
) -> None:
    """The listener through PgBouncer: a warning at start-up that names db-listen-uri; with
    the reset query after every transaction its ``LISTEN`` is undone at once, which it
    reports as an error (and retries, backing off). Requests are served all along."""
    events: list[Event] = []
    settings = through(bouncer, api_db, db_listen_uri=None)
    app = PgRestApp(**settings, hooks=Hooks(observer=events.append))
    async with app.lifespan(), client_for(app) as http:
        resp = await http.get("/items?id=eq.1&select=id")
        assert (resp.status_code, resp.json()) == (200, [{"id": 1}])
        assert app.lifecycle.listener.pooled

        async def reported() -> bool:
            return any(e.name == "listener.not_listening" for e in events)

        assert await _poll(reported)
    warning = next(e for e in events if e.name == "listener.pooler")
    assert warning.level == "warning"
    assert "db-listen-uri" in warning.message
    assert warning.fields["backend_pid"] != warning.fields["reported_pid"]
    error = next(e for e in events if e.name == "listener.not_listening")
    assert error.level == "error"
    # Its next transaction ran on the server connection that ran LISTEN (undone by the reset
    # query) or on PgBouncer's other one: which, is PgBouncer's choice.
    assert "no longer active" in error.message or "moved from PostgreSQL backend" in error.message
    assert "db-listen-uri" in error.message


class _Recorder:
    def __init__(self) -> None:
        self.reloads = 0
        self.events: list[Event] = []

    async def reload(self) -> None:
        self.reloads += 1

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]


@asynccontextmanager
async def _listener_through(
    bouncer: PgBouncer, **options: Any
) -> AsyncIterator[tuple[SchemaListener, _Recorder]]:
    rec = _Recorder()
    listener = SchemaListener(
        bouncer.dsn(API_DB, user="authenticator"),
        on_reload_schema=rec.reload,
        observer=rec.events.append,
        **options,
    )
    await listener.start()
    try:
        yield listener, rec
    finally:
        await listener.stop()


@pytest.fixture
def lone_bouncer(api_db: PostgresCluster) -> Iterator[PgBouncer]:
    """PgBouncer with one server connection per pool, PgBouncer's default reset behaviour:
    what happens to the listener is deterministic."""
    with PgBouncer(api_db, pool_size=1) as running:
        yield running


async def test_through_transaction_pooling_a_notification_is_lost(
    lone_bouncer: PgBouncer, api_db: PostgresCluster
) -> None:
    """The finding: ``LISTEN`` through PgBouncer in transaction mode runs, and PostgreSQL sends
    the notification to that server connection; but it arrives while the connection is in
    PgBouncer's pool, lent to no client, and PgBouncer drops it."""
    async with _listener_through(lone_bouncer) as (listener, rec):
        assert listener.listening and listener.pooled
        assert [e.level for e in rec.named("listener.pooler")] == ["warning"]
        with psycopg.connect(api_db.dsn(API_DB), autocommit=True) as conn:
            conn.execute("NOTIFY pgrst, 'reload schema'")

        async def dropped() -> bool:
            log = await asyncio.to_thread(_read, lone_bouncer.log_path)
            return "got packet 'A' from server when not linked" in log

        assert await _poll(dropped)
        assert rec.reloads == 0 and listener.listening


def _read(path: str) -> str:
    with open(path, errors="replace") as handle:
        return handle.read()


async def test_through_transaction_pooling_a_lost_listen_is_reported(
    lone_bouncer: PgBouncer,
) -> None:
    """Another client's ``DISCARD ALL`` (the schema loader's, say) runs on the server
    connection that ran ``LISTEN``: the listener's next idle-time probe notices, and says
    what to set, as an error."""
    async with _listener_through(lone_bouncer, health_interval=0.1) as (_, rec):
        with psycopg.connect(lone_bouncer.dsn(API_DB, user="authenticator")) as conn:
            conn.autocommit = True
            conn.execute("DISCARD ALL")

        async def reported() -> bool:
            return bool(rec.named("listener.not_listening"))

        assert await _poll(reported)
        error = rec.named("listener.not_listening")[0]
        assert error.level == "error"
        assert "no longer active" in error.message and "db-listen-uri" in error.message


async def test_through_transaction_pooling_a_moved_listener_is_reported(
    api_db: PostgresCluster,
) -> None:
    """While another client holds the server connection the listener ran ``LISTEN`` on (the
    most recently used one, which PgBouncer hands out next), the listener's probe runs on
    another backend: reported at once."""
    with PgBouncer(api_db, pool_size=2) as bouncer:
        await _moved(bouncer)


async def _moved(bouncer: PgBouncer) -> None:
    async with _listener_through(bouncer, health_interval=0.1) as (listener, rec):
        assert listener.pooled and listener.backend_pid is not None
        with psycopg.connect(bouncer.dsn(API_DB, user="authenticator")) as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()  # holds it: BEGIN
            assert row is not None
            if row[0] != listener.backend_pid:
                pytest.fail(f"PgBouncer lent backend {row[0]}, not {listener.backend_pid}")

            async def reported() -> bool:
                return bool(rec.named("listener.not_listening"))

            assert await _poll(reported)
            conn.rollback()
        error = rec.named("listener.not_listening")[0]
        assert "moved from PostgreSQL backend" in error.message
        assert "db-listen-uri" in error.message


async def test_prepared_statements_left_on_are_turned_off_with_one_warning(
    api_db: PostgresCluster, bouncer: PgBouncer
) -> None:
    """``db-prepared-statements`` left on: the pool's first connection shows the pooler, one
    warning names the setting, and no statement is ever prepared (else ``42P05``/``26000``:
    statements prepared on one server connection, run on another)."""
    events: list[Event] = []
    settings = through(bouncer, api_db, db_prepared_statements=True, db_pool=8)
    app = PgRestApp(**settings, hooks=Hooks(observer=events.append))
    async with app.lifespan(), client_for(app) as http:
        resps = await asyncio.gather(
            *(http.get(f"/items?select=id&id=eq.{1 + i % 5}") for i in range(200))
        )
        answers = [(r.status_code, r.json()) for r in resps]
        assert answers == [(200, [{"id": 1 + i % 5}]) for i in range(200)]
        assert app.executor.unnamed_statements
    (detected,) = [e for e in events if e.name == "db.pooler_detected"]
    assert detected.level == "warning"
    assert "set db-prepared-statements = false" in detected.message
    assert [e for e in events if e.name in ("db.session_discarded", "db.retry")] == []


async def test_an_unclean_session_behind_a_pooler_is_an_error_naming_the_reset_setting(
    lone_bouncer: PgBouncer, api_db: PostgresCluster
) -> None:
    """PgBouncer without ``server_reset_query_always``: a function leaves a ``WITH HOLD``
    cursor; the session check finds it, and closing the app's connection cannot clean the
    server session behind PgBouncer, so the app says so as an error naming the setting."""
    events: list[Event] = []
    app = PgRestApp(**through(lone_bouncer, api_db), hooks=Hooks(observer=events.append))
    async with app.lifespan(), client_for(app) as http:
        resp = await http.post("/rpc/ss_cursor", json={"secret": "mine"}, headers=USER_A)
        assert resp.status_code == 200
        assert app.executor.pooled
    (discarded,) = [e for e in events if e.name == "db.session_discarded"]
    assert discarded.level == "error"
    assert discarded.message == (
        "closing a connection a request left unclean: cursor; db-uri goes through a connection"
        " pooler, which keeps the server session as it is for its next client: set"
        " server_reset_query_always = 1 in PgBouncer (or use session pooling)"
    )
    # With prepared statements off, that is all there is to say about the pooler.
    assert not any(e.name == "db.pooler_detected" for e in events)
