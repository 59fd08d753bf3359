"""The error reference's table (docs/_hooks/errors_table.py builds it into
docs/reference/errors.md) lists every named constructor with the code and status it answers."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

from pgrest_asgi import errors

ROOT = Path(__file__).parents[2]


def load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "errors_table", ROOT / "docs" / "_hooks" / "errors_table.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def constructors() -> set[str]:
    return {
        f"{class_name}.{name}"
        for class_name in errors.__all__
        for name, value in vars(getattr(errors, class_name)).items()
        if isinstance(value, classmethod) and not name.startswith("_")
    }


def test_every_constructor_has_a_row() -> None:
    rows = load_hook().error_rows()
    assert sorted(row.constructor for row in rows) == sorted(constructors())


def test_rows_show_what_the_constructors_answer() -> None:
    hook = load_hook()
    for row in hook.error_rows():
        class_name, name = row.constructor.split(".")
        cls = getattr(errors, class_name)
        err = hook._call(cls, name)
        assert row.code == err.code
        assert row.status.split(",")[0].split()[0].isdigit(), row
        assert str(err.status) in row.status, row
        assert row.message == err.message
        doc = inspect.getdoc(getattr(cls, name))
        assert doc is not None and row.when and doc.endswith(": " + row.when), row


def test_placeholders_show_where_values_go() -> None:
    rows = {row.constructor: row for row in load_hook().error_rows()}
    assert rows["SchemaCacheError.table_not_found"].message == (
        "Could not find the table '<schema>.<name>' in the schema cache"
    )
    assert rows["ApiRequestError.too_long"].message == (
        "The <what> is longer than the configured limit of <limit> bytes"
    )


def test_the_page_has_both_markers_and_they_are_replaced() -> None:
    hook = load_hook()
    page = (ROOT / "docs" / "reference" / "errors.md").read_text(encoding="utf-8")
    assert hook.PGRST_MARKER in page and hook.SQLSTATE_MARKER in page
    rendered = hook.render(page)
    assert "<!-- errors:" not in rendered
    assert "| `PGRST205` | 404 |" in rendered
    assert "| `42P01` | 404 |" in rendered
