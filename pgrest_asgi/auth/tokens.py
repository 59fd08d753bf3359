"""Where a request's token comes from. Pure.

* PostgREST: ``Authorization: Bearer <token>`` (the scheme in any case); another scheme, or
  no header, means no token (the anonymous role).
* ``jwt-header`` (extension): this header instead of ``Authorization``; its value is the
  token, with or without a ``Bearer`` prefix. ``Authorization`` is then not read at all.
* ``jwt-cookie`` (extension): when the header carries no token (absent, or another scheme than
  ``Bearer``), the token is this cookie's value (RFC 6265 syntax; a double-quoted value is
  unquoted). An empty cookie counts as no cookie, as browsers often keep one after a logout.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

__all__ = ["TokenSource", "bearer_token", "cookie_value", "header_token"]

# wai's extractBearerAuth: the scheme runs to the first blank, the token follows the blanks.
_AUTH_SPLIT: Final = re.compile(r"(\S*)\s*(.*)\Z", re.ASCII | re.DOTALL)
_BLANKS: Final = " \t\n\r\f\v"
# Python's http.cookies unquoting: \" and \\ escapes, and RFC 2109's octal \ooo.
_COOKIE_ESCAPE: Final = re.compile(r"\\(?:([0-3][0-7][0-7])|(.))", re.DOTALL)


def bearer_token(authorization: str) -> str | None:
    """The token of a ``Bearer`` (any case) ``Authorization`` value; ``None`` for other schemes."""
    if authorization[:7] == "Bearer " or authorization[:7] == "bearer ":
        return authorization[7:].lstrip(_BLANKS)
    match = _AUTH_SPLIT.match(authorization)
    if match is None or match.group(1).lower() != "bearer":
        return None
    return match.group(2)


def cookie_value(cookie_header: str, name: str) -> str | None:
    """The value of the first cookie called ``name`` in a ``Cookie`` header (``a=1; b="2"``).

    Pairs are separated by ``;`` (browsers send ``; ``); names are case-sensitive; blanks
    around names and values are dropped; a value in double quotes is unquoted (with
    ``http.cookies``' escapes). Pieces without ``=`` are skipped. The first match wins: RFC
    6265 has browsers send the cookie of the longest path first.
    """
    for piece in cookie_header.split(";"):
        key, sep, value = piece.partition("=")
        if sep and key.strip(_BLANKS) == name:
            return _unquote(value.strip(_BLANKS))
    return None


def _unquote(value: str) -> str:
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    return _COOKIE_ESCAPE.sub(
        lambda m: chr(int(m[1], 8)) if m[1] is not None else m[2], value[1:-1]
    )


class TokenSource:
    """``jwt-header`` and ``jwt-cookie`` read once; calling it finds a request's token.

    ``None`` means no token (anonymous); ``""`` is an empty token (PostgREST's "Empty JWT"
    error).
    """

    __slots__ = ("cookie", "header")

    def __init__(self, header: str | None = None, cookie: str | None = None) -> None:
        #: The lower-cased header read instead of ``Authorization`` (``None``: ``Authorization``).
        self.header = header.strip().lower() if header is not None and header.strip() else None
        #: The cookie read when the header has no token.
        self.cookie = cookie.strip() if cookie is not None and cookie.strip() else None

    def __call__(self, headers: Mapping[str, str]) -> str | None:
        """``headers``: lower-cased names → values (cookies joined with ``; ``)."""
        if self.header is None:
            authorization = headers.get("authorization")
            token = None if authorization is None else bearer_token(authorization)
        else:
            value = headers.get(self.header)
            token = None if value is None else header_token(value)
        if token is None and self.cookie is not None:
            cookies = headers.get("cookie")
            if cookies is not None:
                token = cookie_value(cookies, self.cookie) or None
        return token


def header_token(value: str) -> str:
    """A ``jwt-header`` value: the token, with or without ``Bearer`` (any case) before it."""
    token = bearer_token(value)
    return value.strip(_BLANKS) if token is None else token
