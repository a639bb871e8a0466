"""Training a LightGBM binary classifier with early stopping on the validation split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from fti_assets.domain.encoding import FeatureSpec


@dataclass
class TrainedBooster:
    booster: Any  # lightgbm.Booster, kept untyped so this module imports without LightGBM
    spec: FeatureSpec
    best_iteration: int
    validation_auc: float


def lightgbm_params(overrides: dict[str, Any], seed: int) -> dict[str, Any]:
    """Binary objective, fixed seed, deterministic on the same data and threads."""
    return {
        "objective": "binary",
        "metric": "auc",
        "verbosity": -1,
        "seed": seed,
        "deterministic": True,
        "force_col_wise": True,
        "num_threads": 2,
        **overrides,
    }


def labels(frame: pl.DataFrame) -> np.ndarray:
    return frame["is_delayed"].cast(pl.Int8).to_numpy()


def train_booster(
    train: pl.DataFrame,
    validation: pl.DataFrame,
    params: dict[str, Any],
    max_rounds: int,
    early_stopping_rounds: int,
    extra_features: list[str] | None = None,
    log_every: int = 50,
    log: Any = None,
    feature_subset: list[str] | None = None,
    callbacks: list[Any] | None = None,
) -> TrainedBooster:
    """Fit on ``train``; stop when validation AUC has not improved for ``early_stopping_rounds``.
    ``feature_subset`` restricts the model to those features (a baseline, never registered)."""
    import lightgbm as lgb

    spec = FeatureSpec.fit(train, extra_features)
    if feature_subset is not None:
        spec = FeatureSpec(
            features=feature_subset,
            categories={c: v for c, v in spec.categories.items() if c in feature_subset},
        )
    dtrain = lgb.Dataset(
        spec.encode(train),
        labels(train),
        feature_name=spec.features,
        categorical_feature=spec.categorical,
        free_raw_data=True,
    )
    dvalid = lgb.Dataset(spec.encode(validation), labels(validation), reference=dtrain)
    callbacks = [lgb.early_stopping(early_stopping_rounds, verbose=False), *(callbacks or [])]
    if log is not None:
        callbacks.append(lgb.log_evaluation(log_every) if log is print else _progress(log, log_every))
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=max_rounds,
        valid_sets=[dvalid],
        valid_names=["validation"],
        callbacks=callbacks,
    )
    auc = booster.best_score["validation"]["auc"]
    return TrainedBooster(
        booster=booster, spec=spec, best_iteration=booster.best_iteration, validation_auc=float(auc)
    )


def _progress(log: Any, every: int):
    def callback(env: Any) -> None:
        if env.iteration % every == 0 and env.evaluation_result_list:
            _, metric, value, _ = env.evaluation_result_list[0]
            log(f"round {env.iteration}: validation {metric} {value:.4f}")

    return callback
