"""In-database configuration and configuration reloads, through the app (``ASGITransport``).

Each test has a database and an authenticator role of its own, so the role settings it makes
(``ALTER ROLE … SET pgrst.*``) reach no other test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import psycopg
import pytest

from pgrest_asgi import PgRestApp
from pgrest_asgi.hooks import Hooks
from pgrest_asgi.observe import Event
from pgrest_asgi.settings import Settings
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import client_for, loaded_database

pytestmark = pytest.mark.db

SQL = """
CREATE SCHEMA api;
CREATE SCHEMA other;
CREATE SCHEMA conf;
CREATE TABLE api.items (id int PRIMARY KEY);
INSERT INTO api.items SELECT generate_series(1, 5);
CREATE TABLE other.things (id int PRIMARY KEY);
INSERT INTO other.things VALUES (1);
GRANT USAGE ON SCHEMA api, other TO web_anon;
GRANT SELECT ON ALL TABLES IN SCHEMA api, other TO web_anon;
CREATE FUNCTION conf.pre_config() RETURNS void LANGUAGE sql AS $$
  SELECT set_config('pgrst.db_max_rows', '4', true), set_config('pgrst.jwt_aud', 'pre', true);
$$;
"""


class Setup(msgspec.Struct):
    cluster: PostgresCluster
    dbname: str
    role: str

    def dsn(self) -> str:
        return self.cluster.dsn(self.dbname, user=self.role)

    def sql(self, statement: str) -> None:
        self.cluster.run_sql(statement, dbname=self.dbname)


@pytest.fixture
def setup(api_db: PostgresCluster) -> Iterator[Setup]:
    role = "cfg_" + uuid.uuid4().hex[:10]
    api_db.run_sql(f"CREATE ROLE {role} LOGIN NOINHERIT; GRANT web_anon TO {role};")
    try:
        with loaded_database(api_db, "cfg", SQL) as dbname:
            api_db.run_sql(f"GRANT USAGE ON SCHEMA conf TO {role};", dbname=dbname)
            yield Setup(api_db, dbname, role)
    finally:
        api_db.run_sql(f"DROP ROLE {role};")


class Events:
    """The app's events, and a way to wait for one without sleeping a fixed time."""

    def __init__(self) -> None:
        self.seen: list[Event] = []
        self._new = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.seen.append(event)
        self._new.set()

    async def wait_for(self, name: str, after: int = 0) -> Event:
        """The first event called ``name`` among those after the first ``after``."""

        async def found() -> Event:
            while True:
                self._new.clear()
                for event in self.seen[after:]:
                    if event.name == name:
                        return event
                await self._new.wait()

        return await asyncio.wait_for(found(), timeout=30)

    def named(self, name: str) -> list[Event]:
        return [e for e in self.seen if e.name == name]


@asynccontextmanager
async def running(setup: Setup, events: Events, **options: Any) -> AsyncIterator[PgRestApp]:
    values: dict[str, Any] = {
        "db_schemas": ("api",),
        "db_anon_role": "web_anon",
        "db_pool": 2,
        "db_channel_enabled": False,
    }
    values.update(options)
    app = PgRestApp(setup.dsn(), hooks=Hooks(observer=events), **values)
    async with app.lifespan():
        yield app


async def count(app: PgRestApp, path: str = "/items") -> tuple[int, int]:
    async with client_for(app) as http:
        resp = await http.get(path)
    return resp.status_code, len(resp.json()) if resp.status_code == 200 else -1


async def test_role_settings_apply_at_start(setup: Setup) -> None:
    setup.sql(f"ALTER ROLE {setup.role} IN DATABASE {setup.dbname} SET pgrst.db_max_rows = '2'")
    events = Events()
    async with running(setup, events) as app:
        assert app.settings.db_max_rows == 2
        assert await count(app) == (200, 2)


async def test_database_specific_settings_win_and_database_settings_alone_do_not_count(
    setup: Setup,
) -> None:
    setup.sql(
        f"ALTER ROLE {setup.role} SET pgrst.db_max_rows = '3';"
        f"ALTER ROLE {setup.role} IN DATABASE {setup.dbname} SET pgrst.db_max_rows = '2';"
        f"ALTER ROLE {setup.role} SET pgrst.jwt_aud = 'role-wide';"
        f"ALTER DATABASE {setup.dbname} SET pgrst.openapi_mode = 'disabled';"
        # Not a setting PostgREST reads from the database: ignored.
        f"ALTER ROLE {setup.role} SET pgrst.db_pool = '7';"
    )
    async with running(setup, Events()) as app:
        settings = app.settings
        assert (settings.db_max_rows, settings.jwt_aud) == (2, "role-wide")
        assert (settings.openapi_mode, settings.db_pool) == ("follow-privileges", 2)


async def test_pre_config_function(setup: Setup) -> None:
    """The function's settings count, below the role's own."""
    setup.sql(f"ALTER ROLE {setup.role} IN DATABASE {setup.dbname} SET pgrst.jwt_aud = 'role'")
    async with running(setup, Events(), db_pre_config="conf.pre_config") as app:
        assert (app.settings.db_max_rows, app.settings.jwt_aud) == (4, "role")
        assert await count(app) == (200, 4)


async def test_db_config_off_reads_nothing(setup: Setup) -> None:
    setup.sql(f"ALTER ROLE {setup.role} IN DATABASE {setup.dbname} SET pgrst.db_max_rows = '2'")
    async with running(setup, Events(), db_config=False) as app:
        assert app.settings.db_max_rows is None
        assert await count(app) == (200, 5)


async def test_reload_config_applies_changes(setup: Setup) -> None:
    events = Events()
    async with running(setup, events) as app:
        assert await count(app) == (200, 5)
        setup.sql(
            f"ALTER ROLE {setup.role} IN DATABASE {setup.dbname} SET pgrst.db_max_rows = '1';"
            f"ALTER ROLE {setup.role} IN DATABASE {setup.dbname}"
            " SET pgrst.db_schemas = 'other, api';"
        )
        assert await app.reload_config() is True
        assert app.settings.db_schemas == ("other", "api")
        # The schema cache was loaded again for the new schemas.
        assert await count(app, "/things") == (200, 1)
        loaded = events.named("config.loaded")[-1]
        assert loaded.message == "configuration reloaded: db-max-rows, db-schemas"


async def test_a_failed_reload_keeps_the_running_configuration(setup: Setup) -> None:
    events = Events()
    async with running(setup, events) as app:
        setup.sql(
            f"ALTER ROLE {setup.role} IN DATABASE {setup.dbname} SET pgrst.db_max_rows = 'lots'"
        )
        running_settings = app.settings
        assert await app.reload_config() is False
        assert app.settings is running_settings
        assert await count(app) == (200, 5)
        (failed,) = events.named("config.failed")
        assert failed.message == (
            "configuration reload failed, the running configuration stays:"
            " pgrst.db_max_rows (in-database): expected a whole number, got 'lots'"
        )
        assert failed.level == "error"


async def test_a_missing_pre_config_function_fails_the_reload(setup: Setup) -> None:
    events = Events()
    async with running(setup, events, db_pre_config="conf.nope") as app:
        assert app.settings.db_pre_config == "conf.nope"
        (failed,) = events.named("config.failed")
        assert "function conf.nope() does not exist" in failed.message
        assert await count(app) == (200, 5)  # serving with the settings it was given


async def test_restart_only_settings_keep_their_running_values(setup: Setup) -> None:
    events = Events()
    base = Settings.for_app(setup.dsn(), ["api"], None, {"db_anon_role": "web_anon"})
    sources = iter([base, msgspec.structs.replace(base, db_pool=3, db_max_rows=1)])
    app = PgRestApp(
        settings=base, hooks=Hooks(observer=events), config_source=lambda: next(sources)
    )
    async with app.lifespan():
        assert await app.reload_config() is True
        assert (app.settings.db_pool, app.settings.db_max_rows) == (10, 1)
        (waiting,) = events.named("config.restart_needed")
        assert waiting.message == "changed settings take effect at the next start: db-pool"


@pytest.mark.parametrize(
    ("payload", "applied"),
    [("reload config", "config.loaded"), ("reload schema", "schema_cache.loaded")],
    ids=["reload-config", "reload-schema-reads-the-configuration-too"],
)
async def test_notify_reload(setup: Setup, payload: str, applied: str) -> None:
    events = Events()
    async with running(setup, events, db_channel_enabled=True) as app:
        await events.wait_for("listener.listening")
        mark = len(events.seen)
        setup.sql(
            f"ALTER ROLE {setup.role} IN DATABASE {setup.dbname} SET pgrst.db_max_rows = '3';"
            f"NOTIFY pgrst, '{payload}'"
        )
        await events.wait_for(applied, after=mark)
        assert await count(app) == (200, 3)


async def test_the_jwt_secret_can_be_rotated_by_a_reload(setup: Setup) -> None:
    """SEC-24: after ``reload config`` a token signed with the old secret is refused and one
    signed with the new secret accepted."""
    from tests.conftest import make_token

    old, new = "o" * 40, "n" * 40
    setup.sql(f"ALTER ROLE {setup.role} IN DATABASE {setup.dbname} SET pgrst.jwt_secret = '{old}'")
    async with running(setup, Events()) as app, client_for(app) as http:
        before = make_token({"role": "web_anon"}, secret=old)
        after = make_token({"role": "web_anon"}, secret=new)
        resp = await http.get("/items", headers={"Authorization": f"Bearer {before}"})
        assert resp.status_code == 200
        setup.sql(
            f"ALTER ROLE {setup.role} IN DATABASE {setup.dbname} SET pgrst.jwt_secret = '{new}'"
        )
        assert await app.reload_config() is True
        resp = await http.get("/items", headers={"Authorization": f"Bearer {before}"})
        assert (resp.status_code, resp.json()) == (
            401,
            {
                "code": "PGRST301",
                "details": "None of the keys was able to decode the JWT",
                "hint": None,
                "message": "No suitable key or wrong key type",
            },
        )
        resp = await http.get("/items", headers={"Authorization": f"Bearer {after}"})
        assert resp.status_code == 200


async def test_reading_the_configuration_leaves_no_session_state(setup: Setup) -> None:
    """The pre-config function's settings end with the read's transaction."""
    async with running(setup, Events(), db_pre_config="conf.pre_config") as app:
        async with app.executor.maintenance_connection() as conn:
            cur = await conn.execute("SELECT current_setting('pgrst.db_max_rows', true)")
            row = await cur.fetchone()
        assert row is not None and row[0] in (None, "", b"")
        assert isinstance(conn, psycopg.AsyncConnection)


async def test_a_reload_that_changes_the_channel_listens_on_the_new_one(setup: Setup) -> None:
    """The reload runs in the listener's own worker; moving the listener to another channel
    from there must not wait for itself."""
    events = Events()
    base = Settings.for_app(
        setup.dsn(), ["api"], None, {"db_anon_role": "web_anon", "db_channel": "first"}
    )
    moved = msgspec.structs.replace(base, db_channel="second")
    sources = iter([base, moved, moved, moved])
    app = PgRestApp(
        settings=base, hooks=Hooks(observer=events), config_source=lambda: next(sources)
    )
    async with app.lifespan():
        await events.wait_for("listener.listening")
        mark = len(events.seen)
        setup.sql("NOTIFY first, 'reload config'")
        await events.wait_for("config.loaded", after=mark)
        await events.wait_for("listener.listening", after=mark)
        assert app.settings.db_channel == "second"
        mark = len(events.seen)
        setup.sql(
            f"ALTER ROLE {setup.role} IN DATABASE {setup.dbname} SET pgrst.db_max_rows = '1';"
            "NOTIFY second, 'reload config'"
        )
        await events.wait_for("config.loaded", after=mark)
        assert await count(app) == (200, 1)
