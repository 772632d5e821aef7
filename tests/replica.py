"""A real PostgreSQL streaming replica of the suite's server, for tests/test_replica_streaming.py.

``pg_basebackup -R -X stream`` copies the primary (the server ``DATABASE_URL`` names) into a fresh
directory, and ``postgres`` runs it as a hot standby on a free port of 127.0.0.1, streaming from
the primary. PostgreSQL's binaries refuse to run as root: as root they run as the ``postgres``
user (``runuser``). The primary must accept a replication connection from 127.0.0.1:
``primary_allow_replication`` adds ``host replication all 127.0.0.1/32 trust`` to its
``pg_hba.conf`` once (when that file is on this machine and writable, as in CI; .ci/run does the
same) and reloads it. ``stop()`` stops the server and deletes the directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

REPLICATION_LINE = "host replication all 127.0.0.1/32 trust"
# A hot standby needs at least the primary's value of each (PostgreSQL refuses to start otherwise).
MATCHED_SETTINGS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)


def binaries(primary_url: str) -> Path | None:
    """Where the primary's major version keeps ``pg_basebackup`` and ``postgres`` here, if anywhere."""
    with psycopg.connect(primary_url, autocommit=True) as conn:
        major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
    for directory in (Path(f"/usr/lib/postgresql/{major}/bin"), Path(shutil.which("pg_ctl") or "/nonexistent").parent):
        if (directory / "postgres").exists() and (directory / "pg_basebackup").exists():
            return directory
    return None


def primary_allow_replication(primary_url: str) -> None:
    """Let 127.0.0.1 open a replication connection to the primary (idempotent)."""
    with psycopg.connect(primary_url, autocommit=True) as conn:
        hba = Path(conn.execute("SHOW hba_file").fetchone()[0])
        lines = hba.read_text().splitlines() if hba.exists() else []
        if any(line.split() == REPLICATION_LINE.split() for line in lines):
            return
        if not os.access(hba, os.W_OK):
            raise RuntimeError(f"{hba} needs the line {REPLICATION_LINE!r} (.ci/run adds it)")
        with hba.open("a") as out:
            out.write(f"\n# streaming replica of the test suite (tests/replica.py)\n{REPLICATION_LINE}\n")
        conn.execute("SELECT pg_reload_conf()")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StreamingReplica:
    def __init__(self, *, primary_url: str, bindir: Path) -> None:
        self.primary_url = primary_url
        self.bindir = bindir
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="textdesk-replica-"))
        self.data = self.root / "data"
        self.log = self.root / "replica.log"
        self.process: subprocess.Popen | None = None
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self.root.chmod(0o700)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, *, timeout: float = 600) -> StreamingReplica:
        """Copy the primary and start the standby; the copy is of the whole server (seconds on CI's,
        a minute or more for one holding benchmark databases of gigabytes)."""
        primary = psycopg.conninfo.conninfo_to_dict(self.primary_url)
        subprocess.run(
            [*self.as_user, str(self.bindir / "pg_basebackup"), "-D", str(self.data),
             "-h", str(primary.get("host", "127.0.0.1")), "-p", str(primary.get("port", 5432)),
             "-U", str(primary.get("user", "postgres")), "-X", "stream", "-R", "--checkpoint=fast"],
            check=True, capture_output=True, timeout=timeout,
        )  # fmt: skip
        self._configure()
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*self.as_user, str(self.bindir / "postgres"), "-D", str(self.data)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=2) as conn:
                    if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                        return self
            except psycopg.OperationalError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError("the replica did not start:\n" + self.log.read_text(errors="replace")[-3000:])

    def _configure(self) -> None:
        """postgresql.conf and pg_hba.conf of its own (Debian keeps the primary's in /etc)."""
        with psycopg.connect(self.primary_url, autocommit=True) as conn:
            matched = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in MATCHED_SETTINGS}
        conf = {
            "port": self.port,
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            "hot_standby": "on",
            "shared_buffers": "'32MB'",
            "fsync": "off",
            **matched,
        }
        (self.data / "postgresql.conf").write_text("".join(f"{k} = {v}\n" for k, v in conf.items()))
        (self.data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        (self.data / "pg_ident.conf").write_text("")
        if self.as_user:
            owner = pwd.getpwnam("postgres")
            for name in ("postgresql.conf", "pg_hba.conf", "pg_ident.conf"):
                os.chown(self.data / name, owner.pw_uid, owner.pw_gid)

    # --- replay ---------------------------------------------------------------------------

    def _replica(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(database), autocommit=True)

    def caught_up(self, *, timeout: float = 30) -> None:
        """Wait until the replica has replayed everything the primary had written when called."""
        with psycopg.connect(self.primary_url, autocommit=True) as conn:
            target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        deadline = time.monotonic() + timeout
        with self._replica() as conn:
            while time.monotonic() < deadline:
                if conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]).fetchone()[0]:
                    return
                time.sleep(0.1)
        raise RuntimeError(f"the replica did not replay up to {target} in {timeout:g} s")

    def pause(self) -> None:
        """Stop replaying (the primary's WAL still arrives): from now on the replica lags."""
        with self._replica() as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
            while conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] != "paused":
                time.sleep(0.05)

    def resume(self) -> None:
        with self._replica() as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # its own process group: PostgreSQL's fast shutdown
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
