"""The evaluation view renders in a real JupyterLab, in headless Chromium, from a live kernel.

Runs a notebook (``%%stratum train``) in JupyterLab against the session's real
Dask cluster, waits for the live view and then the evaluation view, checks that
the widgets and Bokeh plots rendered (no "Error displaying widget"), clicks
through the tabs, and takes a screenshot of the view. With
``STRATUM_SCREENSHOT=docs/evaluation.png`` the screenshot goes there (that is
how docs/evaluation.png is made); otherwise into the test's temp folder.

Run in its own pytest invocation (Playwright's event loop must not meet
pytest-jupyter's fixtures):
    .venv/bin/python -m pytest tests/widgets/test_browser_evaluation.py -q
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

CHROMIUM = os.environ.get("STRATUM_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

SPEC = """\
data: sklearn:breast_cancer
split: {test_size: 0.2, cv: 5, seed: 0}
preprocess: [standard_scaler]
models:
  - logistic_regression: {C: [0.1, 1]}
  - random_forest: {n_estimators: 30}
  - decision_tree: {max_depth: 4}
metric: roc_auc"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path, dask_cluster):
    """A real `jupyter lab` on 127.0.0.1 with a notebook to run; stopped afterwards."""
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM} (apt-get install chromium; Playwright's own download is not possible here)"
        )
    pytest.importorskip("playwright.sync_api")
    root = tmp_path / "lab"
    root.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext jupyter_stratum"),
        nbformat.v4.new_code_cell("%%stratum train cancer --no-register\n" + SPEC),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "evaluation.ipynb")
    # no "Would you like to get notified about Jupyter news?" toast over the view
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    port, token = _free_port(), "stratum-test-token"
    env = {
        **os.environ,
        "STRATUM_SCHEDULER": dask_cluster.address,
        "STRATUM_HOME": str(tmp_path / "home"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
    }
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "jupyter"),
            "lab",
            "--no-browser",
            "--ServerApp.allow_root=True",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
            f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
            "--LabApp.expose_app_in_browser=True",
            "--ServerApp.disable_check_xsrf=False",
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail("jupyter lab did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:])
            time.sleep(0.3)
    yield base, token, root
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


def test_evaluation_view_renders_in_jupyterlab(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    base, token, root = lab
    target = Path(os.environ.get("STRATUM_SCREENSHOT") or tmp_path / "evaluation.png")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1100}, device_scale_factor=1)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{base}/lab/tree/evaluation.ipynb?token={token}&reset")
        page.wait_for_selector("#jp-main-dock-panel", timeout=90_000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        # wait for the kernel, then run every cell (the app is exposed by --LabApp.expose_app_in_browser)
        page.wait_for_function(
            "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
            " const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
            " return k && k.status === 'idle'; }",
            timeout=120_000,
        )
        # room for the plots: no file browser
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

        # the live view appears while training (and leaves its static copy when the run is over)
        page.wait_for_selector(".stratum-training, .stratum-training-static", timeout=120_000)
        # then the evaluation view, with its Bokeh plots
        view = page.wait_for_selector(".stratum-evaluation", timeout=300_000)
        try:
            page.wait_for_selector(
                ".stratum-evaluation .bk-Column, .stratum-evaluation .bk-DataTable, .stratum-evaluation .bk-Figure",
                timeout=60_000,
            )
        except Exception:
            page.screenshot(path=str(tmp_path / "failed.png"))
            (tmp_path / "failed.html").write_text(view.inner_html())
            if os.environ.get("STRATUM_DEBUG_DIR"):
                shutil.copy(tmp_path / "failed.png", os.environ["STRATUM_DEBUG_DIR"])
                shutil.copy(tmp_path / "failed.html", os.environ["STRATUM_DEBUG_DIR"])
            raise
        text = page.inner_text("#jp-main-dock-panel")
        assert "Error displaying widget" not in text and "Error rendering" not in text
        # the sortable leaderboard shows every candidate, the best marked
        # (Bokeh draws in shadow roots: Playwright's CSS locators pierce them, innerText of a host does not)
        page.locator(".stratum-evaluation .slick-cell").first.wait_for(timeout=30_000)
        table_text = " ".join(page.locator(".stratum-evaluation .slick-cell").all_inner_texts())
        for cid in ("logistic_regression(C=0.1)", "logistic_regression(C=1)", "random_forest", "decision_tree"):
            assert cid in table_text
        assert "★" in table_text

        # the live view ended at 20/20 tasks and left its static copy (progress line and leaderboard rows)
        live = page.locator(".stratum-training-static")
        assert "20</b>/20" in live.inner_html() or "20/20" in live.inner_text()
        assert "decision_tree" in live.inner_text()

        # every tab shows a Bokeh figure (canvas) once selected; end on ROC / PR for the picture
        debug = os.environ.get("STRATUM_DEBUG_DIR")
        for i, title in enumerate(("Leaderboard", "Confusion matrix", "CV spread", "Cost", "ROC / PR")):
            view.query_selector(f".lm-TabBar-tab:has-text('{title}')").click()
            page.wait_for_timeout(1500)
            panel = page.locator(".stratum-evaluation .widget-tab-contents > :not(.lm-mod-hidden)").first
            drawn = panel.locator(".slick-cell" if title == "Leaderboard" else "canvas")
            assert drawn.count() > 0, title
            if debug:
                view.screenshot(path=str(Path(debug) / f"tab-{i}.png"))
        page.wait_for_timeout(1000)
        view.scroll_into_view_if_needed()
        target.parent.mkdir(parents=True, exist_ok=True)
        view.screenshot(path=str(target))
        live.screenshot(path=str(target.with_name("training-view.png")))
        browser.close()
    assert target.stat().st_size > 20_000
    assert not [e for e in errors if "bokeh" in e.lower() or "widget" in e.lower()], errors


def test_standalone_report_renders_offline(binary_result, tmp_path):
    """The report file alone (file://, no server, no network) draws every plot in Chromium."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    path = binary_result.report(tmp_path / "report.html")
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda req: requests.append(req.url))
        page.goto(path.as_uri())
        page.locator(".slick-cell").first.wait_for(timeout=60_000)
        page.wait_for_timeout(1500)
        cells = " ".join(page.locator(".slick-cell").all_inner_texts())
        canvases = page.locator("canvas").count()
        if os.environ.get("STRATUM_DEBUG_DIR"):
            page.screenshot(path=str(Path(os.environ["STRATUM_DEBUG_DIR"]) / "report.png"), full_page=True)
        browser.close()
    assert not errors, errors
    assert [u for u in requests if not u.startswith(("file:", "data:", "blob:"))] == []  # nothing fetched
    for c in binary_result.candidates:
        assert c.id in cells
    # ROC + PR, confusion matrices (first tab), CV spread (first tab), cost: at least 5 figures drawn
    assert canvases >= 5
