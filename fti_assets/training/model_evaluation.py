"""`model_evaluation`: the challenger scored beside the champion on the same test rows, and the promotion gates."""

import html
import json
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import polars as pl

from fti_assets.deployment.policy import LoadedPolicy
from fti_assets.metadata import markdown_table
from fti_assets.resources.policy import PolicyResource
from fti_assets.resources.registry import CHAMPION, LoadedModel, ModelRegistry
from fti_assets.resources.reports import ReportStore
from fti_assets.training.gates import GateConfig

PLOTS = {
    "roc.png": "ROC curve",
    "importance.png": "Feature importance",
    "calibration.png": "Calibration",
    "contributions.png": "Mean absolute TreeSHAP contribution",
}
#: TreeSHAP on more test flights changes the summary little and costs seconds.
CONTRIBUTION_SAMPLE = 20_000


GATES = {
    "leak_alarm": "The test AUC stays under the leak alarm: a much higher AUC almost always means a feature known "
    "only after the prediction time.",
    "sanity": "Predictions are finite probabilities in [0, 1], better than chance, from the features the spec lists.",
    "beats_champion": "The challenger's test AUC beats the champion's on the same rows by min_improvement; "
    "with no champion, it meets the absolute floors on AUC and Brier score.",
    "no_slice_regression": (
        "No slice (the policy's columns: carrier and origin by default) with enough rows loses more than "
        "the policy's max_auc_drop AUC against the champion."
    ),
}
"""The promotion gates and what each checks. A failed gate refuses the challenger in
``champion_model`` (a normal, green outcome), so the checks do not block the run."""


class EvaluationConfig(dg.Config):
    """Overrides of the promotion policy file (``fti_assets/deployment/policy.yaml``, or ``FTI_POLICY``)
    for one run. Empty fields take the file's value; an override is recorded with the
    decision beside the policy's hash."""

    min_improvement: float | None = None
    """The challenger's test AUC must beat the champion's by at least this much."""
    max_slice_drop: float | None = None
    """No slice may lose more AUC than this against the champion."""
    min_slice_rows: int | None = None
    leak_alarm_auc: float | None = None
    """A test AUC above this blocks promotion: it almost always means leakage."""
    floor_auc: float | None = None
    floor_max_brier: float | None = None
    min_test_rows: int | None = None
    """A challenger is compared with the champion on at least this many test flights."""
    leak_explained_margin: float | None = None
    """Over the leak alarm, a request-time-only model this close to the challenger's AUC means
    the world is that predictable, not that a feature leaked."""

    def overrides(self) -> dict[str, float | int]:
        return {
            k: getattr(self, k)
            for k in GateConfig.__dataclass_fields__
            if k != "slices" and getattr(self, k) is not None
        }

    def gate_config(self, policy) -> GateConfig:
        """The policy's thresholds with this run's overrides on top."""
        from fti_assets.training.gates import gate_config_from_policy

        return gate_config_from_policy(policy, self.overrides())


@dg.asset(
    group_name="training",
    io_manager_key="record_io_manager",
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec(g, asset="model_evaluation", description=d) for g, d in GATES.items()],
)
def model_evaluation(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    trained_model: dict,
    training_dataset: pl.DataFrame,
    registry: ModelRegistry,
    reports: ReportStore,
    policy: PolicyResource,
):
    """The challenger scored on the test split beside the current champion on the same rows:
    AUC, log loss, Brier, calibration, per-carrier and per-origin slices; ROC, importance,
    calibration and mean-absolute-contribution (TreeSHAP) plots on one page of the reports
    server (`plots`). Its checks are the
    promotion gates that champion_model reads, with thresholds from the policy file, whose
    content hash is recorded with the verdicts."""
    evaluation, metadata = evaluate(
        context, config, trained_model, training_dataset, registry, reports, policy.load()
    )
    yield dg.Output(evaluation, metadata=metadata)
    for name in GATES:
        gate = evaluation["gates"][name]
        yield dg.AssetCheckResult(check_name=name, passed=gate["passed"], metadata={"why": gate["message"]})


def evaluation_page(version: int, comparison: pl.DataFrame, verdicts: dict, passed: bool) -> str:
    """One HTML page: the comparison, the gates' verdicts and the three plots beside it."""
    rows = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(str(round(v, 4) if isinstance(v, float) else v))}</td>" for v in r)
        + "</tr>"
        for r in comparison.iter_rows()
    )
    gates = "".join(
        f"<li><b>{name}</b>: {'passed' if g.passed else 'REFUSED'}: {html.escape(g.message)}</li>"
        for name, g in verdicts.items()
    )
    plots = "".join(
        f'<figure><img src="{name}" alt="{alt}"><figcaption>{alt}</figcaption></figure>'
        for name, alt in PLOTS.items()
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>model_evaluation v{version}</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:2px 8px}"
        "figure{display:inline-block;vertical-align:top;margin:0 1em 1em 0}</style></head><body>"
        f"<h1>Evaluation of model version {version}: gates {'passed' if passed else 'refused'}</h1>"
        "<h2>Test split</h2><table><tr>"
        + "".join(f"<th>{c}</th>" for c in comparison.columns)
        + f"</tr>{rows}</table>"
        f"<h2>Gates</h2><ul>{gates}</ul><h2>Plots</h2>{plots}</body></html>"
    )


def _predict(model: LoadedModel, test: pl.DataFrame) -> np.ndarray:
    spec = model.feature_spec
    missing = [f for f in spec.features if f not in test.columns]
    if missing:
        raise dg.Failure(f"model version {model.version} needs features missing from the dataset: {missing}")
    return spec.predict(model.booster, test)


def contribution_summary(model: LoadedModel, test: pl.DataFrame) -> dict[str, float]:
    """Mean absolute TreeSHAP contribution per feature on (a sample of) the test split, largest first."""
    spec = model.feature_spec
    sample = test.sample(CONTRIBUTION_SAMPLE, seed=0) if test.height > CONTRIBUTION_SAMPLE else test
    contributions = spec.predict(model.booster, sample, contributions=True)[:, :-1]
    means = np.abs(contributions).mean(axis=0)
    return {spec.features[i]: float(means[i]) for i in np.argsort(-means, kind="stable")}


def _training_rows(dataset: pl.DataFrame, trained: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The train and validation rows the challenger learnt from (``train_from`` included)."""
    from datetime import date

    train, validation = (dataset.filter(pl.col("split") == s) for s in ("train", "validation"))
    if trained.get("train_from"):
        train = train.filter(pl.col("flight_date") >= date.fromisoformat(trained["train_from"]))
    return train, validation


def evaluate(
    context: dg.AssetExecutionContext,
    config: Any,
    trained: dict,
    dataset: pl.DataFrame,
    registry: ModelRegistry,
    reports: ReportStore,
    policy: LoadedPolicy,
) -> tuple[dict, dict]:
    """Metrics, slices, plots and gate verdicts under ``policy`` (its hash tagged on the run and
    the version), logged to the challenger's MLflow run; the plots and a page holding them are
    published under the reports folder and linked over HTTP."""
    import mlflow

    from fti_assets.domain.retrieval import content_hash
    from fti_assets.training import gates as ev
    from fti_assets.training import plots

    test = dataset.filter(pl.col("split") == "test")
    if test.height == 0:
        raise dg.Failure("the training dataset has no test rows")
    y = test["is_delayed"].cast(pl.Int8).to_numpy()
    challenger = registry.load(trained["version"])
    p = _predict(challenger, test)
    current = registry.version_by_alias(CHAMPION)
    champion = (
        registry.load(int(current.version))
        if current and int(current.version) != challenger.version
        else None
    )
    q = _predict(champion, test) if champion else None

    gate_config = config.gate_config(policy.policy)
    scored = test.select(*gate_config.slices, "is_delayed").with_columns(
        challenger=pl.Series(p), champion=pl.Series(q) if q is not None else None
    )
    ours, theirs = ev.metrics(y, p), (ev.metrics(y, q) if q is not None else None)
    slices = ev.slice_metrics(scored, "challenger", gate_config.slices)
    champion_slices = ev.slice_metrics(scored, "champion", gate_config.slices) if q is not None else None
    sanity = ev.sanity_problems(
        p, challenger.booster.feature_name(), challenger.spec["features"], ours["auc"]
    )
    explained = None
    if ours["auc"] > gate_config.leak_alarm_auc:  # is the high AUC the schedule's, or a leak's?
        from fti_assets.training.trainer import lightgbm_params

        explained = ev.request_time_auc(
            *_training_rows(dataset, trained), test, trained.get("params") or lightgbm_params({}, 42)
        )
        context.log.info(
            f"test AUC {ours['auc']:.4f} over the leak alarm; request-time features alone: {explained:.4f}"
        )
    verdicts = ev.gates(ours, theirs, slices, champion_slices, sanity, gate_config, explained)
    if current and champion is None:
        verdicts["beats_champion"] = ev.GateResult(
            False, f"version {challenger.version} is already the champion"
        )
    passed = all(v.passed for v in verdicts.values())
    calibration = ev.calibration_table(y, p)

    gains = challenger.booster.feature_importance("gain")
    roc = plots.roc_curve_png(
        y,
        {
            f"challenger v{challenger.version}": p,
            **({f"champion v{champion.version}": q} if champion else {}),
        },
    )
    importance = plots.importance_png(challenger.booster.feature_name(), gains)
    calibration_plot = plots.calibration_png(calibration.to_dicts())
    summary = contribution_summary(challenger, test)
    contributions_plot = plots.bar_png(
        dict(list(summary.items())[:20]), "mean |contribution| to the raw score (log-odds), test split"
    )
    with registry.run(run_id=trained["run_id"]):
        mlflow.set_tags({"policy_hash": policy.hash, "policy_overrides": json.dumps(config.overrides())})
        mlflow.log_dict(policy.values(), "evaluation/policy.json")
        mlflow.log_metrics({f"test_{k}": v for k, v in ours.items() if k != "rows"})
        if theirs:
            mlflow.log_metrics({f"champion_test_{k}": v for k, v in theirs.items() if k != "rows"})
        with tempfile.TemporaryDirectory() as folder:
            for name, png in (
                ("roc.png", roc),
                ("importance.png", importance),
                ("calibration.png", calibration_plot),
                ("contributions.png", contributions_plot),
            ):
                Path(folder, name).write_bytes(png)
            mlflow.log_artifacts(folder, "evaluation")
        mlflow.log_table(slices.to_pandas(), "evaluation/slices.json")
        mlflow.log_dict({k: asdict(v) for k, v in verdicts.items()}, "evaluation/gates.json")
    registry.tag_version(
        challenger.version,
        {
            "test_auc": f"{ours['auc']:.4f}",
            "gates": "passed" if passed else "refused",
            "policy_hash": policy.hash,
            "gate_report": {k: v.message for k, v in verdicts.items() if not v.passed},
        },
    )
    context.log.info(
        f"challenger v{challenger.version}: test AUC {ours['auc']:.4f}"
        + (f", champion v{champion.version}: {theirs['auc']:.4f}" if champion else ", no champion")
        + f"; gates {'passed' if passed else 'refused'}"
    )

    record = {
        "version": challenger.version,
        "run_id": trained["run_id"],
        "champion_version": champion.version if champion else None,
        "champion_at_evaluation": int(current.version) if current else None,
        "dataset_hash": content_hash(dataset, "flight_id"),
        "metrics": {"challenger": ours, "champion": theirs},
        "gates": {k: asdict(v) for k, v in verdicts.items()},
        "passed": passed,
        "evaluated_at": datetime.now(UTC).isoformat(),
        "test_rows": test.height,
        "policy_hash": policy.hash,
        "policy_overrides": config.overrides(),
        # For the model card: the figures behind the verdicts.
        "slices": slices.to_dicts(),
        "calibration": calibration.to_dicts(),
        "mean_abs_contribution": summary,
    }
    comparison = pl.DataFrame(
        [
            {"model": f"challenger v{challenger.version}", **ours},
            *([{"model": f"champion v{champion.version}", **theirs}] if theirs else []),
        ]
    )
    folder = f"evaluation/v{challenger.version}"
    links = {
        name: reports.write(f"{folder}/{name}", png)
        for name, png in zip(PLOTS, (roc, importance, calibration_plot, contributions_plot), strict=True)
    }
    page = reports.write(
        f"{folder}/index.html", evaluation_page(challenger.version, comparison, verdicts, passed).encode()
    )
    metadata = {
        "test_auc": round(ours["auc"], 4),
        "test_log_loss": round(ours["log_loss"], 4),
        "test_brier": round(ours["brier"], 4),
        "champion_test_auc": round(theirs["auc"], 4) if theirs else None,
        "gates_passed": passed,
        "policy_hash": policy.hash,
        "comparison": dg.MetadataValue.md(markdown_table(comparison)),
        "calibration": dg.MetadataValue.md(markdown_table(calibration, 10)),
        "slices": dg.MetadataValue.md(markdown_table(slices, 40)),
        "plots": dg.MetadataValue.url(page),
        "roc_curve": dg.MetadataValue.url(links["roc.png"]),
        "feature_importance": dg.MetadataValue.url(links["importance.png"]),
        "calibration_plot": dg.MetadataValue.url(links["calibration.png"]),
        "contribution_summary": dg.MetadataValue.url(links["contributions.png"]),
        "mlflow_run": dg.MetadataValue.url(url) if (url := registry.run_url(trained["run_id"])) else None,
    }
    return record, {k: v for k, v in metadata.items() if v is not None}
