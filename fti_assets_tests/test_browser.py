"""The four user interfaces in Debian's Chromium, headless, through Playwright.

Against a real ``make dev`` stack (``dagster dev``, MLflow's UI, the reports server) and a real
``bentoml serve`` over a two-week window: the asset graph, an evaluation and its plots, a
training run launched from the Launchpad, a drift report and Swagger's "Try it out".
Screenshots go to ``artifacts/ui/`` (``FTI_ARTIFACTS`` overrides it).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from fti_assets_tests.ui_stack import LENIENT, REPO, TRAINING_WINDOW, Stack, prepare

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
GROUPS = ("raw", "features", "training", "deployment", "inference", "monitoring")
LOCATION = "fti_assets.definitions"
# One process for the whole run: each step of the default executor re-imports the code location.
LAUNCH_CONFIG = {
    "execution": {"config": {"in_process": {}}},
    "ops": {"training_dataset": {"config": TRAINING_WINDOW}, "model_evaluation": {"config": LENIENT}},
}


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("FTI_ARTIFACTS", REPO / "artifacts")) / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def stack(feature_home: Path, tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("browser")
    settings = prepare(feature_home, base / "home")
    with Stack(settings, base) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: make chromium installs it"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(120_000)
    # Dagster's first-visit community dialog covers the page; the UI remembers it under this key.
    context.add_init_script("window.localStorage.setItem('communityNux', 'true')")
    yield context.new_page()
    context.close()


def test_the_asset_graph_shows_the_six_groups(stack: Stack, page, artifacts: Path) -> None:
    page.goto(f"{stack.dagster_url}/asset-groups")
    for group in GROUPS:
        page.get_by_text(group, exact=True).first.wait_for(state="visible")
    page.wait_for_timeout(1_000)
    page.screenshot(path=artifacts / "asset-graph.png")
    page.goto(f"{stack.dagster_url}/locations/{LOCATION}/asset-groups/training")
    for asset in ("training_dataset", "trained_model", "model_evaluation"):
        page.get_by_text(asset, exact=True).first.wait_for(state="visible")


def test_model_evaluation_shows_its_auc_and_plots_that_load(stack: Stack, page, artifacts: Path) -> None:
    evaluation = json.loads((stack.settings.home / "records" / "model_evaluation.json").read_text())
    page.goto(f"{stack.dagster_url}/assets/model_evaluation")
    page.get_by_text("test_auc", exact=True).first.wait_for()
    assert str(round(evaluation["metrics"]["challenger"]["auc"], 4)) in page.locator("body").inner_text()
    plots = page.locator(f"a[href='{stack.settings.reports_url}/evaluation/v1/index.html']").first
    href = plots.get_attribute("href")
    response = page.goto(href)
    assert response.status == 200 and "Evaluation of model version 1" in page.inner_text("h1")
    for image in page.locator("img").all():  # each plot decoded by the browser
        assert image.evaluate("img => img.complete && img.naturalWidth > 100")
    page.screenshot(path=artifacts / "evaluation.png", full_page=True)


def test_training_pipeline_launched_from_the_launchpad_ends_with_its_verdict(
    stack: Stack, page, artifacts: Path
) -> None:
    page.goto(f"{stack.dagster_url}/locations/{LOCATION}/jobs/training_pipeline/playground")
    page.locator(".CodeMirror").first.wait_for()
    # JSON is YAML; the editor is CodeMirror 5, whose instance hangs on its element.
    page.evaluate(
        "config => document.querySelector('.CodeMirror').CodeMirror.setValue(config)",
        json.dumps(LAUNCH_CONFIG),
    )
    page.get_by_role("button", name="Launch Run").click()
    page.wait_for_url("**/runs/**")
    deadline, text = time.monotonic() + 900, ""
    while time.monotonic() < deadline and "Succeeded: " not in text and "Failed" not in text:
        page.wait_for_timeout(5_000)
        text = page.locator("body").inner_text()
    page.screenshot(path=artifacts / "training-run.png")
    assert "Succeeded: rows written: training_dataset" in text, text[-2000:]
    assert "model v2 (validation AUC" in text and "gates passed; champion v2 (promoted)" in text


def test_a_drift_report_opens_with_its_summary(stack: Stack, page, artifacts: Path) -> None:
    page.goto(f"{stack.dagster_url}/assets/feature_drift_report")
    page.get_by_text("drifted_share", exact=True).first.wait_for()
    report = page.locator(f"a[href='{stack.settings.reports_url}/feature_drift/2013-01-14.html']").first
    response = page.goto(report.get_attribute("href"))
    assert response.status == 200
    summary = page.locator("#fti-summary").inner_text()
    assert (
        summary.startswith("Feature drift: 2013-01-14")
        and "Reference: the training split, 2013-01-01" in summary
    )
    assert "drifted share 0." in summary and ("ALARM" in summary or "no alarm" in summary)
    page.wait_for_timeout(2_000)  # Evidently draws its sections below the summary
    page.screenshot(path=artifacts / "drift-report.png")


def test_swagger_try_it_out_answers_200(stack: Stack, page, artifacts: Path) -> None:
    page.goto(f"{stack.service.url}/")
    page.locator(".opblock-summary-path", has_text="/predict").first.click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    status = page.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    body = json.loads(
        page.locator(".live-responses-table tbody .response-col_description pre").first.inner_text()
    )
    assert body[0]["flight_id"] == "2014-01-02-UA1545-EWR" and 0 < body[0]["delay_probability"] < 1
    page.screenshot(path=artifacts / "swagger.png", full_page=True)
