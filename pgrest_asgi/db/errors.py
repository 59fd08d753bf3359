"""PostgreSQL errors → PostgREST responses. Pure: works on SQLSTATE and message texts.

``sqlstate_status`` follows PostgREST's ``mapSQLtoHTTP`` rule by rule, in its order.
``database_error`` also handles ``RAISE SQLSTATE 'PTxyz'`` (custom status) and
``RAISE SQLSTATE 'PGRST'`` (JSON message + detail giving full control of the response).
"""

from __future__ import annotations

import re

import msgspec

from ..errors import ApiRequestError, DatabaseError, PgRestError

__all__ = ["database_error", "sqlstate_status"]

_EXACT = {
    "23503": 409,
    "23505": 409,
    "25006": 405,
    "53400": 500,
    "57P01": 503,
    "42P01": 404,
    "42P17": 500,
    "P0001": 400,
}
_PREFIX2 = {
    "08": 503,
    "09": 500,
    "0L": 403,
    "0P": 403,
    "25": 500,
    "28": 403,
    "2D": 500,
    "38": 500,
    "39": 500,
    "3B": 500,
    "40": 500,
    "53": 503,
    "54": 500,
    "55": 500,
    "57": 500,
    "58": 500,
    "F0": 500,
    "HV": 500,
    "P0": 500,
    "XX": 500,
}
_ROLE_MISSING = re.compile(r'^role ".*" does not exist$', re.DOTALL)


def sqlstate_status(sqlstate: str, message: str, *, anonymous: bool) -> int:
    """The HTTP status PostgREST answers for a PostgreSQL error."""
    if sqlstate in _EXACT:
        return _EXACT[sqlstate]
    if sqlstate == "21000":
        return 400 if message.endswith("requires a WHERE clause") else 500
    if sqlstate == "22023":
        return 401 if _ROLE_MISSING.match(message) else 400
    if sqlstate == "42883":
        return 406 if message.startswith("function xmlagg(") else 404
    if sqlstate == "42501":
        return 401 if anonymous else 403
    if sqlstate.startswith("PT") and len(sqlstate) == 5:
        digits = sqlstate[2:]
        return int(digits) if digits.isdigit() else 500
    return _PREFIX2.get(sqlstate[:2], 400)


def database_error(
    sqlstate: str | None,
    message: str,
    detail: str | None,
    hint: str | None,
    *,
    anonymous: bool,
) -> PgRestError:
    """Build the client-facing error for a failed statement."""
    if sqlstate is None:
        # A driver-side failure with no server error: the link is broken.
        from ..errors import DbConnectionError

        return DbConnectionError.client_error(message)
    if sqlstate == "PGRST":
        return _raise_pgrst(message, detail)
    status = sqlstate_status(sqlstate, message, anonymous=anonymous)
    headers: list[tuple[str, str]] = []
    if status == 401:
        headers.append(("WWW-Authenticate", "Bearer"))
    if status == 503:
        headers.append(("Retry-After", "1"))
    return DatabaseError(
        message, code=sqlstate, status=status, details=detail, hint=hint, headers=headers
    )


class _PgrstMessage(msgspec.Struct, forbid_unknown_fields=False):
    code: str
    message: str
    details: str | None = None
    hint: str | None = None


class _PgrstDetail(msgspec.Struct, forbid_unknown_fields=False):
    status: int
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    status_text: str | None = None


def _raise_pgrst(message: str, detail: str | None) -> PgRestError:
    hint = (
        "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional "
        "keys: 'details', 'hint'."
    )
    try:
        msg = msgspec.json.decode(message, type=_PgrstMessage)
    except msgspec.DecodeError:
        return ApiRequestError.bad_raise_pgrst(f"Invalid JSON value for MESSAGE: '{message}'", hint)
    detail_hint = (
        "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional "
        "key: 'status_text'."
    )
    if detail is None:
        return ApiRequestError.bad_raise_pgrst(
            "DETAIL is missing in the RAISE statement", detail_hint
        )
    try:
        det = msgspec.json.decode(detail, type=_PgrstDetail)
    except msgspec.DecodeError:
        return ApiRequestError.bad_raise_pgrst(
            f"Invalid JSON value for DETAIL: '{detail}'", detail_hint
        )
    if not 100 <= det.status <= 599:
        return ApiRequestError.bad_raise_pgrst(
            f"Invalid JSON value for DETAIL: '{detail}'", detail_hint
        )
    return DatabaseError(
        msg.message,
        code=msg.code,
        status=det.status,
        details=msg.details,
        hint=msg.hint,
        headers=list(det.headers.items()),
        reason=det.status_text,
    )
