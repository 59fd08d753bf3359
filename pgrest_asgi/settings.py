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

import logging
import os
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from .config import BY_DB_NAME, BY_NAME, KEYS, Key, dump_value, read_config_file, suggest

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
    #: *extension*: when ``Authorization`` holds no Bearer token, take it from this cookie.
    jwt_cookie: str | None = None
    #: *extension*: take the token from this request header instead of ``Authorization``
    #: (its value is the token, with or without ``Bearer``).
    jwt_header: str | None = None
    #: *extension*: with ``jwt-secret`` an ``http(s)://`` JWKS or OpenID discovery URL, the
    #: seconds a fetched key set is kept at most (less when the server's ``Cache-Control``
    #: says so), and the fewest seconds between any two fetches (a token no cached key
    #: verifies causes one: that is how rotated keys are picked up).
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
    log_query: bool = False
    # -- in-database configuration -------------------------------------------------------
    db_config: bool = True
    db_pre_config: str | None = None
    # -- the server and the admin server (``pgrest-asgi serve``) ------------------------
    server_reuseport: bool = False
    server_unix_socket_mode: str = "660"
    #: ``None``: the same as ``server-host``.
    admin_server_host: str | None = None
    admin_server_port: NonNegative | None = None
    admin_server_unix_socket: str | None = None
    admin_server_unix_socket_mode: str = "660"
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
    #: The NOTIFY listener's own connection string (``None``: ``db-uri``). ``LISTEN`` needs a
    #: session of its own, which PgBouncer's transaction pooling does not give: behind such a
    #: pooler, point this at PostgreSQL itself (or at a session-pooling PgBouncer).
    db_listen_uri: str | None = None
    #: Read-only connection strings (streaming replicas); in a file or variable, URIs
    #: separated by spaces (a keyword conninfo holds spaces). ``GET`` and
    #: ``HEAD`` requests, and calls of functions that are not volatile, run on one of them;
    #: everything else, and the schema cache, on ``db-uri``.
    db_replica_uris: tuple[str, ...] = ()
    #: A replica further behind the primary than this many seconds of replay is skipped
    #: (its requests go to another replica, or to the primary) until it catches up.
    db_replica_max_lag: Seconds = 10.0
    #: Seconds a client that has just written reads from the primary, so that it reads its
    #: own write (a cookie set on the write's response says until when; 0: never).
    db_replica_read_your_writes: Annotated[float, msgspec.Meta(ge=0)] = 5.0

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
        for key, mode in (
            ("server-unix-socket-mode", self.server_unix_socket_mode),
            ("admin-server-unix-socket-mode", self.admin_server_unix_socket_mode),
        ):
            if re.fullmatch(r"[0-7]{3,4}", mode) is None:
                raise ConfigError(f"{key}: {mode!r} is not an octal file mode such as 660")
            if not 0o600 <= int(mode, 8) <= 0o777:
                raise ConfigError(f"{key}: {mode!r} must be between 600 and 777")
        admin_port = self.admin_server_port
        if admin_port is not None and admin_port == self.server_port and admin_port != 0:
            raise ConfigError(
                f"admin-server-port: {self.admin_server_port} is also server-port; "
                "give the admin server a port of its own"
            )
        if self.jwt_aud is not None and ":" in self.jwt_aud and _URI.match(self.jwt_aud) is None:
            raise ConfigError(f"jwt-aud: {self.jwt_aud!r} should be a string or a valid URI")
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
            # A string is read as PostgREST reads db-schemas: comma separated.
            values["db_schemas"] = (
                tuple(p.strip() for p in schemas.split(",") if p.strip())
                if isinstance(schemas, str)
                else tuple(schemas)
            )
        if settings is None:
            return cls.from_mapping(values)
        return msgspec.structs.replace(settings, **values) if values else settings

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, origin: str = "") -> Settings:
        """Build from ``{key: value}`` with PostgREST or Python key names; text is read as
        PostgREST reads it. ``origin`` prefixes error messages (e.g. the file's name)."""
        layers = _Layers()
        layers.add(values, lambda key: origin, strict=True)
        return layers.settings(cls)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, prefix: str = "PGRST_", **overrides: Any
    ) -> Settings:
        """Read ``PGRST_*`` variables (``PGRST_DB_URI``, ``PGRST_APP_SETTINGS_X`` …); a
        variable that names no setting is logged as a warning. ``overrides`` win."""
        return cls.load(
            environ=os.environ if environ is None else environ, prefix=prefix, overrides=overrides
        )

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Read a PostgREST config file; ``PGRST_*`` variables in ``environ`` win over it."""
        return cls.load(path, environ=environ)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        in_database: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
        prefix: str = "PGRST_",
    ) -> Settings:
        """PostgREST's layering: the config file, then ``PGRST_*`` variables, then the
        in-database settings (``{"db_max_rows": "5"}``, as read from ``pgrst.*`` role
        settings), each overriding the one before; ``overrides`` last. Errors name the file
        and line, the variable or the role setting."""
        layers = _Layers()
        if path is not None:
            try:
                parsed = read_config_file(path)
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                raise ConfigError(
                    f"cannot read the config file {os.fspath(path)}: {reason}"
                ) from None
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            layers.add(parsed.values, parsed.where, strict=True)
        if environ is not None:
            layers.add_env(environ, prefix)
        if in_database:
            layers.add_db(in_database)
        if overrides:
            layers.add(overrides, lambda key: "", strict=True)
        return layers.settings(cls)

    def overlaid(self, in_database: Mapping[str, str]) -> Settings:
        """These settings with in-database values (``{"db_max_rows": "5"}``) over them, as
        PostgREST lays them over the file and the environment."""
        layers = _Layers()
        layers.values = {f: getattr(self, f) for f in self.__struct_fields__ if f != "app_settings"}
        layers.app_settings = dict(self.app_settings)
        layers.add_db(in_database)
        return layers.settings(type(self))

    def dump(self) -> str:
        """Every setting in PostgREST's config-file syntax, one ``key = value`` line each, in
        key order; ``Settings.from_file`` reads it back as these settings."""
        lines = []
        for name in sorted(self.__struct_fields__):
            if name == "app_settings":
                continue
            value = getattr(self, name)
            if name == "db_replica_uris":
                value = " ".join(value)
            lines.append(f"{name.replace('_', '-')} = {dump_value(value)}")
        for key, value in sorted(self.app_settings.items()):
            lines.append(f"app.settings.{key} = {dump_value(value)}")
        return "\n".join(lines) + "\n"

    @property
    def tx_allow_override(self) -> bool:
        return self.db_tx_end.endswith("allow-override")

    @property
    def tx_rollback_default(self) -> bool:
        return self.db_tx_end.startswith("rollback")


_logger = logging.getLogger("pgrest_asgi.config")
_FIELDS: frozenset[str] = frozenset(Settings.__struct_fields__)
_DEFAULTS = Settings()
_FIELD_TYPES: dict[str, Any] = {f: type(getattr(_DEFAULTS, f)) for f in _FIELDS}
_OPTIONAL = {f for f in _FIELDS if getattr(_DEFAULTS, f) is None}
_INT_FIELDS = {f for f, t in _FIELD_TYPES.items() if t is int} | {
    "db_max_rows",
    "admin_server_port",
}
_FLOAT_FIELDS = {f for f, t in _FIELD_TYPES.items() if t is float}
_LIST_FIELDS = {
    "db_replica_uris",
    "db_schemas",
    "db_extra_search_path",
    "db_hoisted_tx_settings",
    "server_cors_allowed_origins",
}
#: Fields set by PostgREST keys → the key's entry; the other fields are our extensions.
_KEY_OF_FIELD: dict[str, Key] = {k.field: k for k in KEYS if k.field is not None}
#: Every name a setting may be given by → its field (``None``: a retired PostgREST key):
#: PostgREST's keys and aliases, with dashes or underscores, and each field's own name.
_NAMES: dict[str, str | None] = {}
for _name, _key in BY_NAME.items():
    _NAMES[_name] = _NAMES[_name.replace("-", "_")] = _key.field
for _field in sorted(_FIELDS - {"app_settings"}):
    _NAMES.setdefault(_field, _field)
    _NAMES.setdefault(_field.replace("_", "-"), _field)
#: Settings a configuration reload cannot change in a running app: the pool is open, the
#: server is listening. A reload keeps their running values and says so.
RESTART_FIELDS: frozenset[str] = frozenset(
    {k.field for k in KEYS if k.field is not None and not k.reloadable}
    | {
        "db_pool_min",
        "db_pool_max_waiting",
        "db_listen_uri",
        "db_replica_uris",
        "server_max_header_size",
        "server_max_header_count",
        "server_header_timeout",
        "server_body_timeout",
        "server_send_timeout",
        "server_max_unsent_size",
    }
)
_APP_SETTINGS = "app.settings."


def key_name(field: str) -> str:
    """The name a person writes for a field: PostgREST's key, or ours with dashes."""
    key = _KEY_OF_FIELD.get(field)
    return key.name if key is not None else field.replace("_", "-")


class _Layers:
    """Raw values by field, later sources overriding earlier ones, each with where it came
    from (for error messages)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.origins: dict[str, str] = {}
        self.app_settings: dict[str, str] = {}

    def add(
        self,
        values: Mapping[str, Any],
        where: Callable[[str], str],
        *,
        strict: bool,
        label: Callable[[str], str] | None = None,
    ) -> None:
        """One source's values. ``where(key)`` locates a key (``"app.conf line 3: "``) for
        messages; ``label(key)`` is what error messages about its value start with (default:
        the location and the key). Unknown keys are errors when ``strict``, else skipped."""
        # Within one source a key's own name wins over its alias (PostgREST's optWithAlias).
        chosen: dict[str, str] = {}
        for raw_key, value in values.items():
            key = raw_key.strip()
            if key.startswith(_APP_SETTINGS):
                self.app_settings[key[len(_APP_SETTINGS) :]] = str(value)
                continue
            if key == "app_settings" and isinstance(value, Mapping):
                self.app_settings.update({str(k): str(v) for k, v in value.items()})
                continue
            if key not in _NAMES:
                if strict:
                    raise ConfigError(
                        f"{where(raw_key)}unknown key {key!r}{suggest(key, _KNOWN_KEYS)}"
                    )
                continue
            field = _NAMES[key]
            if field is None:
                _retired(key, where(raw_key))
                continue
            if field not in chosen or key in (key_name(field), field):
                chosen[field] = raw_key
        for field, raw_key in chosen.items():
            self.values[field] = values[raw_key]
            self.origins[field] = (
                label(raw_key) if label is not None else f"{where(raw_key)}{raw_key.strip()}: "
            )

    def add_env(self, environ: Mapping[str, str], prefix: str) -> None:
        """``PGRST_*`` variables; one that names no setting is a warning, not an error."""
        values: dict[str, str] = {}
        variables: dict[str, str] = {}
        for variable, value in sorted(environ.items()):
            if not variable.startswith(prefix):
                continue
            name = variable[len(prefix) :].lower()
            if name.startswith("app_settings_"):
                self.app_settings[name[len("app_settings_") :]] = value
                continue
            if name not in _NAMES:
                known = [prefix + n.upper() for n in _NAMES if "-" not in n]
                _logger.warning(
                    "%s is not a setting and is ignored%s", variable, suggest(variable, known)
                )
                continue
            values[name] = value
            variables[name] = variable
        self.add(
            values,
            lambda key: f"{variables[key]}: ",
            strict=False,
            label=lambda key: f"{variables[key]}: ",
        )

    def add_db(self, settings: Mapping[str, str]) -> None:
        """In-database settings by name without ``pgrst.`` (``db_max_rows``); only the keys
        PostgREST reads from the database are taken."""
        values = {name: value for name, value in settings.items() if name in BY_DB_NAME}

        def where(name: str) -> str:
            return f"pgrst.{name} (in-database): "

        self.add(values, where, strict=False, label=where)

    def settings(self, cls: type[Settings]) -> Settings:
        data: dict[str, Any] = {}
        for field, value in self.values.items():
            origin = self.origins.get(field, f"{key_name(field)}: ")
            coerced = _coerce(field, value, origin)
            if coerced is not _UNSET:
                data[field] = coerced
        if self.app_settings:
            data["app_settings"] = {**data.get("app_settings", {}), **self.app_settings}
        for name in ("db_uri", "db_listen_uri", "jwt_secret"):
            value = data.get(name)
            if isinstance(value, str) and value.startswith("@"):
                data[name] = _read_value_file(value[1:], self.origins.get(name, f"{name}: "))
        try:
            return msgspec.convert(data, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise ConfigError(_validation_message(str(exc), self.values, self.origins)) from None


_UNSET: Any = object()
_KNOWN_KEYS = sorted({*BY_NAME, *(f.replace("_", "-") for f in _FIELDS)} - {"app-settings"})


def _retired(key: str, where: str) -> None:
    entry = BY_NAME.get(key) or BY_NAME[key.replace("_", "-")]
    _logger.warning(
        "%s%s is no longer read by PostgREST and has no effect: %s", where, entry.name, entry.note
    )


def _read_value_file(path: str, origin: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{origin}cannot read {path}: {exc.strerror or exc}") from None


_TRUE_WORDS = frozenset({"true", "yes", "on"})
_FALSE_WORDS = frozenset({"false", "no", "off"})


def _coerce(field: str, value: Any, origin: str) -> Any:
    """Text in the forms PostgREST accepts → the field's type. An empty text is an unset
    key (the default applies), as in PostgREST, except where an empty list means something."""
    if not isinstance(value, str):
        if field in _LIST_FIELDS and isinstance(value, (list, tuple)):
            return tuple(value)
        if field == "log_query" and isinstance(value, bool):
            return value
        return value
    text = value.strip()
    if field == "db_extra_search_path":
        return tuple(p.strip() for p in text.split(",") if p.strip())
    if field == "db_replica_uris":
        # Spaces separate them: a libpq URI may itself hold commas (several hosts), and a
        # keyword conninfo (host=… port=…) holds spaces, so the text form takes URIs only.
        uris = tuple(text.split())
        for uri in uris:
            if not uri.startswith(("postgresql://", "postgres://")):
                raise ConfigError(
                    f"{origin}{uri!r} is not a connection URI: write each replica as "
                    "postgresql://user@host:port/dbname (a unix socket: "
                    "postgresql://user@/dbname?host=/run/postgresql), separated by spaces"
                )
        return uris
    if text == "":
        return _UNSET
    if field in _LIST_FIELDS:
        return tuple(p.strip() for p in text.split(",") if p.strip())
    kind = _FIELD_TYPES.get(field)
    if kind is bool or field == "log_query":
        return _boolean(field, text, origin)
    if field in _INT_FIELDS:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{origin}expected a whole number, got {value!r}") from None
    if field in _FLOAT_FIELDS:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{origin}expected a number of seconds, got {value!r}") from None
    return value


def _boolean(field: str, text: str, origin: str) -> bool:
    """PostgREST's reading: any case of true/false, or a number (> 0 is true)."""
    word = "".join(ch for ch in text if ch.isalpha()).lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    if field == "log_query" and word in ("mainquery", "disabled"):  # PostgREST 12's values
        return word == "mainquery"
    try:
        return int(text) > 0
    except ValueError:
        raise ConfigError(f"{origin}expected true or false, got {text!r}") from None


#: The allowed values of each field typed as a ``Literal``.
_CHOICES: dict[str, tuple[str, ...]] = {
    name: typing.get_args(hint)
    for name, hint in typing.get_type_hints(Settings).items()
    if typing.get_origin(hint) is Literal
}
_AT = re.compile(r"^(?P<problem>.*?)(?: - at `\$\.(?P<field>\w+)[^`]*`)?$")
_BOUND = re.compile(r"^Expected `(?P<kind>int|float)` (?P<bound>[<>]=? ?-?[0-9.]+)$")


def _validation_message(message: str, data: Mapping[str, Any], origins: Mapping[str, str]) -> str:
    """msgspec's ``Expected `int` >= 1 - at `$.db_pool``` → ``db-pool: expected a whole
    number >= 1, got 0``, prefixed with where the value came from."""
    match = _AT.match(message)
    if match is None or match["field"] is None:
        return message
    field = match["field"]
    origin = origins.get(field, f"{key_name(field)}: ")
    got = f", got {data[field]!r}" if field in data else ""
    problem = match["problem"]
    bound = _BOUND.match(problem)
    if bound is not None:
        kind = "a whole number" if bound["kind"] == "int" else "a number"
        limit = bound["bound"].removesuffix(".0")
        return f"{origin}expected {kind} {limit}{got}"
    if problem.startswith("Invalid enum value"):
        choices = ", ".join(_CHOICES.get(field, ()))
        return f"{origin}expected one of {choices}{got}"
    if problem.startswith("Object contains unknown field"):
        return f"unknown setting {field!r}{suggest(field, sorted(_FIELDS))}"
    problem = problem.replace("`", "")
    return f"{origin}{problem[:1].lower()}{problem[1:]}{got}"


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
