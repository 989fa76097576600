"""CPU and memory of a model's containers, from each docker host's engine (``docker stats``).

>>> from jupyter_stratum.deploy.docker_stats import container_stats
>>> for s in container_stats("churn", "fleet.ini"): print(s.host, s.release, s.cpu_percent, s.memory_mb)

One ad-hoc Ansible command per host runs the role's host helper (``stratum_docker.py stats``), so
the figures come from the engine's own accounting, beside the runtime's latency on ``/metrics``
(:mod:`jupyter_stratum.monitor` shows them side by side). Hosts where the model does not run in a
container (the process runtime) have no row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import DeployError


@dataclass(frozen=True)
class ContainerStats:
    """One running container of a model on one host, as its engine accounts it (``docker stats``)."""

    host: str
    container: str
    release: str
    cpu_percent: float  # of one core (150 = one and a half cores busy)
    cpu_limit: float  # the container's --cpus (stratum_cpus); 0 when unlimited
    memory_bytes: int
    memory_limit_bytes: int  # the container's --memory (stratum_memory), else the host's memory
    memory_percent: float

    @property
    def memory_mb(self) -> float:
        return self.memory_bytes / 2**20

    @property
    def memory_limit_mb(self) -> float:
        return self.memory_limit_bytes / 2**20


def container_stats(name: str, inventory: str | Path, *, limit: str | None = None) -> list[ContainerStats]:
    """The running containers of model ``name`` on the hosts of ``inventory`` deployed with the docker runtime."""
    import ansible_runner

    from .inventory import read_inventory
    from .runner import ansible_env

    inv = read_inventory(inventory, limit)
    helper = "{{ stratum_root | default('/opt/stratum') }}/models/" + name + "/bin/stratum_docker.py"
    args = (
        "env DOCKER_HOST={{ stratum_docker_host | default('') }} "
        "{{ ansible_python_interpreter | default('/usr/bin/python3') }} " + helper + f" stats --model {name}"
    )
    out: dict[str, dict] = {}

    def handler(ev: dict) -> bool:
        data = ev.get("event_data") or {}
        if ev.get("event") == "runner_on_ok":
            try:
                out[data["host"]] = json.loads((data.get("res") or {}).get("stdout") or "{}")
            except ValueError:
                pass
        return True

    import tempfile

    with tempfile.TemporaryDirectory(prefix="stratum-stats-") as tmp:
        r = ansible_runner.run(
            private_data_dir=tmp,
            host_pattern=",".join(inv.names),
            inventory=str(inv.source),
            module="ansible.builtin.shell",
            module_args=args,
            envvars=ansible_env(True),
            event_handler=handler,
            quiet=True,
            suppress_env_files=True,
        )
    if r.rc != 0 and not out:
        raise DeployError(
            f"no host of {inv.source} answered with the stats of {name}'s containers (rc {r.rc}); "
            "are they deployed with --runtime docker?"
        )
    return [
        ContainerStats(
            host=host,
            container=str(c["container"]),
            release=str(c["release"]),
            cpu_percent=float(c["cpu_percent"]),
            cpu_limit=float(c.get("cpu_limit") or 0.0),
            memory_bytes=int(c.get("memory_bytes") or 0),
            memory_limit_bytes=int(c.get("memory_limit_bytes") or 0),
            memory_percent=float(c["memory_percent"]),
        )
        for host in inv.names
        for c in (out.get(host) or {}).get("containers", [])
    ]
