"""A real ``jupyter lab`` and the system Chromium, driven by Playwright.

Run on their own: ``pytest tests_browser -p no:pytest_jupyter`` (``make test-browser``);
pytest-jupyter's event loop and Playwright's must not share a process.

The server runs from this checkout's build (``jupyter_stratum/labextension``, made by
``make labextension``) with a temporary root dir, workspace, settings, Jupyter config
and ``STRATUM_HOME``, so nothing of the user's setup leaks in or out.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

REPO = Path(__file__).resolve().parents[1]
BUILT = REPO / "jupyter_stratum" / "labextension"
CHROMIUM = os.environ.get("STRATUM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
BIN = Path(sys.executable).parent

# what a person waits for a page to react, not Playwright's 5 s default: a fresh machine
# (cold caches, first kernel start) is slower than a warm one
expect.set_options(timeout=20_000)


@dataclass
class Lab:
    """A running ``jupyter lab``."""

    url: str  # base URL, ends with "/"
    token: str
    root: Path  # notebooks live here
    stratum_home: Path
    log: Path
    proc: subprocess.Popen

    def lab_url(self, path: str = "lab") -> str:
        return f"{self.url}{path}?token={self.token}"

    def api(self, path: str) -> object:
        req = urllib.request.Request(f"{self.url}{path}", headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def new_notebook(self, name: str, sources: tuple[str, ...] = ("",)) -> str:
        """A Python 3 notebook in the root dir with one code cell per source; returns its lab URL."""
        nb = {
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "id": f"c{i}",
                    "metadata": {},
                    "outputs": [],
                    "source": source,
                }
                for i, source in enumerate(sources)
            ],
            "metadata": {
                "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        (self.root / name).write_text(json.dumps(nb))
        return self.open_url(name)

    def open_url(self, name: str) -> str:
        """Lab URL of a notebook in a fresh workspace of its own (no layout restored from another test)."""
        return self.lab_url(f"lab/workspaces/{Path(name).stem}/tree/{name}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(tmp: Path, *, server_extension: bool = True, scheduler: str | None = None) -> Lab:
    """Start ``jupyter lab`` on a free port under ``tmp``; wait until it answers.

    ``scheduler``: the Dask scheduler the server is configured with (``STRATUM_SCHEDULER``).
    """
    if not (BUILT / "package.json").is_file():
        pytest.skip("the labextension is not built: run `make labextension` (jlpm install && jlpm build:prod)")
    root, home, config, data, runtime, exts = (
        tmp / d for d in ("root", "stratum-home", "config", "data", "runtime", "labext")
    )
    for d in (root, config, data, runtime, exts, config / "labconfig"):
        d.mkdir(parents=True, exist_ok=True)
    # this checkout's build, whatever else is installed
    (exts / "jupyter-stratum").symlink_to(BUILT, target_is_directory=True)
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps(
            {
                # no "news?" toast over the page
                "disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True},
            }
        )
    )
    port, token = _free_port(), secrets.token_hex(16)
    (config / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "ServerApp": {
                    "jpserver_extensions": {"jupyter_stratum": server_extension},
                    "root_dir": str(root),
                    "port": port,
                    "ip": "127.0.0.1",
                    "open_browser": False,
                    "allow_root": True,
                    "base_url": "/lab-base/",
                    "IdentityProvider": {"token": token},
                },
                "IdentityProvider": {"token": token},
                "LabApp": {
                    "extra_labextensions_path": [str(exts)],
                    "workspaces_dir": str(tmp / "workspaces"),
                    "user_settings_dir": str(tmp / "settings"),
                    "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                },
                "LabServerApp": {"extra_labextensions_path": [str(exts)]},
            }
        )
    )
    env = dict(os.environ)
    env.update(
        STRATUM_HOME=str(home),
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(runtime),
        IPYTHONDIR=str(tmp / "ipython"),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        JUPYTER_PLATFORM_DIRS="1",
    )
    env.pop("STRATUM_SCHEDULER", None)
    if scheduler:
        env["STRATUM_SCHEDULER"] = scheduler
    env.pop("JUPYTER_DATA_DIR", None)
    log = tmp / "jupyter-lab.log"
    proc = subprocess.Popen(
        [str(BIN / "jupyter-lab")],
        cwd=root,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    lab = Lab(url=f"http://127.0.0.1:{port}/lab-base/", token=token, root=root, stratum_home=home, log=log, proc=proc)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            lab.api("api/status")
            break
        except OSError:
            if time.monotonic() > deadline:
                stop_lab(lab)
                raise RuntimeError(f"jupyter lab did not answer in 60 s:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.25)
    return lab


def stop_lab(lab: Lab) -> None:
    if lab.proc.poll() is None:
        os.killpg(lab.proc.pid, signal.SIGTERM)
        try:
            lab.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(lab.proc.pid, signal.SIGKILL)
            lab.proc.wait(timeout=5)


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """One ``jupyter lab`` with the server extension, for the whole session."""
    lab = start_lab(tmp_path_factory.mktemp("lab"))
    yield lab
    stop_lab(lab)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """The system Chromium (Playwright's own browsers cannot be downloaded here)."""
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install chromium` (or `make system-deps`)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1440, "height": 960}}


@pytest.fixture
def lab_starter(tmp_path):
    """Start extra ``jupyter lab`` servers in a test (``lab_starter(server_extension=False)``,
    ``lab_starter(scheduler="tcp://...")``)."""
    started: list[Lab] = []

    def start(**kwargs) -> Lab:
        lab = start_lab(tmp_path / f"lab{len(started)}", **kwargs)
        started.append(lab)
        return lab

    yield start
    for lab in started:
        stop_lab(lab)


@pytest.fixture
def dask_processes(tmp_path):
    """Start a real ``dask scheduler`` and named ``dask worker`` processes (tests/conftest.py's helper)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("stratum_tests_conftest", REPO / "tests" / "conftest.py")
    module = sys.modules.get(spec.name) or importlib.util.module_from_spec(spec)
    if spec.name not in sys.modules:
        sys.modules[spec.name] = module  # its dataclasses look themselves up there
        spec.loader.exec_module(module)
    started = []

    def start(workers: dict[str, tuple], nanny: bool = False):
        procs = module.start_dask(tmp_path / f"dask-{len(started)}", workers, nanny)
        started.append(procs)
        return procs

    yield start
    for procs in started:
        procs.stop()
