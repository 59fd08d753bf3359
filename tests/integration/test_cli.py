"""`pgrest-asgi serve` as a drop-in for the PostgREST binary: a real uvicorn on loopback."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from pgrest_asgi import PgRestApp, Settings
from pgrest_asgi.cli import main
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import API_DB, JWT_SECRET, make_token

#: Generous: a loaded 2-core machine starts a Python server slowly.
PATIENCE = 60.0


@contextmanager
def serving(
    args: list[str],
    env: dict[str, str],
    *,
    module: str = "pgrest_asgi.cli",
    ready: str = "/items?limit=1",
) -> Iterator[str]:
    """A real ``pgrest-asgi`` process (or ``python -m <module>``, e.g. ``uvicorn``); yields
    its base URL once ``GET <ready>`` answers 200.

    The listening port is chosen by the kernel (pass ``PGRST_SERVER_PORT=0`` or
    ``server-port = 0``, or uvicorn's ``--port 0``) and read from uvicorn's start-up line, so
    no other process can take it between choosing and binding."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env={**os.environ, "PGRST_LOG_LEVEL": "info", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        def output() -> str:
            log.seek(0)
            return log.read().decode(errors="replace")

        try:
            deadline = time.monotonic() + PATIENCE
            found = None
            while found is None:
                found = re.search(r"running on (http://127\.0\.0\.1:\d+)", output())
                assert proc.poll() is None and time.monotonic() < deadline, output()
                if found is None:
                    time.sleep(0.05)
            base = found.group(1)
            while True:
                try:
                    if httpx.get(base + ready, timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, output()
                time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def serve_env(cluster: PostgresCluster, **extra: str) -> dict[str, str]:
    """``PGRST_*`` settings for a server on the fixture database, on a port the kernel picks."""
    return {
        "PGRST_DB_URI": cluster.dsn(API_DB, user="authenticator"),
        "PGRST_DB_SCHEMAS": "api",
        "PGRST_DB_ANON_ROLE": "web_anon",
        "PGRST_SERVER_HOST": "127.0.0.1",
        "PGRST_SERVER_PORT": "0",
        **extra,
    }


def test_serve_with_pgrst_environment(api_db: PostgresCluster) -> None:
    env = serve_env(api_db, PGRST_JWT_SECRET=JWT_SECRET)
    with serving(["serve"], env) as base:
        resp = httpx.get(base + "/items?select=id,name&id=eq.1")
        assert (resp.status_code, resp.content) == (200, b'[{"id":1,"name":"item 1"}]')
        assert resp.headers["content-range"] == "0-0/*"
        token = make_token({"role": "web_user"})
        auth = httpx.get(base + "/secrets", headers={"Authorization": f"Bearer {token}"})
        assert auth.json() == [{"id": 1, "secret": "s3cr3t"}]
        assert httpx.get(base + "/secrets").status_code == 401


def test_serve_with_config_file(api_db: PostgresCluster, tmp_path: Path) -> None:
    conf = tmp_path / "postgrest.conf"
    conf.write_text(
        f'db-uri = "{api_db.dsn(API_DB, user="authenticator")}"\n'
        'db-schemas = "api"\ndb-anon-role = "web_anon"\n'
        'server-host = "127.0.0.1"\nserver-port = 0\ndb-max-rows = 2\nlog-level = "info"\n'
    )
    with serving(["serve", str(conf)], {}) as base:
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
    assert 'db-anon-role = "someone"' in capsys.readouterr().out.splitlines()


def test_bad_configuration_exits_2(capsys) -> None:  # type: ignore[no-untyped-def]
    os.environ["PGRST_DB_POOL"] = "0"
    try:
        assert main(["serve"]) == 2
    finally:
        del os.environ["PGRST_DB_POOL"]
    assert capsys.readouterr().err == (
        "pgrest-asgi: configuration error: PGRST_DB_POOL: expected a whole number >= 1, got '0'\n"
    )


def test_client_disconnect_under_uvicorn(api_db: PostgresCluster) -> None:
    """REL-03 [uvicorn]: a client that closes its socket mid-query gets the query cancelled
    in PostgreSQL (not left running for its 30 s), and the server keeps serving."""
    from tests.integration.test_disconnect import running_sleeps

    env = serve_env(api_db)
    with serving(["serve"], env) as base:
        with socket.create_connection(("127.0.0.1", port_of(base))) as raw:
            raw.sendall(
                b"GET /rpc/sleep_for?seconds=30 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
            )
            deadline = time.monotonic() + PATIENCE
            while not running_sleeps(api_db):
                assert time.monotonic() < deadline, "the query never started"
                time.sleep(0.05)
        # The socket is closed: the statement must stop long before its 30 s are up.
        deadline = time.monotonic() + 20
        while running_sleeps(api_db):
            assert time.monotonic() < deadline, "the statement is still running"
            time.sleep(0.05)
        assert httpx.get(base + "/items?select=id&id=eq.1").json() == [{"id": 1}]


def plain_app() -> PgRestApp:
    """For ``uvicorn --factory``: the app alone, configured from the ``PGRST_*`` variables."""
    return PgRestApp(settings=Settings.from_env())


@pytest.mark.parametrize(
    ("factory", "mount"),
    [("tests.integration.test_cli:plain_app", ""), ("examples.fastapi_mount:create_app", "/api")],
    ids=["alone", "mounted"],
)
def test_root_path_from_uvicorn(api_db: PostgresCluster, factory: str, mount: str) -> None:
    """REL-44 [uvicorn]: a real uvicorn with ``--root-path /gateway`` (behind a proxy that
    strips that prefix), serving the app alone or mounted at ``/api`` in FastAPI: routes are
    resolved below the prefix and the mount, and ``Location`` carries both."""
    args = ["--factory", factory, "--root-path", "/gateway", "--host", "127.0.0.1", "--port", "0"]
    env = serve_env(api_db)
    with serving(args, env, module="uvicorn", ready=f"{mount}/items?limit=1") as base:
        resp = httpx.get(f"{base}{mount}/items?select=id&id=eq.3")
        assert (resp.status_code, resp.content) == (200, b'[{"id":3}]')
        assert resp.headers["content-location"] == "/items?id=eq.3&select=id"
        resp = httpx.post(
            f"{base}{mount}/w_authors",
            json={"id": 980, "name": "behind a proxy"},
            headers={"Prefer": "return=headers-only"},
        )
        assert (resp.status_code, resp.content) == (201, b"")
        assert resp.headers["location"] == f"/gateway{mount}/w_authors?id=eq.980"
        resp = httpx.get(f"{base}{mount}/w_authors?select=name&id=eq.980")
        assert (resp.status_code, resp.content) == (200, b'[{"name":"behind a proxy"}]')
