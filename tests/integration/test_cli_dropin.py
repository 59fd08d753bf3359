"""``pgrest-asgi`` as a drop-in for the PostgREST binary, run as a real process: PostgREST's
config files, its CLI forms, reloads by signal and NOTIFY, and start-up errors."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgspec
import pytest

from pgrest_asgi import Settings, __version__
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import API_DB, loaded_database
from tests.integration.test_cli import PATIENCE, serve_env, serving

pytestmark = pytest.mark.db

CONFIGS = Path(__file__).parent.parent / "fixtures" / "config"


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = PATIENCE
) -> tuple[int, str, str]:
    """Run ``pgrest-asgi`` to its end: (exit status, stdout, stderr). No ``PGRST_*`` variable
    of this process reaches it unless given."""
    proc = subprocess.run(
        [sys.executable, "-m", "pgrest_asgi.cli", *args],
        env=clean_env(env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without its ``PGRST_*`` variables, plus ``extra``."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PGRST_")}, **extra}


@contextmanager
def launched(env: dict[str, str], args: tuple[str, ...] = ()) -> Iterator[subprocess.Popen[str]]:
    """A running ``pgrest-asgi`` whose stderr (its start-up lines) the test reads; killed,
    and its output drained, on the way out."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgrest_asgi.cli", *args],
        env=clean_env(env),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.communicate(timeout=30)


def wait_until(check: object, what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_postgrests_reference_config_starts_unchanged(api_db: PostgresCluster) -> None:
    """PostgREST's own defaults file, every key in it, given as ``pgrest-asgi FILE`` (the
    variables say where the database is, as they would for PostgREST)."""
    env = serve_env(api_db)
    with serving([str(CONFIGS / "postgrest-defaults.conf")], env) as base:
        resp = httpx.get(base + "/items?select=id&id=eq.1")
        assert (resp.status_code, resp.content) == (200, b'[{"id":1}]')
        assert resp.headers["server"] == f"pgrest-asgi/{__version__}"


def test_dump_config_reads_back(tmp_path: Path) -> None:
    status, first, err = cli("--dump-config", str(CONFIGS / "postgrest-everything.conf"))
    assert status == 0, err
    dumped = tmp_path / "dumped.conf"
    dumped.write_text(first)
    status, second, err = cli("--dump-config", str(dumped))
    assert (status, second, err) == (0, first, "")
    assert Settings.from_file(dumped) == Settings.from_file(CONFIGS / "postgrest-everything.conf")
    # The serve form reads the same way.
    assert cli("serve", "--dump-config", str(dumped))[:2] == (0, first)


def test_example_is_a_config_file_that_starts(tmp_path: Path) -> None:
    status, text, _ = cli("--example")
    assert status == 0
    example = tmp_path / "example.conf"
    example.write_text(text)
    settings = Settings.from_file(example)
    assert (settings.db_schemas, settings.db_anon_role) == (("api",), "web_anon")
    # Every commented-out line is a valid setting at its default: uncommented, the file
    # gives the same settings.
    uncommented = tmp_path / "uncommented.conf"
    uncommented.write_text(
        "\n".join(line[2:] if line.startswith("# ") else line for line in text.splitlines())
    )
    assert Settings.from_file(uncommented) == msgspec.structs.replace(
        settings, app_settings={"currency": "EUR"}
    )


def test_version() -> None:
    assert cli("--version")[:2] == (0, f"pgrest-asgi {__version__}\n")


# --------------------------------------------------------------------------------------------
# Start-up errors: one line, saying what to do


def test_a_taken_port(api_db: PostgresCluster) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = serve_env(api_db, PGRST_SERVER_PORT=str(port))
        assert cli(env=env) == (
            1,
            "",
            f"pgrest-asgi: cannot listen on 127.0.0.1:{port} (server-port): address already"
            " in use; another server is using it: stop it, or choose another port\n",
        )
        # The demo checks its port before it starts a database or prints anything.
        assert cli("demo", "--port", str(port)) == (
            1,
            "",
            f"pgrest-asgi: cannot listen on 127.0.0.1:{port} (--port): address already in"
            " use; another server is using it: stop it, or choose another port\n",
        )


def test_a_malformed_connection_string(api_db: PostgresCluster) -> None:
    env = serve_env(api_db, PGRST_DB_URI="not-a-uri")
    assert cli(env=env) == (
        1,
        "",
        'pgrest-asgi: db-uri: not a connection string PostgreSQL can read (missing "=" after'
        ' "not-a-uri" in connection info string); write postgresql://user:password@host:5432/'
        "dbname or host=… dbname=… user=…\n",
    )


def test_refused_credentials_and_a_missing_database(api_db: PostgresCluster) -> None:
    dsn = api_db.dsn(API_DB, user="no_such_role")
    host = dsn  # the cluster listens on a Unix socket directory
    status, out, err = cli(env=serve_env(api_db, PGRST_DB_URI=dsn))
    assert (status, out) == (1, "")
    assert err.startswith("pgrest-asgi: the database at no_such_role@")
    assert err.endswith(
        f'/{API_DB} refused the credentials (role "no_such_role" does not exist); fix the user'
        " or password in db-uri\n"
    ), host
    status, out, err = cli(
        env=serve_env(api_db, PGRST_DB_URI=api_db.dsn("no_such_db", user="authenticator"))
    )
    assert (status, out) == (1, "")
    assert err.endswith(
        '/no_such_db does not exist (database "no_such_db" does not exist); create it or fix'
        " db-uri\n"
    )


def test_an_unreachable_database_is_one_line_and_the_server_starts(
    api_db: PostgresCluster,
) -> None:
    """Retrying may succeed (the database may come up): one line, then the server starts and
    answers 503 while the database cannot be reached."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: connections are refused
        env = serve_env(api_db, PGRST_DB_URI=f"postgresql://authenticator@127.0.0.1:{port}/x")
        with launched(env) as proc:
            assert proc.stderr is not None
            first = proc.stderr.readline()
            second = proc.stderr.readline()
            assert first == (
                f"pgrest-asgi: cannot reach the database at authenticator@127.0.0.1:{port}/x"
                " (Connection refused); retrying in the background\n"
            )
            assert second.startswith(f"pgrest-asgi {__version__}: API server running on ")
            served = second.rsplit(" ", 1)[1].strip()
            resp = httpx.get(served + "/items", timeout=30)
            assert (resp.status_code, resp.json()["code"]) == (503, "PGRST002")


def test_configuration_mistakes(tmp_path: Path) -> None:
    assert cli(str(tmp_path / "missing.conf")) == (
        2,
        "",
        f"pgrest-asgi: configuration error: cannot read the config file"
        f" {tmp_path / 'missing.conf'}: No such file or directory\n",
    )
    conf = tmp_path / "typo.conf"
    conf.write_text('db-uri = "postgresql://"\ndb-anon-rol = "web_anon"\n')
    assert cli(str(conf)) == (
        2,
        "",
        f"pgrest-asgi: configuration error: {conf} line 2: unknown key 'db-anon-rol'; did you"
        " mean 'db-anon-role'?\n",
    )
    status, _, err = cli(env={"PGRST_DB_ANON_ROL": "x", "PGRST_DB_URI": "not-a-uri"})
    assert status == 1
    assert err.splitlines()[0] == (
        "PGRST_DB_ANON_ROL is not a setting and is ignored; did you mean 'PGRST_DB_ANON_ROLE'?"
    )


# --------------------------------------------------------------------------------------------
# Reloads in a running server


class Cfg:
    """A database and an authenticator role of this test's own (role settings reach nothing
    else)."""

    def __init__(self, cluster: PostgresCluster, dbname: str, role: str) -> None:
        self.cluster, self.dbname, self.role = cluster, dbname, role

    def set(self, name: str, value: str) -> None:
        self.cluster.run_sql(
            f"ALTER ROLE {self.role} IN DATABASE {self.dbname} SET pgrst.{name} = '{value}'",
            dbname=self.dbname,
        )

    def sql(self, statement: str) -> None:
        self.cluster.run_sql(statement, dbname=self.dbname)


SQL = """
CREATE SCHEMA api;
CREATE TABLE api.items (id int PRIMARY KEY);
INSERT INTO api.items SELECT generate_series(1, 5);
GRANT USAGE ON SCHEMA api TO web_anon;
GRANT SELECT ON api.items TO web_anon;
"""


@pytest.fixture
def cfg(api_db: PostgresCluster) -> Iterator[Cfg]:
    role = "cli_" + uuid.uuid4().hex[:10]
    api_db.run_sql(f"CREATE ROLE {role} LOGIN NOINHERIT; GRANT web_anon TO {role};")
    try:
        with loaded_database(api_db, "cli", SQL) as dbname:
            yield Cfg(api_db, dbname, role)
    finally:
        api_db.run_sql(f"DROP ROLE {role};")


def rows(base: str) -> int:
    return len(httpx.get(base + "/items", timeout=10).json())


def test_reload_config_by_notify_and_by_sigusr2(cfg: Cfg, tmp_path: Path) -> None:
    conf = tmp_path / "pgrst.conf"
    conf.write_text(
        f'db-uri = "{cfg.cluster.dsn(cfg.dbname, user=cfg.role)}"\n'
        'db-schemas = "api"\ndb-anon-role = "web_anon"\n'
        'server-host = "127.0.0.1"\nserver-port = 0\n'
    )
    with serving([str(conf)], {}) as base:
        assert rows(base) == 5
        cfg.set("db_max_rows", "3")
        cfg.sql("NOTIFY pgrst, 'reload config'")
        wait_until(lambda: rows(base) == 3, "NOTIFY 'reload config' was not applied")
        # SIGUSR2 reads the database again ...
        pid = server_pid(base)
        cfg.set("db_max_rows", "2")
        os.kill(pid, signal.SIGUSR2)
        wait_until(lambda: rows(base) == 2, "SIGUSR2 did not read the database")
        # ... and the file.
        conf.write_text(conf.read_text() + "db-max-rows = 4\n")
        cfg.sql(f"ALTER ROLE {cfg.role} IN DATABASE {cfg.dbname} RESET pgrst.db_max_rows")
        os.kill(pid, signal.SIGUSR2)
        wait_until(lambda: rows(base) == 4, "SIGUSR2 did not read the file")


def test_sigusr1_reloads_the_schema_cache(cfg: Cfg) -> None:
    env = {
        "PGRST_DB_URI": cfg.cluster.dsn(cfg.dbname, user=cfg.role),
        "PGRST_DB_SCHEMAS": "api",
        "PGRST_DB_ANON_ROLE": "web_anon",
        "PGRST_DB_CHANNEL_ENABLED": "false",  # only the signal can tell it
        "PGRST_SERVER_HOST": "127.0.0.1",
        "PGRST_SERVER_PORT": "0",
    }
    with serving([], env) as base:
        assert httpx.get(base + "/later").status_code == 404
        cfg.sql("CREATE TABLE api.later (id int); GRANT SELECT ON api.later TO web_anon;")
        os.kill(server_pid(base), signal.SIGUSR1)
        wait_until(lambda: httpx.get(base + "/later").status_code == 200, "no schema reload")


def server_pid(base: str) -> int:
    """The process listening on ``base``'s port (the test's child)."""
    port = int(base.rsplit(":", 1)[1])
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
            inode = fields[9]
    assert inode is not None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) == f"socket:[{inode}]":
                    return int(proc.name)
        except OSError:
            continue
    raise AssertionError(f"no process listens on {port}")


def test_two_workers_serve_and_reload(cfg: Cfg, tmp_path: Path) -> None:
    """``--workers 2``: both processes serve (each its own pool), and a reload reaches both."""
    conf = tmp_path / "pgrst.conf"
    conf.write_text(
        f'db-uri = "{cfg.cluster.dsn(cfg.dbname, user=cfg.role)}"\n'
        'db-schemas = "api"\ndb-anon-role = "web_anon"\n'
        'server-host = "127.0.0.1"\nserver-port = 0\ndb-pool = 2\n'
    )
    with serving(["serve", str(conf), "--workers", "2"], {}) as base:
        port = int(base.rsplit(":", 1)[1])
        cfg.set("db_max_rows", "2")
        cfg.sql("NOTIFY pgrst, 'reload config'")
        wait_until(
            lambda: all(rows_fresh(port) == 2 for _ in range(16)),
            "the reload did not reach every worker",
        )
        held = [fresh_get(port) for _ in range(64)]  # each on a connection of its own
        try:
            assert {count for _, count in held} == {2}
            owners = {owner_of(port, conn.sock.getsockname()[1]) for conn, _ in held}
            assert len(owners) == 2, owners  # both workers answered
        finally:
            for conn, _ in held:
                conn.close()


def rows_fresh(port: int) -> int:
    conn, count = fresh_get(port)
    conn.close()
    return count


def fresh_get(port: int) -> tuple[http.client.HTTPConnection, int]:
    """``GET /items`` on a new connection, left open: (the connection, how many rows)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/items")
    body = conn.getresponse().read()
    return conn, len(json.loads(body))


def owner_of(server_port: int, client_port: int) -> int:
    """The pid holding the server side of the connection from ``client_port``."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local = int(fields[1].rsplit(":", 1)[1], 16)
        remote = int(fields[2].rsplit(":", 1)[1], 16)
        if (local, remote) == (server_port, client_port):
            inode = fields[9]
    assert inode is not None, client_port
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) == f"socket:[{inode}]":
                    return int(proc.name)
        except OSError:
            continue
    raise AssertionError(f"nobody holds the connection from {client_port}")


# --------------------------------------------------------------------------------------------
# A database of this module's own, to stop and start


OWN_SQL = """
CREATE ROLE authenticator LOGIN NOINHERIT;
CREATE ROLE web_anon NOLOGIN;
GRANT web_anon TO authenticator;
CREATE SCHEMA api;
CREATE TABLE api.items (id int PRIMARY KEY);
INSERT INTO api.items SELECT generate_series(1, 3);
GRANT USAGE ON SCHEMA api TO web_anon;
GRANT SELECT ON api.items TO web_anon;
"""


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[PostgresCluster]:
    # pwuser must give its password (the other roles are trusted, as in every test cluster).
    cluster = PostgresCluster(hba=["local all pwuser scram-sha-256"])
    cluster.start()
    try:
        cluster.create_database("app")
        cluster.run_sql(OWN_SQL, dbname="app")
        cluster.run_sql("CREATE ROLE pwuser LOGIN PASSWORD 'right'; GRANT web_anon TO pwuser;")
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def own(own_cluster: PostgresCluster) -> Iterator[PostgresCluster]:
    """The module's cluster, running again after the test whatever it did."""
    yield own_cluster
    if not own_cluster.running:
        own_cluster.start_server()


def own_env(cluster: PostgresCluster, **extra: str) -> dict[str, str]:
    return {
        "PGRST_DB_URI": cluster.dsn("app", user="authenticator"),
        "PGRST_DB_SCHEMAS": "api",
        "PGRST_DB_ANON_ROLE": "web_anon",
        "PGRST_SERVER_HOST": "127.0.0.1",
        "PGRST_SERVER_PORT": "0",
        **extra,
    }


def test_without_automatic_recovery_a_lost_database_ends_the_process(
    own: PostgresCluster,
) -> None:
    """``db-pool-automatic-recovery = false``: as PostgREST, exit (status 1) instead of
    reconnecting, so that a supervisor restarts the process; at start-up, do not retry."""
    env = own_env(own, PGRST_DB_POOL_AUTOMATIC_RECOVERY="false")
    with launched(env) as proc:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        served = banner.rsplit(" ", 1)[1].strip()
        wait_until(lambda: _status(served + "/items") == 200, "never served")
        own.stop_server()
        assert _status(served + "/items") == 503
        assert proc.wait(timeout=PATIENCE) == 1
        rest = proc.stderr.read()
    assert rest.splitlines()[-1].startswith("pgrest-asgi: the database connection was lost (")
    assert rest.splitlines()[-1].endswith(") and db-pool-automatic-recovery is off: exiting")
    status, out, err = cli(env=env)
    assert (status, out) == (1, "")
    assert err.startswith("pgrest-asgi: cannot reach the database at authenticator@")
    assert err.endswith("; db-pool-automatic-recovery is off, so not retrying\n")


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=10).status_code
    except httpx.HTTPError:
        return -1


def test_dump_config_includes_the_in_database_settings(cfg: Cfg, tmp_path: Path) -> None:
    conf = tmp_path / "pgrst.conf"
    conf.write_text(f'db-uri = "{cfg.cluster.dsn(cfg.dbname, user=cfg.role)}"\ndb-max-rows = 1\n')
    cfg.set("db_max_rows", "7")
    status, out, err = cli("--dump-config", str(conf))
    assert (status, err) == (0, "")
    assert "db-max-rows = 7" in out.splitlines()
    conf.write_text(conf.read_text() + "db-config = false\n")
    assert "db-max-rows = 1" in cli("--dump-config", str(conf))[1].splitlines()


# --------------------------------------------------------------------------------------------
# The admin server of a real process


def test_admin_server_live_ready_metrics_and_the_ready_flag(own: PostgresCluster) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    # Port 0 for both: the kernel chooses (no race for a free port); the banner says which.
    with served_with_admin(own_env(own, PGRST_ADMIN_SERVER_PORT="0")) as (base, admin):
        env = own_env(own, PGRST_ADMIN_SERVER_PORT=admin.rsplit(":", 1)[1])
        assert httpx.get(admin + "/live").status_code == 200
        assert httpx.get(admin + "/ready").status_code == 200
        assert cli("--ready", env=env) == (0, f"OK: {admin}/ready\n", "")
        for _ in range(3):
            assert httpx.get(base + "/items").status_code == 200
        text = httpx.get(admin + "/metrics").text
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        assert samples[("pgrst_requests_total", (("method", "GET"), ("status", "200")))] >= 3
        assert samples[("pgrst_db_pool_max", ())] == 10
        assert samples[("pgrst_schema_cache_loads_total", (("status", "SUCCESS"),))] == 1

        # The database stops: /ready says so once the app has noticed (the next request);
        # /live still answers 200, the process being alive.
        own.stop_server()
        try:
            assert httpx.get(base + "/items").status_code == 503
            assert httpx.get(admin + "/ready").status_code == 503
            assert httpx.get(admin + "/live").status_code == 200
            status, out, err = cli("--ready", env=env)
            assert (status, out, err) == (1, "", f"ERROR: {admin}/ready: 503\n")
        finally:
            own.start_server()
        wait_until(lambda: _status(admin + "/ready") == 200, "/ready did not recover")
        assert httpx.get(base + "/items").status_code == 200
    # Nobody listens any more.
    status, out, err = cli("--ready", env=env)
    assert (status, out) == (1, "")
    assert err == f"ERROR: {admin}/ready: Connection refused\n"
    assert cli("--ready", env=own_env(own)) == (
        1,
        "",
        "ERROR: --ready needs admin-server-port or admin-server-unix-socket\n",
    )


def test_metrics_count_every_worker(own: PostgresCluster) -> None:
    """``serve --workers 2`` with an admin server (in the first worker): ``/metrics`` adds
    the other worker's figures, from its snapshot of at most a second ago, to its own —
    requests answered by either worker, both pools."""
    from prometheus_client.parser import text_string_to_metric_families

    env = own_env(own, PGRST_ADMIN_SERVER_PORT="0", PGRST_DB_POOL="3", PGRST_DB_POOL_MIN="3")
    with served_with_admin(env, ("serve", "--workers", "2")) as (base, admin):
        port = int(base.rsplit(":", 1)[1])
        owners = set()
        for _ in range(40):  # each on a connection of its own: the kernel spreads them
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("GET", "/items?select=id&limit=1")
                resp = conn.getresponse()
                assert (resp.status, resp.read()) == (200, b'[{"id":1}]')
                owners.add(owner_of(port, conn.sock.getsockname()[1]))
            finally:
                conn.close()
        assert len(owners) == 2, owners  # both workers answered

        def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            text = httpx.get(admin + "/metrics").text
            return {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }

        ok = ("pgrst_requests_total", (("method", "GET"), ("status", "200")))
        wait_until(lambda: samples().get(ok) == 40, "the workers' requests never added up")
        figures = samples()
        assert figures[("pgrst_db_pool_max", ())] == 6  # 3 + 3
        assert figures[("pgrst_schema_cache_loads_total", (("status", "SUCCESS"),))] == 2
        count = ("pgrst_request_duration_seconds_count", (("method", "GET"), ("status", "200")))
        assert figures[count] == 40


@contextmanager
def served_with_admin(env: dict[str, str], args: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """A real server with an admin server: (the API's base URL, the admin server's)."""
    with launched(env, args) as proc:
        assert proc.stderr is not None
        api = proc.stderr.readline()
        admin = proc.stderr.readline()
        assert " API server running on " in api and " admin server running on " in admin, (
            api + admin
        )
        base, admin_base = api.rsplit(" ", 1)[1].strip(), admin.rsplit(" ", 1)[1].strip()
        wait_until(lambda: _status(admin_base + "/ready") == 200, "never ready")
        yield base, admin_base


def test_a_wrong_password(own: PostgresCluster) -> None:
    dsn = own.dsn("app", user="pwuser", password="wrong")
    status, out, err = cli(env=own_env(own, PGRST_DB_URI=dsn))
    assert (status, out) == (1, "")
    assert err == (
        f"pgrest-asgi: the database at pwuser@{own.host} (port {own.port})/app refused the"
        ' credentials (password authentication failed for user "pwuser"); fix the user or'
        " password in db-uri\n"
    )
    # The right password serves.
    env = own_env(own, PGRST_DB_URI=own.dsn("app", user="pwuser", password="right"))
    with serving([], env) as base:
        assert httpx.get(base + "/items").status_code == 200
