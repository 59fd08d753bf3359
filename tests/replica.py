"""A throwaway streaming replica of a ``PostgresCluster``, for the read-replica tests.

``ReplicaCluster(primary)`` is a second cluster made with ``pg_basebackup -R`` from the
primary's unix socket: its own temp dir, socket directory and port, run as the same system
account as the primary's server (``pg_basebackup`` runs as that account, so the data
directory is its own). It streams from a replication slot of its own, so the primary keeps
the WAL it still needs while the replica is stopped; ``stop()`` drops the slot.

Everything else is ``PostgresCluster``'s: ``stop_server(mode)``/``start_server()`` stop and
start the server keeping its data, ``run_sql`` and ``dsn`` reach it (read only: it is a hot
standby), the stale-cluster sweep and the SIGTERM handler cover it.

The primary needs what replication needs, which initdb's defaults already give:
``wal_level = replica``, ``max_wal_senders`` > 0 and a ``local replication`` line in
``pg_hba.conf`` (initdb's ``trust`` lines include one).
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

import psycopg

from pgrest_asgi.testing import PostgresCluster

__all__ = ["ReplicaCluster", "wait_until"]


class ReplicaCluster(PostgresCluster):
    """A hot standby of ``primary`` (which must be running), streaming from a slot."""

    def __init__(self, primary: PostgresCluster, **kwargs: Any) -> None:
        kwargs.setdefault("system_user", primary.run_user)
        kwargs.setdefault("superuser", primary.superuser)
        super().__init__(**kwargs)
        self.primary = primary
        self.slot = f"pgrst_replica_{secrets.token_hex(4)}"

    def _initdb(self) -> None:
        # Instead of initdb: a base backup of the primary, with standby.signal and its
        # primary_conninfo written (-R) and a replication slot created for it (-C -S).
        primary = self.primary
        code = self._run(
            os.path.join(self.bin_dir, "pg_basebackup"),
            "--pgdata",
            self.data_dir,
            "--host",
            primary.host,
            "--port",
            str(primary.port),
            "--username",
            primary.superuser,
            "--no-password",
            "--write-recovery-conf",
            "--create-slot",
            "--slot",
            self.slot,
            "--checkpoint=fast",
            "--wal-method=stream",
            "--no-sync",
            timeout=max(self.start_timeout, 120.0),
        )
        if code != 0:
            raise self._fail(f"pg_basebackup failed with exit code {code}")

    def _configure(self) -> None:
        # The copied postgresql.conf ends with the primary's port and socket directory;
        # PostgresCluster appends this cluster's after them, and the last line wins.
        super()._configure()
        # A query on the standby never cancels replay, nor the other way round for long:
        # the tests pause replay themselves when they want lag.
        with (Path(self.data_dir) / "postgresql.conf").open("a") as handle:
            handle.write("hot_standby = on\nhot_standby_feedback = on\n")

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            if self.primary.running:
                with psycopg.connect(self.primary.dsn(), autocommit=True) as conn:
                    conn.execute(
                        "SELECT pg_catalog.pg_drop_replication_slot(slot_name)"
                        " FROM pg_catalog.pg_replication_slots WHERE slot_name = %s",
                        (self.slot,),
                    )

    # -- replication state ----------------------------------------------------------------

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """The first column of the first row of ``sql`` on the replica."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            row = conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def pause_replay(self) -> None:
        self.query("SELECT pg_catalog.pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.query("SELECT pg_catalog.pg_wal_replay_resume()")

    def caught_up_with(self, xid: int) -> bool:
        """Whether the replica has replayed the end of the primary's transaction ``xid``."""
        return bool(
            self.query(
                "SELECT pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())"
                " > %s::text::xid8",
                (xid,),
            )
        )

    def wait_caught_up(self, timeout: float = 60.0) -> None:
        """Wait until the replica has replayed everything the primary committed so far: a
        transaction committed now on the primary (one with an id, so that its commit is
        written to the WAL) is visible as completed on the replica. (Comparing WAL positions
        is not enough: the primary's insert position may be past a page header that nothing
        will replay until the next record, up to 15 s later on an idle server.)"""
        with psycopg.connect(self.primary.dsn(), autocommit=True) as conn:
            row = conn.execute("SELECT pg_catalog.pg_current_xact_id()::text::bigint").fetchone()
        assert row is not None
        xid = int(row[0])
        wait_until(
            lambda: self.caught_up_with(xid), timeout, f"the replica {self.port} to catch up"
        )


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``check()`` until it is true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)
