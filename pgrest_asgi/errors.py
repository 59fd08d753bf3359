"""The error model: every failure a client can see, with PostgREST's codes and texts.

Pure layers raise these; only ``app.py`` renders them (``body``, ``response_headers``). The
tree::

    PgRestError                      PGRSTX00       an internal error; code, status, message,
                                                    details, hint, headers
    ├── DbConnectionError            PGRST000-003   the pool / the server link
    ├── ApiRequestError              PGRST1xx       the URL, headers or body
    ├── SchemaCacheError             PGRST2xx       the name is not in the schema cache
    ├── JwtError                     PGRST3xx       authentication
    └── DatabaseError                SQLSTATE       an error raised by PostgreSQL,
                                                    mapped by db/errors.py

The class follows the code's range. Each code is built by a named constructor (a
classmethod of the class its range belongs to, e.g. ``SchemaCacheError.column_not_found``)
that holds PostgREST's texts and status; the rest of the package calls those and never
writes a ``PGRST`` code itself (``tests/unit/test_error_tree.py`` checks both).

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

    @classmethod
    def internal(cls) -> PgRestError:
        """PGRSTX00 (500): an exception the app did not expect (it is logged, not shown)."""
        return PgRestError("Internal server error", code="PGRSTX00", status=500)

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
    def unreachable(cls, details: str | None, retry_after: int | None = None) -> DbConnectionError:
        """PGRST000 (503): the database cannot be reached (``Retry-After`` during an outage)."""
        return cls(
            "Database connection error.",
            code="PGRST000",
            status=503,
            details=details,
            headers=[("Retry-After", str(retry_after))] if retry_after is not None else (),
        )

    @classmethod
    def client_error(cls, details: str | None) -> DbConnectionError:
        """PGRST001 (503): the link to the server broke with no error from the server."""
        return cls(
            "Database client error. Retrying the connection.",
            code="PGRST001",
            status=503,
            details=details,
        )

    @classmethod
    def schema_cache_not_loaded(cls, details: str | None = None) -> DbConnectionError:
        """PGRST002 (503): no schema cache yet, the query that loads it failed."""
        return cls(
            "Could not query the database for the schema cache. Retrying.",
            code="PGRST002",
            status=503,
            details=details,
        )

    @classmethod
    def pool_timeout(cls) -> DbConnectionError:
        """PGRST003 (504): no pool connection was free within ``db-pool-acquisition-timeout``."""
        return cls(
            "Timed out acquiring connection from connection pool.", code="PGRST003", status=504
        )

    @classmethod
    def pool_queue_full(cls) -> DbConnectionError:
        """PGRST003 (503, ``Retry-After: 1``): too many requests already wait for the pool."""
        return cls(
            "Too many requests are waiting for a database connection.",
            code="PGRST003",
            status=503,
            headers=[("Retry-After", "1")],
        )


class ApiRequestError(PgRestError):
    """PGRST1xx: the request itself is malformed or asks for something unsupported."""

    code = "PGRST100"
    status = 400

    # -- PGRST100: the URL or the request does not parse (and our own size guards) --------
    @classmethod
    def parse(cls, part: str, value: str, column: int, details: str) -> ApiRequestError:
        """PGRST100 (400): a query parameter does not parse, shaped like PostgREST's parser."""
        return cls(
            f'"failed to parse {part} ({value})" (line 1, column {column})',
            code="PGRST100",
            status=400,
            details=details,
        )

    @classmethod
    def unknown_operator(cls, name: str) -> ApiRequestError:
        """PGRST100 (400): a filter operator that no operator table defines."""
        return cls(
            f"Unknown filter operator: {name}",
            code="PGRST100",
            status=400,
            details="Add the operator to the grammar's operator table to use it",
        )

    @classmethod
    def invalid_query_string(cls) -> ApiRequestError:
        """PGRST100 (400): the query string is not UTF-8 once percent-decoded."""
        return cls(
            "Invalid query string",
            code="PGRST100",
            status=400,
            details="The query string is not valid UTF-8 after percent-decoding",
        )

    @classmethod
    def too_many_filters(cls, limit: int) -> ApiRequestError:
        """PGRST100 (400), our own guard: more filters than the configured limit."""
        return cls("Too many filters", code="PGRST100", status=400, details=f"The limit is {limit}")

    @classmethod
    def too_long(cls, what: str, limit: int) -> ApiRequestError:
        """PGRST100 (414 for the URL, else 413), our own guard: a request over a size limit."""
        return cls(
            f"The {what} is longer than the configured limit of {limit} bytes",
            code="PGRST100",
            status=414 if what == "URL" else 413,
        )

    @classmethod
    def headers_too_large(cls, limit: int) -> ApiRequestError:
        """PGRST100 (431), our own guard: the request headers exceed the configured size."""
        return cls(
            f"The request headers are larger than the configured limit of {limit} bytes",
            code="PGRST100",
            status=431,
        )

    @classmethod
    def too_many_headers(cls, limit: int) -> ApiRequestError:
        """PGRST100 (431), our own guard: more request headers than the configured count."""
        return cls(
            f"The request has more than the configured limit of {limit} headers",
            code="PGRST100",
            status=431,
        )

    @classmethod
    def client_disconnected(cls) -> ApiRequestError:
        """PGRST100 (400): the client went away before its body was read (never sent)."""
        return cls("Client disconnected", code="PGRST100", status=400)

    # -- PGRST101-128 ----------------------------------------------------------------------
    @classmethod
    def rpc_method(cls, method: str) -> ApiRequestError:
        """PGRST101 (405): a function called with a method other than GET, HEAD or POST."""
        return cls(f"Cannot use the {method} method on RPC", code="PGRST101", status=405)

    @classmethod
    def unacceptable_content_type(cls, media: str) -> ApiRequestError:
        """PGRST102 (400): a body whose Content-Type is none of those read."""
        return cls(f"Content-Type not acceptable: {media}", code="PGRST102", status=400)

    @classmethod
    def invalid_json(cls) -> ApiRequestError:
        """PGRST102 (400): a JSON body that is empty or does not parse."""
        return cls("Empty or invalid json", code="PGRST102", status=400)

    @classmethod
    def object_keys_differ(cls) -> ApiRequestError:
        """PGRST102 (400): a JSON array body whose objects do not all have the same keys."""
        return cls("All object keys must match", code="PGRST102", status=400)

    @classmethod
    def invalid_csv(cls, details: str) -> ApiRequestError:
        """PGRST102 (400): a CSV body that is not UTF-8 or does not parse."""
        return cls("Invalid CSV", code="PGRST102", status=400, details=details)

    @classmethod
    def csv_lines_differ(cls) -> ApiRequestError:
        """PGRST102 (400): a CSV body whose lines do not all have the header's width."""
        return cls("All lines must have same number of fields", code="PGRST102", status=400)

    @classmethod
    def invalid_form(cls, details: str) -> ApiRequestError:
        """PGRST102 (400): a urlencoded form body that is not percent-encoded ASCII."""
        return cls("Invalid form body", code="PGRST102", status=400, details=details)

    @classmethod
    def offset_past_end(cls, offset: int, total: int) -> ApiRequestError:
        """PGRST103 (416): the offset is past the last of ``total`` rows (with a count)."""
        return cls(
            "Requested range not satisfiable",
            code="PGRST103",
            status=416,
            details=f"An offset of {offset} was requested, but there are only {total} rows.",
            headers=[("Content-Range", f"*/{total}")],
        )

    @classmethod
    def invalid_range(cls, details: str) -> ApiRequestError:
        """PGRST103 (416): a ``Range``, ``limit`` or ``offset`` that cannot be satisfied."""
        return cls("Requested range not satisfiable", code="PGRST103", status=416, details=details)

    @classmethod
    def put_not_by_primary_key(cls) -> ApiRequestError:
        """PGRST105 (405): a PUT whose filters are not ``eq`` on exactly the primary key."""
        return cls(
            "Filters must include all and only primary key columns with 'eq' operators",
            code="PGRST105",
            status=405,
        )

    @classmethod
    def invalid_schema(cls, schema: str, exposed: Sequence[str]) -> ApiRequestError:
        """PGRST106 (406): a profile header names a schema that is not exposed."""
        return cls(
            f"Invalid schema: {schema}",
            code="PGRST106",
            status=406,
            hint="Only the following schemas are exposed: " + ", ".join(exposed),
        )

    @classmethod
    def not_acceptable(cls, media: Sequence[str]) -> ApiRequestError:
        """PGRST107 (406): no media type the ``Accept`` header lists can be produced."""
        return cls(
            "None of these media types are available: " + ", ".join(media),
            code="PGRST107",
            status=406,
        )

    @classmethod
    def not_embedded(cls, name: str) -> ApiRequestError:
        """PGRST108 (400): a filter, order or limit on a resource the select does not embed."""
        return cls(
            f"'{name}' is not an embedded resource in this request",
            code="PGRST108",
            status=400,
            hint=f"Verify that '{name}' is included in the 'select' query parameter.",
        )

    @classmethod
    def aliased_target_name(cls, relation: str, alias: str) -> ApiRequestError:
        """PGRST108 (400): a filter names an aliased embed by its relation, not its alias."""
        return cls(
            f"'{relation}' is not an embedded resource in this request",
            code="PGRST108",
            status=400,
            details="Target names are not allowed in filters if they have an alias",
            hint=f"Change '{relation}' to '{alias}' in query string filters, orders or limits.",
        )

    @classmethod
    def bad_response_headers(cls) -> ApiRequestError:
        """PGRST111 (500): the ``response.headers`` GUC set by the query is malformed."""
        return cls(
            "response.headers guc must be a JSON array composed of objects with a single key "
            "and a string value",
            code="PGRST111",
            status=500,
        )

    @classmethod
    def bad_response_status(cls) -> ApiRequestError:
        """PGRST112 (500): the ``response.status`` GUC set by the query is no status code."""
        return cls("response.status guc must be a valid status code", code="PGRST112", status=500)

    @classmethod
    def put_limit_offset(cls) -> ApiRequestError:
        """PGRST114 (400): a PUT with ``limit`` or ``offset``."""
        return cls(
            "limit/offset querystring parameters are not allowed for PUT",
            code="PGRST114",
            status=400,
        )

    @classmethod
    def put_key_mismatch(cls) -> ApiRequestError:
        """PGRST115 (400): a PUT body whose primary key is not the one the URL names."""
        return cls(
            "Payload values do not match URL in primary key column(s)",
            code="PGRST115",
            status=400,
        )

    @classmethod
    def singular(cls, rows: int) -> ApiRequestError:
        """PGRST116 (406): a singular response (``vnd.pgrst.object``) of not one row."""
        return cls(
            "Cannot coerce the result to a single JSON object",
            code="PGRST116",
            status=406,
            details=f"The result contains {rows} rows",
        )

    @classmethod
    def unsupported_method(cls, method: str) -> ApiRequestError:
        """PGRST117 (405): an HTTP method PostgREST does not serve."""
        return cls(f"Unsupported HTTP method: {method}", code="PGRST117", status=405)

    @classmethod
    def related_order_not_to_one(cls, table: str, relation: str) -> ApiRequestError:
        """PGRST118 (400): an order on an embed that is not many-to-one or one-to-one."""
        return cls(
            f"A related order on '{relation}' is not possible",
            code="PGRST118",
            status=400,
            details=f"'{table}' and '{relation}' do not form a many-to-one or one-to-one "
            "relationship",
        )

    @classmethod
    def bad_raise_pgrst(cls, details: str, hint: str) -> ApiRequestError:
        """PGRST121 (500): ``RAISE SQLSTATE 'PGRST'`` with a MESSAGE or DETAIL unread."""
        return cls(
            "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
            code="PGRST121",
            status=500,
            details=details,
            hint=hint,
        )

    @classmethod
    def invalid_preferences(cls, prefs: Sequence[str]) -> ApiRequestError:
        """PGRST122 (400): ``Prefer: handling=strict`` with preferences that are invalid."""
        return cls(
            "Invalid preferences given with handling=strict",
            code="PGRST122",
            status=400,
            details="Invalid preferences: " + ", ".join(prefs),
        )

    @classmethod
    def aggregates_disabled(cls) -> ApiRequestError:
        """PGRST123 (400): an aggregate in ``select`` while ``db-aggregates-enabled`` is off."""
        return cls("Use of aggregate functions is not allowed", code="PGRST123", status=400)

    @classmethod
    def max_affected_exceeded(cls, rows: int) -> ApiRequestError:
        """PGRST124 (400): ``Prefer: max-affected`` under ``handling=strict`` exceeded."""
        return cls(
            "Query result exceeds max-affected preference constraint",
            code="PGRST124",
            status=400,
            details=f"The query affects {rows} rows",
        )

    @classmethod
    def invalid_path(cls) -> ApiRequestError:
        """PGRST125 (404): a URL path of no shape PostgREST serves."""
        return cls("Invalid path specified in request URL", code="PGRST125", status=404)

    @classmethod
    def openapi_disabled(cls) -> ApiRequestError:
        """PGRST126 (404): ``GET /`` while ``openapi-mode`` is ``disabled``."""
        return cls("Root endpoint metadata is disabled", code="PGRST126", status=404)

    @classmethod
    def not_implemented(cls, details: str) -> ApiRequestError:
        """PGRST127 (400): a feature PostgREST (or this version of pgrest_asgi) lacks."""
        return cls("Feature not implemented", code="PGRST127", status=400, details=details)

    @classmethod
    def max_affected_not_setof(cls) -> ApiRequestError:
        """PGRST128 (400): strict ``max-affected`` on a function that returns no set."""
        return cls(
            "Function must return SETOF or TABLE when max-affected preference is used "
            "with handling=strict",
            code="PGRST128",
            status=400,
        )


class SchemaCacheError(PgRestError):
    """PGRST2xx: a table, function, column or relationship is not in the schema cache."""

    code = "PGRST205"
    status = 404

    @classmethod
    def relationship_not_found(
        cls, parent: str, name: str, schema: str, hint: str | None, suggestion: str | None
    ) -> SchemaCacheError:
        """PGRST200 (400): no foreign key relationship for an embed (``!hint`` included)."""
        using = f" using the hint '{hint}'" if hint else ""
        return cls(
            f"Could not find a relationship between '{parent}' and '{name}' in the schema cache",
            code="PGRST200",
            status=400,
            details=f"Searched for a foreign key relationship between '{parent}' and "
            f"'{name}'{using} in the schema '{schema}', but no matches were found.",
            hint=f"Perhaps you meant '{suggestion}' instead of '{name}'." if suggestion else None,
        )

    @classmethod
    def ambiguous_relationship(
        cls, parent: str, name: str, details: Sequence[dict[str, str]], options: Sequence[str]
    ) -> SchemaCacheError:
        """PGRST201 (300): an embed that more than one relationship could mean."""
        return cls(
            f"Could not embed because more than one relationship was found for '{parent}' "
            f"and '{name}'",
            code="PGRST201",
            status=300,
            details=list(details),
            hint=f"Try changing '{name}' to one of the following: {', '.join(options)}. Find "
            "the desired relationship in the 'details' key.",
        )

    @classmethod
    def function_not_found(
        cls,
        function: str,
        arguments: Sequence[str],
        *,
        raw_type: str | None,
        json_body: bool,
        hint: str | None,
    ) -> SchemaCacheError:
        """PGRST202 (404): no function of that name takes these arguments (or this raw body)."""
        listed = ", ".join(arguments)
        if raw_type is not None:
            message = f"Could not find the function {function} in the schema cache"
            searched = f"with a single unnamed {raw_type} parameter"
        elif arguments:
            message = f"Could not find the function {function}({listed}) in the schema cache"
            searched = f"with parameter{'s' if len(arguments) > 1 else ''} {listed}"
        else:
            message = (
                f"Could not find the function {function} without parameters in the schema cache"
            )
            searched = "without parameters"
        if json_body and raw_type is None:
            searched += " or with a single unnamed json/jsonb parameter"
        return cls(
            message,
            code="PGRST202",
            status=404,
            details=f"Searched for the function {function} {searched}, but no matches were "
            "found in the schema cache.",
            hint=hint,
        )

    @classmethod
    def ambiguous_function(cls, signatures: Sequence[str]) -> SchemaCacheError:
        """PGRST203 (300): more than one overload takes these arguments."""
        return cls(
            "Could not choose the best candidate function between: " + ", ".join(signatures),
            code="PGRST203",
            status=300,
            hint="Try renaming the parameters or the function itself in the database so "
            "function overloading can be resolved",
        )

    @classmethod
    def column_not_found(cls, column: str, table: str) -> SchemaCacheError:
        """PGRST204 (400): a body key (or a column a hook writes) that the table lacks."""
        return cls(
            f"Could not find the '{column}' column of '{table}' in the schema cache",
            code="PGRST204",
            status=400,
        )

    @classmethod
    def table_not_found(cls, schema: str, name: str, suggestion: str | None) -> SchemaCacheError:
        """PGRST205 (404): no table or view of that name (``suggestion``: a close one)."""
        return cls(
            f"Could not find the table '{schema}.{name}' in the schema cache",
            code="PGRST205",
            status=404,
            hint=f"Perhaps you meant the table '{schema}.{suggestion}'" if suggestion else None,
        )


class JwtError(PgRestError):
    """PGRST3xx: authentication failed. 401s carry a ``WWW-Authenticate`` challenge."""

    code = "PGRST301"
    status = 401

    @classmethod
    def no_secret(cls) -> JwtError:
        """PGRST300 (500): a token was sent but no JWT secret or key is configured."""
        return cls("Server lacks JWT secret", code="PGRST300", status=500)

    @classmethod
    def keys_unavailable(cls, reason: str | None, retry_after: int) -> JwtError:
        """PGRST300 (503): no key set could be fetched yet from the ``jwt-secret`` URL."""
        return cls(
            "Server cannot get the JWT keys",
            code="PGRST300",
            status=503,
            details=reason,
            headers=[("Retry-After", str(max(1, retry_after)))],
        )

    @classmethod
    def decode(cls, message: str, details: str | None = None) -> JwtError:
        """PGRST301 (401): the token does not decode or verify (malformed, signature, key)."""
        return cls._challenge(message, "PGRST301", details)

    @classmethod
    def anonymous_disabled(cls) -> JwtError:
        """PGRST302 (401): no token, and no ``db-anon-role`` to run the request as."""
        return cls(
            "Anonymous access is disabled",
            code="PGRST302",
            status=401,
            headers=[("WWW-Authenticate", "Bearer")],
        )

    @classmethod
    def claims(cls, message: str) -> JwtError:
        """PGRST303 (401): the token verifies but its claims are rejected (``exp``, ``aud``)."""
        return cls._challenge(message, "PGRST303", None)

    @classmethod
    def _challenge(cls, message: str, code: str, details: str | None) -> JwtError:
        challenge = f'Bearer error="invalid_token", error_description="{_quote(message)}"'
        return cls(
            message,
            code=code,
            status=401,
            details=details,
            headers=[("WWW-Authenticate", challenge)],
        )


class DatabaseError(PgRestError):
    """An error raised by PostgreSQL; ``code`` is its SQLSTATE (see ``db/errors.py``)."""

    code = "XX000"
    status = 500


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
