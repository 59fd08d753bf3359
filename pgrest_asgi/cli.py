"""``pgrest-asgi``: run the API like the PostgREST binary, or a self-contained demo.

pgrest-asgi serve [CONFIG_FILE]   PGRST_* variables and/or a PostgREST config file
pgrest-asgi demo [--port 3000]    a throwaway PostgreSQL with a sample schema, served
pgrest-asgi --example             print an example config file
pgrest-asgi --dump-config [FILE]  print the effective configuration
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import resources
from typing import Any

from . import __version__
from .server import http_protocol
from .settings import ConfigError, Settings

__all__ = ["main"]

EXAMPLE_CONFIG = """\
## The database to connect to, as the authenticator role
db-uri = "postgresql://authenticator:secret@localhost:5432/app"
## Schemas exposed over HTTP; the first is the default
db-schemas = "api"
## The role for requests without a JWT
db-anon-role = "web_anon"
## HS256 secret (at least 32 characters), a JWK or a JWKS
# jwt-secret = "reallyreallyreallyreallyverysafe"
# db-max-rows = 1000
# db-pre-request = "api.check_request"
server-host = "127.0.0.1"
server-port = 3000
"""

# Public on purpose: the demo prints tokens signed with it.
DEMO_JWT_SECRET = "demo-secret-demo-secret-demo-secret-0123"  # noqa: S105


def _bind_host(host: str) -> str:
    """PostgREST's special host names → an address uvicorn can bind."""
    return {"*": "0.0.0.0", "*4": "0.0.0.0", "!4": "0.0.0.0", "*6": "::", "!6": "::"}.get(  # noqa: S104
        host, host
    )


def load_settings(config_file: str | None) -> Settings:
    if config_file:
        return Settings.from_file(config_file, environ=os.environ)
    return Settings.from_env()


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    import uvicorn

    from .app import PgRestApp

    app = PgRestApp(settings=settings)
    options: dict[str, Any] = {
        "log_level": {"crit": "critical", "warn": "warning"}.get(
            settings.log_level, settings.log_level
        ),
        "lifespan": "on",
        "server_header": False,
        "proxy_headers": False,
        # uvicorn's HTTP/1.1 protocol with the limits below; no WebSocket upgrades.
        "http": http_protocol(settings),
        "ws": "none",
    }
    if settings.server_unix_socket:
        options["uds"] = settings.server_unix_socket
    else:
        options["host"] = host or _bind_host(settings.server_host)
        options["port"] = settings.server_port if port is None else port
    uvicorn.run(app, **options)


def demo(port: int, host: str) -> None:
    from joserfc import jwt
    from joserfc.jwk import OctKey

    from .testing import PostgresCluster

    cluster = PostgresCluster()
    print("Starting a throwaway PostgreSQL …", flush=True)
    cluster.start()
    try:
        cluster.create_database("demo")
        sql = resources.files("pgrest_asgi").joinpath("demo.sql").read_text()
        cluster.run_sql(sql, dbname="demo")
        settings = Settings(
            db_uri=cluster.dsn("demo", user="authenticator"),
            db_schemas=("api",),
            db_anon_role="web_anon",
            jwt_secret=DEMO_JWT_SECRET,
            db_max_rows=100,
            openapi_docs_path="/docs",
            server_host=host,
            server_port=port,
        )
        token = jwt.encode(
            {"alg": "HS256"},
            {"role": "todo_user", "sub": "alice"},
            OctKey.import_key(DEMO_JWT_SECRET),
        )
        base = f"http://{'localhost' if host in ('127.0.0.1', '::1') else host}:{port}"
        print(
            f"""
pgrest_asgi {__version__} demo — PostgREST's API over a sample database.

  curl '{base}/films?select=id,title,year&id=eq.1'
  curl '{base}/films?select=title,year&year=gte.2000&order=year.desc&limit=3'
  curl -I '{base}/films'                               # HEAD: Content-Range, no body
  curl '{base}/todos'                                  # RLS: anonymous sees only public todos
  curl '{base}/todos' -H 'Authorization: Bearer {token}'
  curl '{base}/films?select=title,director:directors(last_name)&limit=2'   # embedding
  curl '{base}/rpc/films_since?year=2015&select=title,directors(last_name)'
  curl '{base}/todos?select=id,task' -H 'Authorization: Bearer {token}' \
       -H 'Prefer: return=representation' -H 'Content-Type: application/json' \
       -d '{{"task": "Write a review"}}'                # POST: 201 with the new row
  curl '{base}/nope'                                   # 404 PGRST205 with a hint
  curl '{base}/'                                       # the OpenAPI (Swagger 2.0) document
  open {base}/docs/                                    # API docs (Swagger UI)

The bearer token above is for role todo_user (sub=alice), signed with the demo secret
{DEMO_JWT_SECRET!r}. Press Ctrl+C to stop; the database is deleted on exit.
""",
            flush=True,
        )
        serve(settings, host=host, port=port)
    finally:
        cluster.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # PostgREST's forms: `pgrest-asgi [FILE]` serves as `pgrest-asgi serve [FILE]` does, and
    # `pgrest-asgi --dump-config FILE` reads FILE.
    positional = [i for i, arg in enumerate(args) if not arg.startswith("-")]
    if positional and not _COMMANDS.intersection(args):
        args.insert(positional[0], "serve")
    parser = argparse.ArgumentParser(
        prog="pgrest-asgi",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pgrest-asgi {__version__}")
    parser.add_argument("--example", action="store_true", help="print an example config file")
    parser.add_argument(
        "--dump-config",
        action="store_true",
        help="print the effective configuration (config file syntax) and exit",
    )
    sub = parser.add_subparsers(dest="command")
    p_serve = sub.add_parser("serve", help="serve a database (PostgREST-compatible settings)")
    p_serve.add_argument("config", nargs="?", help="a PostgREST config file")
    p_serve.add_argument(
        "--dump-config", action="store_true", dest="dump_config_after", help=argparse.SUPPRESS
    )
    p_demo = sub.add_parser("demo", help="serve a sample database from a throwaway PostgreSQL")
    p_demo.add_argument("--port", type=int, default=3000)
    p_demo.add_argument("--host", default="127.0.0.1")
    parsed = parser.parse_args(args)

    if parsed.example:
        print(EXAMPLE_CONFIG, end="")
        return 0
    config_file = getattr(parsed, "config", None)
    try:
        if parsed.dump_config or getattr(parsed, "dump_config_after", False):
            print(load_settings(config_file).dump(), end="")
            return 0
        if parsed.command == "demo":
            demo(parsed.port, parsed.host)
            return 0
        if parsed.command == "serve":
            serve(load_settings(config_file))
            return 0
    except ConfigError as exc:
        print(f"pgrest-asgi: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    parser.print_help()
    return 1


_COMMANDS = frozenset({"serve", "demo"})


if __name__ == "__main__":
    raise SystemExit(main())
