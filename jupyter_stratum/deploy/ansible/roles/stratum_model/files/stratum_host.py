#!/usr/bin/env python3
"""What jupyter-stratum runs on an edge host (standard library only).

    stratum_host.py facts   --home H                    systemd? release serving? service running?
    stratum_host.py verify  --release DIR               every file of the manifest has its sha256
    stratum_host.py venv    --python P --path V [...]   create the model's virtual environment
    stratum_host.py start|stop|restart|status --home H  the supervised service (no systemd)
    stratum_host.py run     --home H                    exec the service (systemd's ExecStart)
    stratum_host.py check   --home H [--url U]          wait for /v2/health/ready, predict the sample
    stratum_host.py needs   --path V --requirements R --wheels W
                                                        which pins the environment lacks, and what
                                                        the controller needs to pick wheels for it
    stratum_host.py wheels  --wheels W --add ARCHIVE    add the wheels of an archive to the host's
    stratum_host.py quick   --home H --want REL --settings JSON --venv V --helper-sha SHA
                                                        is REL serving as asked (then check it)? the
                                                        one round trip of an unchanged re-run

The service is the release ``H/current`` points to, started with the settings in
``<release>/.stratum-service.json``. ``start`` detaches a supervisor (pidfile
``run/supervisor.pid``) that restarts the service when it exits, with a growing pause.
Each action prints one JSON line; failures exit non-zero with a message.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


def paths(home: Path) -> dict[str, Path]:
    return {
        "supervisor": home / "run" / "supervisor.pid",
        "service": home / "run" / "serve.pid",
        "state": home / "run" / "serve.state.json",
        "log": home / "log" / "serve.log",
    }


def service_command(home: Path) -> tuple[list[str], dict[str, str], Path]:
    release = (home / "current").resolve()
    settings = json.loads((release / ".stratum-service.json").read_text())
    argv = [
        settings["python"],
        "-m",
        "stratum_serve",
        str(release),
        "--host",
        str(settings["host"]),
        "--port",
        str(settings["port"]),
    ]
    argv += [str(a) for a in settings.get("args", [])]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(release / "runtime")
    env.update({str(k): str(v) for k, v in (settings.get("env") or {}).items()})
    return argv, env, release


def read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    # a zombie or a reused pid is not our process
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.split(")")[-1].split()[0] == "Z":
            return None
    except OSError:
        return pid
    return pid if ("stratum" in cmdline) else None


def status(home: Path) -> dict:
    p = paths(home)
    sup, svc = read_pid(p["supervisor"]), read_pid(p["service"])
    state = {}
    if p["state"].exists():
        try:
            state = json.loads(p["state"].read_text())
        except ValueError:
            state = {}
    return {"running": sup is not None, "supervisor_pid": sup, "service_pid": svc, **state}


def supervise(home: Path) -> None:
    """The supervisor loop (runs detached)."""
    p = paths(home)
    stopping = False
    child: subprocess.Popen | None = None

    def on_term(signum, frame):
        nonlocal stopping
        stopping = True
        if child and child.poll() is None:
            child.terminate()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    starts, pause = 0, 1.0
    while not stopping:
        argv, env, release = service_command(home)
        with open(p["log"], "ab", buffering=0) as log:
            log.write(f"--- stratum: starting {release.name}: {' '.join(argv)}\n".encode())
            child = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(release)
            )
        starts += 1
        p["service"].write_text(f"{child.pid}\n")
        p["state"].write_text(
            json.dumps({"release": release.name, "starts": starts, "started": time.time(), "last_exit": None})
        )
        began = time.monotonic()
        code = child.wait()
        p["state"].write_text(
            json.dumps({"release": release.name, "starts": starts, "started": None, "last_exit": code})
        )
        if stopping:
            break
        if time.monotonic() - began > 60:
            pause = 1.0
        time.sleep(pause)
        pause = min(pause * 2, 30.0)
    for f in (p["service"], p["supervisor"]):
        f.unlink(missing_ok=True)


def start(home: Path) -> bool:
    """Start the supervisor unless it runs; True when it was started."""
    p = paths(home)
    if read_pid(p["supervisor"]):
        return False
    p["state"].unlink(missing_ok=True)
    for d in ("run", "log"):
        (home / d).mkdir(parents=True, exist_ok=True)
    service_command(home)  # fail here, loudly, when the release is unusable
    if os.fork():
        # parent: wait until the supervisor wrote its pidfile
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if read_pid(p["supervisor"]):
                return True
            time.sleep(0.05)
        raise SystemExit("the supervisor did not start; see " + str(p["log"]))
    os.setsid()
    if os.fork():
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    logfd = os.open(p["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(devnull, 0)
    os.dup2(logfd, 1)
    os.dup2(logfd, 2)
    os.closerange(3, 1024)
    os.chdir("/")
    # mark the process so that pid checks recognise it
    sys.argv = ["stratum_host.py", "supervise", "--home", str(home)]
    p["supervisor"].write_text(f"{os.getpid()}\n")
    try:
        supervise(home)
    finally:
        os._exit(0)


def stop(home: Path, timeout: float = 15.0) -> bool:
    """Stop the supervisor and the service; True when something was running."""
    p = paths(home)
    sup, svc = read_pid(p["supervisor"]), read_pid(p["service"])
    pids = [x for x in (sup, svc) if x]
    if not pids:
        for f in (p["service"], p["supervisor"]):
            f.unlink(missing_ok=True)
        return False
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(x) for x in pids):
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for f in (p["service"], p["supervisor"]):
        f.unlink(missing_ok=True)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def fail(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(1)


def verify(release: Path) -> dict:
    manifest = json.loads((release / "manifest.json").read_text())
    bad = []
    for rel, digest in (manifest.get("files") or {}).items():
        f = release / rel
        if not f.is_file():
            bad.append(f"{rel}: missing")
            continue
        h = hashlib.sha256()
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        if h.hexdigest() != digest:
            bad.append(f"{rel}: sha256 differs")
    if bad:
        (release / ".stratum-unpacked").unlink(missing_ok=True)
        fail(f"release {release.name} is damaged: " + "; ".join(bad[:5]))
    marker = release / ".stratum-unpacked"
    changed = not marker.exists()
    marker.write_text(release.name + "\n")
    return {"changed": changed, "release": release.name, "files": len(manifest.get("files") or {})}


def same(a, b, rel: float = 1e-6) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], rel) for k in a)
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)
    return a == b


def log_tail(home: Path, n: int = 4) -> str:
    """The last lines the service wrote since its last start."""
    log = home / "log" / "serve.log"
    if not log.exists():
        return ""
    lines = log.read_text(errors="replace").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("--- stratum: starting")]
    lines = lines[starts[-1] + 1 :] if starts else lines
    return " | ".join(line.strip() for line in lines[-n:] if line.strip())


def service_token(release: Path) -> str:
    """The bearer token the service requires (``--token-file F`` in its settings), or ''."""
    try:
        args = [str(a) for a in json.loads((release / ".stratum-service.json").read_text()).get("args", [])]
    except (OSError, ValueError):
        return ""
    for i, a in enumerate(args):
        path = (
            args[i + 1]
            if a == "--token-file" and i + 1 < len(args)
            else (a.split("=", 1)[1] if a.startswith("--token-file=") else None)
        )
        if path:
            try:
                return Path(path).read_text().strip()
            except OSError:
                return ""
    return ""


def serving_port(release: Path) -> int | None:
    """The port the service of ``release`` listens on (from its settings), None when unknown."""
    try:
        return int(json.loads((release / ".stratum-service.json").read_text())["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def serves_version(url: str, manifest: dict) -> bool:
    """Whether the runtime answering at ``url`` serves the manifest's model and version: its metadata route
    answers 404 for any other, so this tells the runtime just started from another that holds the port."""
    name = urllib.parse.quote(str(manifest.get("name", "")), safe="")
    version = urllib.parse.quote(str(manifest.get("version", "")), safe="")
    try:
        with urllib.request.urlopen(f"{url}/v2/models/{name}/versions/{version}", timeout=10) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def check(home: Path, url: str | None, timeout: float) -> dict:
    """Wait for the current release to be ready and predict the manifest's sample; ``url``
    defaults to the port in the release's own service settings, on 127.0.0.1."""
    release = (home / "current").resolve()
    manifest = json.loads((release / "manifest.json").read_text())
    port = serving_port(release)
    if url is None:
        if port is None:
            fail(f"release {release.name} has no service settings (.stratum-service.json); deploy it again")
        url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(url + "/v2/health/ready", timeout=2) as r:
                if r.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        last_exit = status(home).get("last_exit")
        if last_exit is not None:
            fail(
                f"the service of release {release.name} exited with code {last_exit} "
                f"before it was ready; log: {log_tail(home)}"
            )
        if time.monotonic() - t0 > timeout:
            fail(
                f"release {release.name} was not ready at {url}/v2/health/ready within {timeout:.0f} s; "
                f"log: {log_tail(home)}"
            )
        time.sleep(0.2)
    ready_s = time.monotonic() - t0
    started_on = status(home).get("release")
    if started_on and started_on != release.name:  # (a service under systemd keeps no state file)
        fail(f"the service runs release {started_on}, not {release.name} that current points to: restart it")
    if not serves_version(url, manifest):
        fail(
            f"what answers at {url} does not serve {manifest.get('name')} version {manifest.get('version')} of "
            f"release {release.name}: another process holds the port"
        )
    sample = manifest.get("sample") or {}
    records = sample.get("records")
    result = {"release": release.name, "version": manifest.get("version"), "port": port, "ready_s": round(ready_s, 3)}
    if not records:
        result["sample"] = "none in manifest"
        return result
    body = json.dumps({"records": records}).encode()
    headers = {"Content-Type": "application/json"}
    token = service_token(release)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url + "/predict", data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            reply = json.loads(r.read())
    except urllib.error.HTTPError as e:
        fail(f"the sample prediction of release {release.name} failed: HTTP {e.code} {e.read()[:300]!r}")
    except (urllib.error.URLError, OSError) as e:
        fail(f"the sample prediction of release {release.name} failed: {e}")
    got = reply.get("predictions")
    if not same(got, sample.get("expected")):
        fail(f"release {release.name} predicted {got!r} for the manifest's sample, expected {sample.get('expected')!r}")
    result["sample"] = f"{len(records)} rows as expected"
    return result


def facts(home: Path) -> dict:
    """What the role needs to know about the host before it changes anything. ``running_release``: the
    release the running service was started on, which differs from ``current`` when a deploy stopped
    between switching ``current`` and restarting the service."""
    current = home / "current"
    previous = home / "previous"
    now = status(home) if home.exists() else {"running": False}
    return {
        "systemd": Path("/run/systemd/system").is_dir(),
        "current": current.resolve().name if current.is_symlink() else "",
        "previous": previous.resolve().name if previous.is_symlink() else "",
        "port": serving_port(current.resolve()) if current.is_symlink() else None,
        "running": now["running"],
        "running_release": (now.get("release") or "") if now["running"] and now.get("started") else "",
    }


def quick(home: Path, want: str, settings: str, venv: Path | None, helper_sha: str, timeout: float) -> dict:
    """Whether release ``want`` already serves exactly as asked (this helper, the release
    unpacked and verified, its settings, its environment installed, the service running);
    if so, its health and sample check too. Anything else: ``unchanged`` is false and the
    role takes the full path."""
    f = facts(home)
    why = []
    if helper_sha and hashlib.sha256(Path(__file__).read_bytes()).hexdigest() != helper_sha:
        why.append("the host helper differs")
    release = home / "releases" / want
    if f["current"] != want:
        why.append(f"serving {f['current'] or 'nothing'}")
    elif not f["running"]:
        why.append("the service is not running")
    elif f["running_release"] != want:
        why.append(f"the service runs {f['running_release'] or 'an unknown release'}, not {want}")
    if not (release / ".stratum-unpacked").is_file():
        why.append("the release is not unpacked")
    try:
        have = json.loads((release / ".stratum-service.json").read_text())
    except (OSError, ValueError):
        have = None
    asked = json.loads(settings)
    if isinstance(asked, dict) and "port" in asked:
        asked["port"] = int(asked["port"])
    if have != asked:
        why.append("the service settings differ")
    if venv is None or not (venv / ".stratum-installed").is_file():
        why.append("the environment is not installed")
    out = {**f, "unchanged": not why, "why": why}
    if not why:
        try:
            out["check"] = check(home, None, timeout)
        except SystemExit:
            out["unchanged"], out["why"] = False, ["its check failed"]
    return out


_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def platform_tags() -> list[str]:
    """pip platform tags this interpreter accepts, most specific first (stdlib only)."""
    import sysconfig

    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    tags = []
    if plat.startswith("linux_"):
        arch = plat[len("linux_") :]
        try:
            libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
        except (ValueError, OSError):
            libc = ""
        found = re.match(r"glibc (\d+)\.(\d+)", libc)
        if found:
            major, minor = int(found.group(1)), int(found.group(2))
            tags += [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 4, -1)]
            legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
            tags += [f"{name}_{arch}" for m, name in legacy.items() if minor >= m]
    return tags + [plat]


def installed_in(venv: Path) -> dict[str, str]:
    """``{canonical name: version}`` of every distribution the environment's Python sees."""
    code = (
        "import json, importlib.metadata as m; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions() if d.metadata['Name']}))"
    )
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        fail(f"could not list the packages of {venv}: {proc.stderr.strip()[-300:]}")
    return {_canonical(k): v for k, v in json.loads(proc.stdout).items()}


def unmet_pins(requirements: Path, installed: dict[str, str]) -> list[str] | None:
    """The ``name==version`` pins of ``requirements`` that ``installed`` does not meet; None
    when a line is not an exact pin (then only pip can tell)."""
    unmet = []
    for line in requirements.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        pin = _PIN.match(text)
        if not pin or ";" in text or "[" in text:
            return None
        if installed.get(_canonical(pin.group(1))) != pin.group(2):
            unmet.append(f"{pin.group(1)}=={pin.group(2)}")
    return unmet


def needs(venv: Path, requirements: Path, wheels: Path) -> dict:
    """The pins of ``requirements`` that the environment ``venv`` does not meet, the
    distributions it has, and the wheels this host already keeps in ``wheels``."""
    installed = installed_in(venv)
    unsatisfied = []
    for line in requirements.read_text().splitlines():
        pin = _PIN.match(line)
        if pin and installed.get(_canonical(pin.group(1))) != pin.group(2):
            unsatisfied.append(f"{pin.group(1)}=={pin.group(2)}")
    return {
        "changed": False,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "platforms": platform_tags(),
        "unsatisfied": unsatisfied,
        "installed": installed,
        "wheels": sorted(p.name for p in wheels.glob("*.whl")) if wheels.is_dir() else [],
    }


def add_wheels(wheels: Path, archive: Path) -> dict:
    """Unpack an archive of wheels (flat, ``*.whl`` only) into ``wheels`` and remove it."""
    import tarfile

    wheels.mkdir(parents=True, exist_ok=True)
    added = []
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if not member.isfile() or not name.endswith(".whl") or name != member.name:
                fail(f"{archive} holds {member.name!r}: only wheel files at the top level are accepted")
            src = tar.extractfile(member)
            if src is None:
                continue
            part = wheels / (name + ".part")
            with open(part, "wb") as out:
                out.write(src.read())
            part.replace(wheels / name)
            added.append(name)
    archive.unlink()
    return {"changed": bool(added), "added": added}


def make_venv(
    python: str, path: Path, system_site_packages: bool, site_dirs: list[str], requirements: Path | None = None
) -> dict:
    """Create the environment once; keep its .pth of shared package directories current.
    When every line of ``requirements`` is an exact pin that the environment already meets
    (the host's shared packages have them), mark it installed: pip has nothing to do."""
    changed = False
    if not (path / "bin" / "python").exists():
        # pip from the shared packages when they have it (ensurepip costs most of the time)
        cmd = (
            [python, "-m", "venv", "--without-pip"]
            + (["--system-site-packages"] if system_site_packages else [])
            + [str(path)]
        )
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"creating the virtual environment {path} failed: {(r.stderr or r.stdout).strip()[-500:]}")
        changed = True
    purelib = subprocess.run(
        [str(path / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    pth = Path(purelib) / "_stratum_site_dirs.pth"
    want = "".join(d + "\n" for d in site_dirs)
    if want and (not pth.exists() or pth.read_text() != want):
        pth.write_text(want)
        changed = True
    elif not want and pth.exists():
        pth.unlink()
        changed = True
    marker = path / ".stratum-installed"
    if requirements is not None and requirements.is_file() and not marker.exists():
        if unmet_pins(requirements, installed_in(path)) == []:
            marker.write_text("every pin is met by the packages this environment sees\n")
            return {"changed": True, "venv": str(path), "site_packages": purelib, "pins_met": True}
    venv_python = str(path / "bin" / "python")
    if subprocess.run([venv_python, "-m", "pip", "--version"], capture_output=True).returncode != 0:
        r = subprocess.run([venv_python, "-m", "ensurepip", "--default-pip"], capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"installing pip into {path} failed: {(r.stderr or r.stdout).strip()[-500:]}")
        changed = True
    return {"changed": changed, "venv": str(path), "site_packages": purelib}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "action",
        choices=[
            *("facts", "verify", "venv", "start", "stop", "restart", "status", "run", "supervise", "check"),
            *("needs", "wheels", "quick"),
        ],
    )
    ap.add_argument("--home", type=Path)
    ap.add_argument("--release", type=Path)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--path", type=Path)
    ap.add_argument("--system-site-packages", action="store_true")
    ap.add_argument("--site-dir", action="append", default=[])
    ap.add_argument("--url", help="where to check (default: 127.0.0.1 and the release's own port)")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--requirements", type=Path)
    ap.add_argument("--wheels", type=Path, help="the host's wheel directory (shared by models and versions)")
    ap.add_argument("--add", type=Path, help="an archive of wheels to add to --wheels")
    ap.add_argument("--want", help="quick: the release that should serve")
    ap.add_argument("--settings", default="{}", help="quick: the service settings it should serve with (JSON)")
    ap.add_argument("--venv", type=Path, help="quick: its environment")
    ap.add_argument("--helper-sha", default="", help="quick: sha256 of the helper the role ships")
    a = ap.parse_args()
    if a.action == "verify" and a.release is None:
        ap.error("verify needs --release DIR")
    if a.action == "venv" and a.path is None:
        ap.error("venv needs --path DIR")
    if a.action == "needs" and (a.path is None or a.requirements is None or a.wheels is None):
        ap.error("needs takes --path VENV --requirements FILE --wheels DIR")
    if a.action == "wheels" and (a.wheels is None or a.add is None):
        ap.error("wheels takes --wheels DIR --add ARCHIVE")
    if a.action not in ("verify", "venv", "needs", "wheels") and a.home is None:
        ap.error(f"{a.action} needs --home DIR (the model's directory on this host)")
    home: Path = a.home.resolve() if a.home else Path()
    if a.action == "facts":
        out = facts(home)
    elif a.action == "verify":
        out = verify(a.release)
    elif a.action == "venv":
        out = make_venv(a.python, a.path, a.system_site_packages, a.site_dir, a.requirements)
    elif a.action == "needs":
        out = needs(a.path, a.requirements, a.wheels)
    elif a.action == "wheels":
        out = add_wheels(a.wheels, a.add)
    elif a.action == "quick":
        out = quick(home, a.want or "", a.settings, a.venv, a.helper_sha, a.timeout)
    elif a.action == "check":
        out = check(home, a.url.rstrip("/") if a.url else None, a.timeout)
    elif a.action == "status":
        out = status(home)
        print(json.dumps(out))
        sys.exit(0 if out["running"] else 3)
    elif a.action == "run":
        argv, env, release = service_command(home)
        os.chdir(release)
        os.execve(argv[0], argv, env)
    elif a.action == "supervise":
        supervise(home)
        return
    else:
        changed = False
        if a.action in ("stop", "restart"):
            changed = stop(home) or changed
        if a.action in ("start", "restart"):
            changed = start(home) or changed
        out = {"changed": changed, **status(home)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
