"""A response cache in front of the executor: a repeated read is answered without PostgreSQL.

``ResponseCache`` wraps the default executor (``ExecutorWrapper``) and overrides ``execute``
only. It keeps what read-only transactions returned (the ``DbResult``) for ``ttl`` seconds;
the app still builds every response from it, so headers that depend on the request stay
right.

The key must hold everything that decides what the statement returns to this caller:

* the ``Statement``: SQL text and parameter values, count query included (a HEAD's SQL is not
  its GET's; other filters are other parameters);
* ``tx.role``: grants differ per role: an anonymous caller must not get rows cached for a user
  (the default authenticator writes the role into the claims as well; a custom one may not);
* ``tx.claims_json``: row-level security policies read ``request.jwt.claims``, so two users of
  one role see different rows: without the claims, one user would be answered another's rows;
* ``tx.timezone`` (``Prefer: timezone=``): it changes how timestamps are written.

Request headers and cookies are left out, so callers share entries whatever their
``User-Agent``: add ``tx.headers_json``/``tx.cookies_json`` if policies or functions read
``request.headers``/``request.cookies``. A hit runs no SQL at all, so no ``db-pre-request``
function either: do not cache where that function turns callers away.

Writes invalidate. A write to a table (``statement.writes``) drops the entries whose rows
came from that table (``statement.relations``): its reads, and the reads that embed it. A
function call that may write (``VOLATILE``, called by POST) or a host endpoint's read-write
SQL may change any table: it drops everything.
Rows changed elsewhere (by triggers, under a view, behind a function's result) are seen once
their entries expire. A read that overlapped a write is answered but not kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pgrest_asgi import (
    DbResult,
    Executor,
    ExecutorWrapper,
    Hooks,
    PgRestApp,
    QualifiedName,
    RequestContext,
    Statement,
    TxSpec,
)

Key = tuple[str, str, str | None, Statement]


class ResponseCache(ExecutorWrapper):
    def __init__(
        self,
        inner: Executor | None = None,
        *,
        ttl: float = 5.0,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(inner)
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self.entries: dict[Key, tuple[float, DbResult]] = {}
        self.writes = 0  # bumped as every write starts and ends

    async def execute(
        self, statement: Statement, tx: TxSpec, context: RequestContext | None = None
    ) -> DbResult:
        if not tx.read_only:
            self.writes += 1
            try:
                return await self.inner.execute(statement, tx, context)
            finally:
                self.writes += 1
                self.drop(statement.writes)
        key = (tx.role, tx.claims_json, tx.timezone, statement)
        now, writes = self.clock(), self.writes
        try:
            hit = self.entries.get(key)
        except TypeError:  # a parameter that cannot be part of a key (a list): not cached
            return await self.inner.execute(statement, tx, context)
        if hit is not None and now < hit[0]:
            return hit[1]
        result = await self.inner.execute(statement, tx, context)
        if writes == self.writes:
            if len(self.entries) >= self.max_entries:
                del self.entries[next(iter(self.entries))]  # the oldest
            self.entries[key] = (now + self.ttl, result)
        return result

    def drop(self, table: QualifiedName | None) -> None:
        """Forget what a write to ``table`` may have changed (``None``: anything)."""
        if table is None:
            self.entries.clear()
        else:
            self.entries = {k: v for k, v in self.entries.items() if table not in k[3].relations}


def create_app(
    dsn: str,
    *,
    inner: Executor | None = None,
    ttl: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    **settings: Any,
) -> PgRestApp:
    cache = ResponseCache(inner, ttl=ttl, clock=clock)
    return PgRestApp(dsn, schemas=["library"], hooks=Hooks(executor=cache), **settings)


#: The schema this example serves (a test loads it into a throwaway database).
SCHEMA_SQL = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rc_authenticator') THEN
    CREATE ROLE rc_authenticator LOGIN NOINHERIT;
    CREATE ROLE rc_anon NOLOGIN;
    CREATE ROLE rc_user NOLOGIN;
    GRANT rc_anon, rc_user TO rc_authenticator;
  END IF;
END $$;

CREATE SCHEMA library;
GRANT USAGE ON SCHEMA library TO rc_anon, rc_user;

CREATE TABLE library.authors (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE library.books (
  id int PRIMARY KEY,
  author_id int NOT NULL REFERENCES library.authors,
  title text NOT NULL
);
INSERT INTO library.authors VALUES (1, 'Le Guin'), (2, 'Herbert');
INSERT INTO library.books VALUES (1, 1, 'Earthsea'), (2, 2, 'Dune'), (3, 1, 'Lathe of Heaven');
GRANT SELECT ON library.authors, library.books TO rc_anon, rc_user;
GRANT UPDATE ON library.authors, library.books TO rc_user;

-- Each user reads their own notes: the policy reads the JWT claims.
CREATE TABLE library.notes (id int PRIMARY KEY, owner text NOT NULL, body text NOT NULL);
INSERT INTO library.notes VALUES (1, 'ann', 'ann''s note'), (2, 'bo', 'bo''s note');
ALTER TABLE library.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON library.notes TO rc_user
  USING (owner = current_setting('request.jwt.claims', true)::json->>'sub');
GRANT SELECT ON library.notes TO rc_user;

CREATE FUNCTION library.rename_author(author_id int, new_name text) RETURNS void
  LANGUAGE sql AS $$ UPDATE library.authors SET name = new_name WHERE id = author_id $$;
"""
