"""Tenant isolation in Python: one planner pass that restricts and writes ``tenant_id``.

Every tenant's users run as the same database role here, so PostgreSQL's grants cannot tell
tenants apart; the rule below does, from the ``tenant`` claim of the caller's JWT. It is
written once for the ``orders`` table, and ``transform`` applies it wherever rows of
``orders`` appear: a read, an embed at any depth or a spread, a ``count``, a function that
returns ``SETOF orders``, the rows an UPDATE, DELETE or upsert may change, and the values an
INSERT or UPDATE writes. The tenant travels as a bind parameter; the body stays one JSON
parameter, so the rule costs no Python work per row.

(Row-level security in PostgreSQL does the same job inside the database; this example is for
apps that keep the rule next to their Python code, or whose tenant comes from elsewhere.)
"""

from __future__ import annotations

from typing import Any

from pgrest_asgi import (
    Hooks,
    PgRestApp,
    Plan,
    PlanContext,
    QualifiedName,
    RowsNode,
    SqlglotPlanner,
    assign,
    eq,
    restrict,
    transform,
)

ORDERS = QualifiedName("shop", "orders")


def tenant_rule(plan: Plan, ctx: PlanContext) -> Plan:
    """Only the caller's tenant's orders are read, changed or written."""
    tenant = ctx.auth.claims.get("tenant")
    tenant = tenant if isinstance(tenant, str) else None  # no tenant: no rows at all

    def visit(node: RowsNode) -> RowsNode:
        if node.relation != ORDERS:
            return node
        node = restrict(node, eq("tenant_id", ctx.param(tenant)))
        return assign(node, ctx, "tenant_id", tenant)

    return transform(plan, visit)


def create_app(dsn: str, **settings: Any) -> PgRestApp:
    planner = SqlglotPlanner(passes=(tenant_rule,))
    return PgRestApp(dsn, schemas=["shop"], hooks=Hooks(planner=planner), **settings)


#: The schema this example serves (a test loads it into a throwaway database).
SCHEMA_SQL = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'shop_authenticator') THEN
    CREATE ROLE shop_authenticator LOGIN NOINHERIT;
    CREATE ROLE shop_anon NOLOGIN;
    CREATE ROLE shop_user NOLOGIN;
    GRANT shop_anon, shop_user TO shop_authenticator;
  END IF;
END $$;

CREATE SCHEMA shop;
GRANT USAGE ON SCHEMA shop TO shop_user;

CREATE TABLE shop.regions (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE shop.customers (
  id int PRIMARY KEY,
  region_id int NOT NULL REFERENCES shop.regions,
  name text NOT NULL
);
CREATE TABLE shop.orders (
  id int PRIMARY KEY,
  tenant_id text NOT NULL,
  customer_id int NOT NULL REFERENCES shop.customers,
  total int NOT NULL DEFAULT 0
);
INSERT INTO shop.regions VALUES (1, 'north');
INSERT INTO shop.customers VALUES (1, 1, 'ann'), (2, 1, 'bo');
INSERT INTO shop.orders VALUES
  (1, 'a', 1, 10), (2, 'b', 1, 20), (3, 'a', 2, 30), (4, 'b', 2, 40), (5, 'b', 2, 50);
GRANT SELECT ON ALL TABLES IN SCHEMA shop TO shop_user;
GRANT INSERT, UPDATE, DELETE ON shop.orders TO shop_user;

CREATE FUNCTION shop.all_orders() RETURNS SETOF shop.orders
  LANGUAGE sql STABLE AS $$ SELECT * FROM shop.orders $$;
GRANT EXECUTE ON FUNCTION shop.all_orders() TO shop_user;
"""
