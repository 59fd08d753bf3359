"""PostgREST's configuration: every key it reads, its sources and their order, its value forms,
unknown and retired keys, and ``--dump-config`` output read back."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import msgspec
import pytest

from pgrest_asgi.auth import JwtAuthenticator
from pgrest_asgi.config import BY_DB_NAME, KEYS, dump_value, parse_config_text
from pgrest_asgi.settings import ConfigError, Settings

FIXTURES = Path(__file__).parent.parent / "fixtures" / "config"
DOCS = Path(__file__).parent.parent.parent / "docs" / "reference" / "configuration.md"


def test_postgrests_defaults_file_is_our_defaults() -> None:
    """A dump of PostgREST's defaults reads as our defaults (the role claim key in PostgREST's
    dump syntax, the admin host written out)."""
    settings = Settings.from_file(FIXTURES / "postgrest-defaults.conf")
    assert (
        msgspec.structs.replace(settings, jwt_role_claim_key="$.role", admin_server_host=None)
        == Settings()
    )
    assert settings.jwt_role_claim_key == '."role"'
    assert settings.admin_server_host == "!4"
    JwtAuthenticator(settings)  # the claim key in PostgREST's syntax is accepted


def test_every_key_set(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "pgrest_asgi.config")
    s = Settings.from_file(FIXTURES / "postgrest-everything.conf")
    values = {key.name: getattr(s, key.field) for key in KEYS if key.field is not None}
    assert values == {
        "admin-server-host": "127.0.0.1",
        "admin-server-port": 3001,
        "admin-server-unix-socket": "/tmp/pgrst-admin.sock",
        "admin-server-unix-socket-mode": "600",
        "client-error-verbosity": "minimal",
        "db-aggregates-enabled": True,
        "db-anon-role": "web_anon",
        "db-channel": "postgrest",
        "db-channel-enabled": False,
        "db-config": False,
        "db-extra-search-path": ("public", "extensions"),
        "db-hoisted-tx-settings": ("work_mem", "statement_timeout"),
        "db-max-rows": 1000,
        "db-plan-enabled": True,
        "db-pool": 4,
        "db-pool-acquisition-timeout": 30.0,
        "db-pool-automatic-recovery": False,
        "db-pool-max-idletime": 60.0,
        "db-pool-max-lifetime": 3600.0,
        "db-pre-config": "postgrest.pre_config",
        "db-pre-request": "api.check_request",
        "db-prepared-statements": False,
        "db-root-spec": "root",
        "db-schemas": ("api", "v2"),
        "db-tx-end": "rollback-allow-override",
        "db-uri": "postgres://authenticator:secret@localhost:5432/app",
        "jwt-aud": "https://example.com/api",
        "jwt-cache-max-entries": 50,
        "jwt-role-claim-key": "$.user.role",
        "jwt-secret": "c2VjdXJpdHl0aHJvdWdob2JzY3VyaXR5aW5iYXNlNjQ=",
        "jwt-secret-is-base64": True,
        "log-level": "info",
        "log-query": True,
        "openapi-mode": "ignore-privileges",
        "openapi-security-active": True,
        "openapi-server-proxy-uri": "https://example.com/api",
        "server-cors-allowed-origins": ("http://example.com", "https://example.org"),
        "server-host": "127.0.0.1",
        "server-port": 8080,
        "server-reuseport": True,
        "server-timing-enabled": True,
        "server-trace-header": "X-Request-Id",
        "server-unix-socket": "/tmp/pgrst.sock",
        "server-unix-socket-mode": "777",
        "url-use-legacy-target-names": False,
    }
    assert s.app_settings == {"currency": "EUR"}
    retired = [r.getMessage() for r in caplog.records]
    path = FIXTURES / "postgrest-everything.conf"
    assert retired == [
        f"{path} line 50: jwt-cache-max-lifetime is no longer read by PostgREST and has no"
        " effect: replaced by `jwt-cache-max-entries` (tokens are cached until they expire)",
        f"{path} line 51: db-use-legacy-gucs is no longer read by PostgREST and has no effect:"
        " removed in PostgREST 12: request data is always in the `request.*` JSON settings",
        f"{path} line 52: raw-media-types is no longer read by PostgREST and has no effect:"
        " removed in PostgREST 12: media types come from media type handlers",
    ]


def test_the_dump_reads_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, "pgrest_asgi.config")
    for settings in (
        Settings(),
        Settings.from_file(FIXTURES / "postgrest-everything.conf"),
        Settings(
            db_uri="host=/tmp user='a b' password=$(X)$$",
            jwt_secret='{"kty": "oct", "k": "c2VjcmV0\\"quoted"}',
            app_settings={"a.b": 'two\nlines "and" \\ back'},
            openapi_docs_path="/docs",
            db_extra_search_path=(),
        ),
    ):
        dumped = tmp_path / "dump.conf"
        dumped.write_text(settings.dump())
        assert Settings.from_file(dumped) == settings


def test_the_dump_is_postgrests_syntax() -> None:
    lines = Settings(db_anon_role="anon", db_max_rows=5).dump().splitlines()
    assert lines == sorted(lines)
    assert {
        'db-anon-role = "anon"',
        "db-max-rows = 5",
        'db-max-rows = ""' not in lines and "db-pool = 10",
        "db-prepared-statements = true",
        'db-schemas = "public"',
        'jwt-role-claim-key = "$.role"',
        'server-cors-allowed-origins = ""',
        'server-host = "!4"',
        "db-pool-acquisition-timeout = 10",
    } <= set(lines)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, '""'),
        (True, "true"),
        (12, "12"),
        (2.5, "2.5"),
        (30.0, "30"),
        (("a", "b"), '"a,b"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("$.role", '"$.role"'),
        ("$(HOME)", '"$$(HOME)"'),
    ],
)
def test_dump_values(value: object, expected: str) -> None:
    assert dump_value(value) == expected


def test_sources_in_postgrests_order(tmp_path: Path) -> None:
    """File, then PGRST_* variables, then in-database settings; each wins over the one before."""
    conf = tmp_path / "a.conf"
    conf.write_text('db-anon-role = "file"\ndb-max-rows = 1\ndb-pool = 3\njwt-aud = "file"\n')
    s = Settings.load(
        conf,
        environ={"PGRST_DB_ANON_ROLE": "env", "PGRST_DB_MAX_ROWS": "2"},
        in_database={"db_max_rows": "3", "db_pool": "9", "jwt_aud": "db"},
    )
    # db-pool cannot come from the database (PostgREST does not read it there).
    assert (s.db_anon_role, s.db_max_rows, s.db_pool, s.jwt_aud) == ("env", 3, 3, "db")


def test_in_database_names_are_postgrests() -> None:
    assert sorted(BY_DB_NAME) == [
        "client_error_verbosity",
        "db_aggregates_enabled",
        "db_anon_role",
        "db_extra_search_path",
        "db_hoisted_tx_settings",
        "db_max_rows",
        "db_plan_enabled",
        "db_pre_config",
        "db_pre_request",
        "db_prepared_statements",
        "db_root_spec",
        "db_schemas",
        "db_tx_end",
        "db_use_legacy_gucs",
        "jwt_aud",
        "jwt_cache_max_entries",
        "jwt_cache_max_lifetime",
        "jwt_role_claim_key",
        "jwt_secret",
        "jwt_secret_is_base64",
        "openapi_mode",
        "openapi_security_active",
        "openapi_server_proxy_uri",
        "raw_media_types",
        "server_cors_allowed_origins",
        "server_timing_enabled",
        "server_trace_header",
    ]


def test_aliases_and_their_precedence() -> None:
    s = Settings.from_mapping(
        {"db-schema": "old", "max-rows": "4", "pre-request": "f", "role-claim-key": "$.r"}
    )
    assert (s.db_schemas, s.db_max_rows, s.db_pre_request, s.jwt_role_claim_key) == (
        ("old",),
        4,
        "f",
        "$.r",
    )
    assert Settings.from_mapping({"db-schema": "old", "db-schemas": "new"}).db_schemas == ("new",)
    assert Settings.from_mapping({"db-schemas": "new", "db-schema": "old"}).db_schemas == ("new",)
    # An alias in a later source still wins over the key in an earlier one.
    s = Settings.load(environ={"PGRST_DB_SCHEMA": "env"}, overrides={})
    assert s.db_schemas == ("env",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ('"true"', True),
        ("yes", True),
        ("1", True),
        ("7", True),
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("off", False),
    ],
)
def test_booleans_as_postgrest_reads_them(text: str, expected: bool) -> None:
    assert Settings.from_env({"PGRST_DB_PLAN_ENABLED": text.strip('"')}).db_plan_enabled is expected


def test_empty_text_is_an_unset_key() -> None:
    """PostgREST reads ``key = ""`` as the key not given: the default applies. An empty
    origins list therefore allows any origin, and an empty extra search path is empty."""
    s = Settings.from_mapping(
        {
            "server-cors-allowed-origins": "",
            "db-max-rows": "",
            "db-schemas": "",
            "db-anon-role": "",
            "db-extra-search-path": "",
            "db-pool": "",
        }
    )
    assert (s.server_cors_allowed_origins, s.db_max_rows, s.db_schemas, s.db_anon_role) == (
        None,
        None,
        ("public",),
        None,
    )
    assert (s.db_extra_search_path, s.db_pool) == ((), 10)


def test_log_query_in_postgrest_12s_words() -> None:
    assert Settings.from_mapping({"log-query": "main-query"}).log_query is True
    assert Settings.from_mapping({"log-query": "disabled"}).log_query is False


def test_an_unknown_key_in_a_file_names_file_line_and_key(tmp_path: Path) -> None:
    conf = tmp_path / "app.conf"
    conf.write_text('db-uri = "postgresql://"\n\n# a comment\nadmin-server-prot = 3001\n')
    with pytest.raises(ConfigError) as caught:
        Settings.from_file(conf)
    assert str(caught.value) == (
        f"{conf} line 4: unknown key 'admin-server-prot'; did you mean 'admin-server-port'?"
    )


def test_a_bad_value_in_a_file_names_file_line_and_key(tmp_path: Path) -> None:
    conf = tmp_path / "app.conf"
    conf.write_text('db-uri = "postgresql://"\ndb-pool = "ten"\n')
    with pytest.raises(ConfigError) as caught:
        Settings.from_file(conf)
    assert str(caught.value) == f"{conf} line 2: db-pool: expected a whole number, got 'ten'"
    conf.write_text('db-uri = "postgresql://"\ndb-tx-end = "never"\n')
    with pytest.raises(ConfigError) as caught:
        Settings.from_file(conf)
    assert str(caught.value) == (
        f"{conf} line 2: db-tx-end: expected one of commit, commit-allow-override, rollback,"
        " rollback-allow-override, got 'never'"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("db-uri\n", "line 1: expected `key = value`, found 'db-uri'"),
        ('db-uri = "x\n', "line 1: the string has no closing quote"),
        ('db-uri = "x" y\n', "line 1: text after the closing quote: 'y'"),
        ("db-uri = x y\n", "line 1: cannot read the value 'x y'; quote text values: \"x y\""),
    ],
)
def test_syntax_errors(tmp_path: Path, text: str, message: str) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text(text)
    with pytest.raises(ConfigError) as caught:
        Settings.from_file(conf)
    assert str(caught.value) == f"{conf} {message}"


def test_a_missing_file() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_file("/nonexistent/pgrst.conf")
    assert str(caught.value) == (
        "cannot read the config file /nonexistent/pgrst.conf: No such file or directory"
    )


def test_an_unknown_variable_is_a_warning_naming_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "pgrest_asgi.config")
    s = Settings.from_env({"PGRST_DB_ANON_ROL": "anon", "PGRST_DB_SCHEMAS": "api", "HOME": "/"})
    assert (s.db_anon_role, s.db_schemas) == (None, ("api",))
    assert [r.getMessage() for r in caplog.records] == [
        "PGRST_DB_ANON_ROL is not a setting and is ignored; did you mean 'PGRST_DB_ANON_ROLE'?"
    ]


def test_a_bad_variable_names_it() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"PGRST_SERVER_PORT": "http"})
    assert str(caught.value) == "PGRST_SERVER_PORT: expected a whole number, got 'http'"


def test_a_bad_in_database_value_names_the_role_setting() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load(in_database={"db_max_rows": "lots"})
    assert str(caught.value) == (
        "pgrst.db_max_rows (in-database): expected a whole number, got 'lots'"
    )


def test_interpolation_in_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGRST_TEST_PASSWORD", "s3cret")
    conf = tmp_path / "a.conf"
    conf.write_text('db-uri = "postgres://u:$(PGRST_TEST_PASSWORD)@h/db?x=$$1"\n')
    assert Settings.from_file(conf).db_uri == "postgres://u:s3cret@h/db?x=$1"


def test_schemas_given_as_text_are_comma_separated() -> None:
    assert Settings.for_app("postgresql://", "api, v2").db_schemas == ("api", "v2")
    assert Settings.for_app("postgresql://", "api").db_schemas == ("api",)
    assert Settings.for_app("postgresql://", ["api"]).db_schemas == ("api",)


def test_an_unknown_keyword_suggests_the_setting() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.for_app("postgresql://", ["api"], options={"db_anon_rol": "x"})
    assert str(caught.value) == "unknown key 'db_anon_rol'; did you mean 'db-anon-role'?"


def test_parse_config_text_keeps_lines() -> None:
    values, lines = parse_config_text('# c\na = 1\n\nb = "x"\n')
    assert (values, lines) == ({"a": 1, "b": "x"}, {"a": 2, "b": 4})


def test_the_reference_lists_every_key() -> None:
    """docs/reference/configuration.md has a row for every PostgREST key and every extension
    setting, each saying where it applies, whether a reload applies it, and its in-database
    name."""
    text = DOCS.read_text()
    rows = {
        m["key"]: m["rest"]
        for m in re.finditer(r"^\| `(?P<key>[a-z0-9.*-]+)` \|(?P<rest>.*)$", text, re.M)
    }
    for key in KEYS:
        assert key.name in rows, key.name
        cells = [c.strip() for c in rows[key.name].split("|")]
        scope = {"app": "app", "serve": "serve", "retired": "retired"}[key.scope]
        assert cells[0] == scope, key.name
        assert cells[1] == ("yes" if key.reloadable else "restart"), key.name
        assert cells[2] == (f"`{key.db_name}`" if key.in_db else "—"), key.name
    ours = {k.field for k in KEYS}
    for field in Settings.__struct_fields__:
        if field not in ours and field != "app_settings":
            assert field.replace("_", "-") in rows, field
    assert "app.settings.*" in rows
