"""Settings under PostgREST's names, loadable from ``PGRST_*`` variables and config files.

Field names are PostgREST's configuration keys with ``-`` replaced by ``_``
(``db-anon-role`` → ``db_anon_role``). Three sources, as PostgREST reads them:

* keyword arguments: ``Settings(db_anon_role="anon")`` or ``PgRestApp(dsn, db_anon_role=...)``;
* environment variables: ``PGRST_DB_ANON_ROLE=anon`` (``Settings.from_env()``);
  ``PGRST_APP_SETTINGS_FOO=x`` becomes ``app_settings["foo"]``;
* a PostgREST config file: ``db-anon-role = "anon"`` (``Settings.from_file(path)``).

Values of ``db-uri`` and ``jwt-secret`` that start with ``@`` are read from that file.
A few settings are ours (marked *extension* below); PostgREST has no equivalent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

__all__ = ["ConfigError", "Settings"]

TxEnd = Literal["commit", "commit-allow-override", "rollback", "rollback-allow-override"]


class ConfigError(ValueError):
    """A setting has an invalid value; the message names the key."""


Positive = Annotated[int, msgspec.Meta(ge=1)]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every setting pgrest_asgi reads. Immutable; use ``msgspec.structs.replace`` to derive."""

    # -- database -----------------------------------------------------------------------
    db_uri: str = "postgresql://"
    db_schemas: tuple[str, ...] = ("public",)
    db_anon_role: str | None = None
    db_extra_search_path: tuple[str, ...] = ("public",)
    db_max_rows: Positive | None = None
    db_pre_request: str | None = None
    db_tx_end: TxEnd = "commit"
    db_pool: Positive = 10
    db_pool_acquisition_timeout: Seconds = 10.0
    db_pool_max_idletime: Seconds = 30.0
    db_pool_max_lifetime: Seconds = 1800.0
    db_pool_automatic_recovery: bool = True
    db_prepared_statements: bool = True
    db_channel: str = "pgrst"
    db_channel_enabled: bool = True
    db_aggregates_enabled: bool = False
    db_plan_enabled: bool = False
    db_hoisted_tx_settings: tuple[str, ...] = (
        "statement_timeout",
        "plan_filter.statement_cost_limit",
        "default_transaction_isolation",
    )
    # -- auth ---------------------------------------------------------------------------
    jwt_secret: str | None = None
    jwt_secret_is_base64: bool = False
    jwt_aud: str | None = None
    jwt_role_claim_key: str = "$.role"
    jwt_cache_max_entries: NonNegative = 1000
    #: *extension*: when no ``Authorization`` header is sent, take the token from this cookie.
    jwt_cookie: str | None = None
    #: *extension*: take the token from this request header instead of ``Authorization``
    #: (its value is the token, with or without ``Bearer``).
    jwt_header: str | None = None
    #: *extension*: with ``jwt-secret`` an ``http(s)://`` JWKS or OpenID discovery URL, the
    #: seconds a fetched key set is kept at most (less when the server's ``Cache-Control``
    #: says so), and the fewest seconds between two fetches caused by unknown ``kid`` values.
    jwt_jwks_max_age: Seconds = 3600.0
    jwt_jwks_min_refresh: Seconds = 30.0
    # -- server / responses -------------------------------------------------------------
    server_host: str = "!4"
    server_port: NonNegative = 3000
    server_unix_socket: str | None = None
    server_cors_allowed_origins: tuple[str, ...] | None = None
    server_timing_enabled: bool = False
    server_trace_header: str | None = None
    client_error_verbosity: Literal["verbose", "minimal"] = "verbose"
    openapi_mode: Literal["follow-privileges", "ignore-privileges", "disabled"] = (
        "follow-privileges"
    )
    openapi_security_active: bool = False
    openapi_server_proxy_uri: str | None = None
    #: A function (in the request's schema) that answers ``GET /`` instead of the OpenAPI
    #: document, called as ``GET /rpc/<name>`` would be.
    db_root_spec: str | None = None
    url_use_legacy_target_names: bool = True
    log_level: Literal["crit", "error", "warn", "info", "debug"] = "error"
    app_settings: dict[str, str] = msgspec.field(default_factory=dict)
    # -- extensions (not in PostgREST) --------------------------------------------------
    #: Minimum connections kept open by the pool.
    db_pool_min: NonNegative = 1
    #: Requests waiting for a connection beyond this many get 503 + Retry-After (0: no limit).
    db_pool_max_waiting: NonNegative = 0
    #: Every transaction starts with ``RESET ALL`` and ends with the session check, so
    #: nothing one request leaves in its session (settings, temporary tables, advisory locks,
    #: LISTEN, cursors, prepared statements) reaches a later request on the connection.
    db_reset_session: bool = True
    #: Let PostgreSQL JIT-compile request queries. Off by default (``jit = off`` in every
    #: request transaction, before the role's own settings, which may turn it back on):
    #: compiling a wide embed's plan can take a backend for tens of seconds, which a cancel
    #: cannot interrupt, while API queries are too short to gain from it.
    db_jit: bool = False
    #: Honour ``Prefer: count=exact`` (a full count of the filtered rows, which on a large
    #: table costs a scan). When off it is an invalid preference: ignored (no total in
    #: ``Content-Range``), or 400 ``PGRST122`` with ``Prefer: handling=strict``.
    db_exact_count: bool = True
    #: Longest accepted path + query string, in bytes (414 beyond).
    server_max_url_length: Positive = 16384
    #: Largest accepted request body, in bytes (413 beyond, also when a larger
    #: ``Content-Length`` is only announced).
    server_max_body_size: Positive = 16 * 1024 * 1024
    # The next six are enforced by ``pgrest-asgi serve`` (its HTTP server), not by the app.
    #: Largest accepted block of request header lines, in bytes (431 beyond).
    server_max_header_size: Positive = 32 * 1024
    #: Most header lines accepted in one request (431 beyond).
    server_max_header_count: Positive = 100
    #: Seconds a client has to send a request's line and headers; then it is disconnected.
    server_header_timeout: Seconds = 20.0
    #: Seconds a request body may pause (no bytes received) before the client is disconnected.
    server_body_timeout: Seconds = 30.0
    #: Seconds a response may wait for a client that reads nothing before it is disconnected.
    server_send_timeout: Seconds = 30.0
    #: Bytes of responses that all connections together may hold for clients that have stopped
    #: reading; beyond it the longest-stalled connections are dropped (0: no limit).
    server_max_unsent_size: NonNegative = 64 * 1024 * 1024
    #: Fail ASGI lifespan start-up when the database cannot be reached (else serve 503s).
    db_fail_fast: bool = False
    #: Cancel a request's statement (and roll its transaction back) when the client
    #: disconnects before the response is ready.
    server_cancel_on_disconnect: bool = True
    #: The document ``GET /`` answers when ``Accept`` does not choose: PostgREST's Swagger
    #: ``2.0``, or OpenAPI ``3.1`` (always available with
    #: ``Accept: application/vnd.oai.openapi+json;version=3.1``).
    openapi_version: Literal["2.0", "3.1"] = "2.0"
    #: Serve Swagger UI for the API at this path (``/docs``: the page is ``/docs/``), its
    #: files from the ``docs-ui`` extra, never a CDN. ``None``: no page.
    openapi_docs_path: str | None = None

    def __post_init__(self) -> None:
        for schema in self.db_schemas:
            if schema in ("pg_catalog", "information_schema"):
                raise ConfigError(f"db-schemas: the schema {schema!r} cannot be exposed")
        if not self.db_schemas:
            raise ConfigError("db-schemas: at least one schema is required")
        uri = self.openapi_server_proxy_uri
        if uri and proxy_uri_parts(uri) is None:
            raise ConfigError(
                f"openapi-server-proxy-uri: malformed proxy URI {uri!r}; write an absolute http(s)"
                " URI without user info or query, such as https://example.com:8443/basePath"
            )
        if self.jwt_secret is not None and not self.jwt_secret_is_base64:
            secret = self.jwt_secret.strip()
            if not secret.startswith(("{", "https://", "http://")) and len(secret) < 32:
                raise ConfigError("jwt-secret: The JWT secret must be at least 32 characters long.")

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def for_app(
        cls,
        dsn: str | None = None,
        schemas: Sequence[str] | None = None,
        settings: Settings | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Settings:
        """``PgRestApp``'s arguments as one ``Settings``: ``settings`` (or the defaults) with
        the DSN, the schemas and any other keyword settings laid over it."""
        values: dict[str, Any] = dict(options or {})
        if dsn is not None:
            values["db_uri"] = dsn
        if schemas is not None:
            if isinstance(schemas, str):
                raise TypeError(
                    f"PgRestApp(schemas=...) takes a list of schema names, not the string "
                    f"{schemas!r}: write schemas=[{schemas!r}]"
                )
            values["db_schemas"] = tuple(schemas)
        if settings is None:
            return cls.from_mapping(values)
        return msgspec.structs.replace(settings, **values) if values else settings

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        """Build from ``{key: value}`` with PostgREST or Python key names; strings are coerced."""
        data: dict[str, Any] = {}
        app_settings: dict[str, str] = {}
        for raw_key, value in values.items():
            key = raw_key.strip()
            if key.startswith("app.settings."):
                app_settings[key[len("app.settings.") :]] = str(value)
                continue
            name = key.replace("-", "_")
            name = _ALIASES.get(name, name)
            data[name] = _coerce(name, value)
        if app_settings:
            data["app_settings"] = {**data.get("app_settings", {}), **app_settings}
        for name in ("db_uri", "jwt_secret"):
            value = data.get(name)
            if isinstance(value, str) and value.startswith("@"):
                data[name] = Path(value[1:]).read_text().strip()
        try:
            return msgspec.convert(data, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise ConfigError(str(exc).replace("$.", "")) from exc

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, prefix: str = "PGRST_", **overrides: Any
    ) -> Settings:
        """Read ``PGRST_*`` variables (``PGRST_DB_URI``, ``PGRST_APP_SETTINGS_X`` …)."""
        values = env_values(os.environ if environ is None else environ, prefix)
        values.update(overrides)
        return cls.from_mapping(values)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Read a PostgREST config file; ``PGRST_*`` variables in ``environ`` win over it."""
        values: dict[str, Any] = parse_config_text(Path(path).read_text())
        if environ is not None:
            values.update(env_values(environ, "PGRST_"))
        return cls.from_mapping(values)

    @property
    def tx_allow_override(self) -> bool:
        return self.db_tx_end.endswith("allow-override")

    @property
    def tx_rollback_default(self) -> bool:
        return self.db_tx_end.startswith("rollback")


_ALIASES = {
    "db_schema": "db_schemas",
    "max_rows": "db_max_rows",
    "pre_request": "db_pre_request",
    "role_claim_key": "jwt_role_claim_key",
    "db_pool_timeout": "db_pool_max_idletime",
    "secret_is_base64": "jwt_secret_is_base64",
}
_KNOWN = set(Settings.__struct_fields__) | set(_ALIASES)
_LIST_FIELDS = {
    "db_schemas",
    "db_extra_search_path",
    "db_hoisted_tx_settings",
    "server_cors_allowed_origins",
}


def _coerce(name: str, value: Any) -> Any:
    """Turn the text forms PostgREST accepts into the field's type."""
    if name in _LIST_FIELDS and isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, str):
        lowered = value.strip().lower()
        field_type = _FIELD_TYPES.get(name)
        if field_type is bool:
            if lowered in ("true", "yes", "on", "1"):
                return True
            if lowered in ("false", "no", "off", "0"):
                return False
        if lowered == "" and name in _OPTIONAL:
            return None
    return value


_FIELD_TYPES: dict[str, Any] = {f: type(getattr(Settings(), f)) for f in Settings.__struct_fields__}
_OPTIONAL = {f for f in Settings.__struct_fields__ if getattr(Settings(), f) is None}


def env_values(environ: Mapping[str, str], prefix: str) -> dict[str, Any]:
    """The settings named by ``<prefix>*`` variables, as raw ``{key: text}``."""
    values: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix) :].lower()
        if name.startswith("app_settings_"):
            values["app.settings." + name[len("app_settings_") :]] = value
        elif name in _KNOWN:
            values[name] = value
    return values


_LINE = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*=\s*(.*?)\s*$")


def parse_config_text(text: str) -> dict[str, Any]:
    """Parse PostgREST's config-file syntax: ``key = "string" | number | true/false``."""
    values: dict[str, Any] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ConfigError(f"config file line {lineno}: expected key = value")
        key, raw = match.groups()
        values[key] = _config_value(raw, lineno)
    return values


def _config_value(raw: str, lineno: int) -> Any:
    if raw.startswith('"'):
        end, out, i = False, [], 1
        while i < len(raw):
            ch = raw[i]
            if ch == "\\" and i + 1 < len(raw):
                out.append({"n": "\n", "t": "\t"}.get(raw[i + 1], raw[i + 1]))
                i += 2
                continue
            if ch == '"':
                end = True
                rest = raw[i + 1 :].strip()
                if rest and not rest.startswith("#"):
                    raise ConfigError(f"config file line {lineno}: text after the closing quote")
                break
            out.append(ch)
            i += 1
        if not end:
            raise ConfigError(f"config file line {lineno}: unterminated string")
        text = "".join(out)
        # PostgREST interpolates $(VAR) from the environment; $$ is a literal $.
        return re.sub(
            r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
            lambda m: "$" if m.group(0) == "$$" else os.environ.get(m.group(1), ""),
            text,
        )
    value = raw.split("#", 1)[0].strip()
    if value in ("true", "false"):
        return value == "true"
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"config file line {lineno}: cannot read value {value!r}") from None


# scheme "://" [userinfo "@"] host [":" port] path ["?" query]: an absolute URI has no fragment
_URI = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://"
    r"(?:(?P<userinfo>[^@/?#]*)@)?"
    r"(?P<host>\[[^\]/?#]*\]|[^:/?#]*)"
    r"(?::(?P<port>[^/?#]*))?"
    r"(?P<path>[^?#]*)"
    r"(?:\?(?P<query>[^#]*))?$"
)


def proxy_uri_parts(uri: str) -> tuple[str, str, int, str] | None:
    """PostgREST's reading of ``openapi-server-proxy-uri`` as (scheme, host, port, base path),
    or ``None`` when it is malformed (a start-up error, as in PostgREST): an absolute http(s)
    URI with a host, no user info, no query and a port (if any) in 1-65535. No port means 80
    for http, 443 for https; no path means ``/``."""
    match = _URI.match(uri)
    if match is None:
        return None
    scheme = match["scheme"].lower()
    if scheme not in ("http", "https") or match["userinfo"] is not None:
        return None
    if match["query"] is not None or not match["host"]:
        return None
    port_text = match["port"]
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            return None
        port = int(port_text)
    elif port_text == "":  # "host:" with an empty port
        return None
    else:
        port = 80 if scheme == "http" else 443
    return scheme, match["host"], port, match["path"] or "/"
