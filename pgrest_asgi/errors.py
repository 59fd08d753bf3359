"""The error model: every failure a client can see, with PostgREST's codes and texts.

Pure layers raise these; only ``app.py`` renders them (``PgRestError.render``). The tree::

    PgRestError                      code, status, message, details, hint, headers
    ├── DbConnectionError              PGRST000-003   the pool / the server link
    ├── ApiRequestError              PGRST1xx       the URL, headers or body
    ├── SchemaCacheError             PGRST2xx       the name is not in the schema cache
    ├── JwtError                     PGRST3xx       authentication
    └── DatabaseError                SQLSTATE       an error raised by PostgreSQL,
                                                    mapped by db/errors.py

Bodies are ``{"code","details","hint","message"}`` (key order as PostgREST's JSON encoder
emits them), or ``{"code","message"}`` when ``client_error_verbosity`` is ``minimal``.
Every error response carries ``Proxy-Status: PostgREST; error=<code>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

__all__ = [
    "ApiRequestError",
    "DatabaseError",
    "DbConnectionError",
    "JwtError",
    "PgRestError",
    "SchemaCacheError",
]

_encoder = msgspec.json.Encoder()


class PgRestError(Exception):
    """An error answered to the client as PostgREST's JSON error body."""

    code: str = "PGRSTX00"
    status: int = 500

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: Any = None,
        hint: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details
        self.hint = hint
        self.headers: list[tuple[str, str]] = list(headers)
        #: HTTP reason phrase override (``RAISE SQLSTATE 'PGRST'`` with ``status_text``).
        self.reason = reason

    def body(self, *, verbose: bool = True) -> bytes:
        if not verbose:
            return _encoder.encode({"code": self.code, "message": self.message})
        return _encoder.encode(
            {"code": self.code, "details": self.details, "hint": self.hint, "message": self.message}
        )

    def response_headers(self, body_length: int) -> list[tuple[bytes, bytes]]:
        out = [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"content-length", str(body_length).encode()),
            (b"proxy-status", f"PostgREST; error={self.code}".encode()),
        ]
        out.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.status}, {self.message!r})"


class DbConnectionError(PgRestError):
    """PGRST000-003: the database could not be reached or no connection was free."""

    code = "PGRST000"
    status = 503

    @classmethod
    def unreachable(cls, details: str | None) -> DbConnectionError:
        return cls("Database connection error.", code="PGRST000", details=details)

    @classmethod
    def client_error(cls, details: str | None) -> DbConnectionError:
        return cls(
            "Database client error. Retrying the connection.", code="PGRST001", details=details
        )

    @classmethod
    def schema_cache_not_loaded(cls, details: str | None = None) -> DbConnectionError:
        return cls(
            "Could not query the database for the schema cache. Retrying.",
            code="PGRST002",
            details=details,
        )

    @classmethod
    def pool_timeout(cls) -> DbConnectionError:
        return cls(
            "Timed out acquiring connection from connection pool.", code="PGRST003", status=504
        )


class ApiRequestError(PgRestError):
    """PGRST1xx: the request itself is malformed or asks for something unsupported."""

    code = "PGRST100"
    status = 400

    @classmethod
    def parse(cls, part: str, value: str, column: int, details: str) -> ApiRequestError:
        """PGRST100, shaped like PostgREST's parser messages."""
        return cls(f'"failed to parse {part} ({value})" (line 1, column {column})', details=details)

    @classmethod
    def unknown_operator(cls, name: str) -> ApiRequestError:
        """PGRST100 for a filter operator that no operator table defines."""
        return cls(
            f"Unknown filter operator: {name}",
            details="Add the operator to the grammar's operator table to use it",
        )

    @classmethod
    def unsupported_method(cls, method: str) -> ApiRequestError:
        return cls(f"Unsupported HTTP method: {method}", code="PGRST117", status=405)

    @classmethod
    def rpc_method(cls, method: str) -> ApiRequestError:
        return cls(f"Cannot use the {method} method on RPC", code="PGRST101", status=405)

    @classmethod
    def invalid_path(cls) -> ApiRequestError:
        return cls("Invalid path specified in request URL", code="PGRST125", status=404)

    @classmethod
    def invalid_schema(cls, schema: str, exposed: Sequence[str]) -> ApiRequestError:
        return cls(
            f"Invalid schema: {schema}",
            code="PGRST106",
            status=406,
            hint="Only the following schemas are exposed: " + ", ".join(exposed),
        )

    @classmethod
    def not_acceptable(cls, media: Sequence[str]) -> ApiRequestError:
        return cls(
            "None of these media types are available: " + ", ".join(media),
            code="PGRST107",
            status=406,
        )

    @classmethod
    def invalid_range(cls, details: str) -> ApiRequestError:
        return cls("Requested range not satisfiable", code="PGRST103", status=416, details=details)

    @classmethod
    def singular(cls, rows: int) -> ApiRequestError:
        return cls(
            "Cannot coerce the result to a single JSON object",
            code="PGRST116",
            status=406,
            details=f"The result contains {rows} rows",
        )

    @classmethod
    def invalid_preferences(cls, prefs: Sequence[str]) -> ApiRequestError:
        return cls(
            "Invalid preferences given with handling=strict",
            code="PGRST122",
            details="Invalid preferences: " + ", ".join(prefs),
        )

    @classmethod
    def bad_response_headers(cls) -> ApiRequestError:
        return cls(
            "response.headers guc must be a JSON array composed of objects with a single key "
            "and a string value",
            code="PGRST111",
            status=500,
        )

    @classmethod
    def bad_response_status(cls) -> ApiRequestError:
        return cls("response.status guc must be a valid status code", code="PGRST112", status=500)

    @classmethod
    def bad_raise_pgrst(cls, details: str, hint: str) -> ApiRequestError:
        return cls(
            "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
            code="PGRST121",
            status=500,
            details=details,
            hint=hint,
        )

    @classmethod
    def too_long(cls, what: str, limit: int) -> ApiRequestError:
        """Our own guard (not in PostgREST): a request larger than a configured limit."""
        return cls(
            f"The {what} is longer than the configured limit of {limit} bytes",
            code="PGRST100",
            status=414 if what == "URL" else 413,
        )


class SchemaCacheError(PgRestError):
    """PGRST2xx: a table, function or relationship is not in the schema cache."""

    code = "PGRST205"
    status = 404

    @classmethod
    def table_not_found(cls, schema: str, name: str, suggestion: str | None) -> SchemaCacheError:
        return cls(
            f"Could not find the table '{schema}.{name}' in the schema cache",
            hint=f"Perhaps you meant the table '{schema}.{suggestion}'" if suggestion else None,
        )


class JwtError(PgRestError):
    """PGRST3xx: authentication failed. 401s carry a ``WWW-Authenticate`` challenge."""

    code = "PGRST301"
    status = 401

    @classmethod
    def decode(cls, message: str, details: str | None = None) -> JwtError:
        return cls._challenge(message, "PGRST301", details)

    @classmethod
    def claims(cls, message: str) -> JwtError:
        return cls._challenge(message, "PGRST303", None)

    @classmethod
    def anonymous_disabled(cls) -> JwtError:
        return cls(
            "Anonymous access is disabled",
            code="PGRST302",
            headers=[("WWW-Authenticate", "Bearer")],
        )

    @classmethod
    def no_secret(cls) -> JwtError:
        return cls("Server lacks JWT secret", code="PGRST300", status=500)

    @classmethod
    def _challenge(cls, message: str, code: str, details: str | None) -> JwtError:
        challenge = f'Bearer error="invalid_token", error_description="{_quote(message)}"'
        return cls(message, code=code, details=details, headers=[("WWW-Authenticate", challenge)])


class DatabaseError(PgRestError):
    """An error raised by PostgreSQL; ``code`` is its SQLSTATE (see ``db/errors.py``)."""

    code = "XX000"
    status = 500


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
