"""The pure core must not import I/O (no psycopg, asyncio, db/ or app.py), and no module
imports another that imports it back."""

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
    "auth/tokens.py",
    "config.py",
    "context.py",
    "hooks.py",
    "cache.py",
    "openapi",
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


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _edges(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports anywhere: at module level, under
    ``TYPE_CHECKING`` and inside functions (a lazy import is still a dependency)."""
    me = _module(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                out.add(full if full in modules else target)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return (out & modules) - {me}


def test_no_import_circles() -> None:
    """No two modules of the package depend on each other, directly or through others —
    counting imports made only for type checking and imports inside functions."""
    paths = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: _edges(path, set(paths)) for name, path in paths.items()}
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                circles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == []
