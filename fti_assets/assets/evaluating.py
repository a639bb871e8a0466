"""The body of ``model_evaluation``: score challenger and champion on the same test rows."""

import base64
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import polars as pl

from fti_assets.assets.metadata import markdown_table
from fti_assets.registry import CHAMPION, LoadedModel, ModelRegistry


def _image(png: bytes, alt: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")


def _predict(model: LoadedModel, test: pl.DataFrame) -> np.ndarray:
    from fti_assets.training.encoding import FeatureSpec

    spec = FeatureSpec.from_dict(model.spec)
    missing = [f for f in spec.features if f not in test.columns]
    if missing:
        raise dg.Failure(f"model version {model.version} needs features missing from the dataset: {missing}")
    return model.booster.predict(spec.encode(test), num_threads=2)


def _training_rows(dataset: pl.DataFrame, trained: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The train and validation rows the challenger learnt from (``train_from`` included)."""
    from datetime import date

    train, validation = (dataset.filter(pl.col("split") == s) for s in ("train", "validation"))
    if trained.get("train_from"):
        train = train.filter(pl.col("flight_date") >= date.fromisoformat(trained["train_from"]))
    return train, validation


def evaluate(context: dg.AssetExecutionContext, config: Any, trained: dict, dataset: pl.DataFrame, registry: ModelRegistry) -> tuple[dict, dict]:
    """Metrics, slices, plots and gate verdicts, logged to the challenger's MLflow run."""
    import mlflow

    from fti_assets.domain.retrieval import content_hash
    from fti_assets.training import evaluation as ev
    from fti_assets.training import plots

    test = dataset.filter(pl.col("split") == "test")
    if test.height == 0:
        raise dg.Failure("the training dataset has no test rows")
    y = test["is_delayed"].cast(pl.Int8).to_numpy()
    challenger = registry.load(trained["version"])
    p = _predict(challenger, test)
    current = registry.version_by_alias(CHAMPION)
    champion = registry.load(int(current.version)) if current and int(current.version) != challenger.version else None
    q = _predict(champion, test) if champion else None

    scored = test.select("carrier", "origin", "is_delayed").with_columns(challenger=pl.Series(p), champion=pl.Series(q) if q is not None else None)
    ours, theirs = ev.metrics(y, p), (ev.metrics(y, q) if q is not None else None)
    slices = ev.slice_metrics(scored, "challenger")
    champion_slices = ev.slice_metrics(scored, "champion") if q is not None else None
    sanity = ev.sanity_problems(p, challenger.booster.feature_name(), challenger.spec["features"], ours["auc"])
    gate_config = config.gate_config()
    explained = None
    if ours["auc"] > gate_config.leak_alarm_auc:  # is the high AUC the schedule's, or a leak's?
        from fti_assets.training.trainer import lightgbm_params

        explained = ev.request_time_auc(*_training_rows(dataset, trained), test, trained.get("params") or lightgbm_params({}, 42))
        context.log.info(f"test AUC {ours['auc']:.4f} over the leak alarm; request-time features alone: {explained:.4f}")
    verdicts = ev.gates(ours, theirs, slices, champion_slices, sanity, gate_config, explained)
    if current and champion is None:
        verdicts["beats_champion"] = ev.GateResult(False, f"version {challenger.version} is already the champion")
    passed = all(v.passed for v in verdicts.values())
    calibration = ev.calibration_table(y, p)

    gains = challenger.booster.feature_importance("gain")
    roc = plots.roc_curve_png(y, {f"challenger v{challenger.version}": p, **({f"champion v{champion.version}": q} if champion else {})})
    importance = plots.importance_png(challenger.booster.feature_name(), gains)
    calibration_plot = plots.calibration_png(calibration.to_dicts())
    with registry.run(run_id=trained["run_id"]):
        mlflow.log_metrics({f"test_{k}": v for k, v in ours.items() if k != "rows"})
        if theirs:
            mlflow.log_metrics({f"champion_test_{k}": v for k, v in theirs.items() if k != "rows"})
        with tempfile.TemporaryDirectory() as folder:
            for name, png in (("roc.png", roc), ("importance.png", importance), ("calibration.png", calibration_plot)):
                Path(folder, name).write_bytes(png)
            mlflow.log_artifacts(folder, "evaluation")
        mlflow.log_table(slices.to_pandas(), "evaluation/slices.json")
        mlflow.log_dict({k: asdict(v) for k, v in verdicts.items()}, "evaluation/gates.json")
    registry.tag_version(challenger.version, {"test_auc": f"{ours['auc']:.4f}", "gates": "passed" if passed else "refused",
                                              "gate_report": {k: v.message for k, v in verdicts.items() if not v.passed}})  # fmt: skip
    context.log.info(f"challenger v{challenger.version}: test AUC {ours['auc']:.4f}"
                     + (f", champion v{champion.version}: {theirs['auc']:.4f}" if champion else ", no champion") + f"; gates {'passed' if passed else 'refused'}")  # fmt: skip

    record = {
        "version": challenger.version, "run_id": trained["run_id"], "champion_version": champion.version if champion else None,
        "champion_at_evaluation": int(current.version) if current else None,
        "dataset_hash": content_hash(dataset, "flight_id"), "metrics": {"challenger": ours, "champion": theirs},
        "gates": {k: asdict(v) for k, v in verdicts.items()}, "passed": passed, "evaluated_at": datetime.now(UTC).isoformat(),
        "test_rows": test.height,
    }  # fmt: skip
    comparison = pl.DataFrame([{"model": f"challenger v{challenger.version}", **ours}, *([{"model": f"champion v{champion.version}", **theirs}] if theirs else [])])
    metadata = {
        "test_auc": round(ours["auc"], 4), "test_log_loss": round(ours["log_loss"], 4), "test_brier": round(ours["brier"], 4),
        "champion_test_auc": round(theirs["auc"], 4) if theirs else None, "gates_passed": passed,
        "comparison": dg.MetadataValue.md(markdown_table(comparison)),
        "calibration": dg.MetadataValue.md(markdown_table(calibration, 10)),
        "slices": dg.MetadataValue.md(markdown_table(slices, 40)),
        "roc_curve": _image(roc, "ROC curve"), "feature_importance": _image(importance, "feature importance"),
        "calibration_plot": _image(calibration_plot, "calibration"),
    }  # fmt: skip
    return record, {k: v for k, v in metadata.items() if v is not None}

