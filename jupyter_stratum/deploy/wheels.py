"""Wheels for hosts that cannot reach a package index (the default: offline).

When a host's environment lacks a pinned requirement, the role asks the host what it
has (its Python, platform tags, installed distributions and the wheels already in its
shared wheel directory) and runs this module **on the controller**::

    python -m jupyter_stratum.deploy.wheels --need NEED.json --cache DIR --out ARCHIVE

It downloads the wheels of the unsatisfied pins (and their dependencies) for that
host's Python and platform into a cache kept under the registry (once per
platform), and packs into ``ARCHIVE`` only the wheels the host has neither installed
nor received before. The host keeps them in ``{stratum_root}/wheels`` for every later
model and version. It prints one JSON line: ``{"shipped": [...], "archive": PATH or ""}``.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DeployError


@dataclass
class HostNeeds:
    """What a host reported (``stratum_host.py needs``)."""

    python: str  # "3.11"
    platforms: list[str]  # pip platform tags, most specific first
    unsatisfied: list[str]  # requirement lines the host's environment does not meet
    installed: dict[str, str] = field(default_factory=dict)  # normalized name -> version
    wheels: list[str] = field(default_factory=list)  # file names already in the host's wheel dir

    @classmethod
    def from_json(cls, data: dict) -> HostNeeds:
        return cls(
            python=str(data["python"]),
            platforms=[str(p) for p in data["platforms"]],
            unsatisfied=[str(r) for r in data.get("unsatisfied", [])],
            installed={canonical(k): str(v) for k, v in (data.get("installed") or {}).items()},
            wheels=[str(w) for w in data.get("wheels", [])],
        )


def canonical(name: str) -> str:
    """PEP 503 normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_key(filename: str) -> tuple[str, str]:
    """``(normalized name, version)`` of a wheel file name."""
    parts = filename[: -len(".whl")].split("-")
    return canonical(parts[0]), parts[1]


@contextmanager
def _locked(cache: Path) -> Iterator[None]:
    """One download at a time per cache (hosts of a fleet ask at the same moment)."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def download(requirements: list[str], python: str, platforms: list[str], cache: Path) -> list[Path]:
    """The wheels of ``requirements`` and their dependencies for ``python`` on ``platforms``,
    from ``cache`` when it has them all (no index asked), else from the index into ``cache``."""
    digits = python.replace(".", "")
    target = ["--python-version", python, "--implementation", "cp", "--abi", f"cp{digits}"]
    for p in platforms:
        target += ["--platform", p]
    with _locked(cache), tempfile.TemporaryDirectory(dir=cache) as tmp:
        base = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--disable-pip-version-check",
            "--no-input",
            "-q",
            "--only-binary=:all:",
            "--find-links",
            str(cache),
            "-d",
            tmp,
            *target,
            *requirements,
        ]
        proc = subprocess.run([*base, "--no-index"], capture_output=True, text=True)
        if proc.returncode != 0:  # something is not cached yet: ask the index
            for f in Path(tmp).iterdir():
                f.unlink()
            proc = subprocess.run(base, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
            raise DeployError(
                f"Could not get the wheels of {', '.join(requirements)} for Python {python} on "
                f"{platforms[0] if platforms else 'this platform'}:\n{tail}\n"
                "The controller needs a package index for the first deploy to such a host (later ones "
                "use its cache); or deploy with --online where the hosts can reach an index."
            )
        names = sorted(f.name for f in Path(tmp).iterdir() if f.name.endswith(".whl"))
        for name in names:
            if not (cache / name).exists():
                shutil.move(str(Path(tmp) / name), cache / name)
    return [cache / n for n in names]


def pack_missing(needs: HostNeeds, cache: Path, out: Path) -> list[str]:
    """Download what ``needs`` lacks and pack the wheels the host has not got into ``out``;
    return their names (none: no archive is written)."""
    if not needs.unsatisfied:
        return []
    wheels = download(needs.unsatisfied, needs.python, needs.platforms, cache)
    have = set(needs.wheels)
    ship = [
        w for w in wheels if w.name not in have and needs.installed.get(wheel_key(w.name)[0]) != wheel_key(w.name)[1]
    ]
    if not ship:
        return []
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w") as tar:  # wheels are compressed already
        for w in ship:
            tar.add(w, arcname=w.name)
    return [w.name for w in ship]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--need", required=True, help="JSON file (or text) the host helper printed for `needs`")
    ap.add_argument("--cache", required=True, type=Path, help="the controller's wheel cache")
    ap.add_argument("--out", required=True, type=Path, help="archive of the wheels to copy to the host")
    a = ap.parse_args(argv)
    text = a.need if a.need.lstrip().startswith("{") else Path(a.need).read_text()
    try:
        shipped = pack_missing(HostNeeds.from_json(json.loads(text)), a.cache, a.out)
    except DeployError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(json.dumps({"shipped": shipped, "archive": str(a.out) if shipped else ""}))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
