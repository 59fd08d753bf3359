"""The plugin with a host app (docs/how-to/testing.md, "A host app"): ``pgrest_app``
overridden to build the FastAPI example (``examples/fastapi_mount.py``, the API mounted under
``/api``) from ``pgrest_settings`` and to run its lifespan with ``asgi_lifespan``; the
plugin's client and tokens then work through the mount."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from examples.fastapi_mount import create_app
from pgrest_asgi import Settings
from pgrest_asgi.pytest_plugin import TokenMaker
from pgrest_asgi.testing import Database, SqlSource, asgi_lifespan

# Roles guarded: the session's cluster is shared with other SQL (docs: "Roles are cluster-wide").
SCHEMA_SQL = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'host_authenticator') THEN
    CREATE ROLE host_authenticator LOGIN NOINHERIT;
    CREATE ROLE host_anon NOLOGIN;
    CREATE ROLE host_user NOLOGIN;
    GRANT host_anon, host_user TO host_authenticator;
  END IF;
END $$;
CREATE SCHEMA api;
GRANT USAGE ON SCHEMA api TO host_anon, host_user;
CREATE TABLE api.notes (id int PRIMARY KEY, body text NOT NULL);
INSERT INTO api.notes VALUES (1, 'first');
GRANT SELECT ON api.notes TO host_anon, host_user;
GRANT INSERT ON api.notes TO host_user;
"""


@pytest.fixture
def pgrest_sql() -> list[SqlSource]:
    return [SCHEMA_SQL]


@pytest.fixture
def pgrest_settings(pgrest_settings: dict[str, Any], pgrest_database: Database) -> dict[str, Any]:
    return {
        **pgrest_settings,
        "db_uri": pgrest_database.dsn(user="host_authenticator"),
        "db_schemas": ("api",),
        "db_anon_role": "host_anon",
    }


@pytest.fixture
async def pgrest_app(pgrest_settings: dict[str, Any]) -> AsyncIterator[FastAPI]:
    app = create_app(Settings.from_mapping(pgrest_settings))
    async with asgi_lifespan(app):
        yield app


async def test_the_host_and_the_mounted_api(
    pgrest_client: httpx.AsyncClient, pgrest_token: TokenMaker
) -> None:
    resp = await pgrest_client.get("/health")
    assert (resp.status_code, resp.json()) == (200, {"ok": True})
    resp = await pgrest_client.get("/api/notes?select=body")
    assert (resp.status_code, resp.json()) == (200, [{"body": "first"}])
    resp = await pgrest_client.post(
        "/api/notes",
        json={"id": 2, "body": "second"},
        headers={**pgrest_token.headers("host_user"), "Prefer": "return=headers-only"},
    )
    assert (resp.status_code, resp.headers["location"]) == (201, "/api/notes?id=eq.2")
    resp = await pgrest_client.post("/api/notes", json={"id": 3, "body": "anonymous"})
    assert resp.status_code == 401
    assert resp.json()["message"] == "permission denied for table notes"


async def test_each_test_has_its_own_database(pgrest_client: httpx.AsyncClient) -> None:
    """Whichever test runs first, the other's insert is not here."""
    resp = await pgrest_client.get("/api/notes?select=id")
    assert resp.json() == [{"id": 1}]


async def test_a_failed_start_up_is_reported() -> None:
    async def refuses(scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    with pytest.raises(RuntimeError, match=r"^the app's start-up failed: no database$"):
        async with asgi_lifespan(refuses):
            pass
