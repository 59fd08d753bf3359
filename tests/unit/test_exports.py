"""The public surface is curated: everything in __all__ exists, nothing else is public."""

from __future__ import annotations

import types

import pgrest_asgi


def test_all_names_exist() -> None:
    for name in pgrest_asgi.__all__:
        assert hasattr(pgrest_asgi, name), name


def test_exported_members() -> None:
    public = {
        name
        for name, value in vars(pgrest_asgi).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(pgrest_asgi.__all__) - {"__version__"}
