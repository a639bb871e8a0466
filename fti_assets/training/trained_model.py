"""The trained model: a LightGBM model tracked in MLflow, registered as a challenger."""

from datetime import date

import dagster as dg
import polars as pl

from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.registry import ModelRegistry
from fti_assets.training.registration import SIGNATURE_TAG


class TrainingConfig(dg.Config):
    """LightGBM hyperparameters; the seed makes a run repeatable."""

    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 200
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    lambda_l2: float = 1.0
    max_rounds: int = 1000
    early_stopping_rounds: int = 50
    seed: int = 42
    extra_features: list[str] = []
    """Columns of the training dataset to use beyond the feature catalog (for experiments)."""
    use_search: bool = False
    """Take the learning parameters of ``hyperparameter_search``'s best trial (which must be
    on this training dataset) instead of the fields above."""
    train_from: str = ""
    """Train only on the train split's flights predicted from this day on (a retrain after a
    collapse learns the world as it is now). Empty: the whole train split."""


@dg.asset(
    group_name="training",
    io_manager_key="record_io_manager",
    backfill_policy=dg.BackfillPolicy.single_run(),
    output_required=False,
)
def trained_model(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    training_dataset: pl.LazyFrame,
    registry: ModelRegistry,
    store: OfflineStore,
):
    """A LightGBM binary classifier trained on the train split with early stopping on
    validation, tracked in MLflow (the training dataset as the run's dataset input, a
    CycloneDX SBOM of the environment under `sbom/`) and registered as a new version of the
    registered model, with a description of its training window and features. Skipped, with
    the reason as an observation of this asset, when a registered version was trained on the
    same dataset with the same parameters: it would be the same model under a new number."""
    from fti_assets.resources.pieced import pieces_hash
    from fti_assets.training.registration import register_model, training_signature
    from fti_assets.training.reproducibility import library_versions
    from fti_assets.training.trainer import lightgbm_params, train_booster

    # A lazy scan of the stored pieces: only the train and validation rows come into memory.
    train, validation = (
        training_dataset.filter(pl.col("split") == s).collect() for s in ("train", "validation")
    )
    if config.train_from:
        train = train.filter(pl.col("flight_date") >= date.fromisoformat(config.train_from))
    if train.height == 0 or validation.height == 0:
        raise dg.Failure(
            f"training_dataset has {train.height} train and {validation.height} validation rows; both are needed"
        )
    dataset_hash = pieces_hash(
        store.table_dir("training_dataset"), "flight_id"
    )  # one piece in memory at a time
    chosen = {
        k: getattr(config, k)
        for k in (
            "learning_rate",
            "num_leaves",
            "min_data_in_leaf",
            "feature_fraction",
            "bagging_fraction",
            "bagging_freq",
            "lambda_l2",
        )
    }
    if config.use_search:
        chosen = searched_params(store, dataset_hash)
        context.log.info(f"parameters of the search's best trial: {chosen}")
    params = lightgbm_params(chosen, config.seed)
    signature = training_signature(dataset_hash, params, config)
    if (same := registry.version_with_tag(SIGNATURE_TAG, signature)) is not None:
        reason = (
            f"skipped: v{same} was trained on the same dataset ({dataset_hash[:12]}) with the same parameters; "
            "nothing registered (change the window or the parameters to train a new model)"
        )
        context.log.info(reason)
        context.log_event(dg.AssetObservation(asset_key=context.asset_key, metadata={"skipped": reason}))
        return
    context.log.info(f"training on {train.height:,} rows, validating on {validation.height:,}")
    fitted = train_booster(
        train,
        validation,
        params,
        config.max_rounds,
        config.early_stopping_rounds,
        config.extra_features,
        log=context.log.info,
    )
    context.log.info(f"stopped at round {fitted.best_iteration}: validation AUC {fitted.validation_auc:.4f}")

    versions = library_versions()
    record = register_model(
        registry,
        store,
        fitted,
        train,
        validation,
        training_dataset,
        params,
        config,
        dataset_hash,
        context.run.run_id,
        dataset_window(context.instance),
        versions,
    )
    version, run_id = record["version"], record["run_id"]
    yield dg.Output(
        record,
        metadata={
            "model_version": version,
            "mlflow_run_id": run_id,
            "validation_auc": round(fitted.validation_auc, 4),
            **(
                {"mlflow_version": dg.MetadataValue.url(registry.version_url(version))}
                if registry.ui_url
                else {}
            ),
            "best_iteration": fitted.best_iteration,
            "dataset_hash": dataset_hash,
            "code_version": record["code_version"],
            "library_versions": dg.MetadataValue.json(versions),
        },
    )


def searched_params(store: OfflineStore, dataset_hash: str) -> dict:
    """The best trial's parameters of the last ``hyperparameter_search``, which must have searched this dataset."""
    from pathlib import Path

    from fti_assets.resources.records import read_record

    found = read_record(Path(store.home), "hyperparameter_search")
    if found is None:
        raise dg.Failure("use_search is set but hyperparameter_search was never materialized")
    if found["dataset_hash"] != dataset_hash:
        raise dg.Failure(
            f"the last search ({found['study']}) ran on dataset {found['dataset_hash'][:12]}, not {dataset_hash[:12]}: "
            "search this dataset first"
        )
    return found["best"]["params"]


def dataset_window(instance: dg.DagsterInstance) -> dict | None:
    """The window and split dates of the latest training dataset, from its materialization's
    metadata (None if this instance has none). ``fti reproduce`` checks the rebuilt dataset's
    hash against the model's, so a window that does not match is reported there."""
    event = instance.get_latest_materialization_event(dg.AssetKey("training_dataset"))
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    return metadata["window"].value if "window" in metadata else None
