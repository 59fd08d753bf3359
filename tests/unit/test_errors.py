"""The error model: bodies byte-exact, SQLSTATE → HTTP as PostgREST maps it."""

from __future__ import annotations

import pytest

from pgrest_asgi.db.errors import database_error, sqlstate_status
from pgrest_asgi.errors import ApiRequestError, DbConnectionError, JwtError, SchemaCacheError


def test_body_shape_and_headers() -> None:
    err = SchemaCacheError.table_not_found("api", "itemz", "items")
    body = err.body()
    assert body == (
        b'{"code":"PGRST205","details":null,"hint":"Perhaps you meant the table \'api.items\'",'
        b'"message":"Could not find the table \'api.itemz\' in the schema cache"}'
    )
    assert err.response_headers(len(body)) == [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"proxy-status", b"PostgREST; error=PGRST205"),
    ]
    assert err.body(verbose=False) == (
        b'{"code":"PGRST205",'
        b'"message":"Could not find the table \'api.itemz\' in the schema cache"}'
    )


def test_connection_errors() -> None:
    assert (DbConnectionError.pool_timeout().status, DbConnectionError.pool_timeout().code) == (
        504,
        "PGRST003",
    )
    e = DbConnectionError.schema_cache_not_loaded()
    assert (e.status, e.code, e.message) == (
        503,
        "PGRST002",
        "Could not query the database for the schema cache. Retrying.",
    )

    e = DbConnectionError.unreachable("no route", retry_after=7)
    assert (e.status, e.code, e.details, e.headers) == (
        503,
        "PGRST000",
        "no route",
        [("Retry-After", "7")],
    )
    assert DbConnectionError.unreachable("no route").headers == []
    e = DbConnectionError.pool_queue_full()
    assert (e.status, e.code, e.headers) == (503, "PGRST003", [("Retry-After", "1")])


def test_schema_cache_errors_keep_postgrest_statuses() -> None:
    """PGRST200-204 moved from ApiRequestError to SchemaCacheError (404 by default): each
    still answers PostgREST's status."""
    cases = [
        (SchemaCacheError.relationship_not_found("items", "tags", "api", None, None), 400),
        (SchemaCacheError.ambiguous_relationship("items", "tags", [], ["'tags!fk'"]), 300),
        (
            SchemaCacheError.function_not_found(
                "api.f", [], raw_type=None, json_body=False, hint=None
            ),
            404,
        ),
        (SchemaCacheError.ambiguous_function(["api.f(a => integer)"]), 300),
        (SchemaCacheError.column_not_found("x", "items"), 400),
        (SchemaCacheError.table_not_found("api", "x", None), 404),
    ]
    assert [(e.code, e.status) for e, _ in cases] == [
        (f"PGRST20{i}", status) for i, (_, status) in enumerate(cases)
    ]


def test_relationship_not_found_body() -> None:
    err = SchemaCacheError.relationship_not_found("items", "tagz", "api", "fk_x", "tags")
    assert err.body() == (
        b'{"code":"PGRST200","details":"Searched for a foreign key relationship between '
        b"'items' and 'tagz' using the hint 'fk_x' in the schema 'api', but no matches were "
        b'found.","hint":"Perhaps you meant \'tags\' instead of \'tagz\'.",'
        b"\"message\":\"Could not find a relationship between 'items' and 'tagz' in the "
        b'schema cache"}'
    )


def test_function_not_found_messages() -> None:
    def found(args: list[str], raw_type: str | None, json_body: bool) -> tuple[str, str]:
        err = SchemaCacheError.function_not_found(
            "api.f", args, raw_type=raw_type, json_body=json_body, hint=None
        )
        return err.message, err.details

    assert found(["a", "b"], None, True) == (
        "Could not find the function api.f(a, b) in the schema cache",
        "Searched for the function api.f with parameters a, b or with a single unnamed "
        "json/jsonb parameter, but no matches were found in the schema cache.",
    )
    assert found(["a"], None, False) == (
        "Could not find the function api.f(a) in the schema cache",
        "Searched for the function api.f with parameter a, but no matches were found in the "
        "schema cache.",
    )
    assert found([], None, False) == (
        "Could not find the function api.f without parameters in the schema cache",
        "Searched for the function api.f without parameters, but no matches were found in the "
        "schema cache.",
    )
    assert found([], "bytea", True) == (
        "Could not find the function api.f in the schema cache",
        "Searched for the function api.f with a single unnamed bytea parameter, but no matches "
        "were found in the schema cache.",
    )


def test_jwt_challenge_header() -> None:
    e = JwtError.decode("Expected 3 parts in JWT; got 2")
    assert e.headers == [
        (
            "WWW-Authenticate",
            'Bearer error="invalid_token", error_description="Expected 3 parts in JWT; got 2"',
        )
    ]
    assert JwtError.anonymous_disabled().headers == [("WWW-Authenticate", "Bearer")]


@pytest.mark.parametrize(
    ("sqlstate", "message", "anonymous", "status"),
    [
        ("08006", "", False, 503),
        ("09000", "", False, 500),
        ("0L000", "", False, 403),
        ("0P000", "", False, 403),
        ("23503", "", False, 409),
        ("23505", "", False, 409),
        ("25006", "", False, 405),
        ("21000", "UPDATE requires a WHERE clause", False, 400),
        ("21000", "more than one row", False, 500),
        ("22023", 'role "x" does not exist', False, 401),
        ("22023", "invalid value", False, 400),
        ("25P02", "", False, 500),
        ("28000", "", False, 403),
        ("2D000", "", False, 500),
        ("38000", "", False, 500),
        ("39000", "", False, 500),
        ("3B000", "", False, 500),
        ("40001", "", False, 500),
        ("53400", "", False, 500),
        ("53100", "", False, 503),
        ("54001", "", False, 500),
        ("55P03", "", False, 500),
        ("57P01", "", False, 503),
        ("57014", "", False, 500),
        ("58000", "", False, 500),
        ("F0000", "", False, 500),
        ("HV000", "", False, 500),
        ("P0001", "", False, 400),
        ("P0002", "", False, 500),
        ("XX000", "", False, 500),
        ("42883", "function xmlagg(integer) does not exist", False, 406),
        ("42883", "function f() does not exist", False, 404),
        ("42P01", "", False, 404),
        ("42P17", "", False, 500),
        ("42501", "", True, 401),
        ("42501", "", False, 403),
        ("PT402", "", False, 402),
        ("PTabc", "", False, 500),
        ("22P02", "", False, 400),
        ("42703", "", False, 400),
    ],
)
def test_sqlstate_map(sqlstate: str, message: str, anonymous: bool, status: int) -> None:
    assert sqlstate_status(sqlstate, message, anonymous=anonymous) == status


def test_anonymous_permission_denied_challenges() -> None:
    err = database_error("42501", "permission denied for table secrets", None, None, anonymous=True)
    assert (err.status, err.headers) == (401, [("WWW-Authenticate", "Bearer")])


def test_raise_pgrst_full_control() -> None:
    err = database_error(
        "PGRST",
        '{"code":"123","message":"Custom","details":"D","hint":"H"}',
        '{"status":420,"status_text":"Calm","headers":{"X-A":"1"}}',
        None,
        anonymous=False,
    )
    assert (err.status, err.code, err.message, err.details, err.hint, err.headers, err.reason) == (
        420,
        "123",
        "Custom",
        "D",
        "H",
        [("X-A", "1")],
        "Calm",
    )


def test_raise_pgrst_bad_json() -> None:
    err = database_error("PGRST", "not json", None, None, anonymous=False)
    assert (err.status, err.code, err.details) == (
        500,
        "PGRST121",
        "Invalid JSON value for MESSAGE: 'not json'",
    )
    assert isinstance(err, ApiRequestError)
