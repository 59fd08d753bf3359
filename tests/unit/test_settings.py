from __future__ import annotations

from pathlib import Path

import pytest

from pgrest_asgi.settings import ConfigError, Settings, parse_config_text


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
        ({"db-pool": "0"}, "Expected `int` >= 1 - at `db_pool`"),
        ({"db-tx-end": "maybe"}, "Invalid enum value 'maybe' - at `db_tx_end`"),
        (
            {"jwt-secret": "short"},
            "jwt-secret: The JWT secret must be at least 32 characters long.",
        ),
        ({"db-schemas": "pg_catalog"}, "db-schemas: the schema 'pg_catalog' cannot be exposed"),
        ({"no-such-key": "1"}, "Object contains unknown field `no_such_key`"),
        ({"server-header-timeout": "0"}, "Expected `float` > 0.0 - at `server_header_timeout`"),
        ({"server-max-header-count": "0"}, "Expected `int` >= 1 - at `server_max_header_count`"),
        ({"server-max-unsent-size": "-1"}, "Expected `int` >= 0 - at `server_max_unsent_size`"),
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
    values = parse_config_text("server-header-timeout = 3\nserver-max-header-size = 8192\n")
    s = Settings.from_mapping(values)
    assert (s.server_header_timeout, s.server_max_header_size) == (3.0, 8192)
