from __future__ import annotations

from pathlib import Path

import pytest

from pgrest_asgi.admin import redacted_config
from pgrest_asgi.config import parse_config_text
from pgrest_asgi.settings import ConfigError, Settings


def test_env() -> None:
    s = Settings.from_env(
        {
            "PGRST_DB_URI": "postgresql://a@/b",
            "PGRST_DB_SCHEMAS": "api, v2",
            "PGRST_DB_ANON_ROLE": "anon",
            "PGRST_DB_MAX_ROWS": "100",
            "PGRST_SERVER_TIMING_ENABLED": "true",
            "PGRST_APP_SETTINGS_JWT_EXP": "3600",
            "PGRST_JWT_SECRET_IS_BASE64": "false",
            "PGRST_UNKNOWN_THING": "ignored",
            "OTHER": "x",
        }
    )
    assert (s.db_uri, s.db_schemas, s.db_anon_role, s.db_max_rows) == (
        "postgresql://a@/b",
        ("api", "v2"),
        "anon",
        100,
    )
    assert s.server_timing_enabled is True
    assert s.app_settings == {"jwt_exp": "3600"}


def test_config_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("x" * 40 + "\n")
    conf = tmp_path / "pgrst.conf"
    conf.write_text(
        '# comment\ndb-uri = "postgres://u@h/db"\ndb-schema = "api"\ndb-pool = 5\n'
        'max-rows = 10\njwt-secret = "@' + str(secret) + '"\n'
        'app.settings.price = "$$5"\nserver-timing-enabled = true\n'
    )
    s = Settings.from_file(conf, environ={"PGRST_DB_POOL": "7"})
    assert (s.db_uri, s.db_schemas, s.db_pool, s.db_max_rows) == (
        "postgres://u@h/db",
        ("api",),
        7,
        10,
    )
    assert s.jwt_secret == "x" * 40
    assert s.app_settings == {"price": "$5"}
    assert s.server_timing_enabled is True


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"db-pool": "0"}, "db-pool: expected a whole number >= 1, got '0'"),
        (
            {"db-tx-end": "maybe"},
            "db-tx-end: expected one of commit, commit-allow-override, rollback,"
            " rollback-allow-override, got 'maybe'",
        ),
        (
            {"jwt-secret": "short"},
            "jwt-secret: The JWT secret must be at least 32 characters long.",
        ),
        ({"db-schemas": "pg_catalog"}, "db-schemas: the schema 'pg_catalog' cannot be exposed"),
        ({"no-such-key": "1"}, "unknown key 'no-such-key'"),
        ({"db-anon-rol": "x"}, "unknown key 'db-anon-rol'; did you mean 'db-anon-role'?"),
        ({"server-header-timeout": "0"}, "server-header-timeout: expected a number > 0, got '0'"),
        (
            {"server-max-header-count": "0"},
            "server-max-header-count: expected a whole number >= 1, got '0'",
        ),
        (
            {"server-max-unsent-size": "-1"},
            "server-max-unsent-size: expected a whole number >= 0, got '-1'",
        ),
        ({"db-pool": "ten"}, "db-pool: expected a whole number, got 'ten'"),
        ({"db-plan-enabled": "maybe"}, "db-plan-enabled: expected true or false, got 'maybe'"),
        (
            {"server-unix-socket-mode": "999"},
            "server-unix-socket-mode: '999' is not an octal file mode such as 660",
        ),
        (
            {"admin-server-unix-socket-mode": "500"},
            "admin-server-unix-socket-mode: '500' must be between 600 and 777",
        ),
        (
            {"admin-server-port": "3000"},
            "admin-server-port: 3000 is also server-port; give the admin server a port of its own",
        ),
        ({"jwt-aud": "a:b c"}, "jwt-aud: 'a:b c' should be a string or a valid URI"),
    ],
)
def test_invalid(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_mapping(values)
    assert str(info.value) == message


def test_http_server_limits() -> None:
    """The limits ``pgrest-asgi serve`` puts on its HTTP server: defaults, env, config file."""
    s = Settings()
    assert (
        s.server_max_header_size,
        s.server_max_header_count,
        s.server_header_timeout,
        s.server_body_timeout,
        s.server_send_timeout,
        s.server_max_unsent_size,
    ) == (32768, 100, 20.0, 30.0, 30.0, 64 * 1024 * 1024)
    s = Settings.from_env(
        {
            "PGRST_SERVER_MAX_HEADER_SIZE": "16384",
            "PGRST_SERVER_MAX_HEADER_COUNT": "50",
            "PGRST_SERVER_HEADER_TIMEOUT": "2.5",
            "PGRST_SERVER_BODY_TIMEOUT": "5",
            "PGRST_SERVER_SEND_TIMEOUT": "7",
            "PGRST_SERVER_MAX_UNSENT_SIZE": "0",
        }
    )
    assert (
        s.server_max_header_size,
        s.server_max_header_count,
        s.server_header_timeout,
        s.server_body_timeout,
        s.server_send_timeout,
        s.server_max_unsent_size,
    ) == (16384, 50, 2.5, 5.0, 7.0, 0)
    values, _ = parse_config_text("server-header-timeout = 3\nserver-max-header-size = 8192\n")
    s = Settings.from_mapping(values)
    assert (s.server_header_timeout, s.server_max_header_size) == (3.0, 8192)


def test_replica_uris(tmp_path: Path) -> None:
    """Spaces separate the replicas (a URI may hold commas: several hosts); the text form
    takes URIs only (a keyword conninfo holds spaces), the Python form any conninfo; the
    passwords are masked in /config and the dump reads back."""
    text = "postgresql://u:pw@h1,h2/db  postgresql://u@/db?host=/run/pg&port=5433"
    settings = Settings.from_env({"PGRST_DB_REPLICA_URIS": text})
    assert settings.db_replica_uris == (
        "postgresql://u:pw@h1,h2/db",
        "postgresql://u@/db?host=/run/pg&port=5433",
    )
    dumped = tmp_path / "dumped.conf"
    dumped.write_text(settings.dump())
    assert Settings.from_file(dumped) == settings
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"PGRST_DB_REPLICA_URIS": "host=/run/pg port=5433"})
    assert str(info.value) == (
        "PGRST_DB_REPLICA_URIS: 'host=/run/pg' is not a connection URI: write each replica as "
        "postgresql://user@host:port/dbname (a unix socket: "
        "postgresql://user@/dbname?host=/run/postgresql), separated by spaces"
    )
    assert Settings(db_replica_uris=("host=/run/pg port=5433",)).db_replica_uris == (
        "host=/run/pg port=5433",
    )
    (line,) = [x for x in redacted_config(settings).splitlines() if "replica-uris" in x]
    assert line == (
        'db-replica-uris = "postgresql://u:********@h1,h2/db '
        'postgresql://u@/db?host=/run/pg&port=5433"'
    )
