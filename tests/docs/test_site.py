"""The documentation site builds with ``mkdocs build --strict`` (a broken link, a page missing
from the nav, a docstring mkdocstrings cannot render: each fails the build), and the API
reference documents every name ``pgrest_asgi`` exports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pgrest_asgi

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"


@pytest.mark.docs
def test_site_builds_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (site / "tutorial" / "index.html").is_file()
    errors_page = (site / "reference" / "errors" / "index.html").read_text(encoding="utf-8")
    assert "errors:pgrst" not in errors_page and "PGRST205" in errors_page


def documented_names() -> list[str]:
    return [
        found.group(1)
        for page in sorted((DOCS / "reference").rglob("*.md"))
        for found in re.finditer(r"^::: pgrest_asgi\.(\w+)$", page.read_text(), re.M)
    ]


def test_reference_documents_every_export_once() -> None:
    names = documented_names()
    exported = {name for name in pgrest_asgi.__all__ if not name.startswith("__")}
    assert sorted(set(names)) == sorted(exported), "give each export a ::: line in docs/reference"
    assert len(names) == len(set(names)), "an export documented twice"


def test_no_page_points_outside_the_repository() -> None:
    """Links to files go to files of this repository (MkDocs checks the pages' own links)."""
    offenders = [
        f"{page.relative_to(ROOT)}: {target}"
        for page in sorted(DOCS.rglob("*.md"))
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text(encoding="utf-8"))
        if "://" not in target
        and not target.startswith("mailto:")
        and not (page.parent / target).resolve().is_relative_to(ROOT)
    ]
    assert offenders == []


def test_no_page_cites_a_document_outside_the_repository() -> None:
    """Design notes and shared folders of the people who wrote this are not in the
    repository: a page that cites them sends the reader nowhere."""
    outside = ["DESIGN" + ".md", ".." + "/shared"]
    offenders = [
        f"{page.relative_to(ROOT)}: {name}"
        for page in [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted(DOCS.rglob("*.md"))]
        for name in outside
        if name in page.read_text(encoding="utf-8")
    ]
    assert offenders == []
