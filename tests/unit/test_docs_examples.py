"""Every Python example in the hook how-to pages runs against the current API (building an
app needs no database)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGES = Path(__file__).parents[2] / "docs" / "how-to" / "hooks"
BLOCKS = [
    pytest.param(code, id=f"{page.name}:{n}")
    for page in sorted(PAGES.glob("*.md"))
    for n, code in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.S))
    if "import" in code
]


def test_the_pages_have_examples() -> None:
    assert len(BLOCKS) >= 7


@pytest.mark.parametrize("code", BLOCKS)
def test_example_runs(code: str) -> None:
    exec(compile(code, "<docs>", "exec"), {"__name__": "docs_example"})
