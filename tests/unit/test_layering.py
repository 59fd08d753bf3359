"""The pure core must not import I/O: no psycopg, asyncio, db/ or app.py (DESIGN.md §1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "pgrest_asgi"
PURE = [
    "request",
    "plan",
    "sql",
    "response",
    "schema/model.py",
    "settings.py",
    "errors.py",
    "router.py",
    "observe.py",
    "db/errors.py",
    "auth/claims.py",
]
FORBIDDEN = (
    "psycopg",
    "psycopg_pool",
    "asyncio",
    "pgrest_asgi.db",
    "pgrest_asgi.app",
    "pgrest_asgi.schema.loader",
    "pgrest_asgi.schema.listener",
    "joserfc",
    "uvicorn",
)


def _files() -> list[Path]:
    out: list[Path] = []
    for entry in PURE:
        path = PACKAGE / entry
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    module = "pgrest_asgi." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                prefix = ".".join(base + ([node.module] if node.module else []))
                names.add(prefix)
                names.update(f"{prefix}.{a.name}" for a in node.names)
            elif node.module:
                names.add(node.module)
    return names


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_module_imports_no_io(path: Path) -> None:
    bad = sorted(
        name
        for name in _imports(path)
        for forbidden in FORBIDDEN
        if name == forbidden or name.startswith(forbidden + ".")
    )
    assert bad == [], f"{path.name} imports {bad}"


def test_the_rule_sees_every_pure_package() -> None:
    assert len(_files()) >= 15
