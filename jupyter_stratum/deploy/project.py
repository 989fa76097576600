"""Generating the Ansible project of one deployment.

A project is a plain directory that ``ansible-playbook deploy.yml`` runs without
jupyter-stratum::

    ansible.cfg             pipelining, inventory path, roles path
    inventory/hosts.yml     the selected hosts and their (non-secret) variables
    vars/deployment.yml     model, version, release id, bundle archive
    deploy.yml  rollback.yml  undeploy.yml
    roles/stratum_model/    the role (copied from this package)
    files/<release>.tar.gz  the bundle, packed reproducibly (same bundle -> same bytes)
    README.md

Secrets in the inventory (passwords, tokens, key material) are left out; SSH keys
are referred to by path, as the user's inventory does.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import yaml

from ..errors import DeployError
from .inventory import EdgeInventory

ACTIONS = ("deploy", "rollback", "undeploy")


@dataclass
class DeployProject:
    """A generated Ansible project on disk."""

    path: Path
    model: str
    version: str | None = None
    release: str | None = None
    stripped_vars: tuple[str, ...] = ()

    @property
    def inventory(self) -> Path:
        return self.path / "inventory" / "hosts.yml"

    @property
    def config(self) -> Path:
        return self.path / "ansible.cfg"

    def playbook(self, action: str) -> str:
        return f"{action}.yml"


def role_source() -> Path:
    """The ``stratum_model`` role shipped with this package."""
    return Path(str(resources.files("jupyter_stratum.deploy") / "ansible" / "roles" / "stratum_model"))


def release_id(bundle_dir: Path) -> tuple[str, dict]:
    """``v<version>-<first 8 hex of the manifest's sha256>`` and the manifest."""
    manifest_path = Path(bundle_dir) / "manifest.json"
    if not manifest_path.exists():
        raise DeployError(f"{bundle_dir} is not a model bundle (no manifest.json); build it with `stratum bundle`.")
    raw = manifest_path.read_bytes()
    manifest = json.loads(raw)
    digest = hashlib.sha256(raw).hexdigest()[:8]
    version = str(manifest.get("version", "0"))
    return f"v{version}-{digest}", manifest


def pack_bundle(bundle_dir: Path, out: Path) -> Path:
    """Pack a bundle directory reproducibly: sorted names, mtime 0, owner root.

    The same bundle gives the same bytes, so Ansible's ``copy`` sees nothing to do
    on an unchanged re-run.
    """
    bundle_dir = Path(bundle_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(bundle_dir.rglob("*")):
            rel = path.relative_to(bundle_dir)
            if any(part in ("__pycache__",) for part in rel.parts) or path.suffix == ".pyc":
                continue
            info = tar.gettarinfo(str(path), arcname=str(rel))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
            info.mode = 0o755 if (path.is_dir() or info.mode & 0o111) else 0o644
            if path.is_file():
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)
            elif path.is_dir():
                tar.addfile(info)
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(buf.getvalue())
    return out


def requirements_digest(bundle_dir: Path) -> str:
    req = Path(bundle_dir) / "requirements.txt"
    text = req.read_text() if req.exists() else ""
    lines = sorted(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]


def render_project(
    out: Path,
    inventory: EdgeInventory,
    *,
    model: str,
    bundle_dir: Path | None = None,
    port: int | None = None,
    serial: int | None = None,
    waves: list[int | str] | None = None,
    max_fail: int | None = None,
    pipelining: bool = True,
    control_persist: bool = True,
    free: bool = True,
    forks: int | None = None,
    extra_vars: dict | None = None,
) -> DeployProject:
    """Write the Ansible project for ``model`` and the hosts of ``inventory`` into ``out``.

    ``bundle_dir`` is needed for a deployment; rollback and undeploy need only the model name.
    Speed settings: SSH ``pipelining``; ``control_persist`` keeps one SSH connection per host
    open between steps and runs (ControlMaster); ``free`` lets every host go through its steps
    at its own pace (Ansible's ``free`` strategy; waves are separate runs); ``forks`` hosts at
    once (default: one per host, at most 50).
    """
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    (out / "inventory").mkdir(parents=True)
    (out / "vars").mkdir()
    shutil.copytree(
        role_source(), out / "roles" / "stratum_model", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )

    stripped = sorted(inventory.secret_vars())
    hosts = {}
    for h in inventory.hosts:
        hv = h.public_vars()
        if port is not None:
            hv["stratum_port"] = h.port_for(port)
        hosts[h.name] = hv
    inv_doc = {"all": {"children": {"stratum_targets": {"hosts": hosts}}}}
    _write_yaml(
        out / "inventory" / "hosts.yml",
        inv_doc,
        f"Hosts selected from {inventory.source}"
        + (f" with --limit {inventory.limit}" if inventory.limit else "")
        + (f"\n# Left out (secrets; give them at run time): {', '.join(stripped)}" if stripped else ""),
    )

    deployment: dict[str, object] = {"stratum_model": model}
    version = release = None
    if bundle_dir is not None:
        bundle_dir = Path(bundle_dir)
        release, manifest = release_id(bundle_dir)
        version = str(manifest.get("version", ""))
        archive = pack_bundle(bundle_dir, out / "files" / f"{model}-{release}.tar.gz")
        deployment.update(
            {
                "stratum_version": version,
                "stratum_release": release,
                "stratum_bundle_archive": "{{ playbook_dir }}/files/" + archive.name,
                "stratum_requirements_digest": requirements_digest(bundle_dir),
                "stratum_helper_sha": hashlib.sha256(
                    (role_source() / "files" / "stratum_host.py").read_bytes()
                ).hexdigest(),
                "stratum_has_wheelhouse": (bundle_dir / "wheelhouse").is_dir()
                and any((bundle_dir / "wheelhouse").iterdir()),
            }
        )
    deployment.update(extra_vars or {})
    _write_yaml(out / "vars" / "deployment.yml", deployment, f"What this project deploys ({model})")

    for action in ACTIONS:
        if action == "deploy" and bundle_dir is None:
            continue
        title = {
            "deploy": f"Deploy {model} version {version} (release {release})",
            "rollback": f"Roll {model} back to the previous release",
            "undeploy": f"Stop and remove {model}",
        }[action]
        play = {
            "name": title,
            "hosts": "stratum_targets",
            "gather_facts": False,
            "vars_files": ["vars/deployment.yml"],
            "vars": {"stratum_action": action},
            "roles": ["stratum_model"],
        }
        if free:
            play["strategy"] = "free"
        if action != "undeploy":
            if waves:
                play["serial"] = list(waves)
            elif serial:
                play["serial"] = int(serial)
            if max_fail is not None:
                play["max_fail_percentage"] = int(max_fail)
        _write_yaml(out / f"{action}.yml", [play], f"{title}.\n# Run again with:  ansible-playbook {action}.yml")

    (out / "ansible.cfg").write_text(
        "# Generated by jupyter-stratum\n"
        "[defaults]\n"
        "inventory = inventory/hosts.yml\n"
        "roles_path = roles\n"
        "retry_files_enabled = False\n"
        "host_key_checking = True\n"
        "interpreter_python = auto_silent\n"
        f"forks = {int(forks) if forks else max(5, min(len(inventory.hosts), 50))}\n"
        "\n[ssh_connection]\n"
        f"pipelining = {'True' if pipelining else 'False'}\n"
        + (
            "ssh_args = -o ControlMaster=auto -o ControlPersist=120s\n"
            if control_persist
            else "ssh_args = -o ControlMaster=no -o ControlPath=none\n"
        )
    )
    (out / ".ansible-lint").write_text(
        "---\n# The role's variables are named stratum_* rather than stratum_model_*: they are the\n"
        "# names users set in their inventories (stratum_port, stratum_root, ...).\n"
        "skip_list:\n  - var-naming[no-role-prefix]\nexclude_paths:\n  - files/\n"
    )
    (out / "README.md").write_text(_readme(model, version, release, stripped))
    return DeployProject(path=out, model=model, version=version, release=release, stripped_vars=tuple(stripped))


class _IndentedDumper(yaml.SafeDumper):
    """Indents lists under their key, as yamllint (and ansible-lint) expect."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)


def _write_yaml(path: Path, data, comment: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    head = "---\n# " + comment + "\n"
    path.write_text(
        head
        + yaml.dump(
            data, Dumper=_IndentedDumper, sort_keys=False, default_flow_style=False, width=100, explicit_start=False
        )
    )


def _readme(model: str, version: str | None, release: str | None, stripped: list[str]) -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Deployment project for `{model}`" + (f" version {version}" if version else ""),
        "",
        f"Generated by jupyter-stratum on {now}. It runs with plain Ansible, from this directory:",
        "",
        "```",
        "ansible-playbook deploy.yml      # install, switch, restart, check; roll back a host that fails",
        "ansible-playbook rollback.yml    # go back to the previous release",
        "ansible-playbook undeploy.yml    # stop the service and remove the model",
        "```",
        "",
        "On each host the role keeps `{stratum_root}/models/" + model + "/releases/<release>`,",
        "a `current` and a `previous` link, one virtual environment per set of requirements,",
        "the service's pidfile in `run/` and its log in `log/serve.log`.",
    ]
    if release:
        lines += ["", f"Release id: `{release}` (version and the first hex digits of the manifest's sha256)."]
    if stripped:
        lines += [
            "",
            "Left out of `inventory/hosts.yml` because they are secrets: "
            + ", ".join(stripped)
            + ". Give them at run time (`--ask-pass`, `--ask-become-pass`, an Ansible vault).",
        ]
    return "\n".join(lines) + "\n"
