"""Real backing services on loopback: the S3 API server (moto) and the Mongo wire server
(SecantusDB), plus PostGIS databases on the local PostgreSQL.

Used by the local platform stack and by the pytest harness, so tests and ``make up`` start
services the same way.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class ServiceStartError(RuntimeError):
    """A service did not become healthy; the message carries the tail of its log."""


@dataclass
class ManagedProcess:
    """A long-running child process with a log file, started detached from our terminal.

    Healthy means: ``health_check()`` returns true when one is given, else the process accepts
    TCP connections on ``host:port``. A process without a port (``port=None``) and without a
    health check is healthy as soon as it is running.
    """

    name: str
    argv: list[str]
    log_path: Path
    host: str
    port: int | None
    env: Mapping[str, str] | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    health_check: Callable[[], bool] | None = field(default=None, repr=False)

    def start(self, timeout: float = 60.0) -> ManagedProcess:
        if self.port is not None and port_open(self.host, self.port):
            raise ServiceStartError(f"{self.name}: port {self.host}:{self.port} is already in use")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **(self.env or {})}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # own process group: stop() takes children with it
            )
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServiceStartError(
                    f"{self.name} exited with code {self.process.returncode}:\n{self.log_tail()}"
                )
            if self._healthy():
                return
            time.sleep(0.1)
        self.stop()
        raise ServiceStartError(f"{self.name} not healthy after {timeout:.0f}s:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        if self.health_check is not None:
            return self.health_check()
        if self.port is None:
            return True
        return port_open(self.host, self.port)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        stop_process_group(self.process.pid, timeout, child=self.process)

    def restart(self, timeout: float = 60.0) -> ManagedProcess:
        self.stop()
        deadline = time.monotonic() + timeout
        while (
            self.port is not None
            and port_open(self.host, self.port)
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        return self.start(timeout)


def live_group_members(pgid: int) -> list[int]:
    """Pids of the processes in group ``pgid`` that are still running (zombies excluded).

    Zombies are left out because a process we did not start (``down`` in a later shell) is
    reaped by init, not by us; until then it holds no port and runs no code.
    Falls back to ``killpg(pgid, 0)`` where ``/proc`` is not available.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            return [pgid]
        return [pgid]
    members: list[int] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp ...
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) >= 3 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def stop_process_group(
    pid: int, timeout: float = 15.0, child: subprocess.Popen[bytes] | None = None
) -> bool:
    """SIGTERM the process group led by ``pid``, then SIGKILL what is left after ``timeout``.

    ``child`` is our own Popen for ``pid``, reaped here so its zombie does not look alive.
    Returns whether the group is gone (only zombies, if anything, remain).
    """
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None:
            child.poll()
        if not live_group_members(pid):
            return True
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    if child is not None:
        child.wait(timeout=5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not live_group_members(pid):
            return True
        time.sleep(0.05)
    return False


def s3_server(port: int, log_path: Path, host: str = LOOPBACK) -> ManagedProcess:
    """moto's standalone S3-compatible server (stands in for MinIO here)."""
    return ManagedProcess(
        name="s3-server",
        argv=[sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
        log_path=log_path,
        host=host,
        port=port,
    )


def mongo_server(
    port: int, storage_path: Path, log_path: Path, host: str = LOOPBACK
) -> ManagedProcess:
    """SecantusDB, a MongoDB wire-protocol server (stands in for mongod here)."""
    storage_path.mkdir(parents=True, exist_ok=True)
    return ManagedProcess(
        name="mongo-server",
        argv=[
            sys.executable,
            "-m",
            "secantus",
            "--host",
            host,
            "--port",
            str(port),
            "--storage-path",
            str(storage_path),
            "--log-level",
            "WARNING",
        ],
        log_path=log_path,
        host=host,
        port=port,
    )


def ensure_buckets(endpoint: str, access_key: str, secret_key: str, buckets: list[str]) -> None:
    """Create ``buckets`` on the S3 server at ``endpoint`` (host:port) if missing."""
    from minio import Minio

    client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=False)
    for bucket in buckets:
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)


def ensure_postgis_database(
    dbname: str,
    *,
    host: str = LOOPBACK,
    port: int = 5432,
    user: str = "postgres",
    password: str = "",
    postgis: bool = True,
) -> None:
    """Create database ``dbname`` if missing and (optionally) the ``postgis`` extension in it."""
    import psycopg
    from psycopg import sql

    conninfo = {"host": host, "port": port, "user": user, "password": password or None}
    with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    if postgis:
        with psycopg.connect(dbname=dbname, autocommit=True, **conninfo) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def drop_database(
    dbname: str,
    *,
    host: str = LOOPBACK,
    port: int = 5432,
    user: str = "postgres",
    password: str = "",
) -> None:
    """Drop ``dbname`` (forcing out open sessions)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        dbname="postgres",
        autocommit=True,
        host=host,
        port=port,
        user=user,
        password=password or None,
    ) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )
