"""A trained booster tracked in MLflow and registered as a new version of the model.

``trained_model`` calls it after training; the benchmarks' plain script calls it to do the
same registry work without Dagster.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from typing import Any

import polars as pl

from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.registry import ModelRegistry

SIGNATURE_TAG = "training_signature"
"""Version tag: the hash of what a training depends on (dataset hash and parameters)."""


def training_signature(dataset_hash: str, params: dict, config: Any) -> str:
    """The hash of everything that decides the trained model besides the code: the dataset's
    content hash, LightGBM's parameters (seed included) and the training config's other fields."""
    import hashlib
    import json

    parts = {
        "dataset_hash": dataset_hash,
        "params": params,
        "max_rounds": config.max_rounds,
        "early_stopping_rounds": config.early_stopping_rounds,
        "extra_features": sorted(config.extra_features),
        "train_from": config.train_from,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def register_model(
    registry: ModelRegistry,
    store: OfflineStore,
    fitted: Any,
    train: pl.DataFrame,
    validation: pl.DataFrame,
    training_dataset: pl.LazyFrame,
    params: dict,
    config: Any,
    dataset_hash: str,
    run_label: str,
    window: dict | None,
    versions: dict[str, str],
) -> dict:
    """Log ``fitted`` (a ``trainer.Fitted``, trained with ``params`` under ``config``, a
    ``TrainingConfig``) in an MLflow run: the training dataset as the run's input, parameters,
    metrics, feature spec, what ``fti reproduce`` needs (the dataset ``window``, parameters and
    rounds), the library ``versions`` and a CycloneDX SBOM; register it, tag the version (with
    ``run_label``, the run that trained it) and describe it. Returns ``trained_model``'s record."""
    import mlflow
    import mlflow.data
    import pandas as pd
    from mlflow.models import infer_signature

    from fti_assets.deployment.sbom import SBOM_NAME, environment_sbom
    from fti_assets.training.descriptions import model_description, version_description
    from fti_assets.training.reproducibility import code_version

    tags = {
        "dataset_hash": dataset_hash,
        "code_version": code_version(),
        "seed": str(config.seed),
        "dagster_run_id": run_label,
        "params_from": "hyperparameter_search" if config.use_search else "config",
        SIGNATURE_TAG: training_signature(dataset_hash, params, config),
    }
    # MLflow shows this tag as the run's description.
    description = {
        "mlflow.note.content": (
            f"LightGBM training of `{registry.model_name}` (run {run_label}) on `training_dataset` "
            f"(content hash {dataset_hash[:12]}"
            + (f", {window['start']} to {window['end']}" if window else "")
            + "). Registered as a new version; the evaluation against the champion logs its test metrics, "
            "plots (`evaluation/`) and model card (`model_card/`) to this run."
        )
    }
    reproduction = {
        "dataset_window": window,
        "params": params,
        "max_rounds": config.max_rounds,
        "early_stopping_rounds": config.early_stopping_rounds,
        "extra_features": config.extra_features,
        "train_from": config.train_from,
    }
    sample = pd.DataFrame(fitted.spec.encode(validation.head(200)), columns=fitted.spec.features)
    with registry.run(run_name=f"train-{dataset_hash[:8]}", tags={**tags, **description}) as run:
        # The dataset input (MLflow's Datasets column): its schema, a digest and where it is stored.
        with warnings.catch_warnings():  # MLflow registers two identical sources for local paths and warns
            warnings.filterwarnings(
                "ignore", message="The specified dataset source can be interpreted in multiple ways"
            )
            source = mlflow.data.from_polars(
                train,
                source=str(store.table_dir("training_dataset")),
                targets="is_delayed",
                name="training_dataset",
                digest=dataset_hash[:16],
            )
        mlflow.log_input(source, context="training")
        mlflow.log_params(
            {
                **params,
                "max_rounds": config.max_rounds,
                "early_stopping_rounds": config.early_stopping_rounds,
                "train_from": config.train_from or "start",
            }
        )
        mlflow.log_metrics(
            {
                "validation_auc": fitted.validation_auc,
                "best_iteration": fitted.best_iteration,
                "train_rows": train.height,
                "validation_rows": validation.height,
            }
        )
        mlflow.log_dict(fitted.spec.to_dict(), "feature_spec.json")
        # What `fti reproduce` needs to rebuild the dataset and retrain exactly.
        mlflow.log_dict(reproduction, "reproduction.json")
        mlflow.log_dict(versions, "environment.json")
        # What the model will be served with: every package of this environment, as CycloneDX.
        mlflow.log_dict(environment_sbom(), f"sbom/{SBOM_NAME}")
        info = mlflow.lightgbm.log_model(
            fitted.booster,
            name="model",
            signature=infer_signature(sample, fitted.booster.predict(sample.to_numpy())),
            pip_requirements=[
                f"lightgbm=={versions['lightgbm']}",
                f"numpy=={versions['numpy']}",
                f"pandas=={pd.__version__}",
            ],
            registered_model_name=registry.model_name,
            metadata={"feature_spec": fitted.spec.to_dict()},
        )
    version = int(info.registered_model_version)
    registry.tag_version(
        version, {**tags, "validation_auc": f"{fitted.validation_auc:.4f}", "sbom": f"sbom/{SBOM_NAME}"}
    )
    registry.describe(
        version,
        model_description(registry.model_name),
        version_description(
            training_dataset, fitted.spec.features, dataset_hash, fitted.validation_auc, run.info.run_id
        ),
    )
    return {
        "model_name": registry.model_name,
        "version": version,
        "run_id": run.info.run_id,
        "dataset_hash": dataset_hash,
        "validation_auc": fitted.validation_auc,
        "best_iteration": fitted.best_iteration,
        "features": fitted.spec.features,
        "trained_at": datetime.now(UTC).isoformat(),
        "code_version": tags["code_version"],
        "train_from": config.train_from,
        "params": params,
    }
