"""The Oct-Dec test AUC with and without hyperparameter search, on a full-year FTI_HOME.

    python -m bench.search --home bench/.work/demo-home --trials 40 --timeout 1800

HOME must hold the year's training dataset with the standard split (train January to August,
validate September, test October to December), as ``fti demo`` leaves it. The study sees only
train and validation (``fti_assets.training.study``, the asset's own code); the test split
is scored once per model, after the search, so the search cannot tune on it. Prints a
Markdown section for BENCHMARKS.md with both AUCs and the study's evidence.
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

import polars as pl


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.search")
    parser.add_argument(
        "--home", type=Path, required=True, help="an FTI_HOME with the full year's training_dataset"
    )
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--timeout", type=int, default=1800, help="the study's budget in seconds")
    args = parser.parse_args(argv)

    from fti_assets.domain.retrieval import content_hash
    from fti_assets.resources.offline_store import OfflineStore
    from fti_assets.training.gates import metrics
    from fti_assets.training.study import run_study, study_summary
    from fti_assets.training.trained_model import TrainingConfig
    from fti_assets.training.trainer import labels, lightgbm_params, train_booster

    dataset = OfflineStore(home=str(args.home)).read("training_dataset")
    train, validation, test = (dataset.filter(pl.col("split") == s) for s in ("train", "validation", "test"))
    # The split is by prediction time (UTC): the test split starts at 2013-10-01 00:00 UTC.
    if test.height == 0 or test["prediction_time"].min().date() != date(2013, 10, 1):
        raise SystemExit(
            f"{args.home}: the training dataset's test split does not start on 2013-10-01 (UTC): run fti "
            "demo on the whole year"
        )
    defaults = TrainingConfig()
    fields = (
        "learning_rate",
        "num_leaves",
        "min_data_in_leaf",
        "feature_fraction",
        "bagging_fraction",
        "bagging_freq",
        "lambda_l2",
    )

    def test_auc(params: dict) -> tuple[float, float, int]:
        began = time.perf_counter()
        fitted = train_booster(
            train,
            validation,
            lightgbm_params(params, defaults.seed),
            defaults.max_rounds,
            defaults.early_stopping_rounds,
        )
        auc = metrics(labels(test), fitted.spec.predict(fitted.booster, test))["auc"]
        return auc, fitted.validation_auc, round(time.perf_counter() - began)

    base = test_auc({k: getattr(defaults, k) for k in fields})
    began = time.perf_counter()
    study = run_study(
        train,
        validation,
        f"sqlite:///{args.home.resolve() / 'optuna.sqlite'}",
        f"bench-{content_hash(dataset, 'flight_id')[:12]}",
        args.trials,
        args.timeout,
        defaults.seed,
        defaults.max_rounds,
        defaults.early_stopping_rounds,
    )
    searched_seconds = round(time.perf_counter() - began)
    summary = study_summary(study)
    if summary["best"] is None:
        raise SystemExit(f"no trial completed: {summary['trials']}")
    tuned = test_auc(summary["best"]["params"])
    print("## Hyperparameter search (Oct-Dec test split)\n")
    print(
        f"`python -m bench.search --home {args.home} --trials {args.trials} --timeout {args.timeout}`; the "
        "study saw train and "
        f"validation only ({train.height:,} and {validation.height:,} flights); test: {test.height:,} flights.\n"
    )
    print("| model | validation AUC | test AUC | training seconds |\n|---|---|---|---|")
    print(f"| TrainingConfig defaults | {base[1]:.4f} | {base[0]:.4f} | {base[2]} |")
    print(f"| best of the study | {tuned[1]:.4f} | {tuned[0]:.4f} | {tuned[2]} |\n")
    print(
        f"Study `{summary['study']}`: {summary['trials']} in {searched_seconds} s; best trial "
        f"{summary['best']['number']}, "
        f"validation AUC {summary['best']['validation_auc']:.4f}, parameters `{summary['best']['params']}`."
    )
    ranked = sorted((t for t in study.trials if t.value is not None), key=lambda t: -t.value)[:10]
    print("\n| trial | validation AUC | " + " | ".join(fields) + " |\n|" + "---|" * (len(fields) + 2))
    for t in ranked:
        print(
            f"| {t.number} | {t.value:.4f} | "
            + " | ".join(f"{t.params.get(k, 1):.4g}" for k in fields)
            + " |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
