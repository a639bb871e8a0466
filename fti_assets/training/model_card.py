"""The model card: what an evaluated model is for, what it learnt from, how well it does, and where not to trust it."""

import dagster as dg
import polars as pl

from fti_assets.resources.registry import ModelRegistry
from fti_assets.resources.reports import ReportStore

CARD_FOLDER = "model_card"
"""Where the card lies among the MLflow run's artifacts (and in the Bento's ``governance/``)."""
CARD_FILES = ("model_card.md", "model_card.html")


@dg.asset(
    group_name="training", io_manager_key="record_io_manager", backfill_policy=dg.BackfillPolicy.single_run()
)
def model_card(
    context: dg.AssetExecutionContext,
    model_evaluation: dict,
    trained_model: dict,
    training_dataset: pl.DataFrame,
    registry: ModelRegistry,
    reports: ReportStore,
) -> dg.Output:
    """The model card of the evaluated model, as Markdown and HTML: intended use and prediction
    time, training window and dataset hash, features with their known-at rules, test metrics
    overall and by slice, calibration, the gates' verdicts with the policy hash, and known
    limitations. Logged to the model's MLflow run (`model_card/`), published on the reports
    server (`card`), and packaged in the model's Bento."""
    import mlflow

    from fti_assets.training.card_documents import card_blocks, to_html, to_markdown
    from fti_assets.training.descriptions import split_windows

    version = model_evaluation["version"]
    if (
        trained_model["version"] != version
        or trained_model["dataset_hash"] != model_evaluation["dataset_hash"]
    ):
        raise dg.Failure(
            f"model_evaluation describes v{version} on dataset {model_evaluation['dataset_hash'][:12]}, but "
            "trained_model is "
            f"v{trained_model['version']} on {trained_model['dataset_hash'][:12]}: materialize model_evaluation first"
        )
    blocks = card_blocks(
        trained_model, model_evaluation, split_windows(training_dataset), registry.model_name
    )
    markdown, page = to_markdown(blocks), to_html(blocks)
    with registry.run(run_id=trained_model["run_id"]):
        mlflow.log_text(markdown, f"{CARD_FOLDER}/model_card.md")
        mlflow.log_text(page, f"{CARD_FOLDER}/model_card.html")
    registry.tag_version(version, {"model_card": f"{CARD_FOLDER}/model_card.md"})
    folder = f"{CARD_FOLDER}/v{version}"
    markdown_url = reports.write(f"{folder}/model_card.md", markdown.encode())
    html_url = reports.write(f"{folder}/index.html", page.encode())
    context.log.info(f"model card of v{version}: {html_url}")
    record = {
        "version": version,
        "run_id": trained_model["run_id"],
        "markdown": markdown,
        "html_url": html_url,
        "markdown_url": markdown_url,
        "policy_hash": model_evaluation["policy_hash"],
    }
    return dg.Output(
        record,
        metadata={
            "model_version": version,
            "card": dg.MetadataValue.url(html_url),
            "markdown": dg.MetadataValue.url(markdown_url),
            "preview": dg.MetadataValue.md(markdown),
            **(
                {"mlflow_run": dg.MetadataValue.url(url)}
                if (url := registry.run_url(trained_model["run_id"]))
                else {}
            ),
        },
    )


def card_documents(registry: ModelRegistry, version: int) -> dict[str, str]:
    """The card files logged for ``version`` (empty if it was never given one)."""
    import tempfile
    from pathlib import Path

    import mlflow
    from mlflow.exceptions import MlflowException

    run_id = registry.client().get_model_version(registry.model_name, str(version)).run_id
    registry._mlflow()
    with tempfile.TemporaryDirectory(prefix="card-") as folder:
        try:
            got = Path(
                mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=CARD_FOLDER, dst_path=folder)
            )
        except (MlflowException, OSError):
            return {}
        return {name: (got / name).read_text() for name in CARD_FILES if (got / name).exists()}
