"""A Python base image made from Debian's packages, for sites that cannot pull ``python:X.Y-slim``.

    python -m jupyter_stratum.bundle.base_image --tag stratum-base:bookworm [--mirror URL] [--cache DIR]

``debootstrap`` (root, Debian's package) installs a minimal Debian with ``python3`` and
``python3-venv`` into a folder, which becomes the image (``docker import``). Debian bookworm
ships Python 3.11. The image is saved to ``--cache`` (``docker save``), so later builds load it
instead of bootstrapping again; copy that file to an offline site and ``docker load`` it there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from ..errors import BundleError

SUITES = {"bookworm": "3.11", "trixie": "3.13"}
DEFAULT_MIRROR = "http://deb.debian.org/debian"
TRIM = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale")


def base_tag(suite: str = "bookworm") -> str:
    return f"stratum-base:{suite}-py{SUITES[suite]}"


def ensure_base_image(
    client: Any,
    *,
    suite: str = "bookworm",
    tag: str | None = None,
    mirror: str = DEFAULT_MIRROR,
    cache: Path | None = None,
) -> str:
    """``tag`` on ``client``'s engine: already there, loaded from ``cache``, or bootstrapped (then saved to ``cache``)."""
    import docker.errors

    if suite not in SUITES:
        raise BundleError(f"unknown Debian suite {suite!r}; one of {', '.join(SUITES)}")
    tag = tag or base_tag(suite)
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    saved = (cache / f"{tag.replace(':', '_').replace('/', '_')}.tar") if cache else None
    if saved and saved.is_file():
        with saved.open("rb") as fh:
            client.images.load(fh.read())
        client.images.get(tag)
        return tag
    with tempfile.TemporaryDirectory(prefix="stratum-base-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        bootstrap(rootfs, suite=suite, mirror=mirror)
        archive = Path(tmp) / "rootfs.tar"
        with tarfile.open(archive, "w") as tar:
            for item in sorted(rootfs.iterdir()):
                tar.add(item, arcname=item.name)
        client.api.import_image(
            src=str(archive),
            repository=tag.split(":")[0],
            tag=tag.split(":")[1],
            changes=['CMD ["python3"]', "ENV LANG=C.UTF-8"],
        )
    if saved:
        saved.parent.mkdir(parents=True, exist_ok=True)
        part = saved.with_suffix(".part")
        with part.open("wb") as fh:
            for chunk in client.images.get(tag).save(named=True):
                fh.write(chunk)
        os.replace(part, saved)
    return tag


def bootstrap(rootfs: Path, *, suite: str = "bookworm", mirror: str = DEFAULT_MIRROR) -> None:
    """A minimal Debian ``suite`` with python3 and python3-venv in ``rootfs``."""
    tool = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(tool).exists():
        raise BundleError("debootstrap is missing: apt-get install debootstrap (or docker load a python base image).")
    if os.geteuid() != 0:
        raise BundleError("debootstrap needs root; run as root, or docker load a python base image and pass --base.")
    cmd = [tool, "--variant=minbase", "--include=python3,python3-venv,ca-certificates", suite, str(rootfs), mirror]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        raise BundleError(f"debootstrap of Debian {suite} from {mirror} failed:\n{tail}")
    for rel in TRIM:
        shutil.rmtree(rootfs / rel, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    from .image import docker_client

    ap = argparse.ArgumentParser(
        prog="python -m jupyter_stratum.bundle.base_image", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--suite", default="bookworm", choices=sorted(SUITES))
    ap.add_argument("--tag", help="image tag (default stratum-base:SUITE-pyX.Y)")
    ap.add_argument("--mirror", default=DEFAULT_MIRROR, help="Debian mirror (a local one at an offline site)")
    ap.add_argument("--cache", type=Path, help="folder for the saved image (docker save), reused by later calls")
    args = ap.parse_args(argv)
    try:
        tag = ensure_base_image(docker_client(), suite=args.suite, tag=args.tag, mirror=args.mirror, cache=args.cache)
    except BundleError as exc:
        print(f"base_image: {exc}", file=sys.stderr)
        return 2
    print(tag)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
