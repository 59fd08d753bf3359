"""Every test that uses the fixture database starts from the fixture data.

The session app commits what tests write, and transactions that roll back still advance
sequences. So that no test depends on what ran before it (in any order, or repeated with
``--count``), the database is put back before each test that uses it:

* after the fixtures are loaded, :func:`snapshot` copies every table into schema ``_pristine``,
  records every sequence, and puts a statement trigger on every table that records the table
  as dirty (in the writing transaction: a rollback leaves it clean);
* :func:`restore` (one call of ``_pristine.restore()``) re-fills the dirty tables from their
  copies and resets the sequences that moved, with triggers and foreign keys off
  (``session_replication_role = replica``). With nothing to do it costs one round trip.
"""

from __future__ import annotations

import psycopg

SNAPSHOT = r"""
CREATE SCHEMA _pristine;
REVOKE ALL ON SCHEMA _pristine FROM PUBLIC;
CREATE TABLE _pristine.tables (
  id int PRIMARY KEY, rel regclass UNIQUE NOT NULL, copy text, columns text, overriding bool
);
CREATE TABLE _pristine.dirty (rel regclass PRIMARY KEY);
-- A sequence's own row: pg_sequences shows no value for a sequence not yet called, such as
-- one set with ALTER SEQUENCE ... RESTART WITH.
CREATE TABLE _pristine.sequences (seq regclass PRIMARY KEY, last_value bigint, is_called bool);
DO $$
DECLARE
  s regclass;
  v bigint;
  c bool;
BEGIN
  FOR s IN SELECT format('%I.%I', schemaname, sequencename)::regclass FROM pg_sequences LOOP
    EXECUTE format('SELECT last_value, is_called FROM %s', s) INTO v, c;
    INSERT INTO _pristine.sequences VALUES (s, v, c);
  END LOOP;
END $$;

-- Runs as its owner (the superuser): any role that writes a table marks it.
CREATE FUNCTION _pristine.mark() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog AS $$
BEGIN
  INSERT INTO _pristine.dirty VALUES (coalesce(pg_partition_root(TG_RELID), TG_RELID))
    ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;

DO $$
DECLARE
  r record;
  n int := 0;
  cols text;
BEGIN
  FOR r IN
    SELECT c.oid, c.relispartition FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')
      AND s.nspname NOT IN ('information_schema', '_pristine') AND s.nspname NOT LIKE 'pg\_%'
      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
    ORDER BY c.oid
  LOOP
    EXECUTE format(
      'CREATE TRIGGER zz_pristine AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s '
      'FOR EACH STATEMENT EXECUTE FUNCTION _pristine.mark()', r.oid::regclass);
    CONTINUE WHEN r.relispartition;  -- copied and restored through its root
    n := n + 1;
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
      FROM pg_attribute
      WHERE attrelid = r.oid AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
    IF cols IS NOT NULL THEN
      EXECUTE format('CREATE TABLE _pristine.t%s AS SELECT %s FROM %s', n, cols, r.oid::regclass);
    END IF;
    INSERT INTO _pristine.tables VALUES (
      n, r.oid, CASE WHEN cols IS NOT NULL THEN format('_pristine.t%s', n) END, cols,
      EXISTS (SELECT FROM pg_attribute WHERE attrelid = r.oid AND attidentity = 'a'));
  END LOOP;
END $$;

CREATE FUNCTION _pristine.restore() RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
  r record;
  restored text[] := '{}';
BEGIN
  SET LOCAL session_replication_role = replica;  -- no triggers, no foreign key checks
  FOR r IN SELECT t.* FROM _pristine.tables t JOIN _pristine.dirty USING (rel) ORDER BY t.id LOOP
    EXECUTE format('DELETE FROM %s', r.rel);
    IF r.copy IS NOT NULL THEN
      EXECUTE format('INSERT INTO %s (%s) %s SELECT %s FROM %s', r.rel, r.columns,
        CASE WHEN r.overriding THEN 'OVERRIDING SYSTEM VALUE' ELSE '' END, r.columns, r.copy);
    END IF;
    restored := restored || r.rel::text;
  END LOOP;
  DELETE FROM _pristine.dirty;
  FOR r IN
    SELECT s.* FROM _pristine.sequences s
    JOIN pg_sequences p ON format('%I.%I', p.schemaname, p.sequencename)::regclass = s.seq
    WHERE p.last_value IS DISTINCT FROM CASE WHEN s.is_called THEN s.last_value END
  LOOP
    PERFORM setval(r.seq, r.last_value, r.is_called);
    restored := restored || r.seq::text;
  END LOOP;
  RETURN restored;
END $$;
"""


def snapshot(dsn: str) -> None:
    """Copy every table and sequence of the database at ``dsn`` (the superuser's)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SNAPSHOT)


class Restorer:
    """Puts the database back to the snapshot; keeps one connection for the session."""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)

    def restore(self) -> list[str]:
        """The tables and sequences that were put back."""
        row = self.conn.execute("SELECT _pristine.restore()").fetchone()
        assert row is not None
        return list(row[0])

    def close(self) -> None:
        self.conn.close()
