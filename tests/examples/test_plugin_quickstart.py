"""The pytest plugin as a new project meets it: docs/how-to/testing.md's quickstart (its
``pytest.ini`` and test file, taken from the page itself) run by pytest in a fresh directory,
in a process of its own that finds the plugin through the installed entry point; with the
demo's SQL as the project's schema. Then what a mistake looks like: broken SQL, a missing
file, no ``pgrest_sql``, no pytest-asyncio.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parents[2]
PAGE = ROOT / "docs" / "how-to" / "testing.md"
DEMO_SQL = ROOT / "pgrest_asgi" / "demo.sql"
_BLOCK = re.compile(r"<!-- quickstart: (?P<name>[\w.]+) -->\n```\w*\n(?P<text>.*?)\n```", re.S)


def quickstart() -> dict[str, str]:
    """The files the page's quickstart shows, by name."""
    files = {m["name"]: m["text"] + "\n" for m in _BLOCK.finditer(PAGE.read_text())}
    assert set(files) == {"pytest.ini", "test_api.py"}, files.keys()
    return files


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A directory with the quickstart's files and ``db/schema.sql`` (the demo's SQL)."""
    for name, text in quickstart().items():
        (pytester.path / name).write_text(text)
    (pytester.path / "db").mkdir()
    shutil.copyfile(DEMO_SQL, pytester.path / "db" / "schema.sql")
    return pytester


def _run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    # Warnings are errors in there too: the plugin must not cause any.
    return project.runpytest_subprocess("-W", "error", "-p", "no:randomly", *args, timeout=240)


def test_the_test_file_is_under_ten_lines() -> None:
    assert len(quickstart()["test_api.py"].splitlines()) < 10


def test_the_quickstart_passes(project: pytest.Pytester) -> None:
    result = _run(project)
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK


def test_broken_sql_names_the_file_and_line(project: pytest.Pytester) -> None:
    schema = project.path / "db" / "schema.sql"
    schema.write_text("CREATE SCHEMA api;\n\nCRATE TABLE api.films (id int);\n")
    result = _run(project)
    result.assert_outcomes(errors=2)
    message = f'pgrest_sql: {schema}:3: syntax error at or near "CRATE" (SQLSTATE 42601)'
    # The message alone, at the setup of each test: no traceback of the plugin's.
    assert result.outlines.count(message) == 2, result.outlines
    assert not any("pytest_plugin.py" in line for line in result.outlines)


def test_a_missing_file_is_named(project: pytest.Pytester) -> None:
    (project.path / "db" / "schema.sql").unlink()
    result = _run(project)
    result.assert_outcomes(errors=2)
    missing = project.path / "db" / "schema.sql"
    result.stdout.fnmatch_lines(
        [f"pgrest_sql: {missing}: cannot read the file: No such file or directory"]
    )


def test_no_sql_configured_says_how_to(project: pytest.Pytester) -> None:
    ini = project.path / "pytest.ini"
    ini.write_text("".join(ln for ln in ini.read_text().splitlines(True) if "pgrest_sql" not in ln))
    result = _run(project)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["pgrest_sql is not set: name the SQL files of your database*"])


def test_without_pytest_asyncio_the_error_says_what_to_install(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest-asyncio made unimportable (a package of that name that fails to import comes
    first on the path) and its plugin not loaded: one line, naming the package."""
    fake = project.path / "fake" / "pytest_asyncio"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('not installed here')\n")
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    ini = project.path / "pytest.ini"
    ini.write_text("".join(ln for ln in ini.read_text().splitlines(True) if "asyncio" not in ln))
    result = _run(project, "-p", "no:asyncio")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        ["pgrest_client is an async fixture and needs pytest-asyncio: pip install pytest-asyncio*"]
    )
