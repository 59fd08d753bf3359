"""A filter operator PostgREST lacks, added in one place: ``startswith`` is PostgreSQL's ``^@``.

``?title=startswith.100%`` keeps the rows whose title begins with exactly ``100%``. Unlike
``like.100%*``, the value is taken literally: ``%`` and ``_`` in it are not wildcards, so
user input needs no escaping (and ``^@`` can use an SP-GiST index).

The operator table is plain data: copy it, add an entry, and give it to the grammar. The
grammar records the ``Operator`` it resolved in the parsed filter and the planner renders that
one, so nothing else needs to know the new name: ``not.startswith.``, ``startswith(any).{…}``
(``quantifiable``) and ``or=(title.startswith.…)`` all work. The value is a bind parameter like
every other filter value; the SQL operator text comes from the table, never from the request.
"""

from __future__ import annotations

from typing import Any

from pgrest_asgi import OPERATORS, Hooks, Operator, PgRestApp, PostgrestGrammar

MY_OPERATORS = {**OPERATORS, "startswith": Operator("^@", quantifiable=True)}


def create_app(dsn: str, **settings: Any) -> PgRestApp:
    grammar = PostgrestGrammar(operators=MY_OPERATORS)
    return PgRestApp(dsn, schemas=["lib"], hooks=Hooks(grammar=grammar), **settings)


#: The schema this example serves (a test loads it into a throwaway database).
SCHEMA_SQL = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lib_authenticator') THEN
    CREATE ROLE lib_authenticator LOGIN NOINHERIT;
    CREATE ROLE lib_anon NOLOGIN;
    GRANT lib_anon TO lib_authenticator;
  END IF;
END $$;

CREATE SCHEMA lib;
GRANT USAGE ON SCHEMA lib TO lib_anon;
CREATE TABLE lib.books (id int PRIMARY KEY, title text NOT NULL);
INSERT INTO lib.books VALUES
  (1, 'Dune'), (2, 'Dune Messiah'), (3, 'dune buggies'), (4, '100% Pure'),
  (5, '100 Days'), (6, '50_50'), (7, '500 Miles'), (8, 'Don''t Panic');
GRANT SELECT ON lib.books TO lib_anon;
"""
