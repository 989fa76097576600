"""Throwaway edge hosts on this machine: one network namespace running sshd per host.

A test harness, not part of deploying: for tests, demos and benchmarks: ``LocalEdgeHosts(3).start()`` gives three hosts
reachable over SSH at ``10.77.N.2`` (each in its own network namespace, joined to
this machine by a veth pair), writes a client key, a known_hosts file and an Ansible
inventory for them. The hosts share this machine's filesystem, so every host gets
its own ``stratum_root`` directory.

Where network namespaces cannot be made (not root, no ``ip netns``), ``mode="loopback"``
runs one sshd per host on ``127.0.0.N:22NN`` instead; hosts then share one network
stack, so each gets its own serving port.

Everything started is recorded in ``state.json`` under the work dir and is stopped by
:meth:`LocalEdgeHosts.stop` (also from a later process: :func:`cleanup_stale`).
Only addresses of the namespaces created here and loopback are ever used.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "ssh-keygen"
#: default subnets stay below 10.77.<this>.0
SUBNET_CEILING = 199
_INSTANCES = 0


@dataclass
class SandboxHost:
    """One local edge host."""

    name: str
    address: str
    ssh_port: int
    root: str
    serve_port: int
    namespace: str | None = None
    veth: str | None = None
    sshd_pidfile: str = ""

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.serve_port}"


def sandbox_support() -> tuple[bool, str]:
    """Whether network-namespace edge hosts can be made here, and if not, why."""
    if os.geteuid() != 0:
        return False, f"network namespaces need root (running as uid {os.geteuid()})"
    if not Path(SSHD).exists():
        return False, f"{SSHD} is missing: apt-get install openssh-server"
    if not shutil.which("ip"):
        return False, "the 'ip' command is missing: apt-get install iproute2"
    probe = f"stxprobe{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return False, f"'ip netns add' failed: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return True, ""


def edge_mode() -> tuple[str | None, str]:
    """The kind of hosts that can be made here: ``("netns", "")``, ``("loopback", "")``,
    or ``(None, why not)``."""
    ok, why = sandbox_support()
    if ok:
        return "netns", ""
    ok2, why2 = loopback_support()
    if ok2:
        return "loopback", ""
    return None, f"no edge hosts can be made here: {why}; loopback fallback: {why2}"


def port_open(address: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at ``address:port``."""
    import socket

    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_closed(address: str, port: int, timeout: float = 10.0) -> bool:
    """Wait until nothing listens at ``address:port``; False if it still does after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_open(address, port):
            return True
        time.sleep(0.2)
    return False


def loopback_support() -> tuple[bool, str]:
    """Whether loopback sshd hosts can be made (the fallback)."""
    if not Path(SSHD).exists():
        return False, f"{SSHD} is missing: apt-get install openssh-server"
    if os.geteuid() != 0:
        return False, "sshd on loopback needs root to log in as root and to use /run/sshd"
    return True, ""


@dataclass
class LocalEdgeHosts:
    """A set of local edge hosts (network namespaces + sshd), started and stopped together."""

    count: int = 3
    workdir: Path = field(default_factory=lambda: Path("edge-hosts"))
    mode: str = "netns"  # or "loopback"
    serve_port: int = 8500
    subnet: int | None = None  # 10.77.<subnet + i>.0/24; default derived from the pid
    hosts: list[SandboxHost] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()
        # unique per instance: one process may hold several sets of hosts (the test session does)
        global _INSTANCES
        _INSTANCES += 1
        tag = f"{os.getpid() % 100000}{chr(ord('a') + (_INSTANCES - 1) % 26)}"
        self._tag = tag
        self._derived = self.subnet is None
        if self.subnet is None:
            # 10.77.10.0 .. 10.77.199.0, stepped by the pid so concurrent sessions rarely meet (start()
            # then moves past subnets already in use); the last host's /24 stays below 200
            # (10.77.200+ is left to other harnesses on this machine)
            span = max(1, (SUBNET_CEILING - 10 - self.count) // 4)
            self.subnet = 10 + (os.getpid() % span) * 4
        if not (0 <= self.subnet and self.subnet + self.count <= 254):
            raise ValueError(
                f"subnet {self.subnet} with {self.count} hosts gives 10.77.{self.subnet + self.count}.0/24, past 254; "
                "pass a smaller subnet (LocalEdgeHosts(count, workdir, subnet=N))."
            )
        self._subnet: int = self.subnet

    # -- paths -------------------------------------------------------------
    @property
    def key_path(self) -> Path:
        return self.workdir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.workdir / "known_hosts"

    @property
    def state_path(self) -> Path:
        return self.workdir / "state.json"

    # -- life cycle --------------------------------------------------------
    def _free_subnet(self) -> int:
        """The first window of ``count`` /24s from :attr:`subnet` on (wrapping below the ceiling)
        that no interface of this machine uses yet."""
        r = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True)
        used = {int(m) for m in re.findall(r"inet 10\.77\.(\d+)\.", r.stdout)}
        top = SUBNET_CEILING - self.count
        start = int(self.subnet or 10)
        for k in range(top - 10 + 1):
            base = 10 + (start - 10 + k) % (top - 10 + 1)
            if not used & set(range(base + 1, base + self.count + 1)):
                return base
        raise RuntimeError(f"no {self.count} free subnets 10.77.N.0/24 below {SUBNET_CEILING}: {sorted(used)}")

    def start(self) -> LocalEdgeHosts:
        if self.mode == "netns" and self._derived:
            self.subnet = self._subnet = self._free_subnet()
        self.workdir.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        if not self.key_path.exists():
            _run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "stratum-sandbox", "-f", str(self.key_path)])
        self._save()
        try:
            for i in range(1, self.count + 1):
                host = self._make_host(i)
                self.hosts.append(host)
                self._save()
                self._start_sshd(host)
                self._save()
            self._wait_ssh()
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill every process started on the hosts and delete the namespaces."""
        _stop_state(self._state())
        self.hosts.clear()
        if self.state_path.exists():
            self.state_path.unlink()

    def __enter__(self) -> LocalEdgeHosts:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- inventory ---------------------------------------------------------
    def inventory_vars(self, host: SandboxHost, python: str | None = None) -> dict:
        """Host variables for one host (no secret: the key is referred to by path)."""
        import sys

        return {
            "ansible_host": host.address,
            "ansible_port": host.ssh_port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.key_path),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={self.known_hosts} -o StrictHostKeyChecking=yes",
            "ansible_python_interpreter": python or sys.executable,
            "stratum_root": host.root,
            "stratum_port": host.serve_port,
        }

    def write_inventory(
        self,
        path: Path | None = None,
        group: str = "edge",
        *,
        host_vars: dict[str, dict] | None = None,
        group_vars: dict | None = None,
        python: str | None = None,
    ) -> Path:
        """Write a standard INI inventory for the hosts; extra vars per host or for the group."""
        path = Path(path or self.workdir / "inventory.ini")
        lines = [f"[{group}]"]
        for h in self.hosts:
            hv = self.inventory_vars(h, python)
            hv.update((host_vars or {}).get(h.name, {}))
            lines.append(h.name + " " + " ".join(f"{k}={_ini_value(v)}" for k, v in hv.items()))
        if group_vars:
            lines += ["", f"[{group}:vars]"] + [f"{k}={_ini_value(v)}" for k, v in group_vars.items()]
        path.write_text("\n".join(lines) + "\n")
        return path

    # -- internals ---------------------------------------------------------
    def _make_host(self, i: int) -> SandboxHost:
        root = self.workdir / f"edge{i}"
        root.mkdir(parents=True, exist_ok=True)
        if self.mode == "netns":
            net = self._subnet + i
            ns = f"stx{self._tag}e{i}"
            veth = f"vstx{self._tag}{i}"[:15]
            peer = f"pstx{self._tag}{i}"[:15]
            host = SandboxHost(
                name=f"edge{i}",
                address=f"10.77.{net}.2",
                ssh_port=22,
                root=str(root),
                serve_port=self.serve_port,
                namespace=ns,
                veth=veth,
            )
            _run(["ip", "netns", "add", ns])
            _run(["ip", "link", "add", veth, "type", "veth", "peer", "name", peer])
            _run(["ip", "link", "set", peer, "netns", ns])
            _run(["ip", "addr", "add", f"10.77.{net}.1/24", "dev", veth])
            _run(["ip", "link", "set", veth, "up"])
            _run(["ip", "netns", "exec", ns, "ip", "addr", "add", f"10.77.{net}.2/24", "dev", peer])
            _run(["ip", "netns", "exec", ns, "ip", "link", "set", peer, "up"])
            _run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"])
            return host
        port_base = 22000 + (os.getpid() % 500) * 10
        return SandboxHost(
            name=f"edge{i}",
            address=f"127.0.0.{10 + i}",
            ssh_port=port_base + i,
            root=str(root),
            serve_port=self.serve_port + i,
        )

    def _start_sshd(self, host: SandboxHost) -> None:
        d = Path(host.root) / "sshd"
        d.mkdir(exist_ok=True)
        hostkey = d / "ssh_host_ed25519_key"
        if not hostkey.exists():
            _run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey)])
        shutil.copy(self.key_path.with_suffix(".pub"), d / "authorized_keys")
        host.sshd_pidfile = str(d / "sshd.pid")
        cfg = d / "sshd_config"
        cfg.write_text(
            "\n".join(
                [
                    f"Port {host.ssh_port}",
                    f"ListenAddress {host.address}",
                    f"HostKey {hostkey}",
                    f"PidFile {host.sshd_pidfile}",
                    f"AuthorizedKeysFile {d / 'authorized_keys'}",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "PermitRootLogin prohibit-password",
                    "UsePAM no",
                    "StrictModes no",
                    "MaxSessions 50",
                    "MaxStartups 50",
                    "Subsystem sftp internal-sftp",
                    "LogLevel ERROR",
                ]
            )
            + "\n"
        )
        cmd = [SSHD, "-f", str(cfg), "-E", str(d / "sshd.log")]
        if host.namespace:
            cmd = ["ip", "netns", "exec", host.namespace] + cmd
        _run(cmd)
        pub = (d / "ssh_host_ed25519_key.pub").read_text().split()
        entry = f"[{host.address}]:{host.ssh_port}" if host.ssh_port != 22 else host.address
        with open(self.known_hosts, "a") as f:
            f.write(f"{entry} {pub[0]} {pub[1]}\n")

    def _wait_ssh(self, timeout: float = 20.0) -> None:
        import socket

        deadline = time.monotonic() + timeout
        for h in self.hosts:
            while True:
                try:
                    with socket.create_connection((h.address, h.ssh_port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        log = Path(h.root, "sshd", "sshd.log")
                        raise RuntimeError(
                            f"sshd on {h.name} did not start: {log.read_text() if log.exists() else ''}"
                        ) from None
                    time.sleep(0.1)

    def _state(self) -> dict:
        return {
            "workdir": str(self.workdir),
            "mode": self.mode,
            "pid": os.getpid(),
            "hosts": [asdict(h) for h in self.hosts],
        }

    def _save(self) -> None:
        self.state_path.write_text(json.dumps(self._state(), indent=1))


def cleanup_stale(workdir: Path, *, only_dead_owner: bool = False) -> bool:
    """Stop what a previous (crashed) run recorded in ``workdir/state.json``.

    With ``only_dead_owner``, hosts whose owning process still runs (a concurrent test
    session) are left alone. Returns True when something was cleaned up.
    """
    p = Path(workdir) / "state.json"
    if not p.exists():
        return False
    try:
        state = json.loads(p.read_text())
    except ValueError:
        return False
    if only_dead_owner and state.get("pid"):
        try:
            os.kill(int(state["pid"]), 0)
            return False  # its owner is alive
        except ProcessLookupError:
            pass
        except PermissionError:
            return False
    _stop_state(state)
    p.unlink(missing_ok=True)
    return True


def _stop_state(state: dict) -> None:
    import psutil

    pids: set[int] = set()
    for h in state.get("hosts", []):
        ns = h.get("namespace")
        if ns:
            r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            pids.update(int(p) for p in r.stdout.split() if p.isdigit())
        pf = h.get("sshd_pidfile")
        if pf and Path(pf).exists():
            try:
                pids.add(int(Path(pf).read_text().split()[0]))
            except (ValueError, IndexError):
                pass
    # services the role started on a host (found by their host root) and SSH
    # connection masters to the hosts' addresses
    roots = [h["root"] for h in state.get("hosts", [])]
    addrs = [h["address"] for h in state.get("hosts", [])]
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(proc.info.get("cmdline") or [])
        if proc.info["pid"] == os.getpid():
            continue
        if any(r and r in cmd for r in roots):
            pids.add(proc.info["pid"])
        elif cmd.startswith("ssh") and any(f"@{a}" in cmd or f" {a} " in cmd or cmd.endswith(a) for a in addrs):
            pids.add(proc.info["pid"])
    pids.discard(os.getpid())
    _kill_all(pids)
    for h in state.get("hosts", []):
        if h.get("namespace"):
            subprocess.run(["ip", "netns", "del", h["namespace"]], capture_output=True)


def _kill_all(pids: set[int], grace: float = 3.0) -> None:
    import psutil

    procs = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            p.send_signal(signal.SIGTERM)
            procs.append(p)
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=grace)


def _run(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")


def _ini_value(v) -> str:
    s = str(v)
    if any(c.isspace() for c in s) or "=" in s:
        return "'" + s.replace("'", "\\'") + "'"
    return s
