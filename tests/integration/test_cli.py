"""`pgrest-asgi serve` as a drop-in for the PostgREST binary: a real uvicorn on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from pgrest_asgi.cli import main
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import API_DB, JWT_SECRET, make_token


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(args: list[str], env: dict[str, str]) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgrest_asgi.cli", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{env.get('PGRST_SERVER_PORT') or env['PORT']}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/items?limit=1", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            proc.kill()
            raise AssertionError(proc.communicate()[0].decode())
        yield base
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_serve_with_pgrst_environment(api_db: PostgresCluster) -> None:
    port = str(_free_port())
    env = {
        "PGRST_DB_URI": api_db.dsn(API_DB, user="authenticator"),
        "PGRST_DB_SCHEMAS": "api",
        "PGRST_DB_ANON_ROLE": "web_anon",
        "PGRST_JWT_SECRET": JWT_SECRET,
        "PGRST_SERVER_HOST": "127.0.0.1",
        "PGRST_SERVER_PORT": port,
    }
    with serving(["serve"], env) as base:
        resp = httpx.get(base + "/items?select=id,name&id=eq.1")
        assert (resp.status_code, resp.content) == (200, b'[{"id":1,"name":"item 1"}]')
        assert resp.headers["content-range"] == "0-0/*"
        token = make_token({"role": "web_user"})
        auth = httpx.get(base + "/secrets", headers={"Authorization": f"Bearer {token}"})
        assert auth.json() == [{"id": 1, "secret": "s3cr3t"}]
        assert httpx.get(base + "/secrets").status_code == 401


def test_serve_with_config_file(api_db: PostgresCluster, tmp_path: Path) -> None:
    port = _free_port()
    conf = tmp_path / "postgrest.conf"
    conf.write_text(
        f'db-uri = "{api_db.dsn(API_DB, user="authenticator")}"\n'
        'db-schemas = "api"\ndb-anon-role = "web_anon"\n'
        f'server-host = "127.0.0.1"\nserver-port = {port}\ndb-max-rows = 2\n'
    )
    with serving(["serve", str(conf)], {"PORT": str(port)}) as base:
        resp = httpx.get(base + "/items?select=id")
        assert resp.json() == [{"id": 1}, {"id": 2}]


def test_example_and_dump_config(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--example"]) == 0
    assert 'db-anon-role = "web_anon"' in capsys.readouterr().out
    env_before = dict(os.environ)
    os.environ["PGRST_DB_ANON_ROLE"] = "someone"
    try:
        assert main(["--dump-config"]) == 0
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    assert "db-anon-role = 'someone'" in capsys.readouterr().out


def test_bad_configuration_exits_2(capsys) -> None:  # type: ignore[no-untyped-def]
    os.environ["PGRST_DB_POOL"] = "0"
    try:
        assert main(["serve"]) == 2
    finally:
        del os.environ["PGRST_DB_POOL"]
    assert "configuration error: Expected `int` >= 1 - at `db_pool`" in capsys.readouterr().err


def test_client_disconnect_under_uvicorn(api_db: PostgresCluster) -> None:
    """REL-03 [uvicorn]: a client that closes its socket mid-query gets the query cancelled
    in PostgreSQL (not left running for its 30 s), and the server keeps serving."""
    from tests.integration.test_disconnect import running_sleeps

    port = _free_port()
    env = {
        "PGRST_DB_URI": api_db.dsn(API_DB, user="authenticator"),
        "PGRST_DB_SCHEMAS": "api",
        "PGRST_DB_ANON_ROLE": "web_anon",
        "PGRST_SERVER_HOST": "127.0.0.1",
        "PGRST_SERVER_PORT": str(port),
    }
    with serving(["serve"], env) as base:
        with socket.create_connection(("127.0.0.1", port)) as raw:
            raw.sendall(
                b"GET /rpc/sleep_for?seconds=30 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
            )
            deadline = time.monotonic() + 5
            while not running_sleeps(api_db):
                assert time.monotonic() < deadline, "the query never started"
                time.sleep(0.05)
        # The socket is closed: the statement must stop soon after.
        deadline = time.monotonic() + 3
        while running_sleeps(api_db):
            assert time.monotonic() < deadline, "the statement is still running"
            time.sleep(0.05)
        assert httpx.get(base + "/items?select=id&id=eq.1").json() == [{"id": 1}]
