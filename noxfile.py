"""Developer sessions: the same commands CI runs (`.ci/run`), one per concern."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (a throwaway PostgreSQL is started by the tests themselves)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(name="tests-pure-sqlglot")
def tests_pure_sqlglot(session: nox.Session) -> None:
    """The suite with sqlglot's pure-Python build (no sqlglotc), the fallback for platforms
    without a compiled wheel."""
    session.install("-e", ".[test]")
    session.run("pip", "uninstall", "-y", "sqlglotc")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/, failing on any warning (as CI does)."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(name="docs-serve")
def docs_serve(session: nox.Session) -> None:
    """Serve the documentation on http://127.0.0.1:8000, rebuilt on every change."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "serve", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def bench(session: nox.Session) -> None:
    """The throughput benchmark (needs `wrk`: apt-get install wrk). Not part of CI."""
    session.install("-e", ".[server]")
    session.run("python", "bench/run.py", *session.posargs)
