"""A pytest plugin for testing an API served by pgrest-asgi: installed with the package.

Fixtures (all named ``pgrest_*``; docs/how-to/testing.md has the whole story):

``pgrest_cluster`` (session)
    A throwaway PostgreSQL (:class:`pgrest_asgi.testing.PostgresCluster`), started the first
    time a test needs it and removed at the end of the session.
``pgrest_sql``
    The SQL the database is made from: the ``pgrest_sql`` files of the configuration. Override
    it to give other files (``Path``) or SQL text (``str``).
``pgrest_database``
    A database of the test's own, cloned from a template loaded with ``pgrest_sql`` once per
    session (:class:`pgrest_asgi.testing.Database`; dropped after the test).
``pgrest_settings``
    The keyword settings of the app (``db_uri`` on that database as the authenticator role,
    ``db_schemas``, ``db_anon_role``, ``jwt_secret``, ``db_pool``). Override it to add more.
``pgrest_app``
    ``PgRestApp(**pgrest_settings)`` with its lifespan entered (pool open, schema cache loaded).
    Override it to serve a host app (FastAPI, Starlette, …) instead.
``pgrest_client``
    An ``httpx.AsyncClient`` on ``httpx.ASGITransport(app=pgrest_app)``.
``pgrest_token``
    ``pgrest_token(role="web_user", sub="alice")`` mints a JWT signed with the settings'
    ``jwt_secret``; ``pgrest_token.headers(...)`` gives the ``Authorization`` header.

``pgrest_app`` and ``pgrest_client`` are async fixtures: they need pytest-asyncio.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    import httpx

    from pgrest_asgi.app import PgRestApp
    from pgrest_asgi.testing import Database, DatabaseTemplates, PostgresCluster, SqlSource

__all__ = ["DEFAULT_JWT_SECRET", "TokenMaker"]

#: ``jwt_secret`` when the configuration sets none (PostgREST wants 32 characters or more).
DEFAULT_JWT_SECRET = "pgrest-asgi-pytest-plugin-secret-not-for-production"  # noqa: S105
#: ``db_pool`` of the app under test: small, a test sends few requests at a time.
DEFAULT_POOL = 2

_NEEDS_ASYNCIO = (
    "{name} is an async fixture and needs pytest-asyncio: pip install pytest-asyncio "
    "(and set asyncio_mode = auto in the pytest configuration)"
)
_NEEDS_SQL = (
    "pgrest_sql is not set: name the SQL files of your database in the pytest configuration "
    "(e.g. `pgrest_sql = db/schema.sql db/seed.sql` under [pytest]) or override the "
    "pgrest_sql fixture"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "pgrest_sql",
        "pgrest-asgi: SQL files loaded (in order) into each test's database; relative to the "
        "configuration file",
        type="paths",
        default=[],
    )
    parser.addini(
        "pgrest_schemas", "pgrest-asgi: the exposed schemas (db-schemas)", "args", ["public"]
    )
    parser.addini(
        "pgrest_anon_role", "pgrest-asgi: the anonymous role (db-anon-role)", "string", ""
    )
    parser.addini(
        "pgrest_authenticator",
        "pgrest-asgi: the role the app connects as (created by your SQL)",
        "string",
        "authenticator",
    )
    parser.addini(
        "pgrest_jwt_secret",
        "pgrest-asgi: the JWT secret of the app and of pgrest_token",
        "string",
        DEFAULT_JWT_SECRET,
    )


def _fail(message: str) -> NoReturn:
    pytest.fail(message, pytrace=False)


# --------------------------------------------------------------------------------------------
# The database
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pgrest_cluster() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL for the session (unix socket only, trust authentication)."""
    from pgrest_asgi.testing import PostgresCluster

    cluster = PostgresCluster()
    try:
        cluster.start()
    except RuntimeError as exc:
        error = str(exc)
    else:
        error = ""
    if error:
        _fail(f"pgrest_cluster: could not start PostgreSQL: {error}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pgrest_templates(pgrest_cluster: PostgresCluster) -> DatabaseTemplates:
    """The template databases of the session: one per distinct ``pgrest_sql``."""
    from pgrest_asgi.testing import DatabaseTemplates

    return DatabaseTemplates(pgrest_cluster)


@pytest.fixture
def pgrest_sql(request: pytest.FixtureRequest) -> list[SqlSource]:
    """The ``pgrest_sql`` files of the configuration; override to give others (a ``Path`` is
    a file, a ``str`` SQL text)."""
    files: list[Path] = request.config.getini("pgrest_sql")
    if not files:
        _fail(_NEEDS_SQL)
    return list(files)


@pytest.fixture
def pgrest_database(
    pgrest_templates: DatabaseTemplates, pgrest_sql: list[SqlSource]
) -> Iterator[Database]:
    """A database of this test's own, made from ``pgrest_sql``; dropped afterwards."""
    from pgrest_asgi.testing import SqlLoadError

    try:
        database = pgrest_templates.clone(pgrest_sql)
    except SqlLoadError as exc:
        error = str(exc)
    else:
        error = ""
    if error:  # failed outside the except block: no chained traceback in the report
        _fail(f"pgrest_sql: {error}")
    try:
        yield database
    finally:
        pgrest_templates.cluster.drop_database(database.name)


@pytest.fixture
def pgrest_settings(request: pytest.FixtureRequest, pgrest_database: Database) -> dict[str, Any]:
    """The app's keyword settings (``PgRestApp(**pgrest_settings)``; also valid for
    ``Settings.from_mapping``)."""
    ini = request.config.getini
    settings: dict[str, Any] = {
        "db_uri": pgrest_database.dsn(user=ini("pgrest_authenticator")),
        "db_schemas": tuple(ini("pgrest_schemas")),
        "jwt_secret": ini("pgrest_jwt_secret"),
        "db_pool": DEFAULT_POOL,
    }
    if ini("pgrest_anon_role"):
        settings["db_anon_role"] = ini("pgrest_anon_role")
    return settings


# --------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------


class TokenMaker:
    """Mints HS256 JWTs with the app's secret: ``maker(role="web_user", sub="alice")``."""

    def __init__(self, secret: str | bytes) -> None:
        from joserfc.jwk import OctKey

        self.key = OctKey.import_key(secret)

    def __call__(self, role: str | None = None, **claims: Any) -> str:
        """A signed token with ``role`` (when given) and ``claims``."""
        from joserfc import jwt

        if role is not None:
            claims["role"] = role
        return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, self.key)

    def headers(self, role: str | None = None, **claims: Any) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}``."""
        return {"Authorization": f"Bearer {self(role, **claims)}"}


def _secret_of(settings: Mapping[str, Any]) -> str | bytes:
    secret = settings.get("jwt_secret", settings.get("jwt-secret"))
    if not isinstance(secret, str | bytes) or not secret:
        _fail("pgrest_token: pgrest_settings has no jwt_secret to sign tokens with")
    encoded = settings.get("jwt_secret_is_base64", settings.get("jwt-secret-is-base64"))
    if encoded in (True, "true", "on", "yes", "1"):
        return base64.b64decode(secret)
    return secret


@pytest.fixture
def pgrest_token(pgrest_settings: dict[str, Any]) -> TokenMaker:
    """``pgrest_token(role="web_user", sub="alice")``: a JWT the app under test accepts."""
    return TokenMaker(_secret_of(pgrest_settings))


# --------------------------------------------------------------------------------------------
# The app and the client
# --------------------------------------------------------------------------------------------


async def _app(pgrest_settings: dict[str, Any]) -> AsyncIterator[PgRestApp]:
    """``PgRestApp(**pgrest_settings)``, started (``app.lifespan()``) for the test."""
    from pgrest_asgi.app import PgRestApp

    app = PgRestApp(**pgrest_settings)
    async with app.lifespan():
        yield app


async def _client(pgrest_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` sending its requests to ``pgrest_app`` in-process."""
    try:
        import httpx
    except ImportError:
        _fail("pgrest_client needs httpx: pip install httpx")
    transport = httpx.ASGITransport(app=pgrest_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def _no_asyncio(request: pytest.FixtureRequest) -> NoReturn:
    _fail(_NEEDS_ASYNCIO.format(name=request.fixturename))


def _async_fixture() -> Callable[..., Any] | None:
    """``pytest_asyncio.fixture``, or None without pytest-asyncio."""
    try:
        import pytest_asyncio
    except ImportError:
        return None
    return pytest_asyncio.fixture


_async = _async_fixture()
if _async is not None:
    _pgrest_app = _async(_app, name="pgrest_app")
    _pgrest_client = _async(_client, name="pgrest_client")
else:
    _pgrest_app_needs_asyncio = pytest.fixture(_no_asyncio, name="pgrest_app")
    _pgrest_client_needs_asyncio = pytest.fixture(_no_asyncio, name="pgrest_client")
