"""Training, gates, promotion and rollback against a real MLflow store, on real data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from fti_assets.registry import CHAMPION, PREVIOUS, ModelRegistry
from fti_assets.storage.offline_store import OfflineStore
from fti_assets_tests.conftest import materialize, settings_for

BIN = Path(sys.executable).parent
TRAIN = ["trained_model", "model_evaluation", "champion_model", "flight_delay_bento"]
WEAK = {"num_leaves": 2, "max_rounds": 2, "learning_rate": 0.05}  # a real but poor model
NO_SPLITS = {"num_leaves": 2, "max_rounds": 1, "min_data_in_leaf": 10_000_000}  # a constant: AUC 0.5
LOW_FLOORS = {"floor_auc": 0.5, "floor_max_brier": 0.25}


def _config(training: dict | None = None, gates: dict | None = None) -> dict:
    return {"ops": {"trained_model": {"config": training or {}}, "model_evaluation": {"config": {**LOW_FLOORS, **(gates or {})}}}}


def _registry(home: Path) -> ModelRegistry:
    from fti_assets.resources import build_resources

    return build_resources(settings_for(home))["registry"]


def _champion(home: Path) -> int | None:
    found = _registry(home).version_by_alias(CHAMPION)
    return int(found.version) if found else None


def _checks(result) -> dict[str, bool]:
    return {e.event_specific_data.check_name: e.event_specific_data.passed for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


@pytest.fixture(scope="module")
def home(feature_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the two-week feature store with its own model registry; tests run in order."""
    target = tmp_path_factory.mktemp("registry") / "home"
    shutil.copytree(feature_home, target)
    return target


def test_first_model_is_promoted_under_absolute_floors_and_packaged(home: Path) -> None:
    result = materialize(home, TRAIN, None, None, run_config=_config(WEAK))
    assert result.success
    assert _champion(home) == 1
    pointer = json.loads((home / "serving" / "champion.json").read_text())
    assert pointer["model_tag"] == "flight_delay_model:v1"
    name, version = pointer["bento"].split(":")
    bento = home / "bentoml" / "bentos" / name / version  # the store under FTI_HOME
    assert "registry_version: '1'" in (bento / "bento.yaml").read_text()
    assert 'PACKAGED_MODEL = "flight_delay_model:v1"' in (bento / "src/fti_assets/serving/packaged.py").read_text()
    assert (home / "bentoml" / "models" / "flight_delay_model" / "v1" / "model.txt").read_text().startswith("tree")


def test_the_run_records_what_reproduces_the_model(home: Path) -> None:
    import mlflow

    from fti_assets.domain.retrieval import content_hash

    registry = _registry(home)
    version = registry.client().get_model_version(registry.model_name, "1")
    run = mlflow.get_run(version.run_id)
    assert run.info.status == "FINISHED"  # training and evaluation both closed their runs
    dataset = OfflineStore(home=str(home)).read("training_dataset")
    assert run.data.tags["dataset_hash"] == content_hash(dataset, "flight_id")
    assert run.data.tags["code_version"] and run.data.params["seed"] == "42" and run.data.params["learning_rate"] == "0.05"
    assert "test_auc" in run.data.metrics and "validation_auc" in run.data.metrics
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"feature_spec.json", "environment.json", "evaluation"} <= artifacts
    spec = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/feature_spec.json")
    assert spec["group_versions"]["origin_weather"] == 1 and "dep_hour" in spec["features"]
    # The training dataset is the run's dataset input; the registry describes the model and the version.
    inputs = run.inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [("training_dataset", content_hash(dataset, "flight_id")[:16])]
    assert json.loads(inputs[0].dataset.source)["uri"].endswith("store/training_dataset/all.parquet")
    assert version.description.startswith("Trained on train 2013-01-01 to ") and "dep_hour" in version.description
    assert f"content hash {run.data.tags['dataset_hash']}" in version.description
    assert "more than 15 minutes late" in registry.client().get_registered_model("flight_delay").description


def test_a_worse_challenger_is_refused_and_the_alias_stays(home: Path) -> None:
    result = materialize(home, TRAIN, None, None, run_config=_config(NO_SPLITS))
    assert not result.success
    checks = _checks(result)
    assert checks["beats_champion"] is False and checks["leak_alarm"] is True
    assert _champion(home) == 1
    tags = _registry(home).client().get_model_version("flight_delay", "2").tags
    assert tags["gates"] == "refused" and "champion" in tags["gate_report"]
    assert json.loads((home / "serving" / "champion.json").read_text())["registry_version"] == 1


def test_a_better_challenger_is_promoted_and_the_old_champion_stays_reachable(home: Path) -> None:
    result = materialize(home, TRAIN, None, None, run_config=_config())
    assert result.success, _checks(result)
    registry = _registry(home)
    assert _champion(home) == 3
    assert int(registry.version_by_alias(PREVIOUS).version) == 1
    tags = registry.client().get_model_version("flight_delay", "3").tags
    assert tags["replaced_version"] == "1" and "passed the gates" in tags["promotion_reason"]
    assert json.loads((home / "serving" / "champion.json").read_text())["model_tag"] == "flight_delay_model:v3"


def test_the_stored_model_reloads_and_predicts_the_same_numbers(home: Path) -> None:
    import lightgbm as lgb
    import mlflow

    from fti_assets.training.encoding import FeatureSpec

    registry = _registry(home)
    loaded = registry.load(3)
    assert loaded.model_file.read_text().startswith("tree")  # LightGBM's text format, not a pickle
    test = OfflineStore(home=str(home)).read("training_dataset").filter(pl.col("split") == "test")
    x = FeatureSpec.from_dict(loaded.spec).encode(test)
    ours = loaded.booster.predict(x)
    native = mlflow.lightgbm.load_model(f"models:/flight_delay@{CHAMPION}").predict(x)
    packaged = home / "bentoml" / "models" / "flight_delay_model" / "v3" / "model.txt"
    serving = lgb.Booster(model_file=str(packaged)).predict(x, num_threads=1)
    np.testing.assert_array_equal(ours, native)
    np.testing.assert_allclose(ours, serving, rtol=0, atol=1e-12)
    from sklearn.metrics import roc_auc_score

    recorded = json.loads((home / "records" / "model_evaluation.json").read_text())["metrics"]["challenger"]["auc"]
    assert roc_auc_score(test["is_delayed"].to_numpy(), ours) == pytest.approx(recorded, abs=1e-12)


def test_rollback_restores_the_previous_champion_and_its_bento(home: Path) -> None:
    env = {**os.environ, "FTI_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    out = subprocess.run([str(BIN / "fti"), "rollback", "--reason", "canary alarms"], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "rolled back from version 3 to 1" in out.stdout
    assert _champion(home) == 1
    assert json.loads((home / "serving" / "champion.json").read_text())["model_tag"] == "flight_delay_model:v1"
    history = _registry(home).history()
    assert history[-1]["action"] == "rollback" and history[-1]["reason"] == "canary alarms"
    listing = subprocess.run([str(BIN / "fti"), "models"], env=env, capture_output=True, text=True, timeout=300).stdout
    assert "champion" in listing and "refused" in listing and "canary alarms" in listing


def test_a_leaky_feature_trips_the_leak_alarm(home: Path, tmp_path: Path) -> None:
    leaky_home = Path(shutil.copytree(home, tmp_path / "leaky"))
    store = OfflineStore(home=str(leaky_home))
    outcomes = store.read("flight_outcomes").select("flight_id", flight_arr_delay=pl.col("arr_delay").cast(pl.Float64))
    store.write("training_dataset", store.read("training_dataset").join(outcomes, on="flight_id", how="left"))
    champion_before = _champion(leaky_home)
    result = materialize(leaky_home, TRAIN, None, None, run_config=_config({"extra_features": ["flight_arr_delay"]}))
    assert not result.success
    assert _checks(result)["leak_alarm"] is False
    record = json.loads((leaky_home / "records" / "model_evaluation.json").read_text())
    assert "look for leakage" in record["gates"]["leak_alarm"]["message"]
    assert _champion(leaky_home) == champion_before
