"""Page load with and without the Stratum sidebar, in the system Chromium.

    .venv/bin/python benchmarks/sidebar/page_load.py [--runs 5]

One ``jupyter lab`` (the same set-up as tests_browser: temp dirs, this checkout's
build). Each run opens a fresh workspace with a notebook in a new browser
context (cold HTTP cache) and measures, from navigation start:

- ``shell``: JupyterLab's main dock panel is in the page;
- ``sidebar``: the Stratum sidebar, opened as soon as its tab exists, has its
  catalog and has answered its first validation (usable).

Baseline in the same run: the same page with the extension disabled
(page_config ``disabledExtensions``), to show what the extension adds to the
shell's own load. Also reports the size of the extension's own JavaScript and
the catalog request. Medians over the runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests_browser"))

from conftest import CHROMIUM, CHROMIUM_ARGS, start_lab, stop_lab  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

SIDEBAR = "#jp-stratum-sidebar"


def one_load(browser, lab, name: str, with_sidebar: bool) -> dict:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    url = lab.new_notebook(f"{name}.ipynb")
    t0 = time.monotonic()
    page.goto(url)
    page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
    out = {"shell_s": time.monotonic() - t0}
    if with_sidebar:
        page.locator(".lm-TabBar-tab[data-id='jp-stratum-sidebar']").click(timeout=60_000)
        page.wait_for_selector(
            f"{SIDEBAR} [data-stratum-status='ok'], {SIDEBAR} [data-stratum-status='invalid']", timeout=60_000
        )
        out["sidebar_s"] = time.monotonic() - t0
        cat = page.evaluate("""() => {
            const r = performance.getEntriesByType('resource').find(r => r.name.includes('jupyter-stratum/catalog'));
            return r ? {ms: r.duration, wire: r.encodedBodySize, bytes: r.decodedBodySize} : null; }""")
        out["catalog"] = cat
    else:
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        out["notebook_s"] = time.monotonic() - t0
    context.close()
    return out


def set_disabled(lab, disabled: bool) -> None:
    cfg = Path(lab.root).parent / "config" / "labconfig" / "page_config.json"
    data = json.loads(cfg.read_text())
    data["disabledExtensions"]["jupyter-stratum"] = disabled
    cfg.write_text(json.dumps(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    static = REPO / "jupyter_stratum" / "labextension" / "static"
    own_js = sum(f.stat().st_size for f in static.glob("*.js"))
    lab = start_lab(Path(tempfile.mkdtemp(prefix="stratum-bench-")))
    rows: dict[str, list[dict]] = {"with": [], "without": []}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            one_load(browser, lab, "warmup", True)  # server-side caches (catalog, kernelspecs)
            for i in range(args.runs):
                for mode in ("without", "with"):
                    set_disabled(lab, mode == "without")
                    rows[mode].append(one_load(browser, lab, f"{mode}{i}", mode == "with"))
            browser.close()
    finally:
        stop_lab(lab)
    med = lambda xs: statistics.median(xs)  # noqa: E731
    shell_without = med([r["shell_s"] for r in rows["without"]])
    shell_with = med([r["shell_s"] for r in rows["with"]])
    sidebar = med([r["sidebar_s"] for r in rows["with"]])
    cat_ms = med([r["catalog"]["ms"] for r in rows["with"] if r["catalog"]])
    wire = rows["with"][-1]["catalog"]
    print(f"runs: {args.runs} (medians)")
    print(f"own JavaScript: {own_js / 1024:.1f} KiB ({len(list(static.glob('*.js')))} files)")
    print(f"shell visible, extension disabled (baseline): {shell_without:.2f} s")
    print(f"shell visible, extension enabled:             {shell_with:.2f} s  (ratio {shell_with / shell_without:.2f})")
    print(
        f"page load -> sidebar usable:                  {sidebar:.2f} s  (+{sidebar - shell_with:.2f} s after the shell)"
    )
    print(
        f"catalog request: {cat_ms:.0f} ms, {wire['wire'] / 1024:.0f} KiB on the wire ({wire['bytes'] / 1024:.0f} KiB JSON)"
    )


if __name__ == "__main__":
    main()
