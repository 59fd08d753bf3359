"""Hypothesis strategies for requests that are mostly *valid*: built from a description of a
real schema (tables, their columns and types, their embeddable relationships, functions), with
PostgREST's operators and modifiers used the way they are meant to be. A property test that
feeds only random text to the grammar tests its error path; these requests get through parsing
and planning to SQL building (and, against a database, to PostgreSQL), where the bugs that
matter live.

Each ``*_request`` strategy mixes in a share of invalid requests (random pieces of the grammar,
or a valid request with one part garbled), so the error path stays covered too.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import msgspec
from hypothesis import strategies as st

Params = list[tuple[str, str]]

# -- Schema descriptions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    name: str
    #: int, numeric, text, tsvector, text[], jsonb
    kind: str
    #: NOT NULL without a default: an insert must give it.
    required: bool = False
    #: The values a write gives it (a foreign key's existing targets), when not any of its type.
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Rel:
    """An embeddable relationship of a table: embedded as ``name``, rows of ``table``."""

    name: str
    table: str
    to_one: bool


@dataclass(frozen=True)
class Tbl:
    name: str
    columns: tuple[Col, ...]
    key: tuple[str, ...] = ()
    rels: tuple[Rel, ...] = ()
    #: Key values a write may use without touching rows other tests read.
    key_range: tuple[int, int] = (1, 1000)

    def col(self, name: str) -> Col:
        return next(c for c in self.columns if c.name == name)


@dataclass(frozen=True)
class Fn:
    name: str
    params: tuple[Col, ...]
    #: The table its rows are (``select``, filters and order apply), or None for a scalar.
    returns: str | None = None
    #: One unnamed json parameter: the body is passed as is.
    raw_json: bool = False
    #: The last parameter is VARIADIC (an array, or the parameter repeated in a query string).
    variadic: bool = False
    #: Whether GET may call it (not volatile).
    readonly: bool = True


@dataclass(frozen=True, eq=False)  # hashed by identity: strategies are cached per Api
class Api:
    tables: dict[str, Tbl]
    functions: tuple[Fn, ...] = field(default=())


# -- Values -------------------------------------------------------------------------------------
# Any text at all in a plain filter value: it must always become a parameter.
any_text = st.text(max_size=12)
word = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéü", min_size=1, max_size=6)
small_int = st.integers(min_value=-5, max_value=2000)


def quote(value: str) -> str:
    """A value inside ``in.(...)``/``{...}``/a logic tree, double-quoted and escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@cache
def scalar(kind: str) -> st.SearchStrategy[str]:
    """A value of a column of ``kind`` as it appears in a query string."""
    if kind == "int":
        return small_int.map(str)
    if kind == "numeric":
        return st.decimals(min_value=-1000, max_value=1000, places=2).map(str)
    return any_text


#: Text PostgreSQL can store (no NUL).
body_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)


@cache
def json_scalar(kind: str) -> st.SearchStrategy[Any]:
    """A value of a column of ``kind`` in a JSON body."""
    if kind == "int":
        return small_int
    if kind == "numeric":
        return st.integers(-1000, 1000) | st.floats(-1000, 1000, allow_nan=False).map(
            lambda f: round(f, 2)
        )
    if kind == "text[]":
        return st.lists(word, max_size=3)
    if kind == "jsonb":
        return st.dictionaries(word, small_int | word, max_size=2)
    return body_text


def _list(values: st.SearchStrategy[str], quoted: bool = True) -> st.SearchStrategy[str]:
    return st.lists(values, min_size=1, max_size=4).map(
        lambda vs: ",".join(quote(v) if quoted else v for v in vs)
    )


@cache
def operation(col: Col) -> st.SearchStrategy[str]:
    """``op.value`` for a filter on ``col``, valid for its type; sometimes negated."""
    k = col.kind
    choices: list[st.SearchStrategy[str]] = [
        st.sampled_from(["is.null", "is.not_null"]),
    ]
    if k in ("int", "numeric"):
        choices += [
            st.tuples(
                st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte", "isdistinct"]), scalar(k)
            ).map(".".join),
            _list(scalar(k), quoted=False).map(lambda v: f"in.({v})"),
            st.tuples(
                st.sampled_from(["eq", "gt", "lte"]),
                st.sampled_from(["any", "all"]),
                _list(scalar(k), quoted=False),
            ).map(lambda t: f"{t[0]}({t[1]}).{{{t[2]}}}"),
        ]
    elif k == "text":
        choices += [
            st.tuples(st.sampled_from(["eq", "neq", "gt", "lt", "isdistinct"]), any_text).map(
                ".".join
            ),
            st.tuples(st.sampled_from(["like", "ilike"]), word).map(lambda t: f"{t[0]}.*{t[1]}*"),
            st.tuples(st.sampled_from(["match", "imatch"]), word).map(lambda t: f"{t[0]}.^{t[1]}"),
            _list(any_text).map(lambda v: f"in.({v})"),
            st.tuples(
                st.sampled_from(["like", "ilike"]),
                st.sampled_from(["any", "all"]),
                _list(word.map(lambda w: w + "*")),
            ).map(lambda t: f"{t[0]}({t[1]}).{{{t[2]}}}"),
            st.tuples(st.sampled_from(["fts", "plfts", "wfts"]), word).map(".".join),
        ]
    elif k == "tsvector":
        choices += [
            st.tuples(
                st.sampled_from(["fts", "plfts", "phfts", "wfts"]),
                st.sampled_from(["", "(english)", "(simple)"]),
                word,
            ).map(lambda t: f"{t[0]}{t[1]}.{t[2]}"),
        ]
    elif k == "text[]":
        choices += [
            st.tuples(st.sampled_from(["cs", "cd", "ov", "eq"]), _list(word)).map(
                lambda t: f"{t[0]}.{{{t[1]}}}"
            ),
        ]
    elif k == "jsonb":
        choices += [
            st.dictionaries(word, small_int, max_size=2).map(
                lambda d: "cs." + msgspec.json.encode(d).decode()
            ),
        ]
    op = st.one_of(*choices)
    return st.tuples(st.sampled_from(["", "", "", "not."]), op).map("".join)


@cache
def filter_param(table: Tbl, prefix: str = "") -> st.SearchStrategy[tuple[str, str]]:
    """``col=op.value`` (``prefix`` names an embed: ``rel.col=...``); JSON paths on jsonb."""

    def one(c: Col) -> st.SearchStrategy[tuple[str, str]]:
        if c.kind == "jsonb":
            as_text = st.tuples(
                word.map(lambda k: f"{prefix}{c.name}->>{k}"),
                st.tuples(st.sampled_from(["eq", "neq", "like"]), word).map(".".join),
            )
            as_json = st.tuples(
                word.map(lambda k: f"{prefix}{c.name}->{k}"), small_int.map(lambda n: f"eq.{n}")
            )
            return st.one_of(as_text, as_json, st.tuples(st.just(prefix + c.name), operation(c)))
        return st.tuples(st.just(prefix + c.name), operation(c))

    return st.one_of(*(one(c) for c in table.columns))


def _tree_term(table: Tbl) -> st.SearchStrategy[str]:
    return (
        filter_param(table)
        .filter(lambda kv: "->" not in kv[0])
        .map(lambda kv: f"{kv[0]}.{_tree_value(kv[1])}")
    )


def _tree_value(op: str) -> str:
    """A plain operator's value, quoted so that ``,``/``()`` inside it stay in the value."""
    name, _, value = op.partition(".")
    if name == "not":
        inner_name, _, inner = value.partition(".")
        return f"not.{inner_name}.{_quote_plain(inner_name, inner)}"
    return f"{name}.{_quote_plain(name, value)}"


def _quote_plain(name: str, value: str) -> str:
    if name in ("is", "in") or "(" in name:  # keywords, lists, quantified or fts(lang)
        return value
    return quote(value)


@cache
def logic_tree(table: Tbl) -> st.SearchStrategy[tuple[str, str]]:
    """``or=(a.eq.1,and(b.gt.2,c.is.null))``: up to four leaves, nested."""
    leaf = _tree_term(table)
    tree = st.recursive(
        leaf,
        lambda inner: st.tuples(
            st.sampled_from(["or", "and", "not.or", "not.and"]),
            st.lists(inner, min_size=1, max_size=3),
        ).map(lambda t: f"{t[0]}({','.join(t[1])})"),
        max_leaves=4,
    )
    return st.tuples(
        st.sampled_from(["or", "and", "not.or"]),
        st.lists(tree, min_size=1, max_size=3).map(lambda ts: f"({','.join(ts)})"),
    )


#: Casts each kind of column allows.
CASTS = {
    "int": ["text", "bigint", "numeric", "integer"],
    "numeric": ["text", "int", "float8"],
    "text": ["text", "varchar"],
    "tsvector": ["text"],
    "text[]": ["text", "varchar[]"],
    "jsonb": ["text", "json"],
}


@cache
def select_item(api: Api, table: Tbl, depth: int) -> st.SearchStrategy[str]:
    col = st.sampled_from(table.columns)
    plain = col.map(lambda c: c.name)
    aliased = st.tuples(word, col).map(lambda t: f"{t[0]}:{t[1].name}")
    cast = col.flatmap(lambda c: st.sampled_from(CASTS[c.kind]).map(lambda to: f"{c.name}::{to}"))
    json_cols = [c for c in table.columns if c.kind == "jsonb"]
    choices = [plain, plain, plain, aliased, cast, st.just("*")]
    if json_cols:
        choices.append(
            st.tuples(st.sampled_from(json_cols), st.sampled_from(["->", "->>"]), word).map(
                lambda t: f"{t[0].name}{t[1]}{t[2]}"
            )
        )
    if table.rels and depth < 2:
        choices += [embed(api, table, depth), embed(api, table, depth)]
    return st.one_of(*choices)


@cache
def embed(api: Api, table: Tbl, depth: int) -> st.SearchStrategy[str]:
    def with_spread(rel: Rel) -> st.SearchStrategy[str]:
        target = api.tables[rel.table]
        inner = st.lists(select_item(api, target, depth + 1), min_size=1, max_size=3).map(",".join)
        plain = st.tuples(st.sampled_from(["", "", "x:"]), st.sampled_from(["", "!inner"]), inner)
        forms = [plain.map(lambda t: f"{t[0]}{rel.name}{t[1]}({t[2]})")]
        if rel.to_one:
            forms.append(inner.map(lambda i: f"...{rel.name}({i})"))
        return st.one_of(*forms)

    return st.one_of(*(with_spread(rel) for rel in table.rels))


@cache
def order_param(table: Tbl) -> st.SearchStrategy[str]:
    term = st.tuples(
        st.sampled_from([c.name for c in table.columns]),
        st.sampled_from(["", ".asc", ".desc", ".nullsfirst", ".desc.nullslast"]),
    ).map("".join)
    return st.lists(term, min_size=1, max_size=3).map(",".join)


@cache
def read_params(api: Api, table: Tbl) -> st.SearchStrategy[Params]:
    """``select``, filters, a logic tree, ``order``, paging and embed modifiers: all valid."""

    @st.composite
    def build(draw: st.DrawFn) -> Params:
        out: Params = []
        items = draw(st.lists(select_item(api, table, 0), max_size=4))
        if items:
            out.append(("select", ",".join(items)))
        out += draw(st.lists(filter_param(table), max_size=3))
        if draw(st.booleans()):
            out.append(draw(logic_tree(table)))
        if draw(st.booleans()):
            out.append(("order", draw(order_param(table))))
        if draw(st.booleans()):
            out.append(("limit", str(draw(st.integers(0, 50)))))
        if draw(st.booleans()):
            out.append(("offset", str(draw(st.integers(0, 50)))))
        # Modifiers of an embed named in select (to-many only take order/limit).
        embedded = [r for r in table.rels if any(i.split("(")[0].endswith(r.name) for i in items)]
        if embedded and draw(st.booleans()):
            rel = draw(st.sampled_from(embedded))
            target = api.tables[rel.table]
            key, value = draw(filter_param(target, prefix=rel.name + "."))
            out.append((key, value))
            if not rel.to_one:
                out.append((f"{rel.name}.order", draw(order_param(target))))
                out.append((f"{rel.name}.limit", str(draw(st.integers(0, 5)))))
        return out

    return build()


# -- Bodies -------------------------------------------------------------------------------------
def row(table: Tbl, cols: Sequence[Col], keys: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    def value(c: Col) -> st.SearchStrategy[Any]:
        if c.name in table.key:
            return keys
        return st.sampled_from(c.values) if c.values else json_scalar(c.kind)

    return st.fixed_dictionaries({c.name: value(c) for c in cols})


def write_columns(table: Tbl) -> st.SearchStrategy[list[Col]]:
    """The columns an insert gives: every required one, some others (at least one in all)."""
    required = [c for c in table.columns if c.required or c.name in table.key]
    optional = [c for c in table.columns if c not in required]
    if not optional:
        return st.just(required)
    return st.lists(st.sampled_from(optional), unique=True, min_size=0 if required else 1).map(
        lambda extra: required + extra
    )


def _csv(cols: Sequence[Col], rows: Sequence[dict[str, Any]]) -> bytes:
    def cell(v: Any) -> str:
        if v is None:
            return "NULL"
        if isinstance(v, list):
            v = "{" + ",".join(v) + "}"
        elif isinstance(v, dict):
            v = msgspec.json.encode(v).decode()
        text = str(v)
        return '"' + text.replace('"', '""') + '"'

    lines = [",".join(c.name for c in cols)]
    lines += [",".join(cell(r[c.name]) for c in cols) for r in rows]
    return "\n".join(lines).encode()


PREFER_RETURN = ["", "return=minimal", "return=representation", "return=headers-only"]


@cache
def prefer_header(method: str, *, upsert: bool = False) -> st.SearchStrategy[str]:
    parts = [st.sampled_from(PREFER_RETURN), st.sampled_from(["", "count=exact"])]
    if method == "POST":
        parts.append(st.sampled_from(["", "missing=default"]))
        if upsert:
            parts.append(
                st.sampled_from(["resolution=merge-duplicates", "resolution=ignore-duplicates"])
            )
    if method in ("PATCH", "DELETE"):
        parts.append(st.sampled_from(["", "handling=strict, max-affected=100"]))
    parts.append(st.sampled_from(["", "", "tx=rollback"]))
    return st.tuples(*parts).map(lambda ps: ", ".join(p for p in ps if p))


@dataclass
class Req:
    """A request: method, path (no query), query parameters, headers, body."""

    method: str
    path: str
    params: Params
    headers: dict[str, str]
    body: bytes | None = None
    #: True when built to be valid (the share that should reach SQL).
    valid: bool = True
    #: The relation or function it targets.
    target: str = ""
    kind: str = "relation"


def write_request(api: Api, writable: Sequence[str]) -> st.SearchStrategy[Req]:
    """A valid POST/PATCH/PUT/DELETE on one of the ``writable`` tables."""

    @st.composite
    def build(draw: st.DrawFn) -> Req:
        table = api.tables[draw(st.sampled_from(list(writable)))]
        method = draw(st.sampled_from(["POST", "POST", "PATCH", "PUT", "DELETE"]))
        if method == "PUT" and not table.key:
            method = "PATCH"
        lo, hi = table.key_range
        keys = st.integers(lo, hi)
        params: Params = []
        headers: dict[str, str] = {}
        body: bytes | None = None
        if draw(st.booleans()):  # a representation shaped by select (and maybe embeds)
            items = draw(st.lists(select_item(api, table, 0), min_size=1, max_size=3))
            params.append(("select", ",".join(items)))
        if method == "POST":
            cols = draw(write_columns(table))
            rows = draw(
                st.lists(
                    row(table, cols, keys),
                    min_size=1,
                    max_size=3,
                    unique_by=lambda r: tuple(r.get(k) for k in table.key),
                )
            )
            upsert = bool(table.key) and draw(st.booleans())
            if upsert and draw(st.booleans()):
                params.append(("on_conflict", ",".join(table.key)))
            if draw(st.booleans()):
                params.append(("columns", ",".join(c.name for c in cols)))
            media = draw(st.sampled_from(["json", "json", "json", "csv", "form"]))
            if media == "csv":
                headers["content-type"] = "text/csv"
                body = _csv(cols, rows)
            elif media == "form" and all(
                c.kind in ("int", "text", "numeric") and None not in c.values for c in cols
            ):
                headers["content-type"] = "application/x-www-form-urlencoded"
                body = urllib.parse.urlencode(rows[0]).encode()
            else:
                headers["content-type"] = "application/json"
                one = draw(st.booleans()) and len(rows) == 1
                body = msgspec.json.encode(rows[0] if one else rows)
            headers["prefer"] = draw(prefer_header("POST", upsert=upsert))
        elif method == "PUT":
            values = {k: draw(keys) for k in table.key}
            cols = [c for c in table.columns if c.name not in table.key]
            full = draw(row(table, cols, keys))
            full.update(values)
            for k, v in values.items():
                params.append((k, f"eq.{v}"))
            headers["content-type"] = "application/json"
            body = msgspec.json.encode(full)
            headers["prefer"] = draw(prefer_header("PUT"))
        else:
            params += draw(st.lists(filter_param(table), min_size=1, max_size=2))
            if method == "PATCH":
                cols = draw(
                    st.lists(
                        st.sampled_from([c for c in table.columns if c.name not in table.key]),
                        min_size=1,
                        max_size=3,
                        unique=True,
                    )
                )
                headers["content-type"] = "application/json"
                body = msgspec.json.encode(draw(row(table, cols, keys)))
            headers["prefer"] = draw(prefer_header(method))
            if draw(st.booleans()):
                params.append(("order", draw(order_param(table))))
        if not headers.get("prefer"):
            headers.pop("prefer", None)
        return Req(method, f"/{table.name}", params, headers, body, target=table.name)

    return build()


def call_request(api: Api) -> st.SearchStrategy[Req]:
    """A valid call of one of the functions: GET with query arguments or POST with a body."""

    @st.composite
    def build(draw: st.DrawFn) -> Req:
        fn = draw(st.sampled_from(list(api.functions)))
        method = draw(st.sampled_from(["GET", "POST"])) if fn.readonly else "POST"
        params: Params = []
        headers: dict[str, str] = {}
        body: bytes | None = None
        if fn.raw_json:
            method = "POST"
            headers["content-type"] = "application/json"
            body = msgspec.json.encode(draw(json_scalar("jsonb")))
        else:
            args: dict[str, Any] = {}
            for p in fn.params:
                if fn.variadic and p is fn.params[-1]:
                    args[p.name] = draw(
                        st.lists(small_int.filter(lambda n: abs(n) < 1000), min_size=1, max_size=4)
                    )
                else:
                    value = draw(st.integers(0, 50) if p.kind == "int" else any_text)
                    args[p.name] = value
            if method == "GET":
                for k, v in args.items():
                    if isinstance(v, list):
                        params += [(k, str(x)) for x in v]
                    else:
                        params.append((k, str(v)))
            else:
                headers["content-type"] = "application/json"
                body = msgspec.json.encode(args)
        if fn.returns is not None:
            table = api.tables[fn.returns]
            params += draw(read_params(api, table))
        if draw(st.booleans()):
            headers["prefer"] = draw(st.sampled_from(["count=exact", "return=representation"]))
        return Req(method, f"/rpc/{fn.name}", params, headers, body, target=fn.name, kind="rpc")

    return build()


def mix(*weighted: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, chosen about in proportion to its weight (``st.one_of`` leans
    towards some branches)."""
    branches = [s for weight, s in weighted for _ in range(weight)]
    return st.sampled_from(branches).flatmap(lambda s: s)
