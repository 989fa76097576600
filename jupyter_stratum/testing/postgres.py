"""A throwaway PostgreSQL server from Debian's packages (``postgresql``), for tests, the team
recipe and benchmarks: ``initdb`` into a temporary directory and ``pg_ctl start`` on a free port,
as a non-root user (``postgres`` when run as root; PostgreSQL refuses to run as root).

>>> with LocalPostgres() as pg:
...     pg.dsn  # 'postgresql://stratum@127.0.0.1:9301/stratum'
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

#: the ports the team recipe and its tests use (hub, proxy, registry service, PostgreSQL)
PORT_RANGE = range(9300, 9400)


def postgres_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl`` (Debian keeps them off PATH), or None."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def free_port(candidates: range = PORT_RANGE, host: str = "127.0.0.1") -> int:
    """A port from ``candidates`` nobody listens on now (start-up still checks)."""
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"No free port in {candidates.start}-{candidates.stop - 1}; stop what holds them.")


class LocalPostgres:
    """One PostgreSQL cluster in a temporary directory; :attr:`dsn` connects to database ``stratum``."""

    def __init__(self, port: int | None = None, user: str = "stratum", database: str = "stratum"):
        self.bindir = postgres_bin()
        self.port = port
        self.user = user
        self.database = database
        self.workdir: Path | None = None
        self.run_as = "postgres" if os.geteuid() == 0 else None

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *cmd: str) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        done = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
        return done

    def start(self) -> LocalPostgres:
        if self.bindir is None:
            raise RuntimeError(
                "PostgreSQL is not installed: `apt-get install postgresql` (Debian), or `make system-deps`."
            )
        self.workdir = Path(tempfile.mkdtemp(prefix="stratum-pg-"))
        data = self.workdir / "data"
        if self.run_as:
            shutil.chown(self.workdir, self.run_as)
            self.workdir.chmod(0o700)
        self._run(str(self.bindir / "initdb"), "-D", str(data), "-U", self.user, "-A", "trust", "-E", "UTF8")
        for attempt in range(5):
            self.port = self.port if self.port is not None and attempt == 0 else free_port()
            options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
            try:
                self._run(
                    str(self.bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.workdir / "log"),
                    "-w", "-t", "60", "start",
                )  # fmt: skip
                break
            except RuntimeError:
                if attempt == 4:
                    raise RuntimeError(f"PostgreSQL did not start: {self.log_tail()}") from None
        self._run(
            str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, self.database
        )
        return self

    def log_tail(self, n: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.workdir / "log").read_text().splitlines()[-n:])  # type: ignore[operator]
        return ""

    def stop(self) -> None:
        if self.workdir is None or self.bindir is None:
            return
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.workdir / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
