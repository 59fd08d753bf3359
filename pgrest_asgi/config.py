"""PostgREST's configuration keys and its config-file syntax (pure: no I/O but reading a file).

``KEYS`` is the table of every key PostgREST v16 reads, with what this library does with it:
``settings.py`` reads values through it, ``--dump-config`` writes them back in the same
syntax, and ``docs/reference/configuration.md`` is checked against it by a test. Our own keys
(the *extensions*) are the remaining fields of ``Settings``; they have no entry here.

The file syntax is PostgREST's: ``key = value`` lines, ``#`` comments, values that are a
double-quoted string (``\\"`` and ``\\\\`` escapes; ``$(VAR)`` is the environment variable,
``$$`` a literal ``$``), a number, or ``true``/``false``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, NamedTuple

__all__ = [
    "BY_DB_NAME",
    "BY_NAME",
    "ENV_PREFIX",
    "KEYS",
    "ConfigFile",
    "Key",
    "dump_value",
    "parse_config_text",
    "read_config_file",
    "suggest",
]

ENV_PREFIX = "PGRST_"

#: What the library does with a key: ``app`` — ``PgRestApp`` acts on it; ``serve`` — only the
#: ``pgrest-asgi`` command acts on it (an app mounted in a host listens where the host says);
#: ``retired`` — PostgREST itself no longer reads it: accepted, with a warning.
Scope = Literal["app", "serve", "retired"]


class Key(NamedTuple):
    #: PostgREST's name (``db-max-rows``).
    name: str
    #: The ``Settings`` field it sets (``None`` for a retired key).
    field: str | None
    scope: Scope
    #: Takes effect on a configuration reload (``NOTIFY pgrst, 'reload config'``, SIGUSR2);
    #: otherwise a change is logged and waits for a restart.
    reloadable: bool
    #: Readable from the database (``ALTER ROLE authenticator SET pgrst.db_max_rows = '5'``).
    in_db: bool
    #: One line for the configuration reference: what happens, or why nothing does.
    note: str
    aliases: tuple[str, ...] = ()

    @property
    def db_name(self) -> str:
        """The role setting's name for in-database configuration."""
        return "pgrst." + self.name.replace("-", "_")

    @property
    def env_name(self) -> str:
        return ENV_PREFIX + self.name.replace("-", "_").replace(".", "_").upper()


_RESTART = "takes effect at the next start"

KEYS: tuple[Key, ...] = (
    Key(
        "admin-server-host",
        "admin_server_host",
        "serve",
        False,
        False,
        "where `serve` binds the admin server (default: `server-host`); hosts mount "
        "`app.admin` where they like",
    ),
    Key(
        "admin-server-port",
        "admin_server_port",
        "serve",
        False,
        False,
        "the admin server's port under `serve` (`/live`, `/ready`, `/metrics`, "
        "`/schema_cache`, `/config`); off when unset",
    ),
    Key(
        "admin-server-unix-socket",
        "admin_server_unix_socket",
        "serve",
        False,
        False,
        "the admin server on a Unix socket under `serve`",
    ),
    Key(
        "admin-server-unix-socket-mode",
        "admin_server_unix_socket_mode",
        "serve",
        False,
        False,
        "the admin socket's file mode (octal, 600-777)",
    ),
    Key(
        "client-error-verbosity",
        "client_error_verbosity",
        "app",
        True,
        True,
        "`minimal` leaves `details` and `hint` out of error bodies",
    ),
    Key(
        "db-aggregates-enabled",
        "db_aggregates_enabled",
        "app",
        True,
        True,
        "allows `count()`, `sum()`, `avg()`, `min()`, `max()` in `select`",
    ),
    Key("db-anon-role", "db_anon_role", "app", True, True, "the role of requests without a JWT"),
    Key("db-channel", "db_channel", "app", True, False, "the NOTIFY channel listened to"),
    Key(
        "db-channel-enabled",
        "db_channel_enabled",
        "app",
        True,
        False,
        "listens for `reload schema` / `reload config` notifications",
    ),
    Key(
        "db-config",
        "db_config",
        "app",
        True,
        False,
        "reads `pgrst.*` role settings of the authenticator (database-specific ones win) "
        "at start-up and on every reload",
    ),
    Key(
        "db-extra-search-path",
        "db_extra_search_path",
        "app",
        True,
        True,
        "schemas added to every request's `search_path`",
    ),
    Key(
        "db-hoisted-tx-settings",
        "db_hoisted_tx_settings",
        "app",
        True,
        True,
        "function settings applied to the whole transaction of an RPC call",
    ),
    Key(
        "db-max-rows",
        "db_max_rows",
        "app",
        True,
        True,
        "the most rows a response carries",
        ("max-rows",),
    ),
    Key(
        "db-plan-enabled",
        "db_plan_enabled",
        "app",
        True,
        True,
        "allows `Accept: application/vnd.pgrst.plan` (EXPLAIN)",
    ),
    Key("db-pool", "db_pool", "app", False, False, "the pool's maximum size; " + _RESTART),
    Key(
        "db-pool-acquisition-timeout",
        "db_pool_acquisition_timeout",
        "app",
        False,
        False,
        "seconds a request waits for a connection (then 504 `PGRST003`); " + _RESTART,
    ),
    Key(
        "db-pool-automatic-recovery",
        "db_pool_automatic_recovery",
        "app",
        True,
        False,
        "reconnect with back-off after the database was lost; `false`: `pgrest-asgi` exits"
        " with status 1 instead (a supervisor restarts it) and does not retry at start-up,"
        " while an embedded app keeps reconnecting (the host sees the `db.unreachable` event)",
    ),
    Key(
        "db-pool-max-idletime",
        "db_pool_max_idletime",
        "app",
        False,
        False,
        "seconds an idle connection is kept; " + _RESTART,
        ("db-pool-timeout",),
    ),
    Key(
        "db-pool-max-lifetime",
        "db_pool_max_lifetime",
        "app",
        False,
        False,
        "seconds a connection lives at most; " + _RESTART,
    ),
    Key(
        "db-pre-config",
        "db_pre_config",
        "app",
        True,
        True,
        "a function that sets `pgrst.*` settings with `set_config`, read with the in-database "
        "configuration (role settings win over it)",
    ),
    Key(
        "db-pre-request",
        "db_pre_request",
        "app",
        True,
        True,
        "a function called at the start of every request's transaction",
        ("pre-request",),
    ),
    Key(
        "db-prepared-statements",
        "db_prepared_statements",
        "app",
        True,
        True,
        "prepares request statements (turn off behind PgBouncer in transaction mode)",
    ),
    Key(
        "db-root-spec",
        "db_root_spec",
        "app",
        True,
        True,
        "a function that answers `GET /` instead of the OpenAPI document",
        ("root-spec",),
    ),
    Key(
        "db-schemas",
        "db_schemas",
        "app",
        True,
        True,
        "the exposed schemas, comma separated; the first is the default",
        ("db-schema",),
    ),
    Key(
        "db-tx-end",
        "db_tx_end",
        "app",
        True,
        True,
        "`commit`, `rollback`, and their `-allow-override` forms (`Prefer: tx=`)",
    ),
    Key(
        "db-uri",
        "db_uri",
        "app",
        False,
        False,
        "the libpq connection string or URI (`@file` reads it from a file); " + _RESTART,
    ),
    Key(
        "jwt-aud",
        "jwt_aud",
        "app",
        True,
        True,
        "the audience a JWT's `aud` must contain",
    ),
    Key(
        "jwt-cache-max-entries",
        "jwt_cache_max_entries",
        "app",
        True,
        True,
        "verified tokens kept in memory (0: none)",
    ),
    Key(
        "jwt-role-claim-key",
        "jwt_role_claim_key",
        "app",
        True,
        True,
        "the JSONPath of the role in the JWT's claims",
        ("role-claim-key",),
    ),
    Key(
        "jwt-secret",
        "jwt_secret",
        "app",
        True,
        True,
        "an HMAC secret, a JWK, a JWKS, or (extension) an `https://` JWKS or OpenID "
        "discovery URL; `@file` reads it from a file",
    ),
    Key(
        "jwt-secret-is-base64",
        "jwt_secret_is_base64",
        "app",
        True,
        True,
        "decodes `jwt-secret` from base64",
        ("secret-is-base64",),
    ),
    Key(
        "log-level",
        "log_level",
        "serve",
        True,
        False,
        "the `pgrest_asgi` loggers' level: `crit`, `error`, `warn`, `info` (access log),"
        " `debug`; in a host, its own logging configuration decides"
        " (`configure_logging(settings)` applies this one; see docs/reference/admin.md)",
    ),
    Key(
        "log-query",
        "log_query",
        "app",
        True,
        False,
        "logs each request's SQL and its duration (parameters only at `debug`)",
    ),
    Key(
        "openapi-mode",
        "openapi_mode",
        "app",
        True,
        True,
        "`follow-privileges`, `ignore-privileges` or `disabled` (`GET /` is 404 `PGRST126`)",
    ),
    Key(
        "openapi-security-active",
        "openapi_security_active",
        "app",
        True,
        True,
        "declares the JWT security scheme in the OpenAPI documents",
    ),
    Key(
        "openapi-server-proxy-uri",
        "openapi_server_proxy_uri",
        "app",
        True,
        True,
        "the public URL in the OpenAPI documents (host, base path, scheme)",
    ),
    Key(
        "server-cors-allowed-origins",
        "server_cors_allowed_origins",
        "app",
        True,
        True,
        "origins allowed by CORS, comma separated; unset or empty: any origin",
    ),
    Key(
        "server-host",
        "server_host",
        "serve",
        False,
        False,
        "where `serve` listens (`*`, `*4`, `!4`, `*6`, `!6` as in PostgREST)",
    ),
    Key("server-port", "server_port", "serve", False, False, "where `serve` listens"),
    Key(
        "server-reuseport",
        "server_reuseport",
        "serve",
        False,
        False,
        "`serve` binds with SO_REUSEPORT, so several processes can share the port",
    ),
    Key(
        "server-timing-enabled",
        "server_timing_enabled",
        "app",
        True,
        True,
        "adds the `Server-Timing` header (jwt, parse, plan, transaction, response)",
    ),
    Key(
        "server-trace-header",
        "server_trace_header",
        "app",
        True,
        True,
        "a request header echoed on the response (e.g. `X-Request-Id`)",
    ),
    Key(
        "server-unix-socket",
        "server_unix_socket",
        "serve",
        False,
        False,
        "`serve` listens on this Unix socket instead of a port",
    ),
    Key(
        "server-unix-socket-mode",
        "server_unix_socket_mode",
        "serve",
        False,
        False,
        "the socket's file mode (octal, 600-777)",
    ),
    Key(
        "url-use-legacy-target-names",
        "url_use_legacy_target_names",
        "app",
        True,
        False,
        "PostgREST's legacy reading of `/rpc/…` and relation names in URLs",
    ),
    # PostgREST no longer reads these; old config files still carry them.
    Key(
        "jwt-cache-max-lifetime",
        None,
        "retired",
        True,
        True,
        "replaced by `jwt-cache-max-entries` (tokens are cached until they expire)",
    ),
    Key(
        "db-use-legacy-gucs",
        None,
        "retired",
        True,
        True,
        "removed in PostgREST 12: request data is always in the `request.*` JSON settings",
    ),
    Key(
        "raw-media-types",
        None,
        "retired",
        True,
        True,
        "removed in PostgREST 12: media types come from media type handlers",
    ),
)

#: Every name a key may be written with (aliases included) → its entry.
BY_NAME: dict[str, Key] = {name: key for key in KEYS for name in (key.name, *key.aliases)}
#: In-database names (``db_max_rows``, without ``pgrst.``) → entry.
BY_DB_NAME: dict[str, Key] = {key.name.replace("-", "_"): key for key in KEYS if key.in_db}


def suggest(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or ``""``."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


# --------------------------------------------------------------------------------------------
# The file syntax


class ConfigFile(NamedTuple):
    """A parsed config file: values by key as written, and the line each key is on."""

    path: str
    values: dict[str, Any]
    lines: dict[str, int]

    def where(self, key: str) -> str:
        """``"file.conf line 3: "`` for a key of this file, else the file alone."""
        line = self.lines.get(key)
        return f"{self.path} line {line}: " if line else f"{self.path}: "


class ConfigSyntaxError(ValueError):
    pass


_LINE = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*=\s*(.*?)\s*$")


def read_config_file(path: str | os.PathLike[str]) -> ConfigFile:
    """Read and parse a config file; ``OSError`` when it cannot be read, ``ValueError`` (with
    the file and line) when it is not PostgREST's syntax."""
    text = Path(path).read_text(encoding="utf-8")
    values, lines = parse_config_text(text, str(path))
    return ConfigFile(str(path), values, lines)


def parse_config_text(text: str, origin: str = "config") -> tuple[dict[str, Any], dict[str, int]]:
    """Parse PostgREST's config-file syntax into values and line numbers by key."""
    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ConfigSyntaxError(
                f"{origin} line {lineno}: expected `key = value`, found {stripped[:60]!r}"
            )
        key, raw = match.groups()
        values[key] = _value(raw, f"{origin} line {lineno}")
        lines[key] = lineno
    return values, lines


def _value(raw: str, where: str) -> Any:
    if raw.startswith('"'):
        out: list[str] = []
        i = 1
        while i < len(raw):
            ch = raw[i]
            if ch == "\\" and i + 1 < len(raw):
                out.append({"n": "\n", "t": "\t"}.get(raw[i + 1], raw[i + 1]))
                i += 2
                continue
            if ch == '"':
                rest = raw[i + 1 :].strip()
                if rest and not rest.startswith("#"):
                    raise ConfigSyntaxError(f"{where}: text after the closing quote: {rest!r}")
                return _interpolate("".join(out))
            out.append(ch)
            i += 1
        raise ConfigSyntaxError(f"{where}: the string has no closing quote")
    value = raw.split("#", 1)[0].strip()
    if value in ("true", "false"):
        return value == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    raise ConfigSyntaxError(
        f'{where}: cannot read the value {value!r}; quote text values: "{value}"'
    )


def _interpolate(text: str) -> str:
    """PostgREST replaces ``$(VAR)`` with the environment variable; ``$$`` is a literal ``$``."""
    return re.sub(
        r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
        lambda m: "$" if m.group(0) == "$$" else os.environ.get(m.group(1), ""),
        text,
    )


def dump_value(value: Any) -> str:
    """A value in the file syntax, read back by ``parse_config_text`` as the same setting."""
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (tuple, list)):
        value = ",".join(str(v) for v in value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    # Only a "$" that would start "$$" or "$(VAR)" needs escaping to read back as itself.
    return '"' + re.sub(r"\$(?=[$(])", "$$", text) + '"'
