"""Promotion through the generated Ansible projects: what each stage deploys, on which hosts.

* **shadow**: the champion's bundle with the challenger's inside it (``shadow/``, its files listed in
  the manifest so that the host checks them too; the manifest names the challenger, so the release id
  differs from the champion's), deployed with ``--shadow shadow`` added to the host's serve arguments.
  The challenger scores every request there; the champion answers.
* **canary**: the challenger itself, on the canary hosts (other hosts than the shadow's where there are).
* **all**: the challenger on every host, in the policy's waves (the deploy API's gates apply).

A stage that fails its gate goes back with the deploy API's rollback (each host's previous release).
Serve arguments are added per host through an inventory directory beside the supervisor's records:
a link to the user's inventory plus ``host_vars/HOST.yml`` (which Ansible reads after the inventory's own
variables); nothing of the user's inventory, secrets included, is copied."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from ..errors import SuperviseError
from ..serve.manifest import sha256_file


def serve_args_of(value: object) -> list[str]:
    """A host's ``stratum_serve_args`` as the role reads it: a list, ``"[a, b]"`` or ``"a b"``."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        parsed = yaml.safe_load(value) if value.strip().startswith("[") else value.split()
        return [str(a) for a in parsed or []]
    if isinstance(value, (list, tuple)):
        return [str(a) for a in value]
    return [str(value)]


def stage_inventory(inventory: str | Path, extra_args: dict[str, list[str]], folder: Path) -> Path:
    """An inventory directory: the user's inventory (linked, with its group_vars) and, for each host of
    ``extra_args``, its serve arguments plus those. Read it with :func:`deploy.read_inventory`."""
    from ..deploy.inventory import read_inventory

    source = Path(inventory).expanduser().resolve()
    hosts = read_inventory(source)
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "host_vars").mkdir(parents=True)
    (folder / source.name).symlink_to(source)
    if (source.parent / "group_vars").is_dir():
        (folder / "group_vars").symlink_to(source.parent / "group_vars")
    for name, args in extra_args.items():
        own = serve_args_of(hosts.host(name).vars.get("stratum_serve_args"))
        body = {"stratum_serve_args": own + [a for a in args if a not in own]}
        (folder / "host_vars" / f"{name}.yml").write_text(yaml.safe_dump(body), encoding="utf-8")
    return folder


def shadow_bundle(champion_dir: Path, challenger_dir: Path, out: Path, *, challenger_version: int) -> Path:
    """The champion's bundle with the challenger's under ``shadow/`` (see the module's text)."""
    manifest = json.loads((Path(champion_dir) / "manifest.json").read_text(encoding="utf-8"))
    inner = json.loads((Path(challenger_dir) / "manifest.json").read_text(encoding="utf-8"))
    if not manifest.get("files") or not inner.get("files"):
        raise SuperviseError(f"{champion_dir} or {challenger_dir} is not a bundle with a file list; rebuild it.")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(champion_dir, out, ignore=shutil.ignore_patterns("capture"))
    shutil.copytree(challenger_dir, out / "shadow", ignore=shutil.ignore_patterns("capture"))
    files = dict(manifest["files"])
    for rel in [*inner["files"], "manifest.json"]:
        files[f"shadow/{rel}"] = sha256_file(out / "shadow" / rel)
    manifest["files"] = files
    manifest["shadow"] = {"path": "shadow", "version": int(challenger_version)}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    return out


def stage_hosts(names: list[str], shadow: int, canary: int) -> tuple[list[str], list[str]]:
    """The shadow hosts (the first ones) and the canary hosts (the next ones, or the first ones again
    when the fleet is too small to keep them apart)."""
    shadow_hosts = names[:shadow]
    rest = [n for n in names if n not in shadow_hosts]
    canary_hosts = (rest if len(rest) >= canary else names)[:canary]
    return shadow_hosts, canary_hosts
