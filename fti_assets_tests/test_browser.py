"""The four user interfaces in Debian's Chromium, headless, through Playwright.

Against a real ``make dev`` stack (``dagster dev`` on the repository's workspace, MLflow's UI,
the reports server) and a real ``bentoml serve`` over a two-week window with a promoted v1
and a refused v2 (``ui_stack.prepare``): every UI link of README, the asset graph after a
refusal, an evaluation and its thresholds, the model card, MLflow, two launches of
``training_pipeline`` from the launchpad on unchanged data, a drift report, the reports index
and Swagger at ``/docs``. README's screenshots are written here (to ``artifacts/docs/``, or
``docs/*.png`` with FTI_UPDATE_SCREENSHOTS=1); the others go to ``artifacts/ui/``
(``FTI_ARTIFACTS`` overrides it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from fti_assets_tests.ui_stack import REPO, TRAINING_WINDOW, Stack, prepare

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
LOCATION = "fti_assets"
#: README's screenshots are rewritten in ``docs/`` only on request (FTI_UPDATE_SCREENSHOTS=1), so a
#: test run leaves the checkout as it found it (``fti reproduce`` names a changed checkout).
DOCS = (
    REPO / "docs"
    if os.environ.get("FTI_UPDATE_SCREENSHOTS") == "1"
    else Path(os.environ.get("FTI_ARTIFACTS", REPO / "artifacts")) / "docs"
)
DOCS.mkdir(parents=True, exist_ok=True)
#: README's screenshots, each written by the test named beside it.
SCREENSHOTS = {
    "asset-graph.png": "test_every_ui_link_of_readme_renders_a_page",
    "evaluation.png": "test_an_evaluation_shows_the_configured_thresholds_and_every_plot",
    "model-card.png": "test_the_model_card_opens_with_the_outcome",
    "launchpad.png": "test_two_launches_on_unchanged_data_register_no_new_version",
    "drift-report.png": "test_a_drift_report_opens_with_its_summary",
}
# One process for the whole run: each step of the default executor re-imports the code location.
LAUNCH_CONFIG = {
    "execution": {"config": {"in_process": {}}},
    "ops": {"training_dataset": {"config": TRAINING_WINDOW}},
}
#: README's addresses, by port: the stack's server that answers for each, and a text its pages show.
README_PORTS = {3000: "dagster_url", 3001: "mlflow_ui_url", 3002: "reports_url"}
SHOWN = {3000: "Runs", 3001: "Experiments", 3002: "fti-assets reports"}


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


def _record(stack: Stack, name: str) -> dict:
    return json.loads((stack.settings.home / "records" / f"{name}.json").read_text())


def _readme_links() -> list[str]:
    """Every address of the local UIs README gives, in order, once."""
    found = re.findall(
        r"http://127\.0\.0\.1:(?:3000|3001|3002)[^\s)>`|;,]*", (REPO / "README.md").read_text()
    )
    return list(dict.fromkeys(link.rstrip(".,") for link in found))


def _on_stack(stack: Stack, link: str) -> str:
    parsed = urlparse(link)
    base = getattr(stack.settings, README_PORTS[parsed.port])
    return base + link[len(f"http://127.0.0.1:{parsed.port}") :]


def _group_assets() -> dict[str, list[str]]:
    from fti_assets.definitions import defs

    groups: dict[str, list[str]] = {}
    for spec in defs.resolve_all_asset_specs():
        groups.setdefault(spec.group_name, []).append(spec.key.to_user_string())
    return groups


def test_readme_screenshots_are_the_ones_the_browser_tests_write() -> None:
    shown = set(re.findall(r"\]\(docs/([\w-]+\.png)\)", (REPO / "README.md").read_text()))
    assert shown == set(SCREENSHOTS), shown ^ set(SCREENSHOTS)
    source = Path(__file__).read_text()
    for name, test in SCREENSHOTS.items():
        body = source[source.index(f"def {test}(") :]
        body = body[: body.find("\ndef ", 1)]
        assert f'"{name}"' in body, (name, test)


def test_every_ui_link_of_readme_renders_a_page(stack: Stack, page, artifacts: Path) -> None:
    links = _readme_links()
    groups = _group_assets()
    assert len([link for link in links if "/asset-groups/" in link]) == len(GROUPS), links
    for link in links:
        response = page.goto(_on_stack(stack, link))
        assert response is not None and response.status == 200, link
        group = re.search(r"/locations/([\w.:-]+)/asset-groups/(\w+)$", link)
        if group:
            assert group.group(1) == LOCATION, link
            # A group page draws its assets (those in view: the graph draws only what it shows);
            # a wrong location name gives "Empty graph".
            names = "|".join(re.escape(a) for a in groups[group.group(2)])
            page.get_by_text(re.compile(f"^({names})$")).first.wait_for(state="visible")
        else:  # MLflow's content policy forbids evaluated scripts: wait for a text
            page.get_by_text(SHOWN[urlparse(link).port]).first.wait_for(state="visible")
        page.wait_for_timeout(500)
        text = page.locator("body").inner_text()
        assert "Empty graph" not in text and "not found" not in text.lower(), (link, text[:500])
    page.goto(f"{stack.dagster_url}/asset-groups")
    for group in GROUPS:
        page.get_by_text(group, exact=True).first.wait_for(state="visible")
    page.wait_for_timeout(1_000)
    page.screenshot(path=DOCS / "asset-graph.png")


def test_a_refusal_shows_no_failed_check_in_the_graph(stack: Stack, page) -> None:
    assert _record(stack, "champion_model")["outcome"] == "refused"
    page.goto(f"{stack.dagster_url}/locations/{LOCATION}/asset-groups/training")
    for asset in ("training_dataset", "trained_model", "model_evaluation", "model_card"):
        page.get_by_text(asset, exact=True).first.wait_for(state="visible")
    page.wait_for_timeout(2_000)
    text = page.locator("body").inner_text()
    partial = [(a, b) for a, b in re.findall(r"(\d+)\s*/\s*(\d+)\s+passed", text) if a != b]
    assert not partial, partial
    # The verdict is the evaluation's metadata, in words.
    page.goto(f"{stack.dagster_url}/assets/model_evaluation")
    page.get_by_text("verdict", exact=True).first.wait_for()
    assert "refused: beats_champion" in page.locator("body").inner_text()


def test_an_evaluation_shows_the_configured_thresholds_and_every_plot(stack: Stack, page) -> None:
    from fti_assets.deployment.policy import load_policy
    from fti_assets.training.gates import gate_config_from_policy
    from fti_assets.training.model_evaluation import PLOTS, thresholds

    evaluation = _record(stack, "model_evaluation")
    assert evaluation["version"] == 2 and evaluation["policy_overrides"] == {}
    page.goto(f"{stack.dagster_url}/assets/model_evaluation")
    page.get_by_text("test_auc", exact=True).first.wait_for()
    assert str(round(evaluation["metrics"]["challenger"]["auc"], 4)) in page.locator("body").inner_text()
    plots = page.locator(f"a[href='{stack.settings.reports_url}/evaluation/v2/index.html']").first
    response = page.goto(plots.get_attribute("href"))
    assert response.status == 200 and "Evaluation of model version 2" in page.inner_text("h1")
    # What the screenshot shows is the configuration in force: the policy file's thresholds.
    policy = load_policy(stack.settings.policy_path) if stack.settings.policy_path else load_policy()
    configured = thresholds(gate_config_from_policy(policy.policy))
    shown = dict(
        (row.locator("th").inner_text(), float(row.locator("td").inner_text()))
        for row in page.locator("#thresholds tr").all()
    )
    assert shown == pytest.approx(configured) and {"floor_auc", "floor_max_brier"} <= set(shown)
    images = page.locator("img").all()
    assert [i.get_attribute("src") for i in images] == list(PLOTS)
    for image in images:  # each plot decoded by the browser
        assert image.evaluate("img => img.complete && img.naturalWidth > 100")
    page.screenshot(path=DOCS / "evaluation.png", full_page=True)


def test_the_model_card_opens_with_the_outcome(stack: Stack, page) -> None:
    card = _record(stack, "model_card")
    assert card["version"] == 2
    page.goto(f"{stack.dagster_url}/assets/model_card")
    link = page.locator(f"a[href='{card['html_url']}']").first
    response = page.goto(link.get_attribute("href"))
    assert response.status == 200
    # The first screen (900 px) holds the role, the verdict and the AUC against the champion.
    first_screen = page.evaluate(
        "() => [...document.body.querySelectorAll('p, tr')]"
        ".filter(e => e.getBoundingClientRect().bottom <= window.innerHeight).map(e => e.innerText).join('\\n')"
    )
    assert "Role: refused. champion v1 kept" in first_screen
    assert "Verdict of the gates: refused: beats_champion" in first_screen
    assert re.search(r"ROC AUC\t0\.\d{4}\t0\.\d{4}\t>= champion \+ 0\.001", first_screen), first_screen
    features = page.get_by_role("heading", name="Features and when they are known")
    assert features.bounding_box()["y"] > page.get_by_role("heading", name="By slice").bounding_box()["y"]
    assert (
        "2 days" in page.locator("body").inner_text() and "0:00:00" not in page.locator("body").inner_text()
    )
    page.screenshot(path=DOCS / "model-card.png")
    response = page.goto(f"{stack.settings.reports_url}/model_card/v1/index.html")
    assert "Role: champion." in page.locator("body").inner_text()


def test_mlflow_opens_the_version_in_the_model_training_view(stack: Stack, page, artifacts: Path) -> None:
    from fti_assets.resources.environment import build_resources

    registry = build_resources(stack.settings)["registry"]
    version = registry.client().get_model_version("flight_delay", "2")
    assert version.tags["model_card"] == _record(stack, "model_card")["html_url"]
    page.goto(registry.version_url(2))
    page.get_by_text("model_card", exact=True).first.wait_for()
    text = page.locator("body").inner_text()
    assert version.tags["model_card"] in text
    assert "Model registry" in text  # the model-training view's sidebar (GenAI's hides it)
    page.screenshot(path=artifacts / "mlflow-version.png")
    page.goto(registry.run_url(version.run_id))
    page.get_by_text("LightGBM training of").first.wait_for()  # the run's description
    page.screenshot(path=artifacts / "mlflow-run.png")


def _launch(page, stack: Stack) -> str:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # The asset launchpad's button says "Materialize"; the run opens from the toast's "View".
    page.get_by_role("button", name=re.compile(r"(^|\s)Materialize$|Launch Run$")).last.click()
    try:
        page.wait_for_url("**/runs/**", timeout=20_000)
    except PlaywrightTimeout:
        page.get_by_text("View", exact=True).first.click()
        page.wait_for_url("**/runs/**")
    deadline, text = time.monotonic() + 900, ""
    while time.monotonic() < deadline and "Succeeded: " not in text and "Failed" not in text:
        page.wait_for_timeout(5_000)
        text = page.locator("body").inner_text()
    return text


def test_two_launches_on_unchanged_data_register_no_new_version(stack: Stack, page, artifacts: Path) -> None:
    from fti_assets_tests.deployment.registry import registry_at

    for attempt in (1, 2):
        # Where README says the launchpad is: the job's "Materialize all" menu.
        page.goto(f"{stack.dagster_url}/locations/{LOCATION}/jobs/training_pipeline")
        page.get_by_role("button", name="Materialize all").first.wait_for()
        # The arrow beside "Materialize all": the other button of their group.
        page.locator(
            "xpath=//button[contains(., 'Materialize all')]/ancestor::div[count(.//button) >= 2][1]"
            "//button[not(contains(., 'Materialize all'))]"
        ).first.click()
        page.get_by_role("menuitem", name="Open launchpad").click()
        # The launchpad's editor is the second CodeMirror (the first is the graph's selection
        # box). This instance never recorded the feature tables (they were copied in), so
        # Dagster first asks to confirm materializing over missing upstream assets.
        editor = page.locator(".CodeMirror").nth(1)
        confirm = page.get_by_role("button", name="Confirm")
        confirm.or_(editor).first.wait_for()
        if confirm.is_visible():
            confirm.click()
        editor.wait_for()
        # JSON is YAML; the editor is CodeMirror 5, whose instance hangs on its element.
        page.evaluate(
            "config => { const all = document.querySelectorAll('.CodeMirror');"
            " all[all.length - 1].CodeMirror.setValue(config); }",
            json.dumps(LAUNCH_CONFIG, indent=2),
        )
        if attempt == 1:
            page.wait_for_timeout(1_000)
            page.screenshot(path=DOCS / "launchpad.png")
        text = _launch(page, stack)
        page.screenshot(path=artifacts / f"training-run-{attempt}.png")
        assert "Succeeded: rows written: training_dataset" in text, text[-2000:]
        assert "trained_model skipped: v1 was trained on the same dataset" in text, text[-2000:]
    assert [int(v.version) for v in registry_at(stack.settings.home).versions()] == [2, 1]


def test_a_drift_report_opens_with_its_summary(stack: Stack, page) -> None:
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
    page.screenshot(path=DOCS / "drift-report.png")


def test_the_reports_server_opens_on_an_index_of_titles(stack: Stack, page) -> None:
    response = page.goto(f"{stack.settings.reports_url}/")
    assert response.status == 200 and page.inner_text("h1") == "fti-assets reports"
    links = {a.inner_text(): a.get_attribute("href") for a in page.locator("li a").all()}
    assert links["Evaluation of model version 2: gates refused"] == "evaluation/v2/index.html"
    assert links["Model card: flight_delay version 1"] == "model_card/v1/index.html"
    assert links["Feature drift 2013-01-14"] == "feature_drift/2013-01-14.html"
    assert "Directory listing" not in page.locator("body").inner_text()
    page.get_by_text("Prediction drift 2013-01-14").click()
    page.locator("#fti-summary").wait_for()


def test_swagger_at_docs_renders_offline_and_try_it_out_answers_200(
    stack: Stack, page, artifacts: Path
) -> None:
    service = urlparse(stack.service.url)
    elsewhere: list[str] = []

    def only_the_service(route) -> None:  # every other host is refused, and recorded
        if urlparse(route.request.url).netloc == service.netloc:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.context.route("**/*", only_the_service)
    response = page.goto(f"{stack.service.url}/docs")
    assert response.status == 200
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
    page.goto(f"{stack.service.url}/")
    page.locator(".opblock-summary-path", has_text="/predict").first.wait_for()
    assert elsewhere == []
