"""The wheel a user installs: prebuilt labextension and enabled server extension.

Builds the wheel from this checkout (hatchling + hatch-jupyter-builder; the
labextension built by ``make labextension`` is reused, as ``skip-if-exists`` in
pyproject.toml says), installs it without dependencies into a prefix of its own,
and asks ``jupyter labextension list`` and ``jupyter server extension list``
about that prefix only — the answer must come from the wheel's files, not from
this checkout's development links.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILT = REPO / "jupyter_stratum" / "labextension" / "static" / "style.js"

pytestmark = pytest.mark.slow

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _run(cmd: list[str], env: dict | None = None, cwd: Path | None = None, timeout: int = 300) -> str:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    out = ANSI.sub("", proc.stdout + proc.stderr)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-3000:]}"
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    if not BUILT.is_file():
        pytest.skip("the labextension is not built: run `make labextension` first")
    tmp = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(REPO)], timeout=600)
    (wheel,) = (tmp / "dist").glob("jupyter_stratum-*.whl")
    prefix = tmp / "prefix"
    # --ignore-installed: without it pip uninstalls this checkout's own (editable) install first
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--ignore-installed",
            "-q",
            "--prefix",
            str(prefix),
            str(wheel),
        ]
    )
    here = _run([sys.executable, "-c", "import jupyter_stratum; print(jupyter_stratum.__file__)"], cwd=tmp)
    assert str(REPO) in here, f"installing the wheel into a prefix changed this environment's install: {here}"
    return prefix


def _prefix_env(prefix: Path) -> dict:
    """Jupyter looks in the prefix first (data path; config dir as the user's own, the one
    ``jupyter server extension list`` reports first); Python imports the installed copy."""
    site = sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)})
    env = dict(os.environ)
    env.update(
        JUPYTER_PATH=str(prefix / "share" / "jupyter"),
        JUPYTER_CONFIG_DIR=str(prefix / "etc" / "jupyter"),
        PYTHONPATH=site,
        JUPYTER_PLATFORM_DIRS="1",
    )
    return env


def test_wheel_carries_the_prebuilt_extension_and_the_server_config(installed):
    share = installed / "share" / "jupyter" / "labextensions" / "jupyter-stratum"
    assert (share / "package.json").is_file() and (share / "install.json").is_file()
    assert list((share / "static").glob("remoteEntry.*.js")), "no remoteEntry in the installed labextension"
    config = installed / "etc" / "jupyter" / "jupyter_server_config.d" / "jupyter_stratum.json"
    assert '"jupyter_stratum": true' in config.read_text()


def test_jupyter_reports_both_extensions_ok(installed, tmp_path):
    env = _prefix_env(installed)
    labext = _run([sys.executable, "-m", "jupyterlab.labextensions", "list"], env=env, cwd=tmp_path)
    section = labext.split(str(installed / "share" / "jupyter" / "labextensions"), 1)
    assert len(section) == 2, f"the wheel's labextension dir is not listed:\n{labext}"
    # install.json (shipped only in the wheel) makes the "(python, jupyter-stratum)" tag
    assert re.search(r"jupyter-stratum v[\d.]+ enabled\s+OK \(python, jupyter-stratum\)", section[1]), labext

    server = _run([sys.executable, "-m", "jupyter_server.extension.serverextension", "list"], env=env, cwd=tmp_path)
    section = server.split(str(installed / "etc" / "jupyter"), 1)
    assert len(section) == 2, f"the wheel's config dir is not listed:\n{server}"
    own = section[1].split("Config dir:", 1)[0]  # what the wheel's config file enables
    assert re.search(r"jupyter_stratum\s+enabled", own), server
    assert re.search(r"jupyter_stratum [\d.]+\s+OK", own), server
    # the extension was imported from the installed wheel, not from this checkout
    where = _run(
        [sys.executable, "-c", "import jupyter_stratum; print(jupyter_stratum.__file__)"], env=env, cwd=tmp_path
    )
    assert str(installed) in where, where


def test_wheel_contents_exclude_development_files(installed):
    (wheel,) = (installed.parent / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if "node_modules" in n or n.endswith(".ts") or "/tests/" in n]
