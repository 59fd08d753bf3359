"""Pure JWT-claim logic: the role-claim path, claim validation and the ``AuthResult`` value.

Nothing here touches cryptography; ``jwt.py`` verifies signatures and calls into this module.

The role-claim path (``jwt-role-claim-key``) is an RFC 9535 JSONPath query, as in PostgREST:

* ``$.role``, ``$.a.b``, ``$.a[0]``, ``$.a[-1]``, ``$['key with space']``, ``$["k"]``,
  ``$."quoted"`` (an extension), wildcards ``*``, slices ``[1:3]`` / ``[::-1]``, unions
  ``[0,'a']``, descendants ``..name``, and filters ``[?@ == 'admin']`` with ``&&``, ``||``,
  ``!``, comparisons, existence tests and the functions ``length``, ``count``, ``value``,
  ``match`` and ``search``;
* the deprecated PostgREST DSL: ``.a.b[0]``, ``."x-y"`` and a final filter
  ``[?(@ == "x")]`` with the operators ``==``, ``!=``, ``^==`` (starts with), ``==^`` (ends
  with) and ``*==`` (contains).

The first node the query selects is the role; a non-string value is JSON-encoded.

Claim validation follows PostgREST's ``checkForErrors``: ``exp``, ``nbf``, ``iat`` and ``aud``
are checked in that order and the first failure wins; the clock skew is a fixed 30 seconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, Final

import msgspec

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
# JSONPath: evaluation model
# ---------------------------------------------------------------------------------------


class _Nothing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "Nothing"


#: RFC 9535's "Nothing": the value of an empty singular query.
_NOTHING: Final = _Nothing()

Node = Any  # a decoded JSON value


class _Selector:
    __slots__ = ()

    def select(self, node: Node, root: Node) -> Iterator[Node]:
        raise NotImplementedError


class _Name(_Selector):
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def select(self, node: Node, root: Node) -> Iterator[Node]:
        if isinstance(node, dict) and self.name in node:
            yield node[self.name]


class _Wildcard(_Selector):
    __slots__ = ()

    def select(self, node: Node, root: Node) -> Iterator[Node]:
        if isinstance(node, dict):
            yield from node.values()
        elif isinstance(node, list):
            yield from node


class _Index(_Selector):
    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def select(self, node: Node, root: Node) -> Iterator[Node]:
        if isinstance(node, list):
            i = self.index if self.index >= 0 else len(node) + self.index
            if 0 <= i < len(node):
                yield node[i]


class _Slice(_Selector):
    __slots__ = ("end", "start", "step")

    def __init__(self, start: int | None, end: int | None, step: int | None) -> None:
        self.start, self.end, self.step = start, end, step

    def select(self, node: Node, root: Node) -> Iterator[Node]:
        if not isinstance(node, list):
            return
        step = 1 if self.step is None else self.step
        if step == 0:
            return
        # RFC 9535 §2.3.4.2.2; Python's slice() has the same semantics for these bounds.
        yield from node[self.start : self.end : step]


class _Filter(_Selector):
    __slots__ = ("expr",)

    def __init__(self, expr: _Expr) -> None:
        self.expr = expr

    def select(self, node: Node, root: Node) -> Iterator[Node]:
        children: Iterator[Node]
        if isinstance(node, dict):
            children = iter(node.values())
        elif isinstance(node, list):
            children = iter(node)
        else:
            return
        test = self.expr.test
        for child in children:
            if test(child, root):
                yield child


_LEGACY_OPS: dict[str, Callable[[str, str], bool]] = {
    "==^": lambda value, text: value.endswith(text),
    "==": lambda value, text: value == text,
    "!=": lambda value, text: value != text,
    "^==": lambda value, text: value.startswith(text),
    "*==": lambda value, text: text in value,
}


class _LegacyFilter(_Selector):
    """The deprecated DSL's ``[?(@ op "text")]``: string elements of an array that match."""

    __slots__ = ("match", "text")

    def __init__(self, op: str, text: str) -> None:
        self.match = _LEGACY_OPS[op]
        self.text = text

    def select(self, node: Node, root: Node) -> Iterator[Node]:
        if isinstance(node, list):
            for item in node:
                if isinstance(item, str) and self.match(item, self.text):
                    yield item


class _Segment:
    __slots__ = ("descendant", "selectors")

    def __init__(self, selectors: Sequence[_Selector], descendant: bool = False) -> None:
        self.selectors = tuple(selectors)
        self.descendant = descendant

    def select(self, node: Node, root: Node) -> Iterator[Node]:
        for target in _descendants(node) if self.descendant else (node,):
            for selector in self.selectors:
                yield from selector.select(target, root)


def _descendants(node: Node) -> Iterator[Node]:
    """The node, then its descendants, each before its own children (document order)."""
    yield node
    if isinstance(node, dict):
        for child in node.values():
            yield from _descendants(child)
    elif isinstance(node, list):
        for child in node:
            yield from _descendants(child)


def _walk(segments: Sequence[_Segment], i: int, node: Node, root: Node) -> Iterator[Node]:
    if i == len(segments):
        yield node
        return
    for child in segments[i].select(node, root):
        yield from _walk(segments, i + 1, child, root)


class _Query:
    """``$…`` or ``@…`` inside a filter."""

    __slots__ = ("relative", "segments", "singular")

    def __init__(self, relative: bool, segments: Sequence[_Segment]) -> None:
        self.relative = relative
        self.segments = tuple(segments)
        self.singular = all(
            not s.descendant and len(s.selectors) == 1 and type(s.selectors[0]) in (_Name, _Index)
            for s in self.segments
        )

    def nodes(self, current: Node, root: Node) -> Iterator[Node]:
        return _walk(self.segments, 0, current if self.relative else root, root)

    def value(self, current: Node, root: Node) -> Any:
        """For a singular query: the node's value, or Nothing."""
        return next(self.nodes(current, root), _NOTHING)


# -- filter expressions ------------------------------------------------------------------


class _Expr:
    __slots__ = ()

    def test(self, current: Node, root: Node) -> bool:
        raise NotImplementedError


class _Or(_Expr):
    __slots__ = ("parts",)

    def __init__(self, parts: Sequence[_Expr]) -> None:
        self.parts = tuple(parts)

    def test(self, current: Node, root: Node) -> bool:
        return any(p.test(current, root) for p in self.parts)


class _And(_Expr):
    __slots__ = ("parts",)

    def __init__(self, parts: Sequence[_Expr]) -> None:
        self.parts = tuple(parts)

    def test(self, current: Node, root: Node) -> bool:
        return all(p.test(current, root) for p in self.parts)


class _Not(_Expr):
    __slots__ = ("inner",)

    def __init__(self, inner: _Expr) -> None:
        self.inner = inner

    def test(self, current: Node, root: Node) -> bool:
        return not self.inner.test(current, root)


class _Exists(_Expr):
    __slots__ = ("query",)

    def __init__(self, query: _Query) -> None:
        self.query = query

    def test(self, current: Node, root: Node) -> bool:
        return next(self.query.nodes(current, root), _NOTHING) is not _NOTHING


class _Call:
    """A function extension call; ``kind`` is its result type: "value" or "logical"."""

    __slots__ = ("args", "fn", "kind")

    def __init__(self, name: str, args: Sequence[Any]) -> None:
        spec = _FUNCTIONS.get(name)
        if spec is None:
            raise _ParseError(f"unknown function {name}()")
        kind, params, fn = spec
        if len(args) != len(params):
            raise _ParseError(f"{name}() takes {len(params)} argument(s)")
        for param, arg in zip(params, args, strict=True):
            if param == "nodes" and not isinstance(arg, _Query):
                raise _ParseError(f"{name}() needs a query argument")
            if param == "value" and not _is_value_operand(arg):
                raise _ParseError(f"{name}() needs a value argument")
        self.kind = kind
        self.args = tuple(args)
        self.fn = fn

    def evaluate(self, current: Node, root: Node) -> Any:
        return self.fn(*(_argument(a, current, root) for a in self.args))


class _Test(_Expr):
    __slots__ = ("call",)

    def __init__(self, call: _Call) -> None:
        if call.kind != "logical":
            raise _ParseError("a value function cannot be used as a test")
        self.call = call

    def test(self, current: Node, root: Node) -> bool:
        return bool(self.call.evaluate(current, root))


class _Literal:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _is_value_operand(arg: Any) -> bool:
    if isinstance(arg, _Literal):
        return True
    if isinstance(arg, _Query):
        return arg.singular
    return isinstance(arg, _Call) and arg.kind == "value"


def _operand(arg: Any, current: Node, root: Node) -> Any:
    if isinstance(arg, _Literal):
        return arg.value
    if isinstance(arg, _Query):
        return arg.value(current, root)
    assert isinstance(arg, _Call)
    return arg.evaluate(current, root)


def _argument(arg: Any, current: Node, root: Node) -> Any:
    """Function arguments: queries as node lists for NodesType parameters, else values."""
    if isinstance(arg, _Query) and not arg.singular:
        return list(arg.nodes(current, root))
    if isinstance(arg, _Query):
        return _NodeList(arg.nodes(current, root))
    return _operand(arg, current, root)


class _NodeList(list[Any]):
    """A singular query's node list, usable where a value or a node list is expected."""


def _as_value(arg: Any) -> Any:
    if isinstance(arg, _NodeList):
        return arg[0] if arg else _NOTHING
    return arg


def _fn_length(arg: Any) -> Any:
    value = _as_value(arg)
    if isinstance(value, str | list | dict):
        return len(value)
    return _NOTHING


def _fn_count(nodes: list[Any]) -> int:
    return len(nodes)


def _fn_value(nodes: list[Any]) -> Any:
    return nodes[0] if len(nodes) == 1 else _NOTHING


def _fn_match(value: Any, pattern: Any) -> bool:
    value, pattern = _as_value(value), _as_value(pattern)
    if not isinstance(value, str) or not isinstance(pattern, str):
        return False
    compiled = _iregexp(pattern)
    return compiled is not None and compiled.fullmatch(value) is not None


def _fn_search(value: Any, pattern: Any) -> bool:
    value, pattern = _as_value(value), _as_value(pattern)
    if not isinstance(value, str) or not isinstance(pattern, str):
        return False
    compiled = _iregexp(pattern)
    return compiled is not None and compiled.search(value) is not None


_FUNCTIONS: dict[str, tuple[str, tuple[str, ...], Callable[..., Any]]] = {
    "length": ("value", ("value",), _fn_length),
    "count": ("value", ("nodes",), _fn_count),
    "value": ("value", ("nodes",), _fn_value),
    "match": ("logical", ("value", "value"), _fn_match),
    "search": ("logical", ("value", "value"), _fn_search),
}


@lru_cache(maxsize=128)
def _iregexp(pattern: str) -> re.Pattern[str] | None:
    """An RFC 9485 I-Regexp as a Python pattern; ``None`` when it is not valid."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            nxt = pattern[i + 1 : i + 2]
            if nxt in ("", "p", "P"):  # Unicode property classes are not in Python's re
                return None
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if ch == "[" or (ch == "-" and pattern[i + 1 : i + 2] == "-"):
                return None  # not I-Regexp; Python would read a nested set or set operation
            if ch == "]":
                in_class = False
                out.append(ch)
            else:
                out.append("\\" + ch if ch in "&~|" else ch)
        elif ch == "[":
            in_class = True
            out.append(ch)
        elif ch == ".":
            out.append("[^\\n\\r]")
        elif ch in "^$":
            out.append("\\" + ch)
        elif ch == "(" and pattern[i + 1 : i + 2] == "?":
            return None
        else:
            out.append(ch)
        i += 1
    try:
        return re.compile("".join(out))
    except re.error:
        return None


def _json_eq(a: Any, b: Any) -> bool:
    if a is _NOTHING or b is _NOTHING:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if a is None or b is None:
        return a is b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_eq(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_eq(a[k], b[k]) for k in a)
    return False


def _json_lt(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a < b
    if isinstance(a, str) and isinstance(b, str):
        return a < b
    return False


_COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": _json_eq,
    "!=": lambda a, b: not _json_eq(a, b),
    "<": _json_lt,
    ">": lambda a, b: _json_lt(b, a),
    "<=": lambda a, b: _json_lt(a, b) or _json_eq(a, b),
    ">=": lambda a, b: _json_lt(b, a) or _json_eq(a, b),
}


class _Compare(_Expr):
    __slots__ = ("compare", "left", "right")

    def __init__(self, left: Any, op: str, right: Any) -> None:
        for side in (left, right):
            if not _is_value_operand(side):
                raise _ParseError("comparisons need literals, singular queries or value functions")
        self.left, self.right = left, right
        self.compare = _COMPARATORS[op]

    def test(self, current: Node, root: Node) -> bool:
        return self.compare(_operand(self.left, current, root), _operand(self.right, current, root))


# ---------------------------------------------------------------------------------------
# JSONPath: parser
# ---------------------------------------------------------------------------------------


class _ParseError(Exception):
    pass


_BLANK = " \t\n\r"
_MAX_INT = 2**53 - 1
_INT_RE = re.compile(r"-?(?:0|[1-9][0-9]*)")
_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_FUNCTION_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "/": "/", "\\": "\\"}


def _name_first(ch: str) -> bool:
    return ch == "_" or ("a" <= ch <= "z") or ("A" <= ch <= "Z") or ord(ch) >= 0x80


def _name_char(ch: str) -> bool:
    return _name_first(ch) or "0" <= ch <= "9"


class _Parser:
    """Recursive descent over RFC 9535's grammar (plus ``."quoted"`` member names)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    # -- helpers ------------------------------------------------------------------
    def fail(self, what: str) -> _ParseError:
        return _ParseError(f"{what} at position {self.pos}")

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def eat(self, token: str) -> bool:
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: str) -> None:
        if not self.eat(token):
            raise self.fail(f"expected {token!r}")

    def blank(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _BLANK:
            self.pos += 1

    # -- queries ------------------------------------------------------------------
    def query(self) -> list[_Segment]:
        self.blank()
        self.expect("$")
        segments = self.segments()
        self.blank()
        if self.pos != len(self.text):
            raise self.fail("unexpected text")
        return segments

    def segments(self) -> list[_Segment]:
        out: list[_Segment] = []
        while True:
            mark = self.pos
            self.blank()
            ch = self.peek()
            if ch == "." or ch == "[":
                out.append(self.segment())
            else:
                self.pos = mark
                return out

    def segment(self) -> _Segment:
        if self.eat(".."):
            if self.peek() == "[":
                return _Segment(self.bracketed(), descendant=True)
            if self.eat("*"):
                return _Segment([_Wildcard()], descendant=True)
            return _Segment([_Name(self.member_name())], descendant=True)
        if self.eat("."):
            if self.eat("*"):
                return _Segment([_Wildcard()])
            if self.peek() == '"':
                return _Segment([_Name(self.string())])
            return _Segment([_Name(self.member_name())])
        return _Segment(self.bracketed())

    def member_name(self) -> str:
        start = self.pos
        if self.pos < len(self.text) and _name_first(self.text[self.pos]):
            self.pos += 1
            while self.pos < len(self.text) and _name_char(self.text[self.pos]):
                self.pos += 1
            return self.text[start : self.pos]
        raise self.fail("expected a member name")

    def bracketed(self) -> list[_Selector]:
        self.expect("[")
        selectors: list[_Selector] = []
        while True:
            self.blank()
            selectors.append(self.selector())
            self.blank()
            if self.eat("]"):
                return selectors
            self.expect(",")

    def selector(self) -> _Selector:
        ch = self.peek()
        if ch in ("'", '"'):
            return _Name(self.string())
        if ch == "*":
            self.pos += 1
            return _Wildcard()
        if ch == "?":
            self.pos += 1
            self.blank()
            return _Filter(self.logical_or())
        start = self.integer_or_none()
        self.blank()
        if not self.eat(":"):
            if start is None:
                raise self.fail("expected a selector")
            return _Index(start)
        self.blank()
        end = self.integer_or_none()
        self.blank()
        step: int | None = None
        if self.eat(":"):
            self.blank()
            step = self.integer_or_none()
        return _Slice(start, end, step)

    def integer_or_none(self) -> int | None:
        match = _INT_RE.match(self.text, self.pos)
        if match is None:
            return None
        digits = match.group()
        if digits == "-0":
            raise self.fail("-0 is not a valid index")
        value = int(digits)
        if abs(value) > _MAX_INT:
            raise self.fail("index out of range")
        self.pos = match.end()
        return value

    def string(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise self.fail("unterminated string")
            ch = self.text[self.pos]
            self.pos += 1
            if ch == quote:
                return "".join(out)
            if ch == "\\":
                out.append(self.escape(quote))
            elif ord(ch) < 0x20:
                raise self.fail("control character in string")
            else:
                out.append(ch)

    def escape(self, quote: str) -> str:
        ch = self.peek()
        self.pos += 1
        if ch == quote:
            return ch
        if ch in _ESCAPES:
            return _ESCAPES[ch]
        if ch == "u":
            code = self.hex4()
            if 0xD800 <= code <= 0xDBFF:
                if not self.eat("\\u"):
                    raise self.fail("lone high surrogate")
                low = self.hex4()
                if not 0xDC00 <= low <= 0xDFFF:
                    raise self.fail("invalid low surrogate")
                return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
            if 0xDC00 <= code <= 0xDFFF:
                raise self.fail("lone low surrogate")
            return chr(code)
        raise self.fail("invalid escape")

    def hex4(self) -> int:
        digits = self.peek(4)
        if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise self.fail("expected 4 hex digits")
        self.pos += 4
        return int(digits, 16)

    # -- filter expressions ----------------------------------------------------------
    def logical_or(self) -> _Expr:
        parts = [self.logical_and()]
        while True:
            mark = self.pos
            self.blank()
            if not self.eat("||"):
                self.pos = mark
                break
            self.blank()
            parts.append(self.logical_and())
        return parts[0] if len(parts) == 1 else _Or(parts)

    def logical_and(self) -> _Expr:
        parts = [self.basic()]
        while True:
            mark = self.pos
            self.blank()
            if not self.eat("&&"):
                self.pos = mark
                break
            self.blank()
            parts.append(self.basic())
        return parts[0] if len(parts) == 1 else _And(parts)

    def basic(self) -> _Expr:
        if self.eat("!"):
            self.blank()
            if self.eat("("):
                return _Not(self.parenthesised())
            return _Not(self.test_expr(self.primary()))
        if self.eat("("):
            return self.parenthesised()
        operand = self.primary()
        mark = self.pos
        self.blank()
        for op in ("==", "!=", "<=", ">=", "<", ">"):
            if self.eat(op):
                self.blank()
                return _Compare(operand, op, self.primary())
        self.pos = mark
        return self.test_expr(operand)

    def parenthesised(self) -> _Expr:
        self.blank()
        inner = self.logical_or()
        self.blank()
        self.expect(")")
        return inner

    def test_expr(self, operand: Any) -> _Expr:
        if isinstance(operand, _Query):
            return _Exists(operand)
        if isinstance(operand, _Call):
            return _Test(operand)
        raise self.fail("a literal must be compared")

    def primary(self) -> Any:
        ch = self.peek()
        if ch == "@" or ch == "$":
            self.pos += 1
            return _Query(ch == "@", self.segments())
        if ch in ("'", '"'):
            return _Literal(self.string())
        number = _NUMBER_RE.match(self.text, self.pos)
        if number is not None:
            self.pos = number.end()
            token = number.group()
            is_int = token.lstrip("-").isdigit()
            return _Literal(int(token) if is_int else float(token))
        name = _FUNCTION_NAME_RE.match(self.text, self.pos)
        if name is not None:
            word = name.group()
            if self.text.startswith("(", name.end()):
                self.pos = name.end() + 1
                return _Call(word, self.arguments())
            if word in ("true", "false", "null"):
                self.pos = name.end()
                return _Literal({"true": True, "false": False, "null": None}[word])
        raise self.fail("expected a query, literal or function")

    def arguments(self) -> list[Any]:
        args: list[Any] = []
        self.blank()
        if self.eat(")"):
            return args
        while True:
            self.blank()
            args.append(self.argument())
            self.blank()
            if self.eat(")"):
                return args
            self.expect(",")

    def argument(self) -> Any:
        # A function argument is a literal, a query, a function call or a logical expression.
        mark = self.pos
        try:
            operand = self.primary()
        except _ParseError:
            operand = None
        if operand is not None:
            after = self.pos
            self.blank()
            if self.peek() in (",", ")"):
                self.pos = after
                return operand
        self.pos = mark
        return self.logical_or()


def _parse_legacy(text: str) -> list[_Segment]:
    """PostgREST's deprecated DSL: ``.key``, ``."quoted key"``, ``[n]``, final ``[?(@ op "s")]``."""
    segments: list[_Segment] = []
    pos = 0
    n = len(text)
    while pos < n:
        if text[pos] == ".":
            pos += 1
            start = pos
            while pos < n and (text[pos].isalnum() or text[pos] in "_$@"):
                pos += 1
            if pos > start:
                segments.append(_Segment([_Name(text[start:pos])]))
                continue
            if pos < n and text[pos] == '"':
                end = text.find('"', pos + 1)
                if end < 0:
                    raise _ParseError(f"unterminated quoted key at position {pos}")
                segments.append(_Segment([_Name(text[pos + 1 : end])]))
                pos = end + 1
                continue
            raise _ParseError(f"expected a key at position {pos}")
        if text.startswith("[?(", pos):
            pos += 3
            if not text.startswith("@", pos):
                raise _ParseError(f"expected '@' at position {pos}")
            pos += 1
            while pos < n and text[pos].isspace():
                pos += 1
            op = next((o for o in _LEGACY_OPS if text.startswith(o, pos)), None)
            if op is None:
                raise _ParseError(f"expected an operator at position {pos}")
            pos += len(op)
            while pos < n and text[pos].isspace():
                pos += 1
            if not text.startswith('"', pos):
                raise _ParseError(f"expected a quoted value at position {pos}")
            end = text.find('"', pos + 1)
            if end < 0:
                raise _ParseError(f"unterminated quoted value at position {pos}")
            value = text[pos + 1 : end]
            if text[end + 1 :] != ")]":
                raise _ParseError("a filter must end the path")
            segments.append(_Segment([_LegacyFilter(op, value)]))
            return segments
        if text[pos] == "[":
            end = text.find("]", pos)
            digits = text[pos + 1 : end] if end > 0 else ""
            if not digits or not all("0" <= c <= "9" for c in digits):
                raise _ParseError(f"expected an array index at position {pos}")
            segments.append(_Segment([_Index(int(digits))]))
            pos = end + 1
            continue
        raise _ParseError(f"unexpected {text[pos]!r} at position {pos}")
    if not segments:
        raise _ParseError("empty path")
    return segments


class RoleClaimPath:
    """A parsed ``jwt-role-claim-key``; parse once, evaluate per token.

    Raises ``ConfigError`` (a ``ValueError``) for a path that parses neither as RFC 9535
    JSONPath nor as PostgREST's deprecated DSL.
    """

    __slots__ = ("_segments", "_simple", "deprecated", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        #: True when the path uses PostgREST's deprecated ``.a.b[0]`` DSL.
        self.deprecated = False
        try:
            self._segments: tuple[_Segment, ...] = tuple(_Parser(text).query())
        except _ParseError as exc:
            try:
                self._segments = tuple(_parse_legacy(text))
            except _ParseError:
                raise ConfigError(
                    f"jwt-role-claim-key: failed to parse role-claim-key value ({text}): {exc}"
                ) from None
            self.deprecated = True
        # A plain chain of names and indexes is walked without generators.
        simple: list[str | int] = []
        for segment in self._segments:
            if segment.descendant or len(segment.selectors) != 1:
                break
            selector = segment.selectors[0]
            if type(selector) is _Name:
                simple.append(selector.name)
            elif type(selector) is _Index:
                simple.append(selector.index)
            else:
                break
        else:
            self._simple: tuple[str | int, ...] | None = tuple(simple)
            return
        self._simple = None

    def __repr__(self) -> str:
        return f"RoleClaimPath({self.text!r})"

    def first(self, claims: Any) -> tuple[bool, Any]:
        """``(True, value)`` for the first node the path selects, else ``(False, None)``."""
        simple = self._simple
        if simple is not None:
            node = claims
            for step in simple:
                if isinstance(step, str):
                    if not isinstance(node, dict) or step not in node:
                        return False, None
                    node = node[step]
                else:
                    if not isinstance(node, list):
                        return False, None
                    i = step if step >= 0 else len(node) + step
                    if not 0 <= i < len(node):
                        return False, None
                    node = node[i]
            return True, node
        try:
            for node in _walk(self._segments, 0, claims, claims):
                return True, node
        except RecursionError:  # absurdly deep claims under a descendant segment
            pass
        return False, None

    def find(self, claims: Any) -> list[Any]:
        """Every node the path selects, in order."""
        return list(_walk(self._segments, 0, claims, claims))
