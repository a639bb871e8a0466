"""Hyperparameter search: an Optuna study whose best parameters ``trained_model`` can take."""

import dagster as dg
import polars as pl

from fti_assets.resources.registry import ModelRegistry
from fti_assets.resources.search_storage import SearchStorage


class SearchConfig(dg.Config):
    """The study's budget: whichever of trials and seconds runs out first ends it."""

    n_trials: int = 30
    timeout_seconds: int = 1800
    study_name: str = ""
    """Continue this study (empty: a new one named after the training dataset's hash)."""
    max_rounds: int = 1000
    early_stopping_rounds: int = 50
    seed: int = 42


@dg.asset(
    group_name="training", io_manager_key="record_io_manager", backfill_policy=dg.BackfillPolicy.single_run()
)
def hyperparameter_search(
    context: dg.AssetExecutionContext,
    config: SearchConfig,
    training_dataset: pl.DataFrame,
    registry: ModelRegistry,
    search_storage: SearchStorage,
) -> dg.Output:
    """An Optuna study of LightGBM's parameters on the train and validation splits (never the
    test split), with median pruning of trials that trail at the same round, within a budget
    of trials and seconds. Each trial is an MLflow child run of the study's run; the study
    persists in Optuna's RDB storage. `trained_model` takes its best parameters when run with
    `use_search: true`; the gates still judge the model."""
    import mlflow
    import optuna

    from fti_assets.domain.retrieval import content_hash
    from fti_assets.training.study import run_study, study_summary

    train, validation = (training_dataset.filter(pl.col("split") == s) for s in ("train", "validation"))
    if train.height == 0 or validation.height == 0:
        raise dg.Failure(
            f"training_dataset has {train.height} train and {validation.height} validation rows; both are needed"
        )
    dataset_hash = content_hash(training_dataset, "flight_id")
    name = config.study_name or f"flight-delay-{dataset_hash[:12]}"

    def tracked(trial, fit):
        # In the study run's experiment: a nested run otherwise lands in MLflow's default one.
        experiment_id = mlflow.active_run().info.experiment_id
        with mlflow.start_run(
            run_name=f"trial-{trial.number}",
            nested=True,
            experiment_id=experiment_id,
            tags={"optuna_trial": str(trial.number)},
        ):
            mlflow.log_params(trial.params)
            try:
                fitted = fit()
            except optuna.TrialPruned:
                mlflow.set_tag("optuna_state", "pruned")
                raise
            mlflow.log_metrics(
                {"validation_auc": fitted.validation_auc, "best_iteration": fitted.best_iteration}
            )
            mlflow.set_tag("optuna_state", "complete")
            context.log.info(f"trial {trial.number}: validation AUC {fitted.validation_auc:.4f}")
            return fitted

    with registry.run(
        run_name=f"search-{name}", tags={"dataset_hash": dataset_hash, "optuna_study": name}
    ) as parent:
        study = run_study(
            train,
            validation,
            search_storage.url,
            name,
            config.n_trials,
            config.timeout_seconds,
            config.seed,
            config.max_rounds,
            config.early_stopping_rounds,
            tracked,
        )
        summary = study_summary(study)
        mlflow.log_dict(summary, "search/summary.json")
        if summary["best"]:
            mlflow.log_metric("best_validation_auc", summary["best"]["validation_auc"])
    if summary["best"] is None:
        raise dg.Failure(f"study {name}: no trial completed ({summary['trials']}); raise the budget")
    record = {
        **summary,
        "dataset_hash": dataset_hash,
        "run_id": parent.info.run_id,
        "storage": search_storage.url.split("@")[-1],
    }
    return dg.Output(
        record,
        metadata={
            "study": name,
            "trials": dg.MetadataValue.json(summary["trials"]),
            "best_validation_auc": round(summary["best"]["validation_auc"], 4),
            "best_params": dg.MetadataValue.json(summary["best"]["params"]),
            **(
                {"mlflow_run": dg.MetadataValue.url(url)}
                if (url := registry.run_url(parent.info.run_id))
                else {}
            ),
        },
    )
