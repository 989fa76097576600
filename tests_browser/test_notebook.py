"""The notebook under real use, in a real JupyterLab and Chromium: Stop then train again in the
same kernel, reload the page, restart the kernel, Run All over a bad spec; screenshots of the live
and evaluation views at 1280×800 with the sidebar open."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

REPO = Path(__file__).resolve().parents[1]
SIDEBAR_TAB = ".lm-TabBar-tab[data-id='jp-stratum-sidebar']"

pytestmark = pytest.mark.slow

SLOW_CELL = (
    "%%stratum train slow --no-register\ndata: sklearn:digits\nsplit: {cv: 5}\n"
    "models:\n  - random_forest: {n_estimators: [300, 301, 302, 303]}\n"
)
QUICK_CELL = (
    "%%stratum train cancer\ndata: sklearn:breast_cancer\nsplit: {test_size: 0.2, cv: 3, seed: 0}\n"
    "preprocess: [standard_scaler]\nmodels:\n  - logistic_regression: {C: [0.1, 1]}\n"
    "  - random_forest: {n_estimators: 30}\n  - decision_tree: {max_depth: 3}\nmetric: roc_auc\n"
)


def _shot(page: Page, name: str, tmp_path: Path) -> Path:
    """docs/NAME is rewritten only when asked (STRATUM_UPDATE_SCREENSHOT=1); the shot is taken on every run."""
    shot = REPO / "docs" / name if os.environ.get("STRATUM_UPDATE_SCREENSHOT") else tmp_path / name
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    return shot


def _cell(page: Page, i: int):
    return page.locator(".jp-Notebook .jp-Cell").nth(i)


def _start(page: Page, what: str, go, prompt) -> None:
    """``go()`` until ``prompt`` turns from "[ ]:" to "[*]:" or a count, 3 tries: a key press can be lost while
    the page settles, and a kernel still starting answers with its picker dialog and runs nothing."""
    for _ in range(3):
        dialog = page.locator(".jp-Dialog")
        if dialog.count() and dialog.first.is_visible():
            print("dialog:", dialog.first.inner_text())
            dialog.first.locator(".jp-Dialog-button.jp-mod-accept").click()
        go()
        try:
            expect(prompt).not_to_have_text(re.compile(r"\[\s*\]"), timeout=10_000)
            return
        except AssertionError:
            continue
    raise AssertionError(f"{what} did not start running")


def _run_cell(page: Page, i: int) -> None:
    """Shift+Enter in cell ``i``."""

    def go() -> None:
        _cell(page, i).locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")

    _start(page, f"cell {i}", go, _cell(page, i).locator(".jp-InputPrompt"))


def _run_all(page: Page) -> None:
    """Run > Run All Cells from the menu."""

    def go() -> None:
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()

    _start(page, "Run All Cells", go, page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first)


def _not_cut_off(page: Page, selector: str) -> None:
    """Every visible element matching ``selector`` (Bokeh's shadow DOM included) ends inside the output area
    that holds it: nothing is clipped on the right."""
    boxes = page.locator(selector).all()
    assert boxes, f"nothing matches {selector}"
    for box in boxes:
        if not box.is_visible():
            continue
        over = box.evaluate(
            """e => {
                let n = e;
                while (n && !(n.classList && n.classList.contains('jp-OutputArea'))) {
                    n = n.parentElement || (n.getRootNode && n.getRootNode().host);
                }
                return e.getBoundingClientRect().right - n.getBoundingClientRect().right;
            }"""
        )
        assert over <= 2, f"{selector} is cut off by {over:.0f} px"


def _drawn(locator) -> None:
    """The element is a picture that loaded (an <img> with pixels), or a Bokeh figure with a canvas."""
    tag = locator.evaluate("e => e.tagName.toLowerCase()")
    if tag == "img":
        expect(locator).to_have_js_property("complete", True)
        assert locator.evaluate("e => e.naturalWidth") > 100
    else:
        expect(locator.locator("canvas").first).to_be_attached()


def test_stop_retrain_reload_restart(lab, page: Page, tmp_path):
    page.set_viewport_size({"width": 1280, "height": 800})
    url = lab.new_notebook("stop.ipynb", ("%load_ext jupyter_stratum", SLOW_CELL, QUICK_CELL))
    page.goto(url)
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    page.locator(SIDEBAR_TAB).click(timeout=30_000)  # the sidebar open, as a user has it
    expect(page.locator(".jp-Notebook .jp-Cell")).to_have_count(3, timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)

    _run_cell(page, 0)
    _run_cell(page, 1)
    live = _cell(page, 1).locator(".stratum-training")
    expect(live).to_contain_text("tasks", timeout=120_000)
    expect(live.locator(".stratum-live-leaderboard")).to_contain_text("random_forest", timeout=120_000)
    _shot(page, "live-view.png", tmp_path)
    _not_cut_off(page, ".stratum-training")
    _not_cut_off(page, ".stratum-training .bk-Figure")  # the CPU and memory charts
    # Stop: the toolbar's interrupt button (SIGINT to the kernel's process group)
    page.locator(".jp-NotebookPanel-toolbar [data-command='notebook:interrupt-kernel']").click()
    expect(_cell(page, 1)).to_contain_text("Interrupted", timeout=120_000)
    expect(_cell(page, 1)).not_to_contain_text("running")
    expect(_cell(page, 1)).not_to_contain_text("queued")

    # train again in the same kernel: on the embedded cluster, whose workers lived through Stop
    _run_cell(page, 2)
    out = _cell(page, 2).locator(".jp-OutputArea")
    expect(out).to_contain_text("Registered as cancer@1", timeout=240_000)
    expect(out).not_to_contain_text("lost all its workers")
    expect(out.locator(".lm-TabBar-tab", has_text="Leaderboard")).to_be_visible()
    expect(out.locator(".stratum-static")).to_be_hidden()  # the static copy hides while the widget renders
    page.mouse.move(700, 5)
    out.locator(".lm-TabBar").first.evaluate("e => e.scrollIntoView({block: 'start'})")  # the tabs in the shot
    _shot(page, "evaluation-view.png", tmp_path)
    _not_cut_off(page, ".stratum-evaluation")
    _not_cut_off(page, ".stratum-evaluation .bk-DataTable")
    header = out.locator(".slick-header-column", has_text="candidate").first
    out.locator(".slick-viewport").last.evaluate("e => { e.scrollLeft = e.scrollWidth; }")
    expect(header).to_be_visible()  # frozen: scrolling right does not take the candidate away
    for tab in ("ROC / PR", "CV spread", "Cost"):
        out.locator(".lm-TabBar-tab", has_text=tab).click()
        expect(out.locator(".stratum-evaluation .bk-Figure:visible").first).to_be_visible()
        _not_cut_off(page, ".stratum-evaluation .bk-Figure")
    out.locator(".lm-TabBar-tab", has_text="Leaderboard").click()
    page.keyboard.press("Control+s")
    time.sleep(2)

    # page reload, kernel still running: leaderboard and plots still there, drawn by the widget (its models are
    # still in the kernel) or, where it can't draw, by the static copy
    page.reload()
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    out = _cell(page, 2).locator(".jp-OutputArea")
    expect(out).to_contain_text("logistic_regression(C=0.1)", timeout=60_000)
    expect(out.locator(".stratum-static .stratum-leaderboard:visible, .slick-row:visible").first).to_be_visible(
        timeout=60_000
    )
    time.sleep(3)  # the widget, when it comes back, draws over the static copy
    roc_tab = out.locator(".lm-TabBar-tab", has_text="ROC / PR")
    if roc_tab.is_visible():
        expect(out.locator(".stratum-static")).to_be_hidden()
        expect(out.locator(".slick-row:visible").first).to_contain_text("logistic_regression(C=0.1)")
        roc_tab.click()
        roc = out.locator(".stratum-evaluation .bk-Figure:visible").first
    else:
        expect(out.locator(".stratum-static .stratum-leaderboard")).to_be_visible()
        roc = out.locator("img.stratum-static-roc")
    expect(roc).to_be_visible()
    _drawn(roc)

    # kernel restart: the widget models are gone; the saved static copy shows leaderboard and plots
    kernel = lab.api("api/sessions")[0]["kernel"]["id"]
    import urllib.request

    req = urllib.request.Request(
        f"{lab.url}api/kernels/{kernel}/restart", method="POST", headers={"Authorization": f"token {lab.token}"}
    )
    urllib.request.urlopen(req, timeout=60).read()
    page.reload()
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    out = _cell(page, 2).locator(".jp-OutputArea")
    expect(out.locator(".stratum-static .stratum-leaderboard")).to_be_visible(timeout=60_000)
    for kind in ("roc", "pr"):
        expect(out.locator(f"img.stratum-static-{kind}")).to_be_visible()
        _drawn(out.locator(f"img.stratum-static-{kind}"))
    expect(out.locator(".stratum-static-confusion")).to_be_visible()
    expect(_cell(page, 1).locator(".stratum-training-static")).to_be_visible()

    # the same notebook from someone else (not signed here, so untrusted: JupyterLab sanitizes its HTML)
    saved = json.loads((lab.root / "stop.ipynb").read_text())
    assert any("stratum-static-roc" in json.dumps(c.get("outputs", [])) for c in saved["cells"])
    saved["metadata"]["copied_from"] = "stop.ipynb"
    (lab.root / "copy.ipynb").write_text(json.dumps(saved))
    page.goto(lab.open_url("copy.ipynb"))
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    out = _cell(page, 2).locator(".jp-OutputArea")
    expect(out.locator(".stratum-static .stratum-leaderboard")).to_be_visible(timeout=60_000)
    expect(out.locator(".stratum-static .stratum-leaderboard")).to_contain_text("logistic_regression(C=0.1)")
    for kind in ("roc", "pr"):
        _drawn(out.locator(f"img.stratum-static-{kind}"))


def test_run_all_stops_at_a_bad_spec(lab, page: Page):
    url = lab.new_notebook(
        "runall.ipynb",
        (
            "%load_ext jupyter_stratum",
            "%%stratum train oops\ndata: sklearn:iris\nmodels: [random_forrest]\n",
            "print('ran past the bad cell')",
        ),
    )
    page.goto(url)
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    expect(page.locator(".jp-Notebook .jp-Cell")).to_have_count(3, timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    _run_all(page)
    bad = _cell(page, 1)
    expect(bad.locator(".jp-OutputArea")).to_contain_text("stratum spec error", timeout=120_000)
    expect(bad).to_contain_text("Did you mean 'random_forest'")
    expect(bad).not_to_contain_text("Traceback")
    expect(bad).not_to_contain_text("Planning")
    time.sleep(3)
    expect(_cell(page, 2).locator(".jp-OutputArea")).not_to_contain_text("ran past the bad cell")
