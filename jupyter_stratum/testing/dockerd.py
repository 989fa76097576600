"""A throwaway Docker engine for tests: ``dockerd`` with its own data root, socket and pidfile.

It starts with no bridge and no iptables rules (``--bridge=none --iptables=false``), so several
can run on one machine, each optionally inside a network namespace (an edge host's); containers
use the host's (or the namespace's) network. Nothing is pulled: images are built or loaded.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DOCKERD = "/usr/sbin/dockerd"


def dockerd_support() -> tuple[bool, str]:
    """Whether a private dockerd can be started here, and if not, why (a skip reason)."""
    binary = shutil.which("dockerd") or DOCKERD
    if not Path(binary).exists():
        return False, "dockerd is missing: apt-get install docker.io (Debian's package)"
    if os.geteuid() != 0:
        return False, "dockerd needs root here (rootless Docker is not set up)"
    if not Path("/sys/fs/cgroup").exists():
        return False, "no cgroup filesystem: containers cannot run on this machine"
    return True, ""


def netns_prefix(namespace: str) -> list[str]:
    """The command prefix that runs a program in network namespace ``namespace`` and nothing else:
    ``nsenter --net``, which keeps this machine's mounts (``ip netns exec`` remounts /sys, and dockerd
    then finds no cgroup controllers)."""
    nsenter = shutil.which("nsenter")
    if nsenter:
        return [nsenter, f"--net=/run/netns/{namespace}"]
    return ["ip", "netns", "exec", namespace]


@dataclass
class LocalDockerd:
    """One dockerd under ``workdir``; ``namespace`` runs it inside that network namespace."""

    workdir: Path
    namespace: str | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()

    @property
    def socket(self) -> Path:
        return self.workdir / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 60.0) -> LocalDockerd:
        ok, why = dockerd_support()
        if not ok:
            raise RuntimeError(why)
        for sub in ("data", "exec"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        cmd = [
            shutil.which("dockerd") or DOCKERD,
            "--data-root",
            str(self.workdir / "data"),
            "--exec-root",
            str(self.workdir / "exec"),
            "--host",
            self.url,
            "--pidfile",
            str(self.workdir / "dockerd.pid"),
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            "--storage-driver=overlay2",
        ]
        if self.namespace:
            cmd = [*netns_prefix(self.namespace), *cmd]
        log = (self.workdir / "dockerd.log").open("ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = (self.workdir / "dockerd.log").read_text(errors="replace").strip().splitlines()[-5:]
                raise RuntimeError("dockerd exited at start:\n" + "\n".join(tail))
            if self.socket.exists() and self._answers():
                return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"dockerd did not answer on {self.url} within {timeout:.0f} s")

    def client(self):
        import docker

        return docker.DockerClient(base_url=self.url, timeout=300)

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def stop(self) -> None:
        """Stop every container of this engine, then the engine."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                for c in self.client().containers.list():
                    c.kill()
            except Exception:  # noqa: BLE001 - stopping anyway
                pass
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        self._unmount()

    def _unmount(self) -> None:
        """Lazily unmount what the engine left mounted under ``workdir`` (its network namespace file,
        overlay layers), deepest first, so that the folder can be deleted."""
        root = str(self.workdir)
        with open("/proc/self/mounts") as fh:
            points = [line.split()[1].replace("\\040", " ") for line in fh]
        for point in sorted((p for p in points if p == root or p.startswith(root + "/")), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)

    def __enter__(self) -> LocalDockerd:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
