"""The documentation's tests: the site builds (``-m docs`` selects that test, ``-m "not docs"``
leaves it out), the tutorial runs, and the generated reference matches the code."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docs: builds the documentation site with MkDocs")
