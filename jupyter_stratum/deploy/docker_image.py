"""The docker runtime's image on the controller: found or built once, saved once per image id.

``stratum deploy REF --edge INV --runtime docker`` (or hosts with ``stratum_runtime: docker`` in
the inventory) deploys the bundle's image instead of a virtual environment. Without a registry
the image is saved here (``docker save``, cached under the registry by image id) and the role
copies and loads the archive (only the layers the host lacks) on hosts whose engine lacks that
image id. Hosts with ``stratum_registry: HOST:PORT`` in the inventory pull it from that registry
instead: the controller's engine pushes it there first (as ``HOST:PORT/stratum-NAME:VERSION``),
except in a dry run, which may build the image but pushes it nowhere. ``stratum bundle NAME@V --image
--push HOST:PORT`` pushes with the same code (:func:`publish_image`).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DeployError

RUNTIMES = ("process", "docker")


def check_runtime(runtime: str | None) -> str | None:
    if runtime is not None and runtime not in RUNTIMES:
        raise DeployError(f"--runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}.")
    return runtime


def wants_docker(runtime: str | None, inventory) -> bool:
    """Whether any selected host runs the docker runtime (``--runtime docker``, or its ``stratum_runtime``)."""
    if runtime == "docker":
        return True
    return runtime is None and any(str(h.vars.get("stratum_runtime", "")) == "docker" for h in inventory.hosts)


def registries_of(runtime: str | None, inventory) -> list[str]:
    """The image registries (``stratum_registry``) named by the selected hosts that run the docker runtime."""
    docker_hosts = [
        h for h in inventory.hosts if runtime == "docker" or str(h.vars.get("stratum_runtime", "")) == "docker"
    ]
    return sorted({str(h.vars["stratum_registry"]) for h in docker_hosts if h.vars.get("stratum_registry")})


def image_vars(
    registry,
    bundle_dir: Path,
    *,
    base: str | None = None,
    client=None,
    registries: list[str] | tuple = (),
    dry_run: bool = False,
) -> dict[str, str]:
    """The role's variables for the image of ``bundle_dir``: its id, tag, saved archive and manifest.

    An image on the controller's engine (``$DOCKER_HOST``) with the bundle's tag and model sha256 is
    used as it is; otherwise it is built (``stratum bundle --image``'s build; ``base`` as its --base).
    It is pushed to each of ``registries`` (``HOST:PORT``), where hosts naming one pull it; with
    ``dry_run`` it is pushed nowhere (the role's check mode pulls nothing either).
    """
    from ..bundle.image import LABEL_PREFIX, build_image, docker_client, image_tag
    from ..errors import BundleError

    manifest = json.loads((Path(bundle_dir) / "manifest.json").read_text())
    tag = image_tag(manifest["name"], manifest["version"])
    try:
        client = client or docker_client()
        image = _matching(client, tag, manifest, LABEL_PREFIX)
        if image is None:
            build_image(bundle_dir, base=base, tag=tag, client=client, wheel_cache=Path(registry.root) / "wheels")
            image = client.images.get(tag)
    except BundleError as exc:
        raise DeployError(f"the docker runtime needs the bundle's image: {exc}") from None
    publish_image(client, image, tag, registries, dry_run=dry_run)
    archive = Path(registry.root) / "images" / f"{image.id.split(':')[-1][:24]}.tar"
    if not archive.exists():
        archive.parent.mkdir(parents=True, exist_ok=True)
        part = archive.with_suffix(".part")
        with open(part, "wb") as fh:
            for chunk in image.save(named=True):
                fh.write(chunk)
        part.replace(archive)
    return {
        "stratum_image_id": str(image.id),
        "stratum_image_tag": tag,
        "stratum_image_archive": str(archive),
        "stratum_bundle_manifest": str((Path(bundle_dir) / "manifest.json").resolve()),
        "stratum_docker_helper_sha": helpers_sha(),
    }


def would_push(runtime: str | None, inventory, bundle_dir: Path) -> list[str]:
    """What a deploy of ``bundle_dir`` would push (``HOST:PORT/stratum-NAME:VERSION`` per registry the
    inventory names); a dry run says this instead of pushing."""
    if not wants_docker(runtime, inventory):
        return []
    from ..bundle.image import image_tag

    manifest = json.loads((Path(bundle_dir) / "manifest.json").read_text())
    tag = image_tag(manifest["name"], manifest["version"])
    return publish_image(None, None, tag, registries_of(runtime, inventory), dry_run=True)


def helpers_sha() -> str:
    """sha256 of the role's two host helpers (``stratum_docker.py quick --helper-sha`` compares its own)."""
    import hashlib

    from .project import role_source

    files = role_source() / "files"
    return hashlib.sha256(
        b"".join((files / f).read_bytes() for f in ("stratum_host.py", "stratum_docker.py"))
    ).hexdigest()


def publish_image(client, image, tag: str, registries: list[str] | tuple, *, dry_run: bool = False) -> list[str]:
    """Push ``image`` (tagged ``tag``) to each of ``registries`` (``HOST:PORT``); the references pushed.

    The one place an image leaves this machine's engine (``stratum deploy`` for hosts with
    ``stratum_registry``, ``stratum bundle --image --push``). With ``dry_run`` nothing is tagged
    or pushed: the answer is the references a real run would push.
    """
    if dry_run:
        return [_registry_ref(where, tag) for where in registries]
    return [push_image(client, image, tag, where) for where in registries]


def _registry_ref(where: str, tag: str) -> str:
    repo, _, version = tag.rpartition(":")
    return f"{where}/{repo}:{version}"


def push_image(client, image, tag: str, where: str) -> str:
    """Push ``image`` to registry ``where`` (``HOST:PORT``) as ``where/tag``; the reference pushed."""
    repo, _, version = tag.rpartition(":")
    ref = f"{where}/{repo}"
    image.tag(ref, version)
    try:
        for line in client.images.push(ref, version, stream=True, decode=True):
            if line.get("error"):
                raise DeployError(_push_failed(where, ref, version, str(line["error"])))
    except DeployError:
        raise
    except Exception as exc:  # noqa: BLE001 - the SDK raises several kinds for an unreachable registry
        raise DeployError(_push_failed(where, ref, version, str(exc))) from None
    return f"{ref}:{version}"


def _push_failed(where: str, ref: str, version: str, error: str) -> str:
    hint = (
        f' The registry {where} speaks plain HTTP and this engine expects HTTPS there: add "{where}" to'
        " \"insecure-registries\" in /etc/docker/daemon.json (on this machine's engine, and on the hosts' that"
        " pull from it) and restart dockerd, or serve the registry over TLS."
        if "HTTP response to HTTPS client" in error
        else ""
    )
    return (
        f"could not push the image to the registry {where} as {ref}:{version}: {error[:300]}.{hint}"
        " Check that the registry runs and that this engine may push there; a deploy can instead send the image"
        " over SSH (drop stratum_registry from the inventory)."
    )


def _matching(client, tag: str, manifest: dict, prefix: str):
    """The image tagged ``tag`` when it holds this bundle's model and runtime, else None."""
    import docker.errors

    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    labels = image.labels or {}
    want = {
        f"{prefix}.model.sha256": str((manifest.get("source") or {}).get("sha256") or ""),
        f"{prefix}.runtime.version": str((manifest.get("runtime") or {}).get("version") or ""),
    }
    return image if all(labels.get(k) == v for k, v in want.items()) else None


def slim_archive(archive: Path, have: list[list[str]], out: Path) -> dict:
    """A copy of the saved image ``archive`` without the layers a host already has.

    ``have`` holds the layer lists (diff ids, bottom first) of the host's images. ``docker load``
    reads a layer's file only when the host lacks the chain up to it, so the longest prefix of this
    image's layers that one of the host's images shares is left out: a model-only update sends the
    model's layer (and the image's config), not the base and the environment again.
    """
    import tarfile

    with tarfile.open(archive) as src:
        manifest = json.load(src.extractfile("manifest.json"))  # type: ignore[arg-type]
        entry = manifest[0]
        config = json.load(src.extractfile(entry["Config"]))  # type: ignore[arg-type]
        diff_ids = list(config["rootfs"]["diff_ids"])
        shared = max((_common_prefix(diff_ids, layers) for layers in have), default=0)
        skip = {entry["Layers"][i] for i in range(shared)}
        out.parent.mkdir(parents=True, exist_ok=True)
        sent = 0
        with tarfile.open(out, "w") as dst:
            for member in src.getmembers():
                if member.name in skip:
                    continue
                fh = src.extractfile(member) if member.isfile() else None
                dst.addfile(member, fh)
                sent += member.size if member.isfile() else 0
    return {
        "layers": len(diff_ids),
        "layers_sent": len(diff_ids) - shared,
        "bytes": out.stat().st_size,
        "bytes_full": archive.stat().st_size,
    }


def _common_prefix(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def main(argv: list[str] | None = None) -> None:
    """``python -m jupyter_stratum.deploy.docker_image --archive A --have JSON --out O`` (run by the role on the controller)."""
    import argparse

    ap = argparse.ArgumentParser(description="Slim a saved image down to the layers a host lacks.")
    ap.add_argument("--archive", type=Path, required=True)
    ap.add_argument("--have", required=True, help="the host's answer to stratum_docker.py layers (JSON)")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    print(json.dumps(slim_archive(a.archive, json.loads(a.have).get("images", []), a.out)))


if __name__ == "__main__":
    main()
