"""Shared fixtures: one throwaway PostgreSQL cluster per test session, real databases in it,
and ``PgRestApp`` instances driven in-process through ``httpx.ASGITransport``.

Integration tests never skip for lack of a database: if no cluster can be started, they fail.

Every JSON body a test reads is decoded strictly: an object with the same key twice raises
:class:`DuplicateKeyError` (``httpx.Response.json`` is replaced for the whole session, so every
client is covered; use :func:`strict_loads` for JSON read any other way). ``json.loads`` would
silently keep the last value and hide the first.

Tests run in random order (pytest-randomly prints the seed: ``--randomly-seed=N`` repeats an
order, ``-p no:randomly`` keeps file order) and can be repeated (``--count=N``): every test that
uses the fixture database starts from its data (tests/pristine.py), and a test that changes an
app's state (its connections, its schema cache, its settings) uses an app of its own
(``app_factory``), never the session-wide ``app``/``client``.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from pgrest_asgi import PgRestApp
from pgrest_asgi.testing import PostgresCluster
from tests import pristine

FIXTURES = Path(__file__).parent / "fixtures"
JWT_SECRET = "reallyreallyreallyreallyverysafe-and-long-enough"
API_DB = "pgrest_test"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def fresh_db(pg_cluster: PostgresCluster) -> Iterator[str]:
    """A new, empty database; yields its superuser conninfo."""
    name = "t_" + uuid.uuid4().hex[:12]
    dsn = pg_cluster.create_database(name)
    try:
        yield dsn
    finally:
        pg_cluster.drop_database(name)


@contextmanager
def loaded_database(cluster: PostgresCluster, prefix: str, sql: str) -> Iterator[str]:
    """A new database named ``<prefix>_<random>`` with ``sql`` run in it (as the superuser),
    dropped afterwards; yields its name. For tests and examples with a schema of their own."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    cluster.create_database(name)
    try:
        cluster.run_sql(sql, dbname=name)
        yield name
    finally:
        cluster.drop_database(name)


@pytest.fixture(scope="session")
def api_db(pg_cluster: PostgresCluster) -> PostgresCluster:
    """The fixture schema loaded into ``pgrest_test``: tests/fixtures/schema.sql, then every
    other ``tests/fixtures/*.sql`` in name order (fixtures of one test module each); then its
    snapshot, which every test using it starts from (see ``_pristine_api_db``)."""
    pg_cluster.create_database(API_DB)
    files = [FIXTURES / "schema.sql"]
    files += sorted(p for p in FIXTURES.glob("*.sql") if p.name != "schema.sql")
    for path in files:
        pg_cluster.run_sql(path.read_text(), dbname=API_DB)
    pristine.snapshot(pg_cluster.dsn(API_DB))
    return pg_cluster


@pytest.fixture(scope="session")
def _restorer(api_db: PostgresCluster) -> Iterator[pristine.Restorer]:
    restorer = pristine.Restorer(api_db.dsn(API_DB))
    yield restorer
    restorer.close()


@pytest.fixture(autouse=True)
def _pristine_api_db(request: pytest.FixtureRequest) -> None:
    """A test that uses the fixture database starts from the fixture data (tests/pristine.py):
    what earlier tests wrote, and the sequences they advanced, are put back first."""
    if "api_db" in request.fixturenames:
        request.getfixturevalue("_restorer").restore()


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKeyError(f"JSON object with the key {key!r} twice: {pairs!r}")
        obj[key] = value
    return obj


def strict_loads(text: str | bytes) -> Any:
    """``json.loads`` that raises :class:`DuplicateKeyError` on a repeated object key."""
    return json.loads(text, object_pairs_hook=_unique_keys)


def _strict_response_json(self: httpx.Response, **kwargs: Any) -> Any:
    kwargs.setdefault("object_pairs_hook", _unique_keys)
    return json.loads(self.content, **kwargs)


@pytest.fixture(scope="session", autouse=True)
def _strict_json_bodies() -> Iterator[None]:
    """Every ``httpx.Response.json()`` in the session rejects duplicate keys."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpx.Response, "json", _strict_response_json)
        yield


def make_token(claims: dict[str, Any], secret: str = JWT_SECRET, alg: str = "HS256") -> str:
    return jwt.encode({"alg": alg}, claims, OctKey.import_key(secret))


@pytest.fixture(scope="session")
def token() -> Callable[..., str]:
    return make_token


def app_settings(cluster: PostgresCluster, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "db_uri": cluster.dsn(API_DB, user="authenticator"),
        "db_schemas": ("api", "v2"),
        "db_anon_role": "web_anon",
        "jwt_secret": JWT_SECRET,
        "db_pool": 4,
        "app_settings": {"greeting": "hello"},
    }
    settings.update(overrides)
    return settings


@asynccontextmanager
async def running_app(cluster: PostgresCluster, **overrides: Any) -> AsyncIterator[PgRestApp]:
    app = PgRestApp(**app_settings(cluster, **overrides))
    async with app.lifespan():
        yield app


def client_for(app: Any, base_url: str = "http://test") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


@pytest.fixture(scope="session")
async def app(api_db: PostgresCluster) -> AsyncIterator[PgRestApp]:
    async with running_app(api_db) as instance:
        yield instance


@pytest.fixture(scope="session")
async def client(app: PgRestApp) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


@pytest.fixture
def app_factory(
    api_db: PostgresCluster,
) -> Callable[..., Any]:
    """``async with app_factory(db_max_rows=5) as (app, client):`` — a separately configured app."""

    @asynccontextmanager
    async def factory(**overrides: Any) -> AsyncIterator[tuple[PgRestApp, httpx.AsyncClient]]:
        async with running_app(api_db, **overrides) as instance, client_for(instance) as http:
            yield instance, http

    return factory


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failed test: nothing may quietly not run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if os.environ.get("CI") and skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter is not None:
            reporter.write_line(f"CI: {len(skipped)} test(s) skipped; skips count as failures")
