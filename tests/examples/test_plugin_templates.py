"""``pgrest_asgi.testing.DatabaseTemplates``, which the pytest plugin's ``pgrest_database``
uses: SQL loaded once per distinct content, clones independent of each other, errors that
name the file and line, and not retried."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgrest_asgi.testing import DatabaseTemplates, PostgresCluster, SqlLoadError, load_sql


@pytest.fixture
def templates(pg_cluster: PostgresCluster) -> Iterator[DatabaseTemplates]:
    # A prefix of its own: the names of these templates are not shared with the plugin's.
    prefix = f"tt{uuid.uuid4().hex[:8]}"
    made = DatabaseTemplates(pg_cluster, prefix=prefix)
    yield made
    made.drop_all()


def _count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM t").fetchone()
    assert row is not None
    return int(row[0])


def test_the_sql_runs_once_per_content(templates: DatabaseTemplates, tmp_path: Path) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text("CREATE TABLE t (x int); INSERT INTO t VALUES (1);")
    first = templates.template([schema])
    assert templates.template([schema]) == first
    assert templates.template([Path(str(schema))]) == first
    schema.write_text("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2);")
    changed = templates.template([schema])
    assert changed != first
    with templates.database([schema]) as db:
        assert _count(db.dsn()) == 2


def test_clones_are_independent(templates: DatabaseTemplates) -> None:
    sql = ["CREATE TABLE t (x int)", "INSERT INTO t VALUES (1)"]
    with templates.database(sql) as one, templates.database(sql) as two:
        assert one.name != two.name
        one.run_sql("INSERT INTO t VALUES (2)")
        assert (_count(one.dsn()), _count(two.dsn())) == (2, 1)
    with templates.database(sql) as three:
        assert _count(three.dsn()) == 1
    names = {one.name, two.name, three.name}
    with psycopg.connect(templates.cluster.dsn()) as conn:
        rows = conn.execute("SELECT datname FROM pg_database").fetchall()
    assert names.isdisjoint(r[0] for r in rows)


def test_an_error_names_the_file_and_line(templates: DatabaseTemplates, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.sql", tmp_path / "bad.sql"
    good.write_text("CREATE TABLE t (x int);\n")
    bad.write_text("INSERT INTO t\nVALUES (1);\n\nSELECT * FROM nowhere;\n")
    with pytest.raises(SqlLoadError) as caught:
        templates.template([good, bad])
    assert str(caught.value) == (f'{bad}:4: relation "nowhere" does not exist (SQLSTATE 42P01)')
    assert (caught.value.source, caught.value.line) == (str(bad), 4)
    # Not run again: the same error, at once.
    with pytest.raises(SqlLoadError) as again:
        templates.clone([good, bad])
    assert again.value is caught.value


def test_sql_text_and_unreadable_files(pg_cluster: PostgresCluster, tmp_path: Path) -> None:
    with pytest.raises(SqlLoadError) as caught:
        load_sql(pg_cluster, "postgres", ["SELECT 1;", "SELECT 1 +;"])
    assert str(caught.value) == 'SQL text #2:1: syntax error at or near ";" (SQLSTATE 42601)'
    missing = tmp_path / "missing.sql"
    with pytest.raises(SqlLoadError) as unreadable:
        load_sql(pg_cluster, "postgres", [missing])
    assert str(unreadable.value) == f"{missing}: cannot read the file: No such file or directory"
    with pytest.raises(TypeError):
        load_sql(pg_cluster, "postgres", "SELECT 1")
