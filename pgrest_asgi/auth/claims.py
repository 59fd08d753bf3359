"""Pure JWT-claim logic: the role-claim path, claim validation and the ``AuthResult`` value.

Nothing here touches cryptography; ``jwt.py`` verifies signatures and calls into this module.

The role-claim path (``jwt-role-claim-key``) is, as in PostgREST, an RFC 9535 JSONPath query
(run by ``python-jsonpath`` in strict mode; ``$."quoted"`` is read as ``$["quoted"]``) or
PostgREST's deprecated DSL: ``.a.b[0]``, ``."x-y"``, then string slices ``[1:-1]`` and filters
``[?(@ == "x")]`` with ``==``, ``!=``, ``^==`` (starts with), ``==^`` (ends with) and ``*==``
(contains); its keys and indexes become a JSONPath query, its slices and filters apply to what
that selects. The first node selected is the role; a non-string value is JSON-encoded.

Claim validation follows PostgREST's ``checkForErrors``: ``exp``, ``nbf``, ``iat`` and ``aud``
are checked in that order and the first failure wins; the clock skew is a fixed 30 seconds.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from itertools import chain
from typing import Any, Final

import msgspec
from jsonpath import JSONPathEnvironment, JSONPathError
from jsonpath.function_extensions import Match, Search

from ..settings import ConfigError

__all__ = [
    "ALLOWED_SKEW",
    "AUD_NOT_STRING_OR_ARRAY",
    "EXPIRED",
    "ISSUED_AT_FUTURE",
    "NOT_A_NUMBER",
    "NOT_IN_AUDIENCE",
    "NOT_YET_VALID",
    "PARSING_CLAIMS_FAILED",
    "AuthResult",
    "RoleClaimPath",
    "audience_error",
    "numeric_date",
    "role_text",
    "time_error",
]

#: PostgREST allows this much clock skew (seconds) for ``exp``, ``nbf`` and ``iat``.
ALLOWED_SKEW: Final = 30

EXPIRED: Final = "JWT expired"
NOT_YET_VALID: Final = "JWT not yet valid"
ISSUED_AT_FUTURE: Final = "JWT issued at future"
NOT_IN_AUDIENCE: Final = "JWT not in audience"
AUD_NOT_STRING_OR_ARRAY: Final = "The JWT 'aud' claim must be a string or an array of strings"
PARSING_CLAIMS_FAILED: Final = "Parsing claims failed"

_encode = msgspec.json.Encoder().encode


class AuthResult(msgspec.Struct, frozen=True, kw_only=True):
    """Who the request runs as.

    ``claims`` is shared with the verification cache: treat it as read-only.
    """

    #: The database role to switch to.
    role: str
    #: JSON text for ``request.jwt.claims``; always holds ``"role"``.
    claims_json: str
    #: ``role == db_anon_role``.
    anonymous: bool
    #: The decoded claims, with ``"role"`` set to ``role`` (the same object as ``claims_json``).
    claims: dict[str, Any]


# ---------------------------------------------------------------------------------------
# claim validation
# ---------------------------------------------------------------------------------------


class _NotANumber:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_A_NUMBER"


#: ``numeric_date`` result for a claim that is present but not a JSON number.
NOT_A_NUMBER: Final = _NotANumber()

NumericDate = int | float | _NotANumber | None


def numeric_date(claims: Mapping[str, Any], name: str) -> NumericDate:
    """The claim as whole seconds; ``None`` when absent or ``null``; ``NOT_A_NUMBER`` else.

    Fractions are floored (RFC 7519 allows them; PostgREST itself treats them as 0).
    """
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return NOT_A_NUMBER
    if isinstance(value, float) and math.isfinite(value):
        return math.floor(value)
    return value


def time_error(exp: NumericDate, nbf: NumericDate, iat: NumericDate, now: int) -> str | None:
    """The first failing time claim's message (``exp``, then ``nbf``, then ``iat``)."""
    if exp is not None:
        if isinstance(exp, _NotANumber):
            return "The JWT 'exp' claim must be a number"
        if exp < now - ALLOWED_SKEW:
            return EXPIRED
    if nbf is not None:
        if isinstance(nbf, _NotANumber):
            return "The JWT 'nbf' claim must be a number"
        if nbf > now + ALLOWED_SKEW:
            return NOT_YET_VALID
    if iat is not None:
        if isinstance(iat, _NotANumber):
            return "The JWT 'iat' claim must be a number"
        if iat > now + ALLOWED_SKEW:
            return ISSUED_AT_FUTURE
    return None


def audience_error(claims: Mapping[str, Any], expected: str | None) -> str | None:
    """Check ``aud`` against ``jwt-aud``.

    The type is checked even when ``jwt-aud`` is unset (as PostgREST does); a missing,
    ``null`` or empty-array ``aud`` always passes.
    """
    aud = claims.get("aud")
    if aud is None:
        return None
    if isinstance(aud, str):
        return None if expected is None or aud == expected else NOT_IN_AUDIENCE
    if isinstance(aud, list) and all(isinstance(item, str) for item in aud):
        return None if not aud or expected is None or expected in aud else NOT_IN_AUDIENCE
    return AUD_NOT_STRING_OR_ARRAY


def role_text(value: Any) -> str:
    """A selected role value as text: strings as they are, anything else JSON-encoded."""
    if isinstance(value, str):
        return value
    return _encode(value).decode("utf-8")


# ---------------------------------------------------------------------------------------
# the role-claim path
# ---------------------------------------------------------------------------------------

# An escape, a character class, or an ``^`` / ``$`` outside both.
_ANCHORS: Final = re.compile(r"\\.|\[(?:\\.|[^\]\\])*\]|(\^)|(\$)", re.S)


def _literal_anchors(pattern: object) -> object:
    """RFC 9485 reads ``^`` and ``$`` as ordinary characters; the library's ``regex`` engine
    reads them as anchors. ``\\^`` and ``[$]`` mean the literal in both (and stay I-Regexp)."""
    if not isinstance(pattern, str):
        return pattern
    return _ANCHORS.sub(lambda m: "\\^" if m[1] else "[$]" if m[2] else m[0], pattern)


class _Match(Match):
    def __call__(self, value: object, pattern: object) -> bool:
        return super().__call__(value, _literal_anchors(pattern))


class _Search(Search):
    def __call__(self, value: object, pattern: object) -> bool:
        return super().__call__(value, _literal_anchors(pattern))


class _Environment(JSONPathEnvironment):
    def setup_function_extensions(self) -> None:
        super().setup_function_extensions()
        self.function_extensions["match"] = _Match(thread_safe=True)
        self.function_extensions["search"] = _Search(thread_safe=True)


_ENV: Final = _Environment(strict=True)  # RFC 9535 only: no python-jsonpath extensions
_BLANK: Final = " \t\n\r"

# A string literal, or the extension ``."name"`` (not after a ``.``) with its name in group 1.
_QUOTED_MEMBER: Final = re.compile(
    r"""(?<!\.)\.("(?:\\.|[^"\\])*")|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*\"""", re.S
)

_LEGACY_STEP: Final = re.compile(
    r'\.(?:(?P<key>[\w$@]+)|"(?P<quoted>[^"]*)")'
    r"|\[(?P<index>[0-9]+)\]"
    r"|(?P<slice>\[(?P<start>-?[0-9]+)?:(?P<end>-?[0-9]+)?\])"
    r'|\[\?\(@\s*(?P<op>==\^|==|!=|\^==|\*==)\s*"(?P<text>[^"]*)"\)\]'
)
_LEGACY_OPS: Final[dict[str, Callable[[str, str], bool]]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "^==": str.startswith,
    "==^": str.endswith,
    "*==": operator.contains,
}
_Step = slice | tuple[Callable[[str, str], bool], str]
_INVALID: Final = "jwt-role-claim-key: failed to parse role-claim-key value ({}): {}"


def _invalid(text: str, reason: str) -> ConfigError:
    return ConfigError(_INVALID.format(text, reason))


def _parse_legacy(text: str) -> tuple[str, tuple[_Step, ...]]:
    """The keys and indexes as an RFC 9535 query; the slices and filters after them."""
    query, steps, pos = ["$"], list[_Step](), 0
    while pos < len(text) or pos == 0:  # an empty path fails at 0
        m = _LEGACY_STEP.match(text, pos)
        if m is None:
            expected = '.key, ."key", [index], [start:end] or [?(@ op "text")]'
            raise _invalid(text, f"expected {expected} at position {pos}")
        if m["op"] is not None:
            steps.append((_LEGACY_OPS[m["op"]], m["text"]))
        elif m["slice"] is not None:
            steps.append(slice(*(None if b is None else int(b) for b in m.group("start", "end"))))
        elif steps:
            raise _invalid(text, f"a key or index follows a filter or slice at position {pos}")
        elif m["index"] is not None:
            if int(m["index"]) >= 2**53:
                raise _invalid(text, f"array index out of range at position {pos}")
            query.append(f"[{int(m['index'])}]")
        else:
            name = m["key"] if m["quoted"] is None else m["quoted"]
            query.append(f"[{_encode(name).decode('utf-8')}]")
        pos = m.end()
    return "".join(query), tuple(steps)


def _run(step: _Step, node: Any) -> list[Any]:
    """A slice takes part of a string; a filter, the matching strings of an array."""
    if isinstance(step, slice):
        return [node[step]] if isinstance(node, str) else []
    items = node if isinstance(node, list) else []
    return [item for item in items if isinstance(item, str) and step[0](item, step[1])]


def _position(exc: JSONPathError, text: str) -> str:  # the library's counts without blanks
    if exc.token is None:
        return ""
    lead = len(text) - len(text.lstrip(_BLANK))
    at = exc.token.index + lead if exc.token.index >= 0 else len(text.rstrip(_BLANK))
    return f" at position {at}"


class RoleClaimPath:
    """A parsed ``jwt-role-claim-key``; parse once, evaluate per token.

    Raises ``ConfigError`` (a ``ValueError``) for a path that is neither RFC 9535 JSONPath
    (it starts with ``$``) nor PostgREST's deprecated DSL.
    """

    __slots__ = ("_query", "_steps", "deprecated", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        #: True when the path uses PostgREST's deprecated ``.a.b[0]`` DSL.
        self.deprecated = not text.strip(_BLANK).startswith("$")
        if self.deprecated:
            query, self._steps = _parse_legacy(text)
        else:
            query = _QUOTED_MEMBER.sub(lambda m: f"[{m[1]}]" if m[1] else m[0], text.strip(_BLANK))
            self._steps = ()
        try:
            self._query = _ENV.compile(query)
        except JSONPathError as exc:
            raise _invalid(text, f"{exc.message}{_position(exc, text)}") from None

    def __repr__(self) -> str:
        return f"RoleClaimPath({self.text!r})"

    def _nodes(self, claims: Any) -> Iterator[Any]:
        nodes: Iterator[Any] = (match.obj for match in self._query.finditer(claims))
        for step in self._steps:
            nodes = chain.from_iterable(map(partial(_run, step), nodes))
        return nodes

    def first(self, claims: Any) -> tuple[bool, Any]:
        """``(True, value)`` for the first node the path selects, else ``(False, None)``."""
        try:
            for node in self._nodes(claims):
                return True, node
        except RecursionError:  # deeply nested claims under a descendant segment
            pass
        return False, None

    def find(self, claims: Any) -> list[Any]:
        """Every node the path selects, in order."""
        return list(self._nodes(claims))
