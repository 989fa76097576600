"""A bundle's requirements: pinned to the training versions, and their wheels for the edge host's platform."""

from __future__ import annotations

import platform as platform_module
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from ..errors import BundleError

#: the marker of TensorFlow's CPU build (x86_64 only; the plain wheel elsewhere)
TF_X86 = 'platform_machine == "x86_64"'


def pin_requirements(mv, libs: list[str], transitive: list[str]) -> list[str]:
    """Direct runtime libraries pinned to the training versions (else this machine's), plus
    their libraries' own dependencies pinned to this machine's versions where installed."""
    trained = {str(k).lower(): str(v) for k, v in (getattr(mv, "library_versions", None) or {}).items()}
    out = []
    for lib in libs + transitive:
        version = trained.get(lib) or trained.get(lib.replace("scikit-learn", "sklearn"))
        if not version:
            try:
                version = metadata.version(lib)
            except metadata.PackageNotFoundError:
                if lib in transitive:
                    continue
                raise BundleError(
                    f"{lib} is not installed where the bundle is built, so it cannot be pinned; "
                    f"install it (pip install {lib})"
                ) from None
        out.append(f"{lib}=={version}")
    return out


#: what the runtime's OIP gRPC endpoint (``--grpc-port``) imports
GRPC_LIBS = ["grpcio", "protobuf"]


def with_grpc(requirements: list[str]) -> list[str]:
    """``requirements`` plus grpcio and protobuf pinned to this machine's versions (the generated
    messages of the runtime were made for them); a library already pinned keeps its pin."""
    have = {line.split("==")[0].split(";")[0].strip().lower() for line in requirements}
    out = list(requirements)
    for lib in GRPC_LIBS:
        if lib in have:
            continue
        try:
            out.append(f"{lib}=={metadata.version(lib)}")
        except metadata.PackageNotFoundError:
            raise BundleError(
                f"{lib} is not installed where the bundle is built, so a bundle for a gRPC runtime cannot pin it; "
                "install it (pip install 'jupyter-stratum[grpc]'), or bundle without --grpc"
            ) from None
    return out


def download_wheels(staging: Path, requirements: list[str], platform: str | None, python_minor: str) -> dict:
    """Download the wheels of ``requirements`` into ``staging/wheelhouse`` for ``platform`` (None: this
    machine); returns the manifest's ``wheelhouse`` section."""
    house = staging / "wheelhouse"
    house.mkdir()
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--no-input",
        "--only-binary=:all:",
        "-d",
        str(house),
        *for_platform(requirements, platform),
    ]
    if platform:
        digits = python_minor.replace(".", "")
        cmd += [
            "--platform",
            platform,
            "--python-version",
            python_minor,
            "--implementation",
            "cp",
            "--abi",
            f"cp{digits}",
        ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
        raise BundleError(
            "pip could not download the wheels for the bundle's requirements"
            f"{' for platform ' + platform if platform else ''}:\n{tail}\n"
            "Check that a package index is reachable, or build without --wheelhouse."
        )
    wheels = sorted(p.name for p in house.iterdir() if p.is_file())
    return {"platform": platform or platform_tag(), "python": python_minor, "wheels": wheels}


def platform_tag() -> str:
    try:
        from packaging.tags import sys_tags

        return str(next(iter(sys_tags())).platform)
    except Exception:  # noqa: BLE001
        return f"{sys.platform}_{platform_module.machine()}"


def for_platform(requirements: list[str], platform: str | None) -> list[str]:
    """The requirement lines whose ``platform_machine`` marker holds for a pip ``platform`` tag
    (``manylinux2014_aarch64`` → aarch64), markers dropped: pip download evaluates markers
    on the machine it runs on, not on the target."""
    if not platform:
        return requirements
    machine = next(
        (
            m
            for m in ("x86_64", "aarch64", "arm64", "armv7l", "amd64", "ppc64le", "s390x")
            if platform.lower().endswith(m)
        ),
        None,
    )
    out = []
    for line in requirements:
        spec, _, marker = line.partition(";")
        marker = marker.strip()
        if not marker or not machine:
            out.append(line)
        elif (marker == TF_X86) == (machine in ("x86_64", "amd64")):
            out.append(spec.strip())
    return out
