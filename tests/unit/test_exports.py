"""The public surface is curated: everything in __all__ exists, nothing else is public."""

from __future__ import annotations

import subprocess
import sys
import types
import typing

import pgrest_asgi


def test_all_names_exist() -> None:
    for name in pgrest_asgi.__all__:
        assert hasattr(pgrest_asgi, name), name
    assert not hasattr(pgrest_asgi, "NoSuchName")
    assert set(pgrest_asgi.__all__) <= set(dir(pgrest_asgi))


def test_importing_the_package_imports_no_dependency() -> None:
    """``import pgrest_asgi`` (as pytest does for the plugin in every run) loads neither
    sqlglot, psycopg nor the JOSE library: its names are imported when first read."""
    code = (
        "import sys, pgrest_asgi, pgrest_asgi.pytest_plugin; "
        "print(sorted(m for m in ('sqlglot', 'psycopg', 'joserfc', 'msgspec') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_exported_members() -> None:
    for name in pgrest_asgi.__all__:  # the package imports its names when first read
        getattr(pgrest_asgi, name)
    public = {
        name
        for name, value in vars(pgrest_asgi).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(pgrest_asgi.__all__) - {"__version__"}


def _types_in(hint: object) -> set[type]:
    """Every class a type hint mentions (unions, generics and their arguments)."""
    found: set[type] = set()
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and origin is None:
        found.add(hint)
    if origin is not None and isinstance(origin, type):
        found.add(origin)
    for arg in typing.get_args(hint):
        found |= _types_in(arg)
    return found


def _hook_surface() -> list[object]:
    """What a host touches: the hook Protocols and default classes, the walker, the plan
    context, the request context and host endpoints."""
    return [
        pgrest_asgi.Router,
        pgrest_asgi.Authenticator,
        pgrest_asgi.Grammar,
        pgrest_asgi.Planner,
        pgrest_asgi.Executor,
        pgrest_asgi.SchemaLoader,
        pgrest_asgi.SettingsAware,
        pgrest_asgi.ExecutorWrapper,
        pgrest_asgi.DefaultRouter,
        pgrest_asgi.JwtAuthenticator,
        pgrest_asgi.PostgrestGrammar,
        pgrest_asgi.SqlglotPlanner,
        pgrest_asgi.PsycopgExecutor,
        pgrest_asgi.CatalogLoader,
        pgrest_asgi.PlanContext,
        pgrest_asgi.EndpointRequest,
        pgrest_asgi.transform,
        pgrest_asgi.restrict,
        pgrest_asgi.eq,
        pgrest_asgi.assign,
        pgrest_asgi.rows_nodes,
    ]


def _callables(owner: object) -> list[object]:
    if not isinstance(owner, type):
        return [owner]
    return [
        member
        for name, member in vars(owner).items()
        if callable(member) and (not name.startswith("_") or name in ("__init__", "__call__"))
    ]


def test_every_type_a_hook_needs_is_exported() -> None:
    """A host writes a hook without importing anything ``pgrest_asgi`` does not export: every
    package class named in a hook's signatures is exported."""
    exported = {id(getattr(pgrest_asgi, name)) for name in pgrest_asgi.__all__}
    missing: set[str] = set()
    for owner in _hook_surface():
        for function in _callables(owner):
            # Names a module imports only for type checking resolve against the exports: a
            # name that is not exported fails to resolve, and is reported.
            try:
                hints = typing.get_type_hints(function, localns=dict(vars(pgrest_asgi)))
            except NameError as exc:
                missing.add(f"{getattr(function, '__qualname__', function)}: {exc}")
                continue
            for hint in hints.values():
                for cls in _types_in(hint):
                    if cls.__module__.startswith("pgrest_asgi") and id(cls) not in exported:
                        missing.add(f"{cls.__module__}.{cls.__qualname__}")
    assert missing == set()
