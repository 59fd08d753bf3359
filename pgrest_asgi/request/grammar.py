"""PostgREST's URL grammar: query string + headers → ``ApiRequest``. Pure; no I/O.

Each parser works on one parameter value and tracks its position, so errors read like
PostgREST's: ``"failed to parse filter (foo.1)" (line 1, column 1)`` with the parser's
expectation in ``details``.

Hard limits keep hostile input cheap: nesting depth of logic trees and embeds, the number of
terms in one parameter, and the length of any single parameter (see ``Limits``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import quote

import msgspec

from ..errors import ApiRequestError
from .model import (
    GENERIC_TYPE_MODIFIERS,
    KEYWORD_TYPES,
    ApiRequest,
    EmbedModifiers,
    Field,
    Filter,
    JsonStep,
    LogicTree,
    MediaType,
    Method,
    OpExpr,
    OrderTerm,
    Preferences,
    SelectEmbed,
    SelectField,
    SelectItem,
)
from .operators import FTS_FUNCTIONS, IS_VALUES, OPERATORS, Operator
from .payload import request_payload

if TYPE_CHECKING:
    from ..context import RequestContext

__all__ = ["Limits", "PostgrestGrammar", "parse_accept", "parse_prefer"]

_RESERVED = frozenset({"select", "columns", "on_conflict"})
#: Operator names the grammar parses itself (an entry of the table cannot replace them).
_BUILT_IN_OPERATORS = frozenset({"in", "is", "not", "and", "or", *FTS_FUNCTIONS})
_TAIL_RESERVED = ("order", "limit", "offset", "and", "or")
_OPERATOR_HINT = "operator (eq, gt, ...)"


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """Guards against inputs that would cost unbounded time or memory."""

    #: Nesting of ``or=(and(...))`` trees and of embeds in ``select``.
    max_depth: int = 32
    #: Terms in one parameter, counted over all its levels (select items with those of its
    #: embeds, filters of a tree with those of its subtrees, order terms).
    max_terms: int = 1000
    #: ``in.(...)`` lists are sent as one array parameter, so they may be much longer.
    max_in_values: int = 100_000


class _Parser:
    """A cursor over one parameter value with PostgREST-shaped errors."""

    __slots__ = ("base", "origin", "part", "pos", "terms", "text")

    def __init__(self, part: str, text: str, origin: str | None = None, base: int = 0) -> None:
        self.part = part
        self.text = text
        self.pos = 0
        #: Terms read so far in the whole value, at every level (``Limits.max_terms``).
        self.terms = 0
        #: For a piece of a larger value (an operator inside a logic tree): the whole value
        #: and where the piece starts in it, so errors point into what the client sent.
        self.origin = text if origin is None else origin
        self.base = base

    def fail(self, expecting: str, pos: int | None = None) -> ApiRequestError:
        at = self.pos if pos is None else pos
        found = (
            f'unexpected "{self.text[at]}"' if at < len(self.text) else "unexpected end of input"
        )
        return ApiRequestError.parse(
            self.part, self.origin, self.base + at + 1, f"{found} expecting {expecting}"
        )

    def fail_choice(self, words: Sequence[str], expecting: str) -> ApiRequestError:
        """Like parsec: the column where the choice began, and the first character that no
        alternative accepts (``order=id.ac`` → column 4, ``unexpected "c"``)."""
        rest = self.text[self.pos :]
        matched = max(_common_prefix(rest, word) for word in words)
        at = self.pos + matched
        found = (
            f'unexpected "{self.text[at]}"' if at < len(self.text) else "unexpected end of input"
        )
        return ApiRequestError.parse(
            self.part, self.origin, self.base + self.pos + 1, f"{found} expecting {expecting}"
        )

    def peek(self, token: str) -> bool:
        return self.text.startswith(token, self.pos)

    def eat(self, token: str) -> bool:
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: str) -> None:
        if not self.eat(token):
            raise self.fail(f'"{token}"')

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    # -- names and paths -----------------------------------------------------------------
    def name(self, stop: str = ",.:()!", what: str = "field name", strict: bool = False) -> str:
        """An identifier: ``"quoted \\"name\\""`` or a run of characters not in ``stop``.

        ``strict``: the run is PostgREST's unquoted field name instead — letters, digits, ``_``,
        ``$``, spaces and ``-`` (not before ``>``), or a lone ``*`` — so ``;``, NUL and any
        other character end it (and the caller reports it as unexpected).
        """
        text = self.text
        start = self.pos
        first = text[start : start + 1]
        if first == '"':
            return self.quoted()
        if strict:
            if first == "*":
                self.pos = start + 1
                return "*"
            match = _IDENTIFIER.match(text, start)
            assert match is not None  # the pattern also matches the empty string
            run = match.group(0)
            if not run.isascii():
                run = _letters_only(run)
            self.pos = start + len(run)
            value = run.strip()
        else:
            match = _name_pattern(stop).match(text, start)
            assert match is not None
            self.pos = match.end()
            value = match.group(0).strip()
        if not value:
            raise self.fail(what, start)
        return value

    def quoted(self) -> str:
        start = self.pos
        self.pos += 1
        out: list[str] = []
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "\\" and self.pos + 1 < len(text):
                out.append(text[self.pos + 1])
                self.pos += 2
                continue
            if ch == '"':
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1
        raise self.fail('"\\"" to close the quoted name', start)

    def field(self, stop: str = ",.:()!", strict: bool = False) -> Field:
        name = self.name(stop, strict=strict)
        if name == "*":
            return Field("*")
        path: list[JsonStep] = []
        while self.peek("->"):
            arrow: Literal["->", "->>"] = "->>" if self.eat("->>") else "->"
            if arrow == "->":
                self.pos += 2
            key, is_index = self.json_operand()
            path.append(JsonStep(arrow, key, is_index))
        return Field(name, tuple(path))

    def json_operand(self) -> tuple[str, bool]:
        """What follows an arrow: an index or a key, as PostgREST reads them.

        An index is ``-?digits`` followed by ``->``, ``::``, ``.``, ``,`` or the end (so in
        ``rel(data->0)`` the ``0`` is a key: PostgREST's rule, kept). A key is a quoted name,
        or runs of any characters but ``(-:.,>)`` joined by ``-`` (not ``->``), each stripped
        of spaces: ``!@#$%^&*_a`` is a key. When neither reads, the error is the one that got
        further, as in PostgREST (``->>--34``: column of the second ``-``, expecting digit).
        """
        text = self.text
        n = len(text)
        start = self.pos
        digits = start + 1 if text.startswith("-", start) else start
        end = digits
        while end < n and text[end] in _DIGITS:
            end += 1
        index_error: tuple[int, str] | None = None
        if end > digits:
            if end == n or text.startswith(_INDEX_ENDS, end):
                self.pos = end
                return text[start:end], True
            index_error = (end, f"unexpected {_show_char(text[end])} expecting {_AFTER_INDEX}")
        elif digits > start:
            index_error = (digits, f"{_found(text, digits)} expecting digit")
        if text.startswith('"', start):
            return self.quoted(), False
        pieces: list[str] = []
        at = start
        while True:
            match = _JSON_KEY_RUN.match(text, at)
            if match is None:
                break
            pieces.append(match.group(0).strip())
            at = match.end()
            if text.startswith("-", at) and not text.startswith("->", at):
                at += 1
                continue
            self.pos = at
            return "-".join(pieces), False
        # Neither reads: report the alternative that read further; at the same column, both.
        if index_error is not None and index_error[0] >= at:
            where, details = index_error
        elif at > start:  # a "-" that no key characters follow
            where, details = at, _found(text, at)
        else:
            where, details = at, f"{_found(text, at)} expecting {_JSON_KEY_EXPECTING}"
        raise ApiRequestError.parse(self.part, self.origin, self.base + where + 1, details)


#: PostgREST's ``pIdentifierChar`` (letter, digit, ``_``, space, ``$``) and its ``-`` joiner;
#: tabs too, which PostgREST skips around a field. Beyond ASCII, ``\w`` also takes digits and
#: numbers that are no letters: such a run is cut by ``_letters_only``.
_IDENTIFIER = re.compile(r"[\w $\t]*(?:-(?!>)[\w $\t]*)*")


def _letters_only(run: str) -> str:
    """``run`` up to its first character beyond ASCII that is no letter."""
    for offset, ch in enumerate(run):
        if not (ch.isascii() or ch.isalpha()):
            return run[:offset]
    return run


def _show_char(ch: str) -> str:
    """A character as Haskell's ``show`` writes it (PostgREST's ``unexpected 'x'``)."""
    code = ord(ch)
    if ch == "'":
        return "'\\''"
    if ch == "\\":
        return "'\\\\'"
    if 0x20 <= code < 0x7F:
        return f"'{ch}'"
    if code > 0x7F:
        return f"'\\{code}'"
    if code == 0x7F:
        return "'\\DEL'"
    return "'\\" + _ASCII_NAMES[code] + "'"


# fmt: off
_ASCII_NAMES = (
    "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "a", "b", "t", "n", "v", "f", "r", "SO", "SI",
    "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC", "FS", "GS",
    "RS", "US",
)
# fmt: on


@lru_cache(maxsize=32)
def _name_pattern(stop: str) -> re.Pattern[str]:
    """A run of characters up to one in ``stop``, a quote, ``->`` or ``::``."""
    alternatives = ["[^" + re.escape(stop + '"-:') + "]"]
    if "-" not in stop:
        alternatives.append("-(?!>)")
    if ":" not in stop:
        alternatives.append(":(?!:)")
    return re.compile("(?:" + "|".join(alternatives) + ")*")


_DIGITS = frozenset("0123456789")
#: What may follow a JSON index (anything else makes it a key, or an error).
_INDEX_ENDS = ("->", "::", ".", ",")
_AFTER_INDEX = 'digit, "->", "::", ".", "," or end of input'
#: A piece of a JSON key: PostgREST reserves ``(-:.,>)`` there and nothing else.
_JSON_KEY_RUN = re.compile(r"[^(\-:.,>)]+")
_JSON_KEY_EXPECTING = '"-", digit or any non reserved character different from: .,>()'


def _found(text: str, at: int) -> str:
    """Parsec's ``unexpected "x"`` (or ``unexpected end of input``) for ``text[at]``."""
    return f'unexpected "{text[at]}"' if at < len(text) else "unexpected end of input"


_AGGREGATES = ("sum", "avg", "count", "max", "min")


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


_ORDER_WORDS = ("asc", "desc", "nullsfirst", "nullslast")

#: Every word sequence that begins a ``KEYWORD_TYPES`` name: ``double``, ``timestamp with``…
_TYPE_PREFIXES = frozenset(
    " ".join(words[:n])
    for words in (name.split(" ") for name in KEYWORD_TYPES)
    for n in range(1, len(words) + 1)
)
_WORD_TAIL = frozenset("0123456789_$")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_MODIFIER = re.compile(r"[0-9]{1,9}")


def _word_end(text: str, pos: int) -> int:
    """The end of the type-name word at ``pos`` (``pos`` itself when there is none): a letter
    or ``_``, then letters, digits, ``_`` and ``$`` — an identifier PostgreSQL reads bare."""
    n = len(text)
    if pos < n and (text[pos].isalpha() or text[pos] == "_"):
        pos += 1
        while pos < n and (text[pos].isalpha() or text[pos] in _WORD_TAIL):
            pos += 1
    return pos


#: A quoted value: ``\\x`` is ``x``; anything else up to the closing quote is itself.
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_IN_VALUE = re.compile(r"[^,)]*")


def _unescape(body: str) -> str:
    return _ESCAPE.sub(r"\1", body) if "\\" in body else body


def _skip_blanks(p: _Parser) -> None:
    """PostgREST's ``ws``: spaces and tabs."""
    text = p.text
    while p.pos < len(text) and text[p.pos] in " \t":
        p.pos += 1


def _skip_spaces(p: _Parser) -> bool:
    start = p.pos
    while p.peek(" "):
        p.pos += 1
    return p.pos > start


#: A column name that needs no quoting, path or cast: the filter fast path's keys.
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: ``[not.]op.`` with a plain operator name and no modifier: the fast path's values.
_SIMPLE_OP = re.compile(r"(not\.)?([A-Za-z]+)\.")
#: The methods that parse ``select=``: when a subclass overrides none of them, parsed selects
#: are cached by their text (see ``PostgrestGrammar._select``).
_SELECT_METHODS = (
    "parse_select",
    "_select_list",
    "_select_item",
    "_cast",
    "_type_words",
    "_type_modifiers",
    "parse_op",
)
_SELECT_CACHE_SIZE = 1024
#: Longer ``select=`` values are parsed each time (a bound on the cache's memory).
_SELECT_CACHE_TEXT = 2048


class PostgrestGrammar:
    """The default grammar hook: ``parse(context, query pairs, body) → ApiRequest``.

    Subclass and override one ``parse_*`` method to change a piece of the grammar, or pass a
    different ``operators`` table to add filter operators. Operator names are letters only
    (the grammar reads ``name.value``) and may not take the place of ``in``, ``is``, ``not``
    or the full-text operators, which the grammar parses itself.
    """

    #: Parsed selects by their text; ``None`` (no cache) unless ``__init__`` turns it on.
    _selects: dict[str, tuple[SelectItem, ...]] | None = None
    #: Whether ``parse_filter`` may read the common filter shape itself (not when a subclass
    #: reads operators its own way).
    _plain_filters = False

    def __init__(
        self, *, operators: Mapping[str, Operator] = OPERATORS, limits: Limits | None = None
    ) -> None:
        for name in operators:
            if not (name.isascii() and name.isalpha()) or name in _BUILT_IN_OPERATORS:
                raise ValueError(
                    f"operator name {name!r}: names are ASCII letters only and cannot be "
                    f"one of {', '.join(sorted(_BUILT_IN_OPERATORS))}"
                )
        self.operators = operators
        self.limits = limits or Limits()
        alternatives = " or ".join(
            f'"{name}"' for name in (*self.operators, *FTS_FUNCTIONS, "in", "is")
        )
        self._op_expecting = f'"not" or {_OPERATOR_HINT}'
        self._op_names = alternatives
        # Parsed ``select=`` values by their text: a handful of shapes come back on every
        # request. Only while this class's own select parsing runs: a subclass that
        # overrides a piece of it may answer differently for the same text (per caller, say),
        # so its selects are parsed each time.
        self._plain_filters = type(self).parse_op is PostgrestGrammar.parse_op
        self._selects = (
            {}
            if all(
                getattr(type(self), name) is getattr(PostgrestGrammar, name)
                for name in _SELECT_METHODS
            )
            else None
        )

    # -- entry point ---------------------------------------------------------------------
    def parse(
        self,
        context: RequestContext,
        params: Sequence[tuple[str, str]],
        body: bytes | None = None,
    ) -> ApiRequest:
        """The request's query string (decoded pairs), headers and body as an ``ApiRequest``
        (400 ``PGRST1xx`` when they do not parse)."""
        method, target, headers = context.method, context.target, context.headers
        select: tuple[SelectItem, ...] = (SelectField(Field("*")),)
        filters: list[Filter] = []
        logic: list[LogicTree] = []
        order: tuple[OrderTerm, ...] = ()
        limit: int | None = None
        offset: int | None = None
        columns: tuple[str, ...] | None = None
        on_conflict: tuple[str, ...] | None = None
        rpc_args: list[tuple[str, str]] = []
        embedded: dict[tuple[str, ...], dict[str, Any]] = {}
        # GET/HEAD/OPTIONS on a function: what does not parse as a filter is an argument.
        is_rpc = target.kind == "rpc" and method in ("GET", "HEAD", "OPTIONS")

        for key, value in params:
            if key == "select":
                # ``select=`` is every column, as no select is (PostgREST's spec).
                select = self._select(value) or select
            elif key == "columns":
                columns = self.parse_name_list("columns parameter", value)
            elif key == "on_conflict":
                on_conflict = self.parse_name_list("on_conflict parameter", value)
            else:
                path, last = _split_path(key)
                mods = embedded.setdefault(path, {}) if path else None
                if last == "order":
                    terms = self.parse_order(value)
                    if mods is None:
                        order = terms
                    else:
                        mods["order"] = terms
                elif last in ("limit", "offset"):
                    number = self.parse_int(key, value)
                    if mods is None:
                        limit, offset = (number, offset) if last == "limit" else (limit, number)
                    else:
                        mods[last] = number
                elif last in ("or", "and") or (
                    last.startswith("not.") and last[4:] in ("or", "and")
                ):
                    negated = last.startswith("not.")
                    op = cast(Literal["and", "or"], last[4:] if negated else last)
                    tree = self.parse_logic(op, negated, value)
                    if mods is None:
                        logic.append(tree)
                    else:
                        mods.setdefault("logic", []).append(tree)
                elif is_rpc and not path and not self.looks_like_filter(value):
                    rpc_args.append((key, value))
                else:
                    filt = self.parse_filter(last, value)
                    if mods is None:
                        filters.append(filt)
                    else:
                        mods.setdefault("filters", []).append(filt)
        if len(filters) > self.limits.max_terms:
            raise ApiRequestError.too_many_filters(self.limits.max_terms)
        prefer = parse_prefer(_all_values(headers, "prefer"))
        rng = self.parse_range(headers.get("range")) if method == "GET" else None
        return ApiRequest(
            method=cast(Method, method),
            target=target,
            select=select,
            filters=tuple(filters),
            logic=tuple(logic),
            order=order,
            limit=limit,
            offset=offset,
            range=rng,
            embedded=tuple(
                EmbedModifiers(
                    path=path,
                    filters=tuple(m.get("filters", ())),
                    logic=tuple(m.get("logic", ())),
                    order=m.get("order", ()),
                    limit=m.get("limit"),
                    offset=m.get("offset"),
                )
                for path, m in embedded.items()
            ),
            preferences=prefer,
            accept=parse_accept(headers.get("accept")),
            rpc_args=tuple(rpc_args),
            columns=columns,
            on_conflict=on_conflict,
            content_type=headers.get("content-type"),
            body=body,
            payload=request_payload(
                method, target.kind, headers.get("content-type"), body, columns
            ),
            canonical_query=canonical_query(params),
        )

    # -- select ----------------------------------------------------------------------------
    def _select(self, value: str) -> tuple[SelectItem, ...]:
        """``parse_select``, through the cache of parsed selects when it is on (the items are
        immutable, so one parse serves every request of that shape). Failures are not kept;
        the cache is emptied when full, and long values are not kept at all."""
        cache = self._selects
        if cache is None:
            return self.parse_select(value)
        items = cache.get(value)
        if items is None:
            items = self.parse_select(value)
            if len(value) <= _SELECT_CACHE_TEXT:
                if len(cache) >= _SELECT_CACHE_SIZE:
                    cache.clear()
                cache[value] = items
        return items

    def parse_select(self, value: str) -> tuple[SelectItem, ...]:
        p = _Parser("select parameter", value)
        items = self._select_list(p, depth=0)
        if not p.at_end():
            raise p.fail('"," or end of input')
        return items

    def _select_list(self, p: _Parser, depth: int) -> tuple[SelectItem, ...]:
        if depth > self.limits.max_depth:
            raise p.fail(f"at most {self.limits.max_depth} levels of embedding")
        items: list[SelectItem] = []
        if p.at_end() or p.peek(")"):
            return ()
        while True:
            item = self._select_item(p, depth)
            items.append(item)
            p.terms += 1  # counted with the items of every embed
            if p.terms > self.limits.max_terms:
                raise p.fail(f"at most {self.limits.max_terms} items")
            if not p.eat(","):
                if not (p.at_end() or p.peek(")")):
                    _select_item_end(p, item)
                return tuple(items)

    def _select_item(self, p: _Parser, depth: int) -> SelectItem:
        # ``...rel(…)`` spreads; ``..rel(…)`` too, its to-many arrays without nulls and
        # duplicates.
        distinct = False
        spread = p.eat("...")
        if not spread and p.eat(".."):
            spread = distinct = True
        start = p.pos
        alias: str | None = None
        first = p.field(",.:()!", strict=True)
        if p.peek(":") and not p.peek("::"):
            if first.json_path:
                raise p.fail('"(" or ","')
            p.pos += 1
            alias = first.name
            start = p.pos
            first = p.field(",.:()!", strict=True)
        if first.name == "count" and not first.json_path and not spread and p.eat("()"):
            # ``count()``: the row-count aggregate, not an embed of a relation named count.
            count_cast = self._cast(p) if p.eat("::") else None
            return SelectField(Field("*"), alias, None, "count", count_cast)
        if p.peek("(") or p.peek("!"):
            if first.json_path:
                raise p.fail('"," or ")"', start)
            hint: str | None = None
            join: Literal["left", "inner"] | None = None
            bang = p.pos
            while p.eat("!"):
                word = p.name(",.:()!", "a hint or join type", strict=True)
                if word in ("inner", "left"):
                    join = cast(Literal["left", "inner"], word)
                elif hint is None:
                    hint = word
                else:
                    raise p.fail('"inner" or "left"')
            if not spread and not p.peek("("):
                # Not an embed after all: PostgREST reads a field, which ends at the "!".
                p.pos = bang
                quoted = p.text[bang - 1] == '"'
                raise _unexpected(p, _AFTER_SELECT_QUOTED if quoted else _AFTER_SELECT_NAME)
            p.expect("(")
            items = self._select_list(p, depth + 1)
            p.expect(")")
            return SelectEmbed(first.name, items, alias, hint, join, spread, distinct)
        if spread:
            raise p.fail('"("')
        cast_to: str | None = None
        aggregate: str | None = None
        aggregate_cast: str | None = None
        if p.eat("::"):
            cast_to = self._cast(p)
        if p.peek(".") and not p.peek(".."):
            p.pos += 1
            aggregate = next((a for a in _AGGREGATES if p.eat(a)), None)
            if aggregate is None:
                raise p.fail('"sum", "avg", "count", "max" or "min"')
            p.expect("(")
            p.expect(")")
            if p.eat("::"):
                aggregate_cast = self._cast(p)
        return SelectField(first, alias, cast_to, aggregate, aggregate_cast)

    def _cast(self, p: _Parser) -> str:
        """The type after ``::``, in the canonical spelling ``SelectField.cast`` documents.

        PostgREST takes a run of letters, digits, ``_``, ``$`` and spaces and pastes it into
        the SQL. Here it must be a type name: one identifier (bare or double-quoted), or one
        of PostgreSQL's keyword type names (``double precision``…); then optional modifiers
        ``(n)``/``(n,m)`` and ``[]``s. Spaces around the parts are ignored.
        """
        _skip_spaces(p)
        modifiers = GENERIC_TYPE_MODIFIERS
        phrase: str | None = None
        if p.peek('"'):
            start = p.pos
            name = p.quoted()
            if not name or "\x00" in name:
                # PostgreSQL has no empty identifier, and no NUL in any text.
                raise p.fail("a type name", p.text.find("\x00", start) if name else start + 1)
            head = '"' + name.replace('"', '""') + '"'
            _skip_spaces(p)
        else:
            phrase = self._type_words(p, "")
            head = phrase
            modifiers = KEYWORD_TYPES.get(phrase, modifiers)
        if modifiers and p.peek("("):
            head += self._type_modifiers(p, modifiers)
            _skip_spaces(p)
            if phrase in ("timestamp", "time"):
                zone = self._type_words(p, phrase)
                head += zone[len(phrase) :]
        dims = 0
        while p.eat("[]"):
            dims += 1
            _skip_spaces(p)
        return head + "[]" * dims

    def _type_words(self, p: _Parser, phrase: str) -> str:
        """Words of a type name, lower-cased (as PostgreSQL folds them), continuing
        ``phrase``: one word, or as many as spell a keyword type name."""
        text = p.text
        while True:
            start = p.pos
            end = _word_end(text, start)
            word = text[start:end].translate(_ASCII_LOWER)
            longer = f"{phrase} {word}" if phrase else word
            if end > start and (not phrase or longer in _TYPE_PREFIXES):
                phrase, p.pos = longer, end
                if not _skip_spaces(p):
                    break
                continue
            if not phrase:
                raise p.fail("a type name")
            break
        if " " in phrase and phrase not in KEYWORD_TYPES:
            following = sorted(
                {
                    name.split(" ")[phrase.count(" ") + 1]
                    for name in KEYWORD_TYPES
                    if name.startswith(phrase + " ")
                }
            )
            raise p.fail(" or ".join(f'"{w}"' for w in following))
        return phrase

    def _type_modifiers(self, p: _Parser, allowed: int) -> str:
        """``(n)`` or, when ``allowed`` is 2, ``(n,m)``: digits only."""
        p.expect("(")
        numbers: list[str] = []
        while True:
            match = _MODIFIER.match(p.text, p.pos)
            if match is None:
                raise p.fail("digit")
            numbers.append(match.group(0))
            p.pos = match.end()
            if len(numbers) < allowed and p.eat(","):
                continue
            if not p.eat(")"):
                raise p.fail('"," or ")"' if len(numbers) < allowed else '")"')
            return "(" + ",".join(numbers) + ")"

    # -- filters ---------------------------------------------------------------------------
    def looks_like_filter(self, value: str) -> bool:
        """Whether ``value`` parses as ``[not.]op.value`` (RPC: filter vs argument)."""
        try:
            self.parse_op("x", value)
        except ApiRequestError:
            return False
        return True

    def parse_filter(self, key: str, value: str) -> Filter:
        if self._plain_filters and _PLAIN_NAME.match(key):
            # The common filter (``col=op.value``, an operator of the table without a
            # modifier), read without the parser's objects: the same answer, sooner.
            simple = _SIMPLE_OP.match(value)
            if simple is not None:
                name = simple.group(2)
                operator = self.operators.get(name)
                if operator is not None:
                    raw = value[simple.end() :]
                    if operator.wildcard:
                        raw = raw.replace("*", "%")
                    negated = simple.group(1) is not None
                    return Filter(Field(key), OpExpr(name, raw, negated, definition=operator))
        kp = _Parser("filter", key)
        field = kp.field(",:()!")
        if not kp.at_end():
            raise kp.fail('"->" or "->>" or "="')
        return Filter(field, self.parse_op(key, value))

    def parse_op(
        self, key: str, value: str, part: str = "filter", origin: str | None = None, base: int = 0
    ) -> OpExpr:
        p = _Parser(part, value, origin, base)
        negated = p.eat("not.")
        start = p.pos
        while p.pos < len(value) and (value[p.pos].isalpha()):
            p.pos += 1
        name = value[start : p.pos]
        modifier: str | None = None
        if p.eat("("):
            mstart = p.pos
            end = value.find(")", p.pos)
            if end < 0:
                raise p.fail('")"')
            modifier = value[mstart:end]
            p.pos = end + 1
        if name in self.operators:
            operator = self.operators[name]
            quantifier: Literal["any", "all"] | None = None
            if modifier is not None:
                if modifier not in ("any", "all") or not operator.quantifiable:
                    raise p.fail('"." after the operator', start + len(name))
                quantifier = cast(Literal["any", "all"], modifier)
            p.expect(".")
            raw = value[p.pos :]
            if operator.wildcard:
                raw = raw.replace("*", "%")
            return OpExpr(name, raw, negated, quantifier, definition=operator)
        if name in FTS_FUNCTIONS:
            p.expect(".")
            return OpExpr(name, value[p.pos :], negated, None, modifier)
        if modifier is not None:
            raise p.fail(self._op_expecting, start)
        if name == "in":
            p.expect(".")
            return OpExpr("in", self._in_list(p), negated)
        if name == "is":
            p.expect(".")
            keyword = value[p.pos :].lower()
            if keyword not in IS_VALUES:
                raise p.fail('"null" or "not_null" or "true" or "false" or "unknown"')
            return OpExpr("is", keyword, negated)
        raise p.fail(self._op_expecting, start)

    def _in_list(self, p: _Parser) -> tuple[str, ...]:
        """``(a,"b,c",d)`` as PostgREST reads it: spaces and tabs around the parentheses are
        skipped, but not around the commas (``( 1 , 2 )`` is ``"1 "`` and ``" 2 "``). A value
        is quoted only when its closing quote is followed by ``,`` or ``)``; otherwise it is
        read as it is, quotes and all (a lone ``"`` is the value ``"``). A list of one empty
        value (``()``, ``(   )``, ``("")``) is the empty set, as in PostgREST; ``( , )`` is
        two values, ``""`` and ``" "``."""
        _skip_blanks(p)
        p.expect("(")
        _skip_blanks(p)
        text = p.text
        values: list[str] = []
        while True:
            value: str | None = None
            if p.peek('"'):
                start = p.pos
                closed = _QUOTED.match(text, start)
                if closed is not None and (closed.end() == len(text) or text[closed.end()] in ",)"):
                    value = _unescape(closed.group(1))
                    p.pos = closed.end()
            if value is None:
                start = p.pos
                end = _IN_VALUE.match(text, start)
                assert end is not None  # the pattern also matches the empty string
                value = end.group(0)
                p.pos = end.end()
            values.append(value)
            if len(values) > self.limits.max_in_values:
                raise p.fail(f"at most {self.limits.max_in_values} values")
            if p.eat(")"):
                _skip_blanks(p)
                if not p.at_end():
                    raise p.fail("end of input")
                return () if values == [""] else tuple(values)
            if not p.eat(","):
                raise p.fail('"," or ")"')

    # -- logic trees -----------------------------------------------------------------------
    def parse_logic(self, op: Literal["and", "or"], negated: bool, value: str) -> LogicTree:
        """``(filter,and(...),not.or(...))``. PostgREST parses the key's operator and the value
        as one text (``or(…)``, ``not.or(…)``), so its columns count the operator too: so do
        ours. Spaces and tabs may surround the parentheses and commas. What follows the
        closing parenthesis is ignored, as PostgREST ignores it (its spec sends
        ``and=(id.eq.1,id.neq.2))``)."""
        prefix = (4 if negated else 0) + len(op)
        p = _Parser("logic tree", value, value, prefix)
        _skip_blanks(p)
        children = self._logic_children(p, 0)
        return LogicTree(op, children, negated)

    def _logic_children(self, p: _Parser, depth: int) -> tuple[Filter | LogicTree, ...]:
        if depth >= self.limits.max_depth:
            raise p.fail(f"at most {self.limits.max_depth} levels of nesting")
        p.expect("(")
        _skip_blanks(p)
        children: list[Filter | LogicTree] = []
        text = p.text
        while True:
            negated = p.eat("not.")
            if p.peek("or") or p.peek("and"):
                # ``or(``/``and(``, spaces allowed before the parenthesis; else a field name
                # that begins with "or"/"and" (``or_col.eq.1``).
                word = 2 if p.peek("or") else 3
                after = p.pos + word
                while after < len(text) and text[after] in " \t":
                    after += 1
                is_tree = text.startswith("(", after)
            else:
                is_tree = False
            if is_tree:
                op: Literal["and", "or"] = "or" if p.peek("or") else "and"
                p.pos += len(op)
                _skip_blanks(p)
                children.append(LogicTree(op, self._logic_children(p, depth + 1), negated))
            else:
                if negated:
                    p.pos -= 4
                if p.at_end() or text[p.pos] in _NO_TREE_TERM:
                    raise p.fail(_TREE_TERM_EXPECTING)
                field = p.field(",:()!.")
                p.expect(".")
                children.append(Filter(field, self._logic_op(p)))
            p.terms += 1  # counted over the whole tree, not per level
            if p.terms > self.limits.max_terms:
                raise p.fail(f"at most {self.limits.max_terms} terms")
            _skip_blanks(p)
            if p.eat(")"):
                _skip_blanks(p)
                return tuple(children)
            if not p.eat(","):
                raise p.fail('"," or ")"')
            _skip_blanks(p)

    def _logic_op(self, p: _Parser) -> OpExpr:
        """An operator expression inside a tree: the value ends at a top-level ``,`` or ``)``."""
        start = p.pos
        depth = 0
        text = p.text
        while p.pos < len(text):
            ch = text[p.pos]
            if ch == '"':
                p.quoted()
                continue
            if ch in "({":
                depth += 1
            elif ch in ")}":
                if depth == 0:
                    break
                depth -= 1
            elif ch == "," and depth == 0:
                break
            p.pos += 1
        raw = text[start : p.pos]
        return self.parse_op("", _unquote_logic_value(raw), "logic tree", p.origin, p.base + start)

    # -- order, paging, names --------------------------------------------------------------
    def parse_order(self, value: str) -> tuple[OrderTerm, ...]:
        p = _Parser("order", value)
        terms: list[OrderTerm] = []
        while True:
            begin = p.pos
            try:
                terms.append(self._order_term(p))
            except ApiRequestError:
                if p.text.find("(", begin) < 0:
                    raise
                # A term ``rel(col)`` PostgREST fails to read is then read as a plain term,
                # which fails at the parenthesis: that is the error it reports.
                p.pos = begin
                field = p.field(",.:()!", strict=True)
                if p.peek("(") and not field.json_path:
                    _order_term_end(p, field, begin, None, None)
                raise
            if len(terms) > self.limits.max_terms:
                raise p.fail(f"at most {self.limits.max_terms} terms")
            if p.at_end():
                return tuple(terms)
            p.expect(",")

    def _order_term(self, p: _Parser) -> OrderTerm:
        begin = p.pos
        relation: str | None = None
        field = p.field(",.:()!", strict=True)
        if p.eat("("):
            relation = field.name
            field = p.field(",.:()!", strict=True)
            p.expect(")")
        direction: Literal["asc", "desc"] | None = None
        nulls: Literal["first", "last"] | None = None
        words: tuple[str, ...] = _ORDER_WORDS
        while nulls is None and p.eat("."):
            word = next((w for w in words if p.peek(w)), None)
            if word is None:
                raise p.fail_choice(words, _order_expecting(words))
            p.pos += len(word)
            if word == "asc" or word == "desc":
                direction = "asc" if word == "asc" else "desc"
                words = _NULLS_WORDS
            else:
                nulls = "first" if word == "nullsfirst" else "last"
        if not (p.at_end() or p.peek(",")):
            _order_term_end(p, field, begin, direction, nulls)
        return OrderTerm(field, direction, nulls, relation)

    def parse_int(self, key: str, value: str) -> int | None:
        """``limit``/``offset``: an integer, or ``None`` for anything else, which PostgREST
        ignores (it reads the value with ``readMaybe``). A negative limit is 416 PGRST103; a
        negative offset is 0."""
        match = _INTEGER.fullmatch(value)
        if match is None:
            return None
        digits = match.group(2)
        # Beyond bigint is "no limit" / "past every row"; never int() of thousands of digits.
        number = _MAX_BIGINT if len(digits) > 18 else int(digits)
        if match.group(1):
            number = -number
        if number < 0 and key.endswith("limit"):
            raise ApiRequestError.invalid_range("Limit should be greater than or equal to zero.")
        return max(number, 0)  # a negative offset is a no-op, as in PostgREST

    def parse_name_list(self, part: str, value: str) -> tuple[str, ...]:
        p = _Parser(part, value)
        names: list[str] = []
        while True:
            names.append(p.name(",", "field name (* or [a..z0..9_$])"))
            if p.at_end():
                return tuple(names)
            p.expect(",")

    def parse_range(self, header: str | None) -> tuple[int, int | None] | None:
        """``Range: first-[last]``, exactly PostgREST's ``^([0-9]+)-([0-9]*)$``; any other
        value (``items=0-9``, ``a-b``, spaces) is ignored, as PostgREST ignores it."""
        if header is None:
            return None
        match = _RANGE.fullmatch(header)
        if match is None:
            return None
        first = _bigint(match.group(1))
        last = _bigint(match.group(2)) if match.group(2) else None
        if last is not None and first > last:
            raise ApiRequestError.invalid_range(
                "The lower boundary must be lower than or equal to the upper boundary in the "
                "Range header."
            )
        return (first, last)


_NULLS_WORDS = ("nullsfirst", "nullslast")
#: Characters no term of a logic tree begins with, and what PostgREST expects there.
_NO_TREE_TERM = frozenset(",()")
_TREE_TERM_EXPECTING = (
    "field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)"
)
_MAX_BIGINT = 2**63 - 1
_INTEGER = re.compile(r"\s*(-?)([0-9]+)\s*")
_RANGE = re.compile(r"([0-9]+)-([0-9]*)")
#: What PostgREST's parser expects after an unquoted field name in ``select`` …
_AFTER_SELECT_NAME = 'letter, digit, "-", "->>", "->", "::", ".", ")", "," or end of input'
_AFTER_SELECT_QUOTED = '"->>", "->", "::", ".", ")", "," or end of input'
#: … and in ``order``, with what it expects after a quoted name and after a JSON path.
_AFTER_ORDER_NAME = 'letter, digit, "-", "->>", "->", delimiter (.), "," or end of input'
_AFTER_ORDER_QUOTED = '"->>", "->", delimiter (.), "," or end of input'
_AFTER_ORDER_PATH = '"-", "->>", "->", delimiter (.), "," or end of input'


def _bigint(digits: str) -> int:
    return _MAX_BIGINT if len(digits) > 18 else int(digits)


def _order_expecting(words: Sequence[str]) -> str:
    quoted = [f'"{w}"' for w in words]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _unexpected(p: _Parser, expecting: str) -> ApiRequestError:
    """PostgREST's error where its parser looked for the end of a term: the character is
    shown as Haskell shows a character (``';'``, ``'\\NUL'``)."""
    return ApiRequestError.parse(
        p.part,
        p.origin,
        p.base + p.pos + 1,
        f"unexpected {_show_char(p.text[p.pos])} expecting {expecting}",
    )


def _select_item_end(p: _Parser, item: SelectItem) -> None:
    """A select item followed by what cannot follow it. After a plain name or ``*``, raise
    PostgREST's error; otherwise let the caller report what it expects."""
    if not isinstance(item, SelectField) or item.cast or item.aggregate:
        return
    if item.field.json_path:
        return
    last = p.text[p.pos - 1]
    if item.field.name == "*" and last == "*":
        raise _unexpected(p, '")", "," or end of input')
    raise _unexpected(p, _AFTER_SELECT_QUOTED if last == '"' else _AFTER_SELECT_NAME)


def _order_term_end(
    p: _Parser, field: Field, begin: int, direction: str | None, nulls: str | None
) -> None:
    """An order term followed by neither ``,`` nor the end: PostgREST's error."""
    if nulls is not None:
        expecting = '"," or end of input'
    elif direction is not None:
        expecting = 'delimiter (.), "," or end of input'
    elif field.json_path:
        expecting = _AFTER_ORDER_PATH
    elif p.text[begin] == '"':
        expecting = _AFTER_ORDER_QUOTED
    else:
        expecting = _AFTER_ORDER_NAME
    raise _unexpected(p, expecting)


def _unquote_logic_value(raw: str) -> str:
    """In trees, ``a.eq."x,y"`` quotes the value; the quotes are not part of it."""
    op_end = raw.rfind(".", 0, raw.find('"')) if '"' in raw else -1
    if op_end >= 0 and raw.endswith('"') and raw[op_end + 1 : op_end + 2] == '"':
        inner = raw[op_end + 2 : -1].replace('\\"', '"').replace("\\\\", "\\")
        return raw[: op_end + 1] + inner
    return raw


def _split_path(key: str) -> tuple[tuple[str, ...], str]:
    """``a.b.col`` → ((a, b), col); keeps ``not.or`` together. A name of the path may be
    double-quoted (``"my table".order``), as PostgREST reads field names there; the last part
    (a column and its JSON path, or a reserved word) is returned as written."""
    if "." not in key:
        return (), key
    if '"' in key:
        return _split_quoted_path(key)
    parts = key.split(".")
    if len(parts) >= 2 and parts[-2] == "not" and parts[-1] in ("or", "and"):
        return tuple(parts[:-2]), "not." + parts[-1]
    if any("->" in part for part in parts[:-1]):
        return (), key
    return tuple(parts[:-1]), parts[-1]


def _split_quoted_path(key: str) -> tuple[tuple[str, ...], str]:
    """``_split_path`` for a key with quotes: each name ends at a ``.`` outside quotes; the
    last part begins where no ``.`` follows a name (``->`` or the end)."""
    names: list[str] = []
    at = 0
    while True:
        begin = at
        if key.startswith('"', at):
            closed = _QUOTED.match(key, at)
            if closed is None:
                return (), key  # an unclosed quote: the filter parser reports it
            name, at = _unescape(closed.group(1)), closed.end()
        else:
            while at < len(key) and key[at] != "." and not key.startswith(("->", '"'), at):
                at += 1
            name = key[begin:at]
        if not key.startswith(".", at):
            last = key[begin:]
            break
        names.append(name)
        at += 1
    if len(names) >= 1 and names[-1] == "not" and last in ("or", "and"):
        return tuple(names[:-1]), "not." + last
    return tuple(names), last


def _all_values(headers: Mapping[str, str], name: str) -> str:
    return headers.get(name, "")


_PREFER_VALUES: dict[str, frozenset[str]] = {
    "return": frozenset({"minimal", "headers-only", "representation"}),
    "count": frozenset({"exact", "planned", "estimated"}),
    "resolution": frozenset({"merge-duplicates", "ignore-duplicates"}),
    "missing": frozenset({"default", "null"}),
    "handling": frozenset({"strict", "lenient"}),
    "tx": frozenset({"commit", "rollback"}),
}


@lru_cache(maxsize=512)
def parse_prefer(header: str) -> Preferences:
    """RFC 7240 as PostgREST reads it: the first occurrence of each preference wins."""
    if not header:
        return Preferences()
    seen: dict[str, Any] = {}
    invalid: list[str] = []
    for raw in header.split(","):
        item = raw.strip()
        if not item:
            continue
        name, _, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if name in seen:
            continue
        known = name in _PREFER_VALUES and value in _PREFER_VALUES[name]
        if known or (name == "timezone" and value):
            seen[name] = value
        elif name == "max-affected" and value.isascii() and value.isdigit():
            seen[name] = int(value)
        else:
            invalid.append(item)
    return Preferences(
        return_=seen.get("return"),
        count=seen.get("count"),
        resolution=seen.get("resolution"),
        missing=seen.get("missing"),
        handling=seen.get("handling"),
        tx=seen.get("tx"),
        timezone=seen.get("timezone"),
        max_affected=seen.get("max-affected"),
        invalid=tuple(invalid),
    )


@lru_cache(maxsize=512)
def parse_accept(header: str | None) -> tuple[MediaType, ...]:
    """The ``Accept`` list, ordered by q-value (stable), types lower-cased."""
    if not header:
        return ()
    items: list[MediaType] = []
    for raw in header.split(","):
        parts = [part.strip() for part in raw.split(";")]
        if not parts[0]:
            continue
        q = 1.0
        params: list[tuple[str, str]] = []
        for param in parts[1:]:
            key, _, val = param.partition("=")
            key, val = key.strip().lower(), val.strip()
            if key == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
            elif key:
                params.append((key, val))
        items.append(MediaType(parts[0].lower(), tuple(params), q))
    items.sort(key=lambda m: -m.q)
    return tuple(m for m in items if m.q > 0)


def canonical_query(params: Sequence[tuple[str, str]]) -> str:
    """The query string with parameters sorted by name, as in ``Content-Location``."""
    if len(params) == 1:  # the common case, on every read: no sort, no join
        key, value = params[0]
        return f"{_quote(key)}={_quote(value)}"
    return "&".join([f"{_quote(k)}={_quote(v)}" for k, v in sorted(params, key=_by_key)])


_SAFE = "-_.~!$'()*,;:@/"
#: Characters ``Content-Location`` keeps as they are.
_PLAIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" + _SAFE


def _quote(text: str) -> str:
    # ``rstrip`` of the plain characters leaves nothing exactly when every character is one.
    return text if not text.rstrip(_PLAIN) else quote(text, safe=_SAFE)


def _by_key(item: tuple[str, str]) -> str:
    return item[0]
