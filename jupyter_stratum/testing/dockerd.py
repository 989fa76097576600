"""A throwaway Docker engine for tests: ``dockerd`` with its own data root, socket and pidfile.

It starts with no bridge and no iptables rules (``--bridge=none --iptables=false``), so several
can run on one machine, each optionally inside a network namespace (an edge host's); containers
use the host's (or the namespace's) network. Nothing is pulled from outside: images are built,
loaded, or pushed to and pulled from a :class:`LocalRegistry` (Debian's ``docker-registry``, the
distribution registry, plain HTTP: engines that use it list it in ``insecure_registries``).
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
REGISTRY = "/usr/bin/docker-registry"


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
    #: registries (HOST:PORT, or a CIDR) this engine may reach over plain HTTP
    insecure_registries: tuple[str, ...] = ()
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
            *(f"--insecure-registry={r}" for r in self.insecure_registries),
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


def registry_support() -> tuple[bool, str]:
    """Whether a local image registry can be started here, and if not, why (a skip reason)."""
    if not Path(shutil.which("docker-registry") or REGISTRY).exists():
        return False, "docker-registry is missing: apt-get install docker-registry (Debian's distribution registry)"
    return True, ""


@dataclass
class LocalRegistry:
    """Debian's ``docker-registry`` (distribution 2.8) on ``PORT`` of every address of this machine's
    network namespace (edge hosts reach it at their link's near end, ``10.77.N.1:PORT``), storing
    under ``workdir``; plain HTTP, no auth."""

    workdir: Path
    port: int = 0
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()

    def start(self, timeout: float = 30.0) -> LocalRegistry:
        import socket
        import urllib.request

        ok, why = registry_support()
        if not ok:
            raise RuntimeError(why)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            with socket.socket() as sock:
                sock.bind(("", 0))
                self.port = sock.getsockname()[1]
        config = self.workdir / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {self.workdir / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 0.0.0.0:{self.port}\n"
        )
        log = (self.workdir / "registry.log").open("ab")
        cmd = [shutil.which("docker-registry") or REGISTRY, "serve", str(config)]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = (self.workdir / "registry.log").read_text(errors="replace").strip().splitlines()[-5:]
                raise RuntimeError("docker-registry exited at start:\n" + "\n".join(tail))
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v2/", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"docker-registry did not answer on port {self.port} within {timeout:.0f} s")

    def catalog(self) -> list[str]:
        """The repositories the registry holds (its ``/v2/_catalog``)."""
        import json
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v2/_catalog", timeout=5) as r:
            return list(json.loads(r.read()).get("repositories") or [])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
