"""The model card: what an evaluated model is for, what it learnt from, how well it does, and where not to trust it."""

import dagster as dg
import polars as pl

from fti_assets.resources.registry import ModelRegistry
from fti_assets.resources.reports import ReportStore

CARD_FOLDER = "model_card"
"""Where the card lies among the MLflow run's artifacts (and in the Bento's ``governance/``)."""
CARD_FILES = ("model_card.md", "model_card.html")


# After champion_model, so the card names the version's role as decided (champion, refused, ...).
@dg.asset(
    group_name="training",
    io_manager_key="record_io_manager",
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["champion_model"],
)
def model_card(
    context: dg.AssetExecutionContext,
    model_evaluation: dict,
    trained_model: dict,
    training_dataset: pl.DataFrame,
    registry: ModelRegistry,
    reports: ReportStore,
) -> dg.Output:
    """The model card of the evaluated model, as Markdown and HTML. It opens with the outcome:
    the version's role in the registry (champion, challenger, refused), the gates' verdict, its
    test AUC and Brier beside the champion's and the thresholds, and the slices; then intended
    use and prediction time, training window and dataset hash, features with their known-at
    rules, calibration, each gate with the policy hash, and known limitations. Logged to the
    model's MLflow run (`model_card/`), published on the reports server (`card`), and packaged
    in the model's Bento."""
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
        trained_model,
        model_evaluation,
        split_windows(training_dataset),
        registry.model_name,
        version_role(registry, version),
    )
    markdown, page = to_markdown(blocks), to_html(blocks)
    with registry.run(run_id=trained_model["run_id"]):
        mlflow.log_text(markdown, f"{CARD_FOLDER}/model_card.md")
        mlflow.log_text(page, f"{CARD_FOLDER}/model_card.html")
    folder = f"{CARD_FOLDER}/v{version}"
    markdown_url = reports.write(f"{folder}/model_card.md", markdown.encode())
    html_url = reports.write(f"{folder}/index.html", page.encode())
    # A link MLflow's UI can open (the reports server's page, else the run's artifact view).
    artifact = f"{CARD_FOLDER}/model_card.html"
    link = (
        html_url
        if html_url.startswith("http")
        else registry.run_url(trained_model["run_id"], f"artifacts/{artifact}")
    )
    registry.tag_version(version, {"model_card": link or artifact, "model_card_artifact": artifact})
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


def version_role(registry: ModelRegistry, version: int) -> tuple[str, str]:
    """``(role, why)`` of ``version`` in the registry now: champion, challenger (shadow or
    canary beside the champion), refused, rolled back, or challenger (evaluated, not decided)."""
    from fti_assets.resources.registry import CHALLENGER, CHAMPION

    tags = registry.client().get_model_version(registry.model_name, str(version)).tags
    champion = registry.version_by_alias(CHAMPION)
    if champion is not None and int(champion.version) == version:
        return "champion", tags.get("promotion_reason", "it holds the registry alias `champion`")
    if tags.get("rolled_back_at"):
        return "rolled back", f"rolled back at {tags['rolled_back_at']}: {tags.get('rollback_reason', '')}"
    kept = f"champion v{champion.version} kept" if champion is not None else "no champion"
    if tags.get("candidate") == "no":
        reason = tags.get("refused_reason", "")
        # A refusal by the gates is spelt out by the verdict just below; any other reason here.
        return "refused", kept if reason.startswith("the gates refused it") else f"{kept}; {reason}"
    challenger = registry.version_by_alias(CHALLENGER)
    if challenger is not None and int(challenger.version) == version:
        return "challenger", f"served beside the champion ({kept})"
    return "challenger", f"evaluated, not yet promoted or refused ({kept})"


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
