"""Training and evaluation: a LightGBM model tracked in MLflow, judged against the champion."""

from datetime import date

import dagster as dg
import polars as pl

from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.policy import PolicyResource
from fti_assets.resources.registry import CHAMPION, ModelRegistry
from fti_assets.resources.reports import ReportStore
from fti_assets.training.evaluation import GateConfig

GATES = {
    "leak_alarm": "The test AUC stays under the leak alarm: a much higher AUC almost always means a feature known "
                  "only after the prediction time.",
    "sanity": "Predictions are finite probabilities in [0, 1], better than chance, from the features the spec lists.",
    "beats_champion": "The challenger's test AUC beats the champion's on the same rows by min_improvement; "
                      "with no champion, it meets the absolute floors on AUC and Brier score.",
    "no_slice_regression": "No slice (the policy's columns: carrier and origin by default) with enough rows loses more than "
                           "the policy's max_auc_drop AUC against the champion.",
}
"""The promotion gates and what each checks. A failed gate refuses the challenger in
``champion_model`` (a normal, green outcome), so the checks do not block the run."""


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


@dg.asset(group_name="training", io_manager_key="record_io_manager", backfill_policy=dg.BackfillPolicy.single_run())
def trained_model(context: dg.AssetExecutionContext, config: TrainingConfig, training_dataset: pl.LazyFrame, registry: ModelRegistry,
                  store: OfflineStore) -> dg.Output:  # fmt: skip
    """A LightGBM binary classifier trained on the train split with early stopping on
    validation, tracked in MLflow (the training dataset as the run's dataset input, a
    CycloneDX SBOM of the environment under `sbom/`) and registered as a new version of the
    registered model, with a description of its training window and features."""
    from fti_assets.resources.pieced import pieces_hash
    from fti_assets.training.registration import register_model
    from fti_assets.training.reproducibility import library_versions
    from fti_assets.training.trainer import lightgbm_params, train_booster

    # A lazy scan of the stored pieces: only the train and validation rows come into memory.
    train, validation = (training_dataset.filter(pl.col("split") == s).collect() for s in ("train", "validation"))
    if config.train_from:
        train = train.filter(pl.col("flight_date") >= date.fromisoformat(config.train_from))
    if train.height == 0 or validation.height == 0:
        raise dg.Failure(f"training_dataset has {train.height} train and {validation.height} validation rows; both are needed")
    dataset_hash = pieces_hash(store.table_dir("training_dataset"), "flight_id")  # one piece in memory at a time
    chosen = {k: getattr(config, k) for k in ("learning_rate", "num_leaves", "min_data_in_leaf", "feature_fraction", "bagging_fraction",
                                              "bagging_freq", "lambda_l2")}  # fmt: skip
    if config.use_search:
        chosen = searched_params(store, dataset_hash)
        context.log.info(f"parameters of the search's best trial: {chosen}")
    params = lightgbm_params(chosen, config.seed)
    context.log.info(f"training on {train.height:,} rows, validating on {validation.height:,}")
    fitted = train_booster(train, validation, params, config.max_rounds, config.early_stopping_rounds, config.extra_features, log=context.log.info)
    context.log.info(f"stopped at round {fitted.best_iteration}: validation AUC {fitted.validation_auc:.4f}")

    versions = library_versions()
    record = register_model(registry, store, fitted, train, validation, training_dataset, params, config, dataset_hash,
                            context.run.run_id, dataset_window(context.instance), versions)  # fmt: skip
    version, run_id = record["version"], record["run_id"]
    return dg.Output(record, metadata={
        "model_version": version, "mlflow_run_id": run_id, "validation_auc": round(fitted.validation_auc, 4),
        **({"mlflow_version": dg.MetadataValue.url(registry.version_url(version))} if registry.ui_url else {}),
        "best_iteration": fitted.best_iteration, "dataset_hash": dataset_hash, "code_version": record["code_version"],
        "library_versions": dg.MetadataValue.json(versions),
    })  # fmt: skip


def searched_params(store: OfflineStore, dataset_hash: str) -> dict:
    """The best trial's parameters of the last ``hyperparameter_search``, which must have searched this dataset."""
    from pathlib import Path

    from fti_assets.resources.records import read_record

    found = read_record(Path(store.home), "hyperparameter_search")
    if found is None:
        raise dg.Failure("use_search is set but hyperparameter_search was never materialized")
    if found["dataset_hash"] != dataset_hash:
        raise dg.Failure(f"the last search ({found['study']}) ran on dataset {found['dataset_hash'][:12]}, not {dataset_hash[:12]}: "
                         "search this dataset first")  # fmt: skip
    return found["best"]["params"]


def dataset_window(instance: dg.DagsterInstance) -> dict | None:
    """The window and split dates of the latest training dataset, from its materialization's
    metadata (None if this instance has none). ``fti reproduce`` checks the rebuilt dataset's
    hash against the model's, so a window that does not match is reported there."""
    event = instance.get_latest_materialization_event(dg.AssetKey("training_dataset"))
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    return metadata["window"].value if "window" in metadata else None


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
        return {k: getattr(self, k) for k in GateConfig.__dataclass_fields__ if k != "slices" and getattr(self, k) is not None}

    def gate_config(self, policy) -> GateConfig:
        """The policy's thresholds with this run's overrides on top."""
        from fti_assets.training.evaluation import gate_config_from_policy

        return gate_config_from_policy(policy, self.overrides())


@dg.asset(
    group_name="training",
    io_manager_key="record_io_manager",
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec(g, asset="model_evaluation", description=d) for g, d in GATES.items()],
)
def model_evaluation(
    context: dg.AssetExecutionContext, config: EvaluationConfig, trained_model: dict, training_dataset: pl.DataFrame, registry: ModelRegistry,
    reports: ReportStore, policy: PolicyResource,
):  # fmt: skip
    """The challenger scored on the test split beside the current champion on the same rows:
    AUC, log loss, Brier, calibration, per-carrier and per-origin slices; ROC, importance,
    calibration and mean-absolute-contribution (TreeSHAP) plots on one page of the reports
    server (`plots`). Its checks are the
    promotion gates that champion_model reads, with thresholds from the policy file, whose
    content hash is recorded with the verdicts."""
    from fti_assets.training.model_evaluation import evaluate

    evaluation, metadata = evaluate(context, config, trained_model, training_dataset, registry, reports, policy.load())
    yield dg.Output(evaluation, metadata=metadata)
    for name in GATES:
        gate = evaluation["gates"][name]
        yield dg.AssetCheckResult(check_name=name, passed=gate["passed"], metadata={"why": gate["message"]})


def champion_version(registry: ModelRegistry) -> int | None:
    found = registry.version_by_alias(CHAMPION)
    return int(found.version) if found else None
