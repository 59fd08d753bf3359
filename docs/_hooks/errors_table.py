"""MkDocs hook: the error reference's tables, generated from the code at build time.

``docs/reference/errors.md`` holds two markers that this hook replaces:

- ``<!-- errors:pgrst -->``: every named constructor of ``pgrest_asgi.errors`` (the only
  place a ``PGRST`` code is written, see ``tests/unit/test_error_tree.py``), with the code
  and status its docstring states and the message it builds. Arguments are filled with
  placeholders (``<name>``), so a message shows where a value goes.
- ``<!-- errors:sqlstate -->``: the fixed part of ``pgrest_asgi.db.errors``' SQLSTATE → HTTP
  status map (exact codes, then two-character classes).

The page can therefore never fall behind the code. ``tests/docs/test_errors_table.py`` runs
the same functions and checks the table against the constructors.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PGRST_MARKER = "<!-- errors:pgrst -->"
SQLSTATE_MARKER = "<!-- errors:sqlstate -->"

_DOC = re.compile(
    r"(?P<code>PGRST[0-9X]\d\d) \((?P<status>[^)]*)\)(?:, (?P<ours>our own guard))?: "
)


@dataclass(frozen=True)
class ErrorRow:
    """One constructor: where it is, what it answers, and when."""

    code: str
    status: str
    message: str
    when: str
    constructor: str
    ours: bool


class _Slot(int):
    """An integer argument that prints as a placeholder in f-strings and ``str()``."""

    label: str

    def __new__(cls, label: str) -> _Slot:
        slot = super().__new__(cls, 2)
        slot.label = label
        return slot

    def __str__(self) -> str:
        return f"<{self.label}>"

    def __format__(self, spec: str) -> str:
        return str(self)


def _placeholder(hint: Any, name: str) -> Any:
    """A value of type ``hint`` that shows up as ``<name>`` in a message (``None`` for an
    optional argument, so the message is the one without it)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        arms = typing.get_args(hint)
        if type(None) in arms:
            return None
        return _placeholder(arms[0], name)
    if hint is str or hint is Any:
        return f"<{name}>"
    if hint is int:
        return _Slot(name)
    if hint is bool:
        return False
    if origin is not None and issubclass(origin, Mapping):
        return {}
    if origin is not None and issubclass(origin, Sequence):
        (item,) = typing.get_args(hint)
        return [f"<{name}>"] if item is str else []
    raise TypeError(f"no placeholder for {hint!r} ({name})")


def _call(cls: type, name: str) -> Any:
    method = getattr(cls, name)
    hints = typing.get_type_hints(method)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for param in inspect.signature(method).parameters.values():
        value = _placeholder(hints[param.name], param.name)
        if param.kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs[param.name] = value
        else:
            args.append(value)
    return method(*args, **kwargs)


def error_rows() -> list[ErrorRow]:
    """Every named constructor of the error classes, sorted by code, then status."""
    from pgrest_asgi import errors

    rows = []
    for class_name in errors.__all__:
        cls = getattr(errors, class_name)
        for name, value in vars(cls).items():
            if not isinstance(value, classmethod) or name.startswith("_"):
                continue
            doc = inspect.getdoc(getattr(cls, name)) or ""
            found = _DOC.match(doc)
            if found is None:
                raise ValueError(
                    f"{class_name}.{name}: the docstring does not start 'CODE (status): '"
                )
            err = _call(cls, name)
            rows.append(
                ErrorRow(
                    code=err.code,
                    status=found.group("status"),
                    message=err.message,
                    when=doc[found.end() :],
                    constructor=f"{class_name}.{name}",
                    ours=found.group("ours") is not None,
                )
            )
    return sorted(rows, key=lambda r: (r.code.replace("X", "9"), r.status, r.constructor))


def _cell(text: str) -> str:
    """Markdown for a table cell: ``rst`` literals as code, pipes escaped."""
    text = text.replace("|", "\\|")
    return re.sub(r"``(.+?)``", r"`\1`", text)


def _code_span(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}".replace("|", "\\|")


def pgrst_table() -> str:
    lines = [
        "| Code | Status | Message | When | Built by |",
        "|---|---|---|---|---|",
    ]
    for row in error_rows():
        when = _cell(row.when) + (" *(ours)*" if row.ours else "")
        lines.append(
            f"| `{row.code}` | {_cell(row.status)} | {_code_span(row.message)} | {when} "
            f"| `{row.constructor}` |"
        )
    return "\n".join(lines)


def sqlstate_table() -> str:
    from pgrest_asgi.db import errors as db_errors

    lines = ["| SQLSTATE | Status |", "|---|---|"]
    exact: Mapping[str, int] = db_errors._EXACT
    classes: Mapping[str, int] = db_errors._PREFIX2
    lines += [f"| `{code}` | {status} |" for code, status in sorted(exact.items())]
    lines += [f"| `{prefix}…` (class) | {status} |" for prefix, status in sorted(classes.items())]
    return "\n".join(lines)


def render(markdown: str) -> str:
    """``markdown`` with the markers replaced by the tables."""
    if PGRST_MARKER in markdown:
        markdown = markdown.replace(PGRST_MARKER, pgrst_table())
    if SQLSTATE_MARKER in markdown:
        markdown = markdown.replace(SQLSTATE_MARKER, sqlstate_table())
    return markdown


def on_page_markdown(markdown: str, *, page: Any, config: Any, files: Any) -> str:
    """MkDocs' hook: only the errors page has markers."""
    return render(markdown)
