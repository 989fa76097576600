"""OCI images of bundles, built with the Docker SDK (``stratum bundle NAME@V --image``).

Layers, from the most to the least shared, so that a new model version rebuilds only the last:

1. the base image (``python:X.Y-slim`` by default, X.Y the training Python; never pulled implicitly);
2. a virtual environment with the bundle's pinned requirements, installed offline from wheels
   fetched on this machine for the base image's own Python and platform (a build stage: the wheels
   do not stay in the image). Cached as long as the requirements are the same;
3. the serving runtime (``/bundle/runtime``), cached as long as the runtime is the same;
4. the model, its manifest and the bundle's other files.

The image runs as a non-root user, carries a HEALTHCHECK on ``/v2/health/ready`` and labels with
the model's name, version and sha256. No token or key goes into any layer or label: the runtime
gets its bearer token when the container starts (``STRATUM_SERVE_TOKEN`` or ``--token-file``).
The build runs with no network (``network_mode="none"``): everything it installs comes from the
build context.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BundleError

LABEL_PREFIX = "io.jupyter-stratum"
MANAGED_LABEL = f"{LABEL_PREFIX}.managed"
SERVE_PORT = 8500
USER = "10001:10001"
HOST_SCRIPT = (
    Path(__file__).resolve().parent.parent
    / "deploy"
    / "ansible"
    / "roles"
    / "stratum_model"
    / "files"
    / "stratum_host.py"
)

DOCKERFILE = """\
# Built by jupyter-stratum (stratum bundle --image); layers from the most to the least shared.
ARG BASE_IMAGE
FROM ${{BASE_IMAGE}} AS deps
COPY requirements.txt /tmp/stratum/requirements.txt
COPY wheels/ /tmp/stratum/wheels/
RUN python3 -m venv /opt/stratum/venv \\
 && /opt/stratum/venv/bin/python -m pip install --no-cache-dir --no-index --disable-pip-version-check \\
      --find-links /tmp/stratum/wheels -r /tmp/stratum/requirements.txt

FROM ${{BASE_IMAGE}}
COPY --from=deps /opt/stratum/venv /opt/stratum/venv
COPY runtime/ /bundle/runtime/
COPY files/ /bundle/
ENV PATH=/opt/stratum/venv/bin:$PATH PYTHONPATH=/bundle/runtime PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
EXPOSE {port}
USER {user}
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \\
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/v2/health/ready' % os.environ.get('STRATUM_PORT', '{port}'), timeout=2)"]
{labels}
ENTRYPOINT ["python", "-m", "stratum_serve", "/bundle", "--host", "0.0.0.0"]
CMD ["--port", "{port}"]
"""


@dataclass
class ImageBuild:
    """An image built from a bundle."""

    tag: str
    image_id: str
    base: str
    size_bytes: int
    seconds: float
    labels: dict[str, str]
    steps: int = 0  # Dockerfile steps of both stages
    steps_cached: int = 0  # steps answered from the engine's cache
    log: list[str] = field(default_factory=list, repr=False)

    def to_text(self) -> str:
        return "\n".join(
            [
                f"Image {self.tag} ({self.image_id[:19]}, {self.size_bytes / 1e6:.0f} MB) built in {self.seconds:.1f} s",
                f"  base:    {self.base}",
                f"  steps:   {self.steps_cached} of {self.steps} from the cache",
                f"  model:   {self.labels.get(f'{LABEL_PREFIX}.model.name')}@"
                f"{self.labels.get(f'{LABEL_PREFIX}.model.version')}",
                f"  run:     docker run -p {SERVE_PORT}:{SERVE_PORT} -e STRATUM_SERVE_TOKEN=... {self.tag}",
            ]
        )

    def __repr__(self) -> str:
        return self.to_text()


def docker_client(base_url: str | None = None):
    """A Docker SDK client for ``base_url`` (default: ``$DOCKER_HOST`` or the local socket), checked to answer."""
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise BundleError("the Docker SDK is missing: pip install docker") from exc
    try:
        client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001 - the SDK raises several kinds for "no daemon"
        where = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        raise BundleError(
            f"Docker does not answer at {where} ({type(exc).__name__}): start dockerd, or set DOCKER_HOST to a "
            "running engine; hosts without Docker keep the process runtime (stratum deploy without --runtime docker)."
        ) from exc
    return client


def image_tag(name: str, version: str | int) -> str:
    """``stratum-<name>:<version>``, in the characters a Docker repository name allows."""
    repo = re.sub(r"[^a-z0-9._-]+", "-", str(name).lower()).strip("-._") or "model"
    return f"stratum-{repo}:{version}"


def default_base(python_minor: str) -> str:
    return f"python:{python_minor}-slim"


def build_image(
    bundle: Any,
    *,
    base: str | None = None,
    tag: str | None = None,
    platform: str | None = None,
    client: Any = None,
    wheel_cache: str | os.PathLike | None = None,
) -> ImageBuild:
    """Build the image of ``bundle`` (a :class:`~jupyter_stratum.bundle.Bundle` or its directory)."""
    root = Path(getattr(bundle, "path", bundle)).resolve()
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise BundleError(f"{root} is not a bundle (no manifest.json): build one with `stratum bundle NAME@VERSION`.")
    manifest = json.loads(manifest_path.read_text())
    name, version = str(manifest["name"]), str(manifest["version"])
    python = str(manifest.get("python") or "3")
    base = base or default_base(python)
    tag = tag or image_tag(name, version)
    client = client or docker_client()
    _check_platform(client, platform)
    _require_image(client, base)
    base_python, platforms = probe_base(client, base)
    if base_python != python:
        raise BundleError(
            f"the base image {base} has Python {base_python}, but {name}@{version} was trained with Python {python}: "
            f"its pinned wheels need the same minor version; pass --base with a Python {python} image."
        )
    labels = {
        MANAGED_LABEL: "true",
        f"{LABEL_PREFIX}.model.name": name,
        f"{LABEL_PREFIX}.model.version": version,
        f"{LABEL_PREFIX}.model.sha256": str((manifest.get("source") or {}).get("sha256") or ""),
        f"{LABEL_PREFIX}.runtime.version": str((manifest.get("runtime") or {}).get("version") or ""),
        "org.opencontainers.image.title": name,
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.base.name": base,
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="stratum-image-") as tmp:
        context = Path(tmp)
        _stage_context(root, manifest, context, base_python, platforms, wheel_cache, labels)
        log: list[str] = []
        try:
            image, stream = client.images.build(
                path=str(context),
                tag=tag,
                buildargs={"BASE_IMAGE": base},
                network_mode="none",
                rm=True,
                forcerm=True,
                pull=False,
                platform=platform,
            )
            for chunk in stream:
                if "stream" in chunk:
                    log.append(str(chunk["stream"]))
        except Exception as exc:  # noqa: BLE001 - BuildError/APIError: say what the build printed
            printed = "".join(
                str(c.get("stream", "") or c.get("error", "")) for c in getattr(exc, "build_log", None) or []
            )
            tail = "\n".join(printed.strip().splitlines()[-12:]) or str(exc)
            raise BundleError(f"the image build of {name}@{version} failed:\n{tail}") from exc
    text = "".join(log)
    return ImageBuild(
        tag=tag,
        image_id=str(image.id),
        base=base,
        size_bytes=int(image.attrs.get("Size") or 0),
        seconds=time.perf_counter() - started,
        labels=labels,
        steps=len(re.findall(r"^Step \d+/\d+ :", text, flags=re.M)),
        steps_cached=text.count("Using cache"),
        log=log,
    )


def probe_base(client: Any, base: str) -> tuple[str, list[str]]:
    """The base image's Python (``3.11``) and the pip platform tags it accepts, asked of the image itself
    with the same standard-library code an edge host runs."""
    code = (
        "import json, sys; sys.path.insert(0, '/stratum'); import stratum_host as h; "
        "print(json.dumps({'python': '%d.%d' % sys.version_info[:2], 'platforms': h.platform_tags()}))"
    )
    try:
        out = client.containers.run(
            base,
            ["python3", "-c", code],
            remove=True,
            network_mode="none",
            volumes={str(HOST_SCRIPT.parent): {"bind": "/stratum", "mode": "ro"}},
        )
    except Exception as exc:  # noqa: BLE001
        raise BundleError(
            f"could not run python3 in the base image {base} ({exc}); a base image needs python3 with venv."
        ) from exc
    facts = json.loads(out.decode().strip().splitlines()[-1])
    return str(facts["python"]), [str(p) for p in facts["platforms"]]


def _require_image(client: Any, base: str) -> None:
    import docker.errors

    try:
        client.images.get(base)
    except docker.errors.ImageNotFound:
        raise BundleError(
            f"the base image {base} is not on this Docker engine, and jupyter-stratum never pulls one implicitly. "
            f"Where a registry is reachable: `docker pull {base}`; for an offline site, `docker save {base}` there and "
            "`docker load` here; or build one from Debian packages with "
            "`python -m jupyter_stratum.bundle.base_image --tag stratum-base:bookworm` and pass --base stratum-base:bookworm."
        ) from None


def _check_platform(client: Any, platform: str | None) -> None:
    if not platform:
        return
    if "/" not in platform:
        raise BundleError(f"--platform {platform!r}: with --image, give Docker's form, e.g. linux/arm64.")
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(
        str(client.info().get("Architecture")), str(client.info().get("Architecture"))
    )
    want = platform.split("/")[1]
    if want == arch:
        return
    qemu = {"arm64": "aarch64", "arm": "arm", "amd64": "x86_64"}.get(want, want)
    if not Path(f"/proc/sys/fs/binfmt_misc/qemu-{qemu}").exists():
        raise BundleError(
            f"building for {platform} on this {arch} engine needs QEMU's binfmt handler for {qemu} "
            "(`docker run --privileged --rm tonistiigi/binfmt --install " + want + "`, or docker buildx), and it "
            "is not here. Build the image on a machine of that architecture, or deploy with the process runtime "
            "(its wheels are fetched for the host's own platform)."
        )


def _stage_context(
    root: Path,
    manifest: dict,
    context: Path,
    python: str,
    platforms: list[str],
    wheel_cache: str | os.PathLike | None,
    labels: dict[str, str],
) -> None:
    from ..deploy.wheels import download

    requirements = [str(r) for r in manifest.get("requirements") or []]
    (context / "requirements.txt").write_text("\n".join(requirements) + "\n")
    wheels = context / "wheels"
    wheels.mkdir()
    cache = Path(wheel_cache) if wheel_cache else _default_wheel_cache()
    cache = cache / platforms[0]
    cache.mkdir(parents=True, exist_ok=True)
    for wheel in download(requirements, python, platforms, cache) if requirements else []:
        os.link(wheel, wheels / wheel.name) if _same_device(wheel, wheels) else shutil.copy2(wheel, wheels)
    shutil.copytree(root / "runtime", context / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
    files = context / "files"
    files.mkdir()
    for item in root.iterdir():
        if item.name in ("runtime", "wheelhouse") or item.name.startswith("."):
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, files / item.name)
    label_lines = " \\\n      ".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items()))
    (context / "Dockerfile").write_text(DOCKERFILE.format(port=SERVE_PORT, user=USER, labels=f"LABEL {label_lines}"))
    (context / ".dockerignore").write_text("**/__pycache__\n")


def _default_wheel_cache() -> Path:
    from ..registry.registry import default_root

    return default_root() / "wheels"


def _same_device(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


# a PEM private key block with its body (binaries hold the armour lines alone, as format strings)
PEM_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\s+[A-Za-z0-9+/=:,\s-]{64,}?-----END")


def find_in_image(client: Any, tag: str, needles: list[bytes], *, base: str | None = None) -> list[str]:
    """Where any of ``needles`` occurs in image ``tag`` (every file of every layer, its history and its
    configuration: labels, env, commands), and where a PEM private key with its body lies in a layer
    added on top of ``base`` (base images carry libraries' own test keys). An audit for secrets;
    empty when clean."""
    found: list[str] = []
    image = client.images.get(tag)
    meta = json.dumps(image.attrs).encode() + json.dumps(image.history()).encode()
    found += [f"image config/history: {n!r}" for n in needles if n in meta]
    skip_pem = len(client.images.get(base).attrs["RootFS"]["Layers"]) if base else 0

    def hits(where: str, data: bytes, pem: bool) -> list[str]:
        out = [f"{where}: {n!r}" for n in needles if n in data]
        return out + ([f"{where}: a PEM private key"] if pem and PEM_PRIVATE_KEY.search(data) else [])

    with tempfile.TemporaryFile() as saved:
        for chunk in image.save(named=True):
            saved.write(chunk)
        saved.seek(0)
        with tarfile.open(fileobj=saved) as outer:
            order = json.load(outer.extractfile("manifest.json"))[0]["Layers"]  # type: ignore[arg-type]
            for member in outer.getmembers():
                blob = outer.extractfile(member) if member.isfile() else None
                if blob is None:
                    continue
                if not member.name.endswith("layer.tar"):
                    found += hits(member.name, blob.read(), pem=True)
                    continue
                pem = member.name not in order[:skip_pem]
                with tarfile.open(fileobj=blob) as layer:
                    for entry in layer:
                        handle = layer.extractfile(entry) if entry.isfile() else None
                        data = handle.read() if handle else entry.name.encode()
                        found += hits(f"{member.name}:{entry.name}", data, pem)
    return found
