"""``pgrest-asgi``: run the API like the PostgREST binary, or a self-contained demo.

pgrest-asgi [FILE]                 serve: a PostgREST config file and/or PGRST_* variables
pgrest-asgi serve [FILE] [--workers N]
pgrest-asgi demo [--port 3000]     a throwaway PostgreSQL with a sample schema, served
pgrest-asgi --example              an example config file listing every setting
pgrest-asgi --dump-config [FILE]   the effective configuration, in config file syntax
pgrest-asgi --dump-schema [FILE]   the schema cache, as JSON
pgrest-asgi --ready [FILE]         exit 0 when the running server's admin /ready says so
pgrest-asgi --version
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from collections.abc import Sequence
from importlib import resources

from . import __version__
from .config import KEYS, dump_value
from .runner import StartupError, bind_socket, run, serve_sockets
from .settings import ConfigError, Settings

__all__ = ["main"]

# Public on purpose: the demo prints tokens signed with it.
DEMO_JWT_SECRET = "demo-secret-demo-secret-demo-secret-0123"  # noqa: S105

_EXAMPLE_VALUES = {
    "db-uri": "postgresql://authenticator:secret@localhost:5432/app",
    "db-schemas": "api",
    "db-anon-role": "web_anon",
    "server-host": "127.0.0.1",
}


def example_config() -> str:
    """Every PostgREST setting with its comment; the ones a first start needs are set, the
    others commented out at their defaults."""
    defaults = Settings()
    lines = ["## pgrest-asgi configuration (PostgREST's format). Every key, with its default.", ""]
    for key in KEYS:
        if key.field is None:
            continue
        lines.append(f"## {key.name}: {key.note}")
        if key.name in _EXAMPLE_VALUES:
            lines.append(f"{key.name} = {dump_value(_EXAMPLE_VALUES[key.name])}")
        else:
            lines.append(f"# {key.name} = {dump_value(getattr(defaults, key.field))}")
        lines.append("")
    lines.append("## app.settings.<name>: values for current_setting('app.settings.<name>')")
    lines.append('# app.settings.currency = "EUR"')
    return "\n".join(lines) + "\n"


def load_settings(config_file: str | None) -> Settings:
    """The file (if any), then the ``PGRST_*`` variables over it."""
    return Settings.load(config_file, environ=os.environ)


def serve(config_file: str | None, *, workers: int = 1) -> int:
    settings = load_settings(config_file)
    return run(settings, lambda: load_settings(config_file), workers=workers)


def with_in_database(settings: Settings) -> Settings:
    """``settings`` with the in-database settings over them (``db-config``), as a starting
    server reads them; when the database cannot be read, ``settings`` and a warning."""
    if not settings.db_config:
        return settings
    import psycopg

    from .dbconfig import read_in_database_config

    async def read() -> Settings:
        async with await psycopg.AsyncConnection.connect(
            settings.db_uri, autocommit=True, connect_timeout=2
        ) as conn:
            return settings.overlaid(await read_in_database_config(conn, settings.db_pre_config))

    try:
        return asyncio.run(read())
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(
            f"pgrest-asgi: without the in-database settings (cannot read them: {reason})",
            file=sys.stderr,
        )
        return settings


def dump_schema(settings: Settings) -> str:
    """The schema cache as JSON, read as a starting server reads it (in-database settings
    included)."""
    import psycopg

    from .admin import schema_cache_json
    from .dbconfig import read_in_database_config
    from .schema.loader import load_schema_cache

    async def load() -> bytes:
        async with await psycopg.AsyncConnection.connect(
            settings.db_uri, autocommit=True, connect_timeout=10
        ) as conn:
            current = settings
            if current.db_config:
                current = current.overlaid(
                    await read_in_database_config(conn, current.db_pre_config)
                )
            cache = await load_schema_cache(conn, current.db_schemas, current.db_extra_search_path)
        return schema_cache_json(cache)

    return asyncio.run(load()).decode()


def ready(settings: Settings, timeout: float = 5.0) -> tuple[bool, str]:
    """Ask the admin server's ``/ready`` (PostgREST's ``--ready``): (ready, what to print)."""
    if settings.admin_server_unix_socket:
        target = f"unix:{settings.admin_server_unix_socket}"
        family, address = socket.AF_UNIX, settings.admin_server_unix_socket
    elif settings.admin_server_port is not None:
        host = settings.admin_server_host or settings.server_host
        host = {"*": "127.0.0.1", "*4": "127.0.0.1", "!4": "127.0.0.1"}.get(host, host)
        host = {"*6": "::1", "!6": "::1"}.get(host, host)
        shown = f"[{host}]" if ":" in host else host
        target = f"http://{shown}:{settings.admin_server_port}/ready"
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        address = (host, settings.admin_server_port)  # type: ignore[assignment]
    else:
        return False, "ERROR: --ready needs admin-server-port or admin-server-unix-socket"
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.sendall(b"GET /ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            head = sock.recv(64).decode("latin-1")
    except OSError as exc:
        return False, f"ERROR: {target}: {exc.strerror or exc}"
    parts = head.split(" ", 2)
    status = parts[1] if len(parts) > 1 else "?"
    if status == "200":
        return True, f"OK: {target}"
    return False, f"ERROR: {target}: {status}"


def demo(port: int, host: str) -> None:
    from joserfc import jwt
    from joserfc.jwk import OctKey

    from .testing import PostgresCluster

    # The port first: a taken one is one line, before a database is started for nothing.
    sock = bind_socket(host, port, None, "660", what="--port")
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
        port = sock.getsockname()[1]
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
        serve_sockets(settings, sock, None, lambda: settings)
    finally:
        sock.close()
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
    parser.add_argument("-v", "--version", action="version", version=f"pgrest-asgi {__version__}")
    parser.add_argument("-e", "--example", action="store_true", help="print an example config file")
    actions = parser.add_mutually_exclusive_group()
    actions.add_argument(
        "--dump-config",
        action="store_true",
        help="print the effective configuration (config file syntax) and exit",
    )
    actions.add_argument(
        "--dump-schema", action="store_true", help="print the schema cache as JSON and exit"
    )
    actions.add_argument(
        "--ready",
        action="store_true",
        help="exit 0 when the running server's admin /ready answers 200, else 1",
    )
    sub = parser.add_subparsers(dest="command")
    p_serve = sub.add_parser("serve", help="serve a database (PostgREST-compatible settings)")
    p_serve.add_argument("config", nargs="?", help="a PostgREST config file")
    p_serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port, each with its own pool (default 1)",
    )
    for flag in ("--dump-config", "--dump-schema", "--ready"):
        # `pgrest-asgi serve FILE --ready` too; a dest of its own, or the subcommand's
        # default would hide the flag given before it.
        dest = "serve_" + flag[2:].replace("-", "_")
        p_serve.add_argument(flag, action="store_true", dest=dest, help=argparse.SUPPRESS)
    p_demo = sub.add_parser("demo", help="serve a sample database from a throwaway PostgreSQL")
    p_demo.add_argument("--port", type=int, default=3000)
    p_demo.add_argument("--host", default="127.0.0.1")
    parsed = parser.parse_args(args)

    if parsed.example:
        print(example_config(), end="")
        return 0
    config_file = getattr(parsed, "config", None)
    for action in ("dump_config", "dump_schema", "ready"):
        if getattr(parsed, "serve_" + action, False):
            setattr(parsed, action, True)
    try:
        if parsed.dump_config:
            print(with_in_database(load_settings(config_file)).dump(), end="")
            return 0
        if parsed.dump_schema:
            print(dump_schema(load_settings(config_file)))
            return 0
        if parsed.ready:
            ok, line = ready(load_settings(config_file))
            print(line, file=sys.stdout if ok else sys.stderr)
            return 0 if ok else 1
        if parsed.command == "demo":
            demo(parsed.port, parsed.host)
            return 0
        # Like PostgREST, no arguments at all serves (from the PGRST_* variables).
        workers = getattr(parsed, "workers", 1)
        if workers < 1:
            raise ConfigError(f"--workers: expected 1 or more, got {workers}")
        return serve(config_file, workers=workers)
    except ConfigError as exc:
        print(f"pgrest-asgi: configuration error: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"pgrest-asgi: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    parser.print_help()
    return 1


_COMMANDS = frozenset({"serve", "demo"})


if __name__ == "__main__":
    raise SystemExit(main())
