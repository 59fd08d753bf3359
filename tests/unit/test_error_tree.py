"""The error tree: each class answers the codes of its range, built by named constructors.

Constructors are found by introspection (every public classmethod a class defines), so a
new one is checked without touching this file; a new class must be given its range here.
"""

from __future__ import annotations

import ast
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import pgrest_asgi
from pgrest_asgi import errors
from pgrest_asgi.errors import (
    ApiRequestError,
    DatabaseError,
    DbConnectionError,
    JwtError,
    PgRestError,
    SchemaCacheError,
)

#: Each class: the label its row of the docstring tree shows, and the codes it may answer.
RANGES: dict[type[PgRestError], tuple[str, Callable[[str], bool]]] = {
    PgRestError: ("PGRSTX00", lambda code: code == "PGRSTX00"),
    DbConnectionError: ("PGRST000-003", lambda code: code in {f"PGRST00{i}" for i in range(4)}),
    ApiRequestError: ("PGRST1xx", lambda code: re.fullmatch(r"PGRST1\d\d", code) is not None),
    SchemaCacheError: ("PGRST2xx", lambda code: re.fullmatch(r"PGRST2\d\d", code) is not None),
    JwtError: ("PGRST3xx", lambda code: re.fullmatch(r"PGRST3\d\d", code) is not None),
    # A SQLSTATE: five characters, never one of PostgREST's own codes.
    DatabaseError: (
        "SQLSTATE",
        lambda code: re.fullmatch(r"[0-9A-Z]{5}", code) is not None,
    ),
}

PACKAGE = Path(pgrest_asgi.__file__).parent
ERRORS_MODULE = Path(errors.__file__)
#: The tree's classes, which only errors.py constructs directly (``DatabaseError`` carries
#: a SQLSTATE, and db/errors.py builds it from what PostgreSQL answered).
TREE_NAMES = {"PgRestError", "ApiRequestError", "SchemaCacheError", "JwtError", "DbConnectionError"}


def exported_classes() -> list[type[PgRestError]]:
    return [getattr(errors, name) for name in errors.__all__]


def constructors(cls: type[PgRestError]) -> list[str]:
    """The public classmethods ``cls`` itself defines (inherited ones are checked on theirs)."""
    return sorted(
        name
        for name, value in vars(cls).items()
        if isinstance(value, classmethod) and not name.startswith("_")
    )


def all_constructors() -> list[tuple[type[PgRestError], str]]:
    return [(cls, name) for cls in exported_classes() for name in constructors(cls)]


def _samples(hint: Any, name: str) -> list[Any]:
    """Values of type ``hint``: every arm of a union (``None`` included)."""
    if hint is type(None):
        return [None]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return [value for arm in typing.get_args(hint) for value in _samples(arm, name)]
    if hint is str or hint is Any:
        return [f"{name}_value"]
    if hint is bool:
        return [True, False]
    if hint is int:
        return [3, 1]
    if origin is not None and issubclass(origin, Mapping):
        key, value = typing.get_args(hint)
        return [{_samples(key, "key")[0]: _samples(value, "value")[0]}]
    if origin is not None and issubclass(origin, Sequence):
        (item,) = typing.get_args(hint)
        first = _samples(item, name)[0]
        return [[first, first], [first], []]
    raise AssertionError(f"no sample for {hint!r} ({name}): teach _samples the type")


def calls(cls: type[PgRestError], name: str) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Argument sets for a constructor: each parameter through its samples, the others at
    their first sample (and each defaulted parameter left out once)."""
    method = getattr(cls, name)
    hints = typing.get_type_hints(method)
    params = list(inspect.signature(method).parameters.values())
    samples = {p.name: _samples(hints[p.name], p.name) for p in params}
    base = {p.name: samples[p.name][0] for p in params}
    variants = [base]
    for p in params:
        variants.extend({**base, p.name: value} for value in samples[p.name][1:])
        if p.default is not inspect.Parameter.empty:
            variants.append({k: v for k, v in base.items() if k != p.name})
    for values in variants:
        args = tuple(
            values[p.name]
            for p in params
            if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and p.name in values
        )
        kwargs = {
            p.name: values[p.name]
            for p in params
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name in values
        }
        yield args, kwargs


def test_every_exported_class_has_a_range() -> None:
    classes = exported_classes()
    assert all(isinstance(c, type) and issubclass(c, PgRestError) for c in classes)
    assert set(classes) == set(RANGES), "give each class of the tree its range in RANGES"


@pytest.mark.parametrize("cls", list(RANGES), ids=lambda c: c.__name__)
def test_default_code_and_status(cls: type[PgRestError]) -> None:
    """A class's defaults are those of one of its own errors: in its range, an error status,
    and (for PostgREST's classes) what one of its constructors answers."""
    _, in_range = RANGES[cls]
    assert in_range(cls.code), f"{cls.__name__}.code = {cls.code!r} is not in its range"
    assert 400 <= cls.status <= 599
    if cls is DatabaseError:
        assert (cls.code, cls.status) == ("XX000", 500)  # internal_error: 500 by the map
        return
    answered = {
        (err.code, err.status)
        for name in constructors(cls)
        for args, kwargs in calls(cls, name)
        for err in [getattr(cls, name)(*args, **kwargs)]
    }
    assert (cls.code, cls.status) in answered, f"no {cls.__name__} constructor answers its defaults"


def test_postgrest_classes_have_constructors() -> None:
    for cls in RANGES:
        if cls is not DatabaseError:
            assert constructors(cls), f"{cls.__name__} has no named constructor"


@pytest.mark.parametrize(
    ("cls", "name"), all_constructors(), ids=lambda v: v if isinstance(v, str) else v.__name__
)
def test_constructor_answers_a_code_of_its_class(cls: type[PgRestError], name: str) -> None:
    _, in_range = RANGES[cls]
    doc = inspect.getdoc(getattr(cls, name))
    assert doc, f"{cls.__name__}.{name} has no docstring"
    assert "\n" not in doc, f"{cls.__name__}.{name}: the docstring is one line"
    codes = set()
    for args, kwargs in calls(cls, name):
        err = getattr(cls, name)(*args, **kwargs)
        assert type(err) is cls
        assert in_range(err.code), f"{cls.__name__}.{name} answers {err.code}"
        assert 300 <= err.status <= 599
        assert err.message
        assert err.body().startswith(b'{"code":"' + err.code.encode() + b'"')
        codes.add(err.code)
    # One code per constructor, and the docstring says which (and its status).
    assert len(codes) == 1, f"{cls.__name__}.{name} answers several codes: {sorted(codes)}"
    (code,) = codes
    assert doc.startswith(code), f"{cls.__name__}.{name}: the docstring starts with {code}"


def test_codes_belong_to_one_class() -> None:
    owner: dict[str, type[PgRestError]] = {}
    for cls, name in all_constructors():
        for args, kwargs in calls(cls, name):
            code = getattr(cls, name)(*args, **kwargs).code
            assert owner.setdefault(code, cls) is cls, f"{code}: {owner[code]} and {cls}"


def package_sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p != ERRORS_MODULE)


def test_no_literal_pgrst_code_outside_errors_module() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{number}"
        for path in package_sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if 'code="PGRST' in line or "code='PGRST" in line
    ]
    assert offenders == [], "build these with a constructor of pgrest_asgi/errors.py"


def test_tree_classes_are_built_by_constructors_outside_errors_module() -> None:
    """``ApiRequestError(...)`` and its kin are called in errors.py only (``DatabaseError``,
    which carries a SQLSTATE, is built where PostgreSQL's answer is read)."""
    offenders = []
    for path in package_sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.id if isinstance(func, ast.Name) else None
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                called = func.attr if func.value.id == "errors" else None
            if called in TREE_NAMES:
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {called}(")
    assert offenders == [], "call a named constructor of pgrest_asgi/errors.py instead"


def _tree_rows() -> list[str]:
    doc = errors.__doc__ or ""
    block = doc.split("tree::\n\n", 1)[1].split("\n\n", 1)[0]
    return block.splitlines()


def test_docstring_tree_names_every_class_with_its_range() -> None:
    rows = {}
    for line in _tree_rows():
        found = re.match(r"\s*(?:[├└]── )?(\w+Error)\s+(\S+)", line)
        if found:
            rows[found.group(1)] = found.group(2)
    assert set(rows) == set(errors.__all__)
    for cls, (label, _) in RANGES.items():
        assert rows[cls.__name__] == label, f"the tree shows {cls.__name__} as {label}"


def test_docstring_tree_columns_align() -> None:
    """The codes column starts at one offset on every row (continuation lines align with
    the description column)."""
    starts, descriptions = set(), set()
    for line in _tree_rows():
        found = re.match(r"(\s*(?:[├└]── )?\w+Error\s+)(\S+\s+)\S", line)
        if found:
            starts.add(len(found.group(1)))
            descriptions.add(len(found.group(1)) + len(found.group(2)))
        else:
            descriptions.add(len(line) - len(line.lstrip()))
    assert len(starts) == 1, f"codes start at columns {sorted(starts)}"
    assert len(descriptions) == 1, f"descriptions start at columns {sorted(descriptions)}"
