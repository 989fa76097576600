"""A real browser logged into the shared test hub (tests/_helpers.py's session ``hub``: JupyterHub with
configurable-http-proxy, DummyAuthenticator, SimpleLocalProcessSpawner, the stratum-registry service
on PostgreSQL): ``ana`` opens her own JupyterLab and sees in the Models panel the model she registered,
"trained by ana", with Deploy disabled and the service's reason; ``cat`` (team churn) does not see it."""

from __future__ import annotations

import json

import pytest
from _helpers import hub, postgres  # noqa: F401 - fixtures, found by pytest by name
from playwright.sync_api import Browser, Page, expect

SIDEBAR_TAB = ".lm-TabBar-tab[data-id='jp-stratum-sidebar']"
SIDEBAR = "#jp-stratum-sidebar"
MODEL = "fraud-browser"

pytestmark = pytest.mark.slow


def quiet_lab(homes, user: str) -> None:
    """No "news?" toast over ana's or cat's page (their JupyterLab reads ~/.jupyter of their hub home)."""
    labconfig = homes / user / ".jupyter" / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    (labconfig / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )


def models_panel_as(browser: Browser, hub_url: str, user: str) -> tuple[Page, object]:
    """Log into the hub as ``user`` (any password: DummyAuthenticator), let the hub start their JupyterLab,
    open the Stratum sidebar's Models tab; the page and the panel."""
    page = browser.new_context(viewport={"width": 1440, "height": 960}).new_page()
    page.goto(f"{hub_url}/hub/login")
    page.locator("#username_input").fill(user)
    page.locator("#password_input").fill("any")
    page.locator("#login_submit").click()
    # the hub spawns the user's server, then sends the browser to /user/<name>/lab
    page.wait_for_url(f"**/user/{user}/lab**", timeout=180_000)
    page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
    page.locator(SIDEBAR_TAB).click(timeout=60_000)
    page.locator(f"{SIDEBAR} [data-stratum-tab='models']").click(timeout=60_000)
    panel = page.locator(f"{SIDEBAR} [data-stratum-panel='models']")
    expect(panel).to_be_visible(timeout=60_000)
    return page, panel


def test_ana_sees_her_model_with_a_refused_action_cat_does_not(hub, browser: Browser, monkeypatch, tmp_path):  # noqa: F811
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    from jupyter_stratum.registry import open_registry

    X, y = load_iris(return_X_y=True)
    monkeypatch.setenv("STRATUM_HOME", str(tmp_path / "client"))
    monkeypatch.setenv("STRATUM_REGISTRY_URL", hub["url"].removesuffix("/api"))
    monkeypatch.setenv("STRATUM_REGISTRY_TOKEN", hub["tokens"]["ana"])
    model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    open_registry().register(MODEL, model, lineage={"metric": "accuracy", "cv_score": 0.9})
    for user in ("ana", "cat"):
        quiet_lab(hub["homes"], user)

    page, panel = models_panel_as(browser, hub["hub_url"], "ana")
    card = panel.locator(f"[data-stratum-model='{MODEL}']")
    expect(card).to_be_visible(timeout=60_000)
    expect(card.locator("[data-stratum-owner]")).to_have_text("trained by ana")
    expect(card.locator("[data-stratum-team]")).to_contain_text("team fraud")
    # ana trains but deploys to no fleet: the service says so, and the panel shows its words
    deploy = card.locator("[data-stratum-action='deploy']")
    expect(deploy).to_be_disabled()
    reason = deploy.get_attribute("title") or ""
    assert "fleet-plant-a-deployers" in reason and "hub admin" in reason, reason
    expect(card.locator("[data-stratum-denied='deploy']")).to_contain_text("fleet-plant-a-deployers")
    page.context.close()

    page, panel = models_panel_as(browser, hub["hub_url"], "cat")
    # cat's panel has answered (the service's list for team churn) and holds no fraud model
    expect(panel.locator(".jp-stratum-panel-bar")).to_contain_text("model", timeout=60_000)
    expect(panel.locator(f"[data-stratum-model='{MODEL}']")).to_have_count(0)
    expect(panel.locator(".jp-stratum-banner")).to_have_count(0)  # an answer, not an error
    page.context.close()
