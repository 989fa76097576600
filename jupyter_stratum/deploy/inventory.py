"""Reading a standard Ansible inventory (INI or YAML) into :class:`EdgeInventory`.

Ansible's own inventory code parses the file, so groups, ``[group:vars]``,
``group_vars/``/``host_vars/`` beside it, ranges and ``--limit`` patterns mean what
they mean to ``ansible-playbook``. Variables that hold secrets are kept out of
everything jupyter-stratum writes (see :func:`is_secret_var`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DeployError
from ..secret_keys import is_secret

#: default serving port when the inventory gives none
DEFAULT_PORT = 8500


def is_secret_var(name: str, value: object = None) -> bool:
    """True for host variables that are never copied into a generated project or a record
    (the rule of :mod:`jupyter_stratum.secret_keys`)."""
    return is_secret(name, value)


@dataclass
class EdgeHost:
    """One host of an edge inventory, with the variables Ansible resolved for it."""

    name: str
    address: str
    ssh_port: int
    user: str | None
    serve_port: int
    groups: list[str] = field(default_factory=list)
    vars: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Where the model service of this host answers (from the controller)."""
        return f"http://{self.address}:{self.serve_port}"

    def port_for(self, override: int | None = None) -> int:
        """The serving port a deploy asks this host to use: the inventory's ``stratum_port``,
        else ``override`` (``--port``), else :data:`DEFAULT_PORT`."""
        if "stratum_port" in self.vars:
            return self.serve_port
        return int(override) if override is not None else DEFAULT_PORT

    def public_vars(self) -> dict:
        """Host variables without secrets, safe to write into a project or a record."""
        return {k: v for k, v in self.vars.items() if not is_secret_var(k, v)}


@dataclass
class EdgeInventory:
    """The hosts an inventory selects (after ``--limit``), in inventory order."""

    source: Path
    hosts: list[EdgeHost]
    limit: str | None = None

    def host(self, name: str) -> EdgeHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise DeployError(f"Host '{name}' is not in {self.source}; hosts: {', '.join(h.name for h in self.hosts)}.")

    @property
    def names(self) -> list[str]:
        return [h.name for h in self.hosts]

    def secret_vars(self) -> set[str]:
        return {k for h in self.hosts for k, v in h.vars.items() if is_secret_var(k, v)}


# variables Ansible adds itself; not part of what a user wrote
_MAGIC = {
    "inventory_file",
    "inventory_dir",
    "inventory_hostname",
    "inventory_hostname_short",
    "group_names",
    "groups",
    "omit",
    "playbook_dir",
    "ansible_playbook_python",
    "ansible_config_file",
    "ansible_version",
    "ansible_check_mode",
    "ansible_diff_mode",
    "ansible_forks",
    "ansible_inventory_sources",
    "ansible_run_tags",
    "ansible_skip_tags",
    "ansible_verbosity",
    "hostvars",
    "role_names",
    "ansible_limit",
    "ansible_play_hosts",
    "ansible_play_batch",
    "ansible_play_hosts_all",
    "ansible_dependent_role_names",
    "ansible_play_role_names",
    "ansible_role_names",
    "play_hosts",
    "ansible_collection_name",
    "ansible_search_path",
    "ansible_facts",
}


def read_inventory(path: str | Path, limit: str | None = None) -> EdgeInventory:
    """Parse an INI or YAML inventory with Ansible and select hosts by ``limit``.

    Raises :class:`DeployError` when the file is missing, cannot be parsed, or
    selects no host.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DeployError(f"Inventory {path} does not exist: give the path of an Ansible inventory (INI or YAML).")
    InventoryManager, DataLoader, VariableManager = _ansible_inventory_api()

    import warnings

    loader = DataLoader()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            inv = InventoryManager(loader=loader, sources=[str(path)], parse=False)
            _parse_strictly(inv, path)
        except DeployError:
            raise
        except Exception as exc:  # ansible raises many kinds  # noqa: BLE001
            raise DeployError(
                f"Inventory {path} could not be read: {exc}. Check it with `ansible-inventory -i {path} --list`."
            ) from None
        if limit:
            inv.subset(limit)
        hosts = inv.get_hosts(pattern="all")
    if not hosts:
        what = f" matching --limit '{limit}'" if limit else ""
        names = ", ".join(h.name for h in InventoryManager(loader=loader, sources=[str(path)]).get_hosts()) or "none"
        raise DeployError(f"Inventory {path} has no host{what} (hosts: {names}).")
    vm = VariableManager(loader=loader, inventory=inv)
    result = []
    for h in hosts:
        raw = vm.get_vars(host=h, include_hostvars=False)
        hv = {str(k): _plain(v) for k, v in raw.items() if k not in _MAGIC}
        try:
            port = int(hv.get("stratum_port", DEFAULT_PORT))
        except (TypeError, ValueError):
            raise DeployError(
                f"Host {h.name}: stratum_port must be a port number, got {hv.get('stratum_port')!r}."
            ) from None
        result.append(
            EdgeHost(
                name=h.name,
                address=str(hv.get("ansible_host", h.name)),
                ssh_port=int(hv.get("ansible_port", 22) or 22),
                user=hv.get("ansible_user"),
                serve_port=port,
                groups=sorted(g.name for g in h.get_groups() if g.name != "all"),
                vars=hv,
            )
        )
    return EdgeInventory(source=path.resolve(), hosts=result, limit=limit)


def _ansible_inventory_api():
    """Import Ansible's inventory classes. Ansible patches sys.stdout/stderr on import and
    warns where they are not real files (a Jupyter kernel): import it against the real ones."""
    import sys

    if "ansible.utils.display" not in sys.modules and sys.__stdout__ is not None and sys.__stderr__ is not None:
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        try:
            import ansible.utils.display  # noqa: F401
        finally:
            sys.stdout, sys.stderr = saved
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    return InventoryManager, DataLoader, VariableManager


def _parse_strictly(inv, path: Path) -> None:
    """Parse the sources, turning Ansible's 'skipped/failed to parse' warnings into errors."""
    from ansible import constants as C

    old = C.INVENTORY_UNPARSED_IS_FAILED if hasattr(C, "INVENTORY_UNPARSED_IS_FAILED") else None
    try:
        C.INVENTORY_UNPARSED_IS_FAILED = True
        inv.parse_sources(cache=False)
    except Exception as exc:  # noqa: BLE001
        msg = str(exc).split("\n")[0]
        raise DeployError(
            f"Inventory {path} could not be parsed as INI or YAML: {msg.rstrip('.')}. "
            f"Check it with `ansible-inventory -i {path} --list`."
        ) from None
    finally:
        if old is not None:
            C.INVENTORY_UNPARSED_IS_FAILED = old


def _plain(value):
    """Ansible's tagged/lazy values to plain Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)
