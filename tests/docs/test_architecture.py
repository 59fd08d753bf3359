"""docs/explanation/architecture.md's module map names every module of the package."""

from __future__ import annotations

import re
from pathlib import Path

import pgrest_asgi

PACKAGE = Path(pgrest_asgi.__file__).parent
PAGE = Path(__file__).parents[2] / "docs" / "explanation" / "architecture.md"


def test_module_map_names_every_module() -> None:
    text = PAGE.read_text(encoding="utf-8")
    table = text.split("## Module map", 1)[1].split("\n## ", 1)[0]
    named = {
        name
        for row in table.splitlines()
        if row.startswith("| `")
        for name in re.findall(r"`([\w/]+\.py)`", row.split("|")[1])
    }
    modules = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")}
    # A subpackage's __init__.py only re-exports its modules' names.
    listed = {m for m in modules if "/" not in m or not m.endswith("/__init__.py")}
    assert sorted(listed - named) == [], "add these modules to the module map"
    assert sorted(named - modules) == [], "these modules are gone: update the module map"
