#!/usr/bin/env python3
"""The docker runtime on an edge host (standard library and the docker CLI only).

    stratum_docker.py has-image --image ID               is this image on the host's engine?
    stratum_docker.py layers                             the layer lists of the host's images (what a
                                                         saved image may leave out)
    stratum_docker.py load      --archive TAR            docker load it, then delete the archive
    stratum_docker.py pull      --image REF --image-id ID
                                                         docker pull REF from its registry; it must be ID
    stratum_docker.py quick     --home H --model M --release R --settings JSON --helper-sha SHA
                                                         is R serving as asked, by these helpers
                                                         (then check it)?
    stratum_docker.py deploy    --home H --model M --release R --settings JSON
                                                         start R beside the one serving (staging port),
                                                         check it, switch, check again; else keep the old
    stratum_docker.py rollback  --home H --model M       start the previous container again, check it
    stratum_docker.py undeploy  --home H --model M       remove the model's containers and images (ours only)
    stratum_docker.py stats     --model M                CPU and memory of the model's containers

Containers are named ``stratum-<model>-<release>`` and labelled ``io.jupyter-stratum.*``; the
host keeps ``H/docker/state.json`` (current and previous release) and each release's manifest
(its sample prediction) under ``H/docker/releases/<release>/``. The previous container and its
image stay on the host (stopped), so a rollback needs no network. Each action prints one JSON line;
``deploy`` and ``rollback`` print the role's report (status deployed / rolled_back / failed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stratum_host import fail, same, serves_version  # noqa: E402 - the helper beside this one

LABEL = "io.jupyter-stratum"
DOCKER = "docker"


class CheckFailed(Exception):
    """The new container did not become ready, or predicted the sample wrong."""


class DockerFailed(Exception):
    """A docker command failed."""


def docker(*args: str, check: bool = True) -> str:
    try:
        r = subprocess.run([DOCKER, *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise DockerFailed(
            f"the docker CLI ({DOCKER}) is not on this host: install Docker, or deploy with the process runtime"
        ) from None
    if check and r.returncode != 0:
        raise DockerFailed(f"docker {' '.join(args[:2])} failed: {(r.stderr or r.stdout).strip()[-600:]}")
    return r.stdout.strip() if r.returncode == 0 else ""


def container_name(model: str, release: str) -> str:
    return f"stratum-{model}-{release}"


def state_path(home: Path) -> Path:
    return home / "docker" / "state.json"


def read_state(home: Path) -> dict:
    try:
        return {"current": "", "previous": "", **json.loads(state_path(home).read_text())}
    except (OSError, ValueError):
        return {"current": "", "previous": ""}


def write_state(home: Path, state: dict) -> None:
    p = state_path(home)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(p)


def inspect(name: str) -> dict | None:
    out = docker("container", "inspect", name, check=False)
    if not out:
        return None
    return json.loads(out)[0]


def digest(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def pull(ref: str, image_id: str) -> dict:
    """``docker pull ref`` from the registry it names; the image pulled must be ``image_id`` (the one the
    controller built and pushed), or the host would run something else under that tag."""
    docker("pull", "-q", ref)
    got = docker("image", "inspect", "--format", "{{.Id}}", ref)
    if image_id and got != image_id:
        fail(
            f"{ref} in the registry is image {got[:19]}, not {image_id[:19]} that this deploy pushed: "
            "something else pushed that tag since; deploy again."
        )
    return {"changed": True, "image": got}


def run_container(name: str, model: str, release: str, settings: dict, port: int, *, staging: bool) -> None:
    docker("rm", "-f", name, check=False)
    argv = ["run", "-d", "--name", name, "--network", "host"]
    argv += ["--restart", "no" if staging else "unless-stopped"]
    labels = {
        f"{LABEL}.managed": "true",
        f"{LABEL}.model.name": model,
        f"{LABEL}.release": release,
        f"{LABEL}.port": str(port),
        f"{LABEL}.settings": digest(settings),
        f"{LABEL}.role": "staging" if staging else "serving",
    }
    for k, v in labels.items():
        argv += ["--label", f"{k}={v}"]
    argv += ["-e", f"STRATUM_PORT={port}"]
    if settings.get("cpus"):
        argv += ["--cpus", str(settings["cpus"])]
    if settings.get("memory"):
        argv += ["--memory", str(settings["memory"])]
    argv += [str(settings["image"]), "--port", str(port)]
    if settings.get("bind") and settings["bind"] != "0.0.0.0":
        argv += ["--host", str(settings["bind"])]
    argv += [str(a) for a in settings.get("args") or []]
    docker(*argv)


def logs_tail(name: str, n: int = 4) -> str:
    r = subprocess.run([DOCKER, "logs", "--tail", str(n), name], capture_output=True, text=True)
    return " | ".join(line.strip() for line in (r.stdout + r.stderr).splitlines() if line.strip())


def check(home: Path, release: str, name: str, port: int, bind: str, timeout: float) -> dict:
    """Wait for /v2/health/ready of container ``name`` on ``port``, then predict the manifest's sample."""
    host = "127.0.0.1" if bind in ("", "0.0.0.0") else bind
    url = f"http://{host}:{port}"
    t0 = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(url + "/v2/health/ready", timeout=2) as r:
                if r.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        info = inspect(name)
        state = (info or {}).get("State") or {}
        if info is None or (not state.get("Running") and state.get("Status") in ("exited", "dead")):
            raise CheckFailed(
                f"container {name} exited (code {state.get('ExitCode')}) before it was ready; log: {logs_tail(name)}"
            )
        if time.monotonic() - t0 > timeout:
            raise CheckFailed(
                f"{name} was not ready at {url}/v2/health/ready within {timeout:.0f} s; log: {logs_tail(name)}"
            )
        time.sleep(0.3)
    result = {"release": release, "port": port, "ready_s": round(time.monotonic() - t0, 3)}
    manifest = json.loads((home / "docker" / "releases" / release / "manifest.json").read_text())
    result["version"] = manifest.get("version")
    if not serves_version(url, manifest):
        raise CheckFailed(
            f"what answers at {url} does not serve {manifest.get('name')} version {manifest.get('version')}: "
            f"another container or program holds port {port}"
        )
    records = (manifest.get("sample") or {}).get("records")
    if not records:
        result["sample"] = "none in manifest"
        return result
    req = urllib.request.Request(
        url + "/predict", data=json.dumps({"records": records}).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            got = json.loads(r.read()).get("predictions")
    except urllib.error.HTTPError as e:
        raise CheckFailed(f"the sample prediction of {name} failed: HTTP {e.code} {e.read()[:300]!r}") from None
    except (urllib.error.URLError, OSError) as e:
        raise CheckFailed(f"the sample prediction of {name} failed: {e}") from None
    expected = manifest["sample"].get("expected")
    if not same(got, expected):
        raise CheckFailed(f"{name} predicted {got!r} for the manifest's sample, expected {expected!r}")
    result["sample"] = f"{len(records)} rows as expected"
    return result


def serving_as_asked(model: str, release: str, settings: dict) -> bool:
    info = inspect(container_name(model, release))
    if info is None or not info["State"].get("Running"):
        return False
    labels = info["Config"].get("Labels") or {}
    return labels.get(f"{LABEL}.settings") == digest(settings) and info.get("Image") == settings["image"]


def helpers_sha() -> str:
    """sha256 of the two host helpers (stratum_host.py, then this one), as the controller computes it."""
    here = Path(__file__).resolve().parent
    return hashlib.sha256(
        b"".join((here / f).read_bytes() for f in ("stratum_host.py", "stratum_docker.py"))
    ).hexdigest()


def quick(home: Path, model: str, release: str, settings: dict, timeout: float, helper_sha: str = "") -> dict:
    if helper_sha and helpers_sha() != helper_sha:
        return {"unchanged": False, "why": "the host helpers differ from the project's"}
    state = read_state(home)
    if state["current"] != release or not serving_as_asked(model, release, settings):
        return {"unchanged": False}
    try:
        res = check(home, release, container_name(model, release), int(settings["port"]), settings["bind"], timeout)
    except CheckFailed as e:
        return {"unchanged": False, "why": str(e)}
    return {"unchanged": True, "check": res}


def deploy(home: Path, model: str, release: str, settings: dict, timeout: float) -> dict:
    state = read_state(home)
    current = state["current"]
    name = container_name(model, release)
    port, staging_port, bind = int(settings["port"]), int(settings["staging_port"]), str(settings["bind"])
    old = container_name(model, current) if current and current != release else None
    if old is not None and inspect(old) is None:
        old = None  # its container is gone: nothing to go back to

    def report(status: str, serving: str, error: str = "", step: str = "", checked: dict | None = None) -> dict:
        out = {"status": status, "serving": serving, "previous": current, "check": checked or {}, "changed": True}
        if status != "deployed":
            out.update({"failed_release": release, "failed_step": step, "error": error})
        return out

    # 1. beside the one serving, on the staging port
    staging = name + "-staging"
    try:
        run_container(staging, model, release, settings, staging_port, staging=True)
        check(home, release, staging, staging_port, bind, timeout)
    except (CheckFailed, DockerFailed) as e:
        docker("rm", "-f", staging, check=False)
        status = "rolled_back" if old else "failed"
        return report(status, current if old else "", str(e) or "staging failed", "check on the staging port")
    docker("rm", "-f", staging, check=False)
    # 2. switch: stop the old one (kept, with its image) and whatever else of the model runs, start the new one
    stop_serving(model, keep=name)
    try:
        run_container(name, model, release, settings, port, staging=False)
        res = check(home, release, name, port, bind, timeout)
    except (CheckFailed, DockerFailed) as e:
        docker("rm", "-f", name, check=False)
        if old is None:
            return report("failed", "", str(e), "check after the switch")
        docker("start", old)
        try:
            back = check(
                home, current, old, int((inspect(old) or {})["Config"]["Labels"][f"{LABEL}.port"]), bind, timeout
            )
        except CheckFailed as e2:
            return report("failed", "", f"{e}; the previous container did not come back: {e2}", "switch back")
        return report("rolled_back", current, str(e), "check after the switch", back)
    if current and current != release:
        state["previous"] = current
    state["current"] = release
    write_state(home, state)
    prune(model, keep={state["current"], state["previous"]})
    return report("deployed", release, checked=res)


def model_containers(model: str) -> list[dict]:
    ids = docker(
        "ps", "-aq", "--filter", f"label={LABEL}.managed=true", "--filter", f"label={LABEL}.model.name={model}"
    )
    return [i for i in (inspect(x) for x in ids.split()) if i is not None]


def stop_serving(model: str, keep: str) -> list[str]:
    """Stop every running container of ``model`` but ``keep``, so that the port is free for it: the one the
    state names, and any a deploy killed after starting its new container (before recording it) left running."""
    stopped = []
    for info in model_containers(model):
        name = info["Name"].lstrip("/")
        if name != keep and info["State"].get("Running"):
            docker("stop", "-t", "10", name, check=False)
            stopped.append(name)
    return stopped


def model_images(model: str) -> list[str]:
    out = docker(
        "images", "-q", "--no-trunc", "--filter", f"label={LABEL}.managed=true",
        "--filter", f"label={LABEL}.model.name={model}",
    )  # fmt: skip
    return sorted(set(out.split()))


def prune(model: str, keep: set[str]) -> dict:
    """Remove the model's containers and images other than those of the releases in ``keep``."""
    removed, kept_images = [], set()
    for info in model_containers(model):
        rel = (info["Config"].get("Labels") or {}).get(f"{LABEL}.release", "")
        if rel in keep and info["Name"].lstrip("/") == container_name(model, rel):
            kept_images.add(info["Image"])
            continue
        docker("rm", "-f", info["Id"], check=False)
        removed.append(info["Name"].lstrip("/"))
    for image in model_images(model):
        if image not in kept_images:
            docker("rmi", image, check=False)
            removed.append(image[:19])
    return {"removed": removed}


def rollback(home: Path, model: str, timeout: float) -> dict:
    state = read_state(home)
    cur, prev = state["current"], state["previous"]
    base = {"previous": cur, "changed": True}
    if not prev or prev == cur or inspect(container_name(model, prev)) is None:
        fail(f"There is no previous release of {model} on this host; deploy the version you want instead.")
    new, old = container_name(model, prev), container_name(model, cur)
    info = inspect(new) or {}  # present: checked just above
    port = int(info["Config"]["Labels"][f"{LABEL}.port"])
    stop_serving(model, keep=new)
    docker("start", new)
    try:
        res = check(home, prev, new, port, "", timeout)
    except CheckFailed as e:
        docker("stop", "-t", "10", new, check=False)
        docker("start", old, check=False)
        return {
            **base,
            "status": "failed",
            "serving": cur,
            "error": f"rollback to {prev} failed: {e}; {cur} serves again",
        }
    write_state(home, {"current": prev, "previous": cur})
    return {**base, "status": "rolled_back", "serving": prev, "check": res}


def undeploy(home: Path, model: str) -> dict:
    containers = [i["Name"].lstrip("/") for i in model_containers(model)]
    images = model_images(model)
    for c in containers:
        docker("rm", "-f", c, check=False)
    for image in images:
        docker("rmi", "-f", image, check=False)
    shutil.rmtree(home / "docker", ignore_errors=True)
    return {"changed": bool(containers or images), "containers": containers, "images": [i[:19] for i in images]}


_UNITS = {"b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "kb": 10**3, "mb": 10**6, "gb": 10**9}


def size_bytes(text: str) -> int:
    """``120.5MiB`` (as ``docker stats`` prints sizes) in bytes."""
    text = text.strip()
    i = len(text.rstrip("BbKkMmGgTtiI"))
    return int(float(text[:i] or 0) * _UNITS.get(text[i:].lower(), 1))


def stats(model: str) -> dict:
    """``docker stats`` of the model's running containers (CPU percent of one core, memory bytes, as
    the engine accounts them) and the limits they run under (``--cpus``: 0 for none; memory: the
    engine's limit, the host's memory when none was set)."""
    rows = []
    for info in model_containers(model):
        if not info["State"].get("Running"):
            continue
        out = docker("stats", "--no-stream", "--format", "{{json .}}", info["Id"], check=False)
        if not out:
            continue
        s = json.loads(out.splitlines()[0])
        used, _, limit = str(s.get("MemUsage", "")).partition("/")
        hc = info.get("HostConfig") or {}
        rows.append(
            {
                "container": info["Name"].lstrip("/"),
                "release": (info["Config"].get("Labels") or {}).get(f"{LABEL}.release", ""),
                "cpu_percent": float(str(s.get("CPUPerc", "0")).rstrip("%") or 0),
                "cpu_limit": (hc.get("NanoCpus") or 0) / 1e9,
                "memory_bytes": size_bytes(used),
                "memory_limit_bytes": int(hc.get("Memory") or 0) or size_bytes(limit),
                "memory_percent": float(str(s.get("MemPerc", "0")).rstrip("%") or 0),
            }
        )
    return {"changed": False, "containers": rows}


def main() -> None:
    global DOCKER
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "action",
        choices=["has-image", "layers", "load", "pull", "quick", "deploy", "rollback", "undeploy", "stats"],
    )
    ap.add_argument("--home", type=Path)
    ap.add_argument("--model", default="")
    ap.add_argument("--release", default="")
    ap.add_argument("--settings", default="{}")
    ap.add_argument("--image", default="")
    ap.add_argument("--image-id", default="")
    ap.add_argument("--helper-sha", default="", help="quick: sha256 of the helpers the role ships")
    ap.add_argument("--archive", type=Path)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--docker", default="", help="the docker CLI (default: docker on PATH)")
    a = ap.parse_args()
    DOCKER = (
        a.docker
        or shutil.which("docker")
        or next((p for p in ("/usr/bin/docker", "/usr/local/bin/docker") if os.path.exists(p)), "docker")
    )
    settings = json.loads(a.settings)
    try:
        out = act(a, settings)
    except DockerFailed as e:
        fail(str(e))
    print(json.dumps(out))


def act(a, settings: dict) -> dict:
    out: dict
    if a.action == "has-image":
        out = {"changed": False, "present": bool(docker("image", "inspect", a.image, check=False))}
    elif a.action == "layers":
        ids = docker("image", "ls", "-aq", "--no-trunc").split()
        out_ = docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", *sorted(set(ids))) if ids else ""
        out = {"changed": False, "images": [json.loads(line) for line in out_.splitlines() if line.strip()]}
    elif a.action == "load":
        docker("load", "-q", "-i", str(a.archive))
        a.archive.unlink(missing_ok=True)
        out = {"changed": True}
    elif a.action == "pull":
        out = pull(a.image, a.image_id)
    elif a.action == "quick":
        out = quick(a.home, a.model, a.release, settings, a.timeout, a.helper_sha)
    elif a.action == "deploy":
        out = deploy(a.home, a.model, a.release, settings, a.timeout)
    elif a.action == "rollback":
        out = rollback(a.home, a.model, a.timeout)
    elif a.action == "undeploy":
        out = undeploy(a.home, a.model)
    else:
        out = stats(a.model)
    return out


if __name__ == "__main__":
    main()
