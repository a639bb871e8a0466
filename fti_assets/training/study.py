"""Hyperparameter search: an Optuna study over LightGBM's parameters, judged on validation AUC.

Trials see only the train and validation splits; the test split stays for the gates. Trials
whose validation AUC trails the others' at the same round are pruned (Optuna's median rule,
through optuna-integration's LightGBM callback).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl


def suggest(trial: Any) -> dict[str, Any]:
    """The search space: the parameters ``TrainingConfig`` exposes."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 7, 255, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 20, 2000, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "bagging_freq": 1,
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 100.0, log=True),
    }


def run_study(
    train: pl.DataFrame,
    validation: pl.DataFrame,
    storage: str,
    study_name: str,
    n_trials: int,
    timeout_seconds: float | None,
    seed: int,
    max_rounds: int,
    early_stopping_rounds: int,
    on_trial: Callable[[Any, Callable[[], Any]], Any] | None = None,
) -> Any:
    """Run (or continue) the study ``study_name`` in ``storage`` for at most ``n_trials`` trials
    and ``timeout_seconds``. ``on_trial(trial, fit)`` wraps each trial's fit (to track it)."""
    import optuna
    from optuna_integration import LightGBMPruningCallback

    from fti_assets.training.trainer import lightgbm_params, train_booster

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction="maximize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=20),
    )

    def objective(trial: Any) -> float:
        params = lightgbm_params(suggest(trial), seed)

        def fit():
            pruning = LightGBMPruningCallback(trial, "auc", valid_name="validation")
            fitted = train_booster(
                train, validation, params, max_rounds, early_stopping_rounds, callbacks=[pruning]
            )
            trial.set_user_attr("best_iteration", fitted.best_iteration)
            return fitted

        fitted = on_trial(trial, fit) if on_trial else fit()
        return fitted.validation_auc

    study.optimize(objective, n_trials=n_trials, timeout=timeout_seconds)
    return study


def study_summary(study: Any) -> dict[str, Any]:
    """Counts by state and the best trial (None if every trial was pruned or failed)."""
    states: dict[str, int] = {}
    for trial in study.trials:
        states[trial.state.name.lower()] = states.get(trial.state.name.lower(), 0) + 1
    try:
        best = study.best_trial
    except ValueError:
        best = None
    return {
        "study": study.study_name,
        "trials": states,
        "best": None
        if best is None
        else {
            "number": best.number,
            "validation_auc": best.value,
            "params": {**best.params, "bagging_freq": 1},
            "best_iteration": best.user_attrs.get("best_iteration"),
        },
    }
