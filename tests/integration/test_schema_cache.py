"""The schema cache loader against a real database (``fresh_db``: a new empty database)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from psycopg import pq, sql

from pgrest_asgi.schema.loader import load_schema_cache, parse_view_columns
from pgrest_asgi.schema.model import ForeignKey, QualifiedName, SchemaCache, Table

pytestmark = pytest.mark.db

DDL = """
CREATE SCHEMA api;
CREATE SCHEMA private;
CREATE SCHEMA ext;
CREATE SCHEMA hidden;

CREATE TYPE api.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN private.posint AS int DEFAULT 7 CHECK (VALUE > 0);
CREATE DOMAIN api.code AS varchar(10) NOT NULL;
CREATE DOMAIN api.short_code AS api.code;
CREATE DOMAIN api.feeling AS api.mood;

CREATE TABLE api.authors (
  id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  dropped_me text,
  name varchar(40) NOT NULL,
  mood api.mood DEFAULT 'ok',
  code api.code,
  score private.posint,
  tag api.short_code DEFAULT 'x',
  feeling api.feeling,
  initials character(3),
  upper_name text GENERATED ALWAYS AS (upper(name)) STORED,
  created timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE api.authors DROP COLUMN dropped_me;
COMMENT ON TABLE api.authors IS 'Who writes';
COMMENT ON COLUMN api.authors.name IS 'Full name';

-- one-to-one through the primary key, and through a unique constraint
CREATE TABLE api.profiles (author_id int PRIMARY KEY REFERENCES api.authors (id), bio text);
CREATE TABLE api.passports (
  id serial PRIMARY KEY,
  author_id int UNIQUE CONSTRAINT passports_author_fk REFERENCES api.authors (id)
);

-- composite primary key declared in a different order than the columns
CREATE TABLE api.editions (isbn text, edition int, title text, PRIMARY KEY (edition, isbn));
CREATE TABLE api.reviews (
  id int PRIMARY KEY,
  author_id int CONSTRAINT reviews_author_fk REFERENCES api.authors (id),
  isbn text,
  edition int,
  CONSTRAINT reviews_edition_fk FOREIGN KEY (isbn, edition) REFERENCES api.editions (isbn, edition)
);
-- a self reference
CREATE TABLE api.employees (
  id int PRIMARY KEY,
  boss_id int CONSTRAINT employees_boss_fk REFERENCES api.employees (id)
);

-- private base tables behind views, one view chain going through the extra schema
CREATE TABLE private.customers (id int PRIMARY KEY, name text);
CREATE TABLE private.orders (
  id int PRIMARY KEY,
  customer_id int CONSTRAINT orders_customer_fk REFERENCES private.customers (id),
  author_id int CONSTRAINT orders_author_fk REFERENCES api.authors (id),
  total numeric
);
CREATE VIEW ext.orders_base AS
  SELECT o.id AS order_id, o.customer_id, o.author_id, o.total FROM private.orders o;
CREATE VIEW api.orders AS
  SELECT order_id, customer_id AS "buyer (id)", author_id, total * 2 AS double_total,
         (SELECT count(*) FROM private.customers) AS n_customers
  FROM ext.orders_base
  WHERE EXISTS (SELECT 1 FROM private.customers c WHERE c.id = customer_id);
CREATE VIEW api.customers AS SELECT c.id, c.name FROM private.customers c;
CREATE VIEW api.customer_names AS SELECT name FROM private.customers;
CREATE VIEW api.author_count AS SELECT count(*) AS n FROM api.authors;
CREATE TABLE api.comments (
  id int PRIMARY KEY,
  customer_id int CONSTRAINT comments_customer_fk REFERENCES private.customers (id)
);
CREATE TABLE hidden.secrets (id int PRIMARY KEY, author_id int REFERENCES api.authors (id));
CREATE VIEW api.profile_view AS SELECT author_id AS who, bio FROM api.profiles;

-- every other relation kind
CREATE MATERIALIZED VIEW api.author_stats AS SELECT id, name FROM api.authors;
CREATE FOREIGN DATA WRAPPER sc_dummy;
CREATE SERVER sc_dummy_srv FOREIGN DATA WRAPPER sc_dummy;
CREATE FOREIGN TABLE api.remote (id int, payload text) SERVER sc_dummy_srv;
CREATE TABLE api.measurements (id int, at date NOT NULL, PRIMARY KEY (id, at))
  PARTITION BY RANGE (at);
CREATE TABLE api.measurements_2024 PARTITION OF api.measurements
  FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE api.readings (
  id int PRIMARY KEY,
  m_id int,
  m_at date,
  CONSTRAINT readings_measurement_fk FOREIGN KEY (m_id, m_at) REFERENCES api.measurements (id, at)
);

-- routines
CREATE TYPE api.pair_type AS (a int, b text);
CREATE FUNCTION api.add(a int, b int DEFAULT 1) RETURNS int
  LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
CREATE FUNCTION api.add(a text, b text) RETURNS text
  LANGUAGE sql STABLE AS 'SELECT a || b';
CREATE FUNCTION api.authors_named(pattern text) RETURNS SETOF api.authors
  LANGUAGE sql STABLE ROWS 5 AS $$ SELECT * FROM api.authors WHERE name LIKE pattern $$;
COMMENT ON FUNCTION api.authors_named(text) IS 'Authors by pattern';
CREATE FUNCTION api.touch() RETURNS void LANGUAGE sql AS '';
CREATE FUNCTION api.total(VARIADIC nums int[]) RETURNS bigint
  LANGUAGE sql AS 'SELECT sum(n) FROM unnest(nums) n';
CREATE FUNCTION api.configured() RETURNS text LANGUAGE sql
  SET search_path = api, public SET statement_timeout = '5s'
  AS $$ SELECT current_setting('search_path') $$;
CREATE FUNCTION api.pair(x_in int, OUT x int, OUT y int) RETURNS record
  LANGUAGE sql AS 'SELECT x_in, 2';
CREATE FUNCTION api.pairs() RETURNS TABLE (x int, y text)
  LANGUAGE sql AS $$ SELECT 1, 'a' $$;
CREATE FUNCTION api.make_pair() RETURNS api.pair_type LANGUAGE sql AS $$ SELECT 1, 'a' $$;
CREATE FUNCTION api.unnamed(int, text DEFAULT '') RETURNS int LANGUAGE sql AS 'SELECT $1';
CREATE FUNCTION api.trig() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE FUNCTION api.takes_internal(internal) RETURNS int LANGUAGE internal STRICT AS 'int4in';
CREATE AGGREGATE api.my_sum(int) (SFUNC = int4pl, STYPE = int);
CREATE PROCEDURE api.proc() LANGUAGE sql AS '';
CREATE FUNCTION hidden.nope() RETURNS int LANGUAGE sql AS 'SELECT 1';
"""


async def _setup(dsn: str, ddl: str = DDL) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(ddl)


async def _load(dsn: str, schemas: tuple[str, ...] = ("api",), **kw: Any) -> SchemaCache:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        return await load_schema_cache(conn, schemas, **kw)


@pytest.fixture
async def cache(fresh_db: str) -> AsyncIterator[SchemaCache]:
    await _setup(fresh_db)
    yield await _load(fresh_db, ("api",), extra_search_path=("ext", "public"))


def _fk(
    cache: SchemaCache, table: str, constraint: str, target: str | None = None
) -> list[ForeignKey]:
    return [
        fk
        for fk in cache.foreign_keys
        if fk.constraint == constraint
        and fk.table == QualifiedName("api", table)
        and (target is None or fk.foreign_table == QualifiedName("api", target))
    ]


# -- relations -------------------------------------------------------------------------------


async def test_relation_kinds_and_scope(cache: SchemaCache) -> None:
    kinds = {q.name: t.kind for q, t in cache.tables.items()}
    assert kinds["authors"] == "table"
    assert kinds["customers"] == "view"
    assert kinds["author_stats"] == "materialized_view"
    assert kinds["remote"] == "foreign_table"
    assert kinds["measurements"] == "partitioned_table"
    assert "measurements_2024" not in kinds  # partitions are excluded
    assert {q.schema for q in cache.tables} == {"api"}  # private/ext/hidden never exposed
    assert cache.schemas == ("api",)
    assert cache.table("api", "authors") is not None
    assert "authors" in cache.table_names("api")


async def test_table_and_column_details(cache: SchemaCache) -> None:
    authors = cache.table("api", "authors")
    assert authors is not None
    assert authors.description == "Who writes"
    assert [c.name for c in authors.columns] == [
        "id",
        "name",
        "mood",
        "code",
        "score",
        "tag",
        "feeling",
        "initials",
        "upper_name",
        "created",
    ]
    col = {c.name: c for c in authors.columns}
    assert col["id"].is_identity and not col["id"].nullable
    assert col["id"].default is not None and col["id"].default.startswith("nextval(")
    assert col["name"].data_type == "character varying(40)"
    assert col["name"].max_length == 40
    assert col["name"].description == "Full name"
    assert not col["name"].nullable
    assert col["initials"].max_length == 3
    assert col["mood"].enum_values == ("sad", "ok", "happy")
    assert col["mood"].default == "'ok'::api.mood"
    assert col["mood"].nullable
    # domains: base type, NOT NULL of the domain, domain default, domain over domain/enum
    assert col["code"].data_type == "api.code"
    assert col["code"].base_type == "character varying(10)"
    assert col["code"].max_length == 10
    assert not col["code"].nullable
    assert col["score"].base_type == "integer"
    assert col["score"].default == "7"
    assert col["tag"].base_type == "character varying(10)"
    assert not col["tag"].nullable
    assert col["tag"].default == "'x'::character varying"
    assert col["feeling"].enum_values == ("sad", "ok", "happy")
    assert col["upper_name"].is_generated and col["upper_name"].default is None
    assert col["created"].default == "now()"
    assert col["created"].base_type == col["created"].data_type == "timestamp with time zone"
    assert col["created"].max_length is None and col["created"].enum_values == ()


async def test_primary_keys_and_writability(cache: SchemaCache) -> None:
    def t(name: str) -> Table:
        table = cache.table("api", name)
        assert table is not None
        return table

    def flags(name: str) -> tuple[bool, bool, bool]:
        return (t(name).insertable, t(name).updatable, t(name).deletable)

    assert t("authors").primary_key == ("id",)
    assert t("editions").primary_key == ("edition", "isbn")  # key order, not column order
    assert t("measurements").primary_key == ("id", "at")
    assert t("remote").primary_key == ()
    assert flags("authors") == (True, True, True)
    assert flags("measurements") == (True, True, True)
    assert flags("customers") == (True, True, True)  # auto-updatable view
    assert flags("author_count") == (False, False, False)
    assert flags("author_stats") == (False, False, False)
    assert flags("remote") == (False, False, False)  # wrapper without handler: no error


async def test_view_primary_keys(cache: SchemaCache) -> None:
    def pk(name: str) -> tuple[str, ...]:
        table = cache.table("api", name)
        assert table is not None
        return table.primary_key

    assert pk("customers") == ("id",)
    assert pk("customer_names") == ()
    assert pk("orders") == ("order_id",)  # through ext.orders_base to private.orders
    assert pk("profile_view") == ("who",)
    assert pk("author_stats") == ("id",)
    assert pk("author_count") == ()


# -- foreign keys ----------------------------------------------------------------------------


async def test_table_foreign_keys(cache: SchemaCache) -> None:
    (edition_fk,) = _fk(cache, "reviews", "reviews_edition_fk")
    assert edition_fk.columns == ("isbn", "edition")
    assert edition_fk.foreign_table == QualifiedName("api", "editions")
    assert edition_fk.foreign_columns == ("isbn", "edition")
    assert not edition_fk.one_to_one

    (author_fk,) = _fk(cache, "reviews", "reviews_author_fk", "authors")
    assert (author_fk.columns, author_fk.foreign_columns) == (("author_id",), ("id",))
    assert not author_fk.one_to_one

    (profile_fk,) = [
        fk
        for fk in cache.foreign_keys
        if fk.table == QualifiedName("api", "profiles")
        and fk.foreign_table == QualifiedName("api", "authors")
    ]
    assert profile_fk.one_to_one  # the FK column is the primary key
    (passport_fk,) = _fk(cache, "passports", "passports_author_fk", "authors")
    assert passport_fk.one_to_one  # the FK column is unique

    (boss_fk,) = _fk(cache, "employees", "employees_boss_fk")
    assert boss_fk.foreign_table == QualifiedName("api", "employees")

    # a key to a partitioned table appears once, not once per partition
    (reading_fk,) = _fk(cache, "readings", "readings_measurement_fk")
    assert reading_fk.foreign_table == QualifiedName("api", "measurements")
    assert reading_fk.foreign_columns == ("id", "at")

    # keys with an end outside the exposed schemas are dropped
    for fk in cache.foreign_keys:
        assert fk.table.schema == "api" and fk.foreign_table.schema == "api"


async def test_view_foreign_keys(cache: SchemaCache) -> None:
    # view -> view: both ends over private tables, one through a chain of two views
    (customer_fk,) = _fk(cache, "orders", "orders_customer_fk")
    assert customer_fk.columns == ("buyer (id)",)
    assert customer_fk.foreign_table == QualifiedName("api", "customers")
    assert customer_fk.foreign_columns == ("id",)
    # view -> table
    (author_fk,) = _fk(cache, "orders", "orders_author_fk", "authors")
    assert author_fk.foreign_table == QualifiedName("api", "authors")
    assert author_fk.foreign_columns == ("id",)
    # table -> view
    (comment_fk,) = _fk(cache, "comments", "comments_customer_fk")
    assert comment_fk.foreign_table == QualifiedName("api", "customers")
    assert comment_fk.columns == ("customer_id",)
    # table -> view and view -> table for a key between exposed tables, one-to-one kept
    to_view = [
        fk
        for fk in cache.foreign_keys
        if fk.table == QualifiedName("api", "profile_view")
        and fk.foreign_table == QualifiedName("api", "authors")
    ]
    assert [(fk.columns, fk.one_to_one) for fk in to_view] == [(("who",), True)]
    # table -> materialized view
    stats = _fk(cache, "reviews", "reviews_author_fk", "author_stats")
    assert [fk.foreign_columns for fk in stats] == [("id",)]
    # the view without the key column gets nothing
    assert not [
        fk
        for fk in cache.foreign_keys
        if QualifiedName("api", "customer_names") in (fk.table, fk.foreign_table)
    ]


async def test_view_chain_needs_extra_schema(fresh_db: str) -> None:
    await _setup(fresh_db)
    cache = await _load(fresh_db, ("api",))  # ext not on the extra search path
    orders = cache.table("api", "orders")
    assert orders is not None and orders.primary_key == ()
    assert not _fk(cache, "orders", "orders_customer_fk")
    assert _fk(cache, "comments", "comments_customer_fk")  # one view deep: still found


async def test_several_exposed_schemas(fresh_db: str) -> None:
    await _setup(fresh_db)
    cache = await _load(fresh_db, ("api", "hidden"))
    assert cache.schemas == ("api", "hidden")
    assert cache.table("hidden", "secrets") is not None
    assert {
        fk.foreign_table
        for fk in cache.foreign_keys
        if fk.table == QualifiedName("hidden", "secrets")
    } == {QualifiedName("api", "authors"), QualifiedName("api", "author_stats")}
    assert QualifiedName("hidden", "nope") in cache.routines


# -- routines --------------------------------------------------------------------------------


async def test_routines(cache: SchemaCache) -> None:
    routines = cache.routines
    names = {q.name for q in routines}
    assert {"trig", "takes_internal", "my_sum", "proc", "nope"}.isdisjoint(names)
    assert {q.schema for q in routines} == {"api"}

    add = sorted(routines[QualifiedName("api", "add")], key=lambda r: r.return_type)
    assert [r.return_type for r in add] == ["integer", "text"]
    int_add = add[0]
    assert int_add.return_kind == "scalar" and not int_add.returns_set
    assert int_add.volatility == "immutable"
    assert [(p.name, p.data_type, p.required) for p in int_add.params] == [
        ("a", "integer", True),
        ("b", "integer", False),
    ]
    assert add[1].volatility == "stable"

    (named,) = routines[QualifiedName("api", "authors_named")]
    assert named.return_kind == "composite"
    assert (named.return_type_schema, named.return_type) == ("api", "authors")
    assert named.returns_set and named.rows == 5.0
    assert named.description == "Authors by pattern"

    (touch,) = routines[QualifiedName("api", "touch")]
    assert (touch.return_kind, touch.return_type, touch.volatility) == ("void", "void", "volatile")

    (total,) = routines[QualifiedName("api", "total")]
    (nums,) = total.params
    assert (nums.name, nums.data_type, nums.variadic, nums.required) == (
        "nums",
        "integer[]",
        True,
        True,
    )

    (configured,) = routines[QualifiedName("api", "configured")]
    assert configured.settings == (("search_path", "api, public"), ("statement_timeout", "5s"))

    (pair,) = routines[QualifiedName("api", "pair")]
    assert pair.return_kind == "record" and not pair.returns_set
    assert [p.name for p in pair.params] == ["x_in"]  # OUT parameters are not inputs
    assert (pair.out_params, pair.out_types) == (("x", "y"), ("integer", "integer"))
    (pairs,) = routines[QualifiedName("api", "pairs")]
    assert pairs.return_kind == "record" and pairs.returns_set and pairs.params == ()
    assert (pairs.out_params, pairs.out_types) == (("x", "y"), ("integer", "text"))
    assert (add[0].out_params, add[0].out_types) == ((), ())

    (make_pair,) = routines[QualifiedName("api", "make_pair")]
    assert (make_pair.return_kind, make_pair.return_type) == ("composite", "pair_type")

    (unnamed,) = routines[QualifiedName("api", "unnamed")]
    assert [(p.name, p.data_type, p.required) for p in unnamed.params] == [
        ("", "integer", True),
        ("", "text", False),
    ]


# -- role settings, version, connection handling ---------------------------------------------


async def test_role_settings(fresh_db: str, pg_cluster: Any) -> None:
    suffix = uuid.uuid4().hex[:8]
    web, loader = f"sc_web_{suffix}", f"sc_loader_{suffix}"
    dbname = psycopg.conninfo.conninfo_to_dict(fresh_db)["dbname"]
    assert isinstance(dbname, str)
    stmts = [
        sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(web)),
        sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(loader)),
        sql.SQL("ALTER ROLE {} SET statement_timeout = '5s'").format(sql.Identifier(web)),
        sql.SQL("ALTER ROLE {} IN DATABASE {} SET statement_timeout = '1s'").format(
            sql.Identifier(web), sql.Identifier(dbname)
        ),
        sql.SQL("ALTER ROLE {} SET default_transaction_isolation = 'serializable'").format(
            sql.Identifier(web)
        ),
        sql.SQL("ALTER ROLE {} SET log_min_duration_statement = '100ms'").format(
            sql.Identifier(web)
        ),
        sql.SQL("ALTER ROLE {} SET app.tenant = 'acme'").format(sql.Identifier(web)),
        sql.SQL("ALTER ROLE {} IN DATABASE postgres SET work_mem = '1MB'").format(
            sql.Identifier(web)
        ),
    ]
    async with await psycopg.AsyncConnection.connect(fresh_db, autocommit=True) as admin:
        try:
            for stmt in stmts:
                await admin.execute(stmt)

            # loaded by a superuser: every setting can be re-applied
            cache = await _load(fresh_db)
            settings = dict(cache.role_settings[web])
            assert settings == {
                "statement_timeout": "1s",  # the database-specific value wins
                "default_transaction_isolation": "serializable",
                "log_min_duration_statement": "100ms",
                "app.tenant": "acme",
            }
            assert "work_mem" not in settings  # set for another database only
            assert cache.role_isolation[web] == "serializable"

            # loaded by an ordinary role: a superuser-only parameter is left out ...
            user_dsn = psycopg.conninfo.make_conninfo(fresh_db, user=loader)
            cache = await _load(user_dsn)
            settings = dict(cache.role_settings[web])
            assert "log_min_duration_statement" not in settings
            assert settings["statement_timeout"] == "1s"
            assert settings["app.tenant"] == "acme"
            assert cache.role_isolation[web] == "serializable"
            if cache.pg_version >= 150000:
                # ... unless it was granted SET on it
                await admin.execute(
                    sql.SQL("GRANT SET ON PARAMETER log_min_duration_statement TO {}").format(
                        sql.Identifier(loader)
                    )
                )
                cache = await _load(user_dsn)
                assert dict(cache.role_settings[web])["log_min_duration_statement"] == "100ms"
        finally:
            if admin.info.server_version >= 150000:
                await admin.execute(
                    sql.SQL("REVOKE SET ON PARAMETER log_min_duration_statement FROM {}").format(
                        sql.Identifier(loader)
                    )
                )
            for role in (web, loader):
                await admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


async def test_version_and_connection_state(fresh_db: str) -> None:
    await _setup(fresh_db)
    async with await psycopg.AsyncConnection.connect(fresh_db, autocommit=True) as conn:
        cache = await load_schema_cache(conn, ["api"])
        assert cache.pg_version == conn.info.server_version
        assert cache.pg_version >= 140000
        assert conn.autocommit
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE

    async with await psycopg.AsyncConnection.connect(fresh_db) as conn:
        await load_schema_cache(conn, ["api"])
        assert not conn.autocommit
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        # a caller's open transaction stays open and usable
        await conn.execute("SELECT 1")
        cache = await load_schema_cache(conn, ["api"])
        assert cache.table("api", "authors") is not None
        assert conn.info.transaction_status.name == "INTRANS"  # (mypy narrows the enum)
        await conn.execute("SELECT 1")
        await conn.rollback()


async def test_names_are_schema_qualified_whatever_the_search_path(fresh_db: str) -> None:
    """The catalogs are read with an empty search path, as PostgREST reads them: a type outside
    pg_catalog and the objects a default names carry their schema even when the loading
    connection's search path would find them unqualified. A caller's transaction keeps its own
    search path."""
    await _setup(
        fresh_db,
        """
        CREATE SCHEMA api;
        CREATE TYPE public.mood AS ENUM ('sad', 'happy');
        CREATE SEQUENCE public.counter;
        CREATE TABLE api.days (
          n int DEFAULT nextval('public.counter'),
          mood public.mood DEFAULT 'happy',
          note varchar(5)
        );
        CREATE FUNCTION api.today() RETURNS public.mood LANGUAGE sql AS $$ SELECT 'sad'::mood $$;
        """,
    )
    async with await psycopg.AsyncConnection.connect(fresh_db) as conn:
        await conn.execute("SET search_path TO public")
        await conn.execute("SELECT 1")  # a transaction is open: the savepoint path
        cache = await load_schema_cache(conn, ["api"])
        cur = await conn.execute("SELECT current_setting('search_path')")
        assert await cur.fetchone() == ("public",)
        await conn.rollback()
        idle = await load_schema_cache(conn, ["api"])
        assert idle == cache
    table = cache.table("api", "days")
    assert table is not None
    columns = {c.name: (c.data_type, c.default) for c in table.columns}
    assert columns == {
        "n": ("integer", "nextval('public.counter'::regclass)"),
        "mood": ("public.mood", "'happy'::public.mood"),
        "note": ("character varying(5)", None),
    }
    (today,) = cache.routines[QualifiedName("api", "today")]
    assert today.return_type == "public.mood"


async def test_load_runs_read_only(fresh_db: str) -> None:
    """The catalog queries run in one read-only REPEATABLE READ transaction."""
    seen: list[tuple[Any, ...]] = []

    class ProbingCursor(psycopg.AsyncCursor[Any]):
        async def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
            if str(query).startswith(("BEGIN", "ROLLBACK")):
                return await super().execute(query, params, **kw)
            async with psycopg.AsyncCursor(self.connection) as probe:
                await probe.execute(
                    "SELECT current_setting('transaction_read_only'),"
                    " current_setting('transaction_isolation'), txid_current_if_assigned(),"
                    " now()"
                )
                row = await probe.fetchone()
            assert row is not None
            seen.append(tuple(row))
            return await super().execute(query, params, **kw)

    import pgrest_asgi.schema.loader as loader

    original = loader._cursor_class
    loader._cursor_class = ProbingCursor
    try:
        async with await psycopg.AsyncConnection.connect(fresh_db, autocommit=True) as conn:
            await load_schema_cache(conn, ["public"])
    finally:
        loader._cursor_class = original
    assert len(seen) >= 5
    # one transaction (same now()), read only, repeatable read
    assert {row for row in seen} == {("on", "repeatable read", None, seen[0][3])}


async def test_empty_and_missing_schemas(fresh_db: str) -> None:
    cache = await _load(fresh_db, ("does_not_exist",))
    assert cache.tables == {} and cache.foreign_keys == () and cache.routines == {}
    cache = await _load(fresh_db, ())
    assert cache.tables == {}


async def test_quoted_names(fresh_db: str) -> None:
    await _setup(
        fresh_db,
        """
        CREATE SCHEMA "we ird";
        CREATE TABLE "we ird"."ta(b)le" ("i{d}" int PRIMARY KEY, "na me" text);
        CREATE TABLE "we ird".child (id int PRIMARY KEY,
          "pa\\rent" int CONSTRAINT "fk (odd)" REFERENCES "we ird"."ta(b)le");
        CREATE VIEW "we ird"."v(1)" AS SELECT "i{d}" AS "x)y", "na me" FROM "we ird"."ta(b)le";
        """,
    )
    cache = await _load(fresh_db, ("we ird",))
    view = cache.table("we ird", "v(1)")
    assert view is not None and view.primary_key == ("x)y",)
    fks = {(fk.table.name, fk.foreign_table.name, fk.columns) for fk in cache.foreign_keys}
    assert fks == {("child", "ta(b)le", ("pa\\rent",)), ("child", "v(1)", ("pa\\rent",))}


async def test_schema_comments(fresh_db: str) -> None:
    await _setup(
        fresh_db,
        """
        CREATE SCHEMA shop;
        COMMENT ON SCHEMA shop IS 'Shop API
Orders and customers.';
        CREATE SCHEMA plain;
        CREATE SCHEMA hidden;
        COMMENT ON SCHEMA hidden IS 'not exposed';
        """,
    )
    cache = await _load(fresh_db, ("shop", "plain"))
    assert cache.schema_descriptions == {"shop": "Shop API\nOrders and customers."}


def test_parse_view_columns_ignores_nested_queries() -> None:
    # shape of pg_rewrite.ev_action: only the outer target list counts
    tle = (
        "{{TARGETENTRY :expr {{VAR :varno 1}} :resno {n} :resname {name} :ressortgroupref 0"
        " :resorigtbl {tbl} :resorigcol {col} :resjunk {junk}}}"
    )
    inner = (
        "{QUERY :rtable <> :targetList ("
        + tle.format(n=1, name="z", tbl=99, col=9, junk="false")
        + ")}"
    )
    outer = (
        "({QUERY :rtable ({RANGETBLENTRY :subquery "
        + inner
        + "}) :targetList ("
        + tle.format(n=1, name="a\\ b\\)", tbl=10, col=2, junk="false")
        + " "
        + tle.format(n=2, name="computed", tbl=0, col=0, junk="false")
        + " "
        + tle.format(n=3, name="<>", tbl=11, col=1, junk="true")
        + ") :returningList <>})"
    )
    assert parse_view_columns(outer) == {1: (10, 2)}


async def test_many_tables_load_in_a_fixed_number_of_queries(
    fresh_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """400 tables and 200 views load with the same statements as an empty schema: nothing is
    queried per table."""
    import pgrest_asgi.schema.loader as loader

    statements: list[str] = []

    class CountingCursor(psycopg.AsyncCursor[Any]):
        async def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
            statements.append(str(query))
            return await super().execute(query, params, **kw)

    monkeypatch.setattr(loader, "_cursor_class", CountingCursor)
    n = 400
    ddl = ["CREATE SCHEMA big;"]
    for i in range(n):
        ref = f", parent int REFERENCES big.t{i - 1} (id)" if i else ""
        ddl.append(f"CREATE TABLE big.t{i} (id int PRIMARY KEY, name text{ref});")
        if i % 2 == 0:
            ddl.append(f"CREATE VIEW big.v{i} AS SELECT * FROM big.t{i};")
    await _setup(fresh_db, "CREATE SCHEMA empty;")
    await _load(fresh_db, ("empty",))
    for_empty, statements[:] = list(statements), []
    await _setup(fresh_db, "\n".join(ddl))
    cache = await _load(fresh_db, ("big",))
    assert len(cache.tables) == n + n // 2
    assert cache.table("big", "v10") is not None
    assert cache.table("big", "v10").primary_key == ("id",)  # type: ignore[union-attr]
    assert statements == for_empty
    assert len(statements) == 7
