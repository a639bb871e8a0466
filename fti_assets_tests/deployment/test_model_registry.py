"""Training, gates, promotion and rollback against a real MLflow store, on real data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from fti_assets.domain.catalog import group
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.registry import CHAMPION, PREVIOUS
from fti_assets_tests.conftest import materialize
from fti_assets_tests.deployment.registry import (
    NO_SPLITS,
    TRAIN,
    WEAK,
    bento_folder,
    bundled_models,
    champion_at,
    evaluation_metadata,
    gate_verdicts,
    registry_at,
    training_run,
    verdict_of,
)

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def home(feature_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the two-week feature store with its own model registry; tests run in order."""
    target = tmp_path_factory.mktemp("registry") / "home"
    shutil.copytree(feature_home, target)
    return target


def test_first_model_is_promoted_under_absolute_floors_and_packaged(home: Path) -> None:
    result = materialize(home, TRAIN, None, None, run_config=training_run(WEAK))
    assert result.success
    assert champion_at(home) == 1
    bento = bento_folder(home, 1)
    assert "registry_version: '1'" in (bento / "bento.yaml").read_text()
    assert (
        'PACKAGED_MODEL = "flight_delay_model:v1"'
        in (bento / "src/fti_assets/serving/packaged.py").read_text()
    )
    assert bundled_models(bento) == ["flight_delay_model:v1"]
    assert (
        (home / "bentoml" / "models" / "flight_delay_model" / "v1" / "model.txt")
        .read_text()
        .startswith("tree")
    )
    assert not (home / "serving" / "champion.json").exists()  # the registry alone names the champion


def test_the_run_records_what_reproduces_the_model(home: Path) -> None:
    import mlflow

    from fti_assets.domain.retrieval import content_hash

    registry = registry_at(home)
    version = registry.client().get_model_version(registry.model_name, "1")
    run = mlflow.get_run(version.run_id)
    assert run.info.status == "FINISHED"  # training and evaluation both closed their runs
    dataset = OfflineStore(home=str(home)).read("training_dataset")
    assert run.data.tags["dataset_hash"] == content_hash(dataset, "flight_id")
    assert (
        run.data.tags["code_version"]
        and run.data.params["seed"] == "42"
        and run.data.params["learning_rate"] == "0.05"
    )
    assert "test_auc" in run.data.metrics and "validation_auc" in run.data.metrics
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"feature_spec.json", "environment.json", "evaluation"} <= artifacts
    spec = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/feature_spec.json")
    assert (
        spec["group_versions"]["origin_weather"] == group("origin_weather").version
        and "dep_hour" in spec["features"]
    )
    # The training dataset is the run's dataset input; the registry describes the model and the version.
    inputs = run.inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [
        ("training_dataset", content_hash(dataset, "flight_id")[:16])
    ]
    assert json.loads(inputs[0].dataset.source)["uri"].endswith(
        "store/training_dataset"
    )  # its pieces live behind this link
    assert (
        version.description.startswith("Trained on train 2013-01-01 to ")
        and "dep_hour" in version.description
    )
    assert f"content hash {run.data.tags['dataset_hash']}" in version.description
    assert "more than 15 minutes late" in registry.client().get_registered_model("flight_delay").description


def test_a_refusal_leaves_a_green_run_with_the_verdict(home: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(home, TRAIN, None, None, run_config=training_run(NO_SPLITS), instance=instance)
    assert result.success  # refused is an outcome, not a crash
    checks = gate_verdicts(result)
    assert checks["beats_champion"] is False and checks["leak_alarm"] is True
    # A refusal is a verdict, not a failed check: no check is evaluated, the metadata says why.
    assert not [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    shown = evaluation_metadata(result)
    assert shown["verdict"].startswith("refused: ") and "beats_champion: " in shown["verdict"]
    assert shown["gates_passed"] is False
    assert "| beats_champion | refused |" in shown["gates"] and "| leak_alarm | passed |" in shown["gates"]
    assert champion_at(home) == 1
    verdict = verdict_of(result, instance)
    assert (
        verdict.startswith("kept v1; refused v2: the gates refused it:")
        and "beats_champion: challenger AUC" in verdict
    )
    meta = instance.get_latest_materialization_event(
        dg.AssetKey("champion_model")
    ).asset_materialization.metadata
    assert meta["verdict"].value == verdict and meta["outcome"].value == "refused"
    # The champion did not move: no "previous" version beside it, the refused one named as such.
    assert (meta["champion_version"].value, meta["candidate_version"].value) == (1, 2)
    assert "previous_version" not in meta
    tags = registry_at(home).client().get_model_version("flight_delay", "2").tags
    assert tags["gates"] == "refused" and "champion" in tags["gate_report"] and tags["candidate"] == "no"
    event = registry_at(home).history()[-1]
    assert (event["action"], event["version"], event["from_version"]) == ("refuse", 2, 1)
    assert (
        event["report"]["gates"]["beats_champion"]["passed"] is False
        and event["actor"] == f"dagster run {result.run_id}"
    )
    from fti_assets.definitions import defs
    from fti_assets.training.model_evaluation import GATES

    assert not list(defs.resolve_assets_def("model_evaluation").check_specs)
    assert set(GATES) == {"leak_alarm", "sanity", "beats_champion", "no_slice_regression"}
    assert all(description in shown["gates"] for description in GATES.values())


def test_a_refused_version_may_still_run_in_shadow(home: Path) -> None:
    from fti_assets.serving.model_store import Roles, read_roles

    shadow = {"ops": {"challenger_model": {"config": {"mode": "shadow"}}}}
    assert materialize(home, ["challenger_model"], None, None, run_config=shadow).success
    assert read_roles(registry_at(home).tracking_uri) == Roles(1, 2, "shadow", 0.0)


def test_concurrent_promotion_and_canary_retirement_converge_on_the_alias(home: Path) -> None:
    from fti_assets.serving.model_store import Roles, read_roles

    assert materialize(
        home, ["trained_model", "model_evaluation"], None, None, run_config=training_run()
    ).success
    retire = {"ops": {"challenger_model": {"config": {"mode": "retire", "reason": "race"}}}}
    jobs = {
        "promote": (["champion_model", "flight_delay_bento"], {}),
        "retire": (["challenger_model"], retire),
    }
    script = (
        "import json, sys; from pathlib import Path; from fti_assets_tests.conftest import materialize; "
        "r = materialize(Path(sys.argv[1]), json.loads(sys.argv[2]), None, None, run_config=json.loads(sys.argv[3])); "
        "sys.exit(0 if r.success else 1)"
    )
    # Two processes, as two runs of the daemon would be; both start before either takes the lock.
    running = {
        name: subprocess.Popen(
            [sys.executable, "-c", script, str(home), json.dumps(select), json.dumps(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (select, config) in jobs.items()
    }
    for name, process in running.items():
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, (name, err[-3000:])
    registry = registry_at(home)
    assert read_roles(registry.tracking_uri) == Roles(3)  # what a service follows: v3 alone
    assert int(registry.version_by_alias(PREVIOUS).version) == 1
    assert registry.client().get_model_version("flight_delay", "2").tags["serving_mode"] == "retired"
    tags = registry.client().get_model_version("flight_delay", "3").tags
    assert tags["replaced_version"] == "1" and "passed the gates" in tags["promotion_reason"]
    assert bundled_models(bento_folder(home, 3)) == ["flight_delay_model:v3"]
    assert [e["action"] for e in registry.history()] == ["promote", "refuse", "promote"]


def test_a_champion_trailing_the_previous_one_live_is_rolled_back_automatically(
    home: Path, tmp_path: Path
) -> None:
    from fti_assets.domain.encoding import FeatureSpec
    from fti_assets.monitoring.sensors import champion_guard_sensor
    from fti_assets.resources.retraining_rule import RetrainingRule

    copy = Path(shutil.copytree(home, tmp_path / "regressed"))
    registry, store = registry_at(copy), OfflineStore(home=str(copy))
    assert (champion_at(copy), int(registry.version_by_alias(PREVIOUS).version)) == (3, 1)
    test = store.read("training_dataset").filter(pl.col("split") == "test")

    def scores(version: int) -> np.ndarray:
        model = registry.load(version)
        return model.booster.predict(FeatureSpec.from_dict(model.spec).encode(test))

    def tick(champion_scores: np.ndarray):
        batch = test.select("flight_id", "flight_date").with_columns(
            delay_probability=pl.Series(champion_scores),
            model_version=pl.lit(3),
            previous_version=pl.lit(1, pl.Int64),
            previous_probability=pl.Series(scores(1)),
        )
        for (day,), part in batch.group_by("flight_date"):
            store.write("batch_predictions", part, day.isoformat())
        rule = RetrainingRule(rollback_min_rows=500)
        with dg.build_sensor_context(
            resources={"store": store, "registry": registry, "retraining_rule": rule}
        ) as context:
            return champion_guard_sensor(context)

    assert isinstance(tick(scores(3)), dg.SkipReason)  # the champion's real scores: no regression
    request = tick(1 - scores(3))  # the injected regression: its live scores reversed
    assert isinstance(request, dg.RunRequest)
    evidence = json.loads(request.run_config["ops"]["champion_model"]["config"]["evidence"])
    assert evidence["rows"] == test.height and evidence["champion_auc"] < evidence["previous_auc"]
    assert materialize(
        copy, ["champion_model", "flight_delay_bento"], None, None, run_config=request.run_config
    ).success
    assert champion_at(copy) == 1
    event = registry.history()[-1]
    assert (event["action"], event["version"], event["from_version"]) == ("rollback", 1, 3)
    assert (
        event["reason"].startswith("automatic rollback")
        and event["report"]["champion_auc"] == evidence["champion_auc"]
    )


def test_the_stored_model_reloads_and_predicts_the_same_numbers(home: Path) -> None:
    import lightgbm as lgb
    import mlflow

    from fti_assets.domain.encoding import FeatureSpec

    registry = registry_at(home)
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

    recorded = json.loads((home / "records" / "model_evaluation.json").read_text())["metrics"]["challenger"][
        "auc"
    ]
    assert roc_auc_score(test["is_delayed"].to_numpy(), ours) == pytest.approx(recorded, abs=1e-12)


def test_rollback_restores_the_previous_champion_and_its_bento(home: Path) -> None:
    env = {**os.environ, "FTI_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    out = subprocess.run(
        [str(BIN / "fti"), "rollback", "--reason", "canary alarms"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "rolled back from version 3 to 1" in out.stdout
    assert champion_at(home) == 1
    bento = subprocess.run(
        [str(BIN / "fti"), "bento"], env=env, capture_output=True, text=True, timeout=300
    ).stdout.strip()
    assert bento == registry_at(home).client().get_model_version("flight_delay", "1").tags["bento"]
    history = registry_at(home).history()
    assert [e["action"] for e in history] == [
        "promote",
        "refuse",
        "promote",
        "rollback",
    ]  # the copy's auto-rollback is its own
    assert history[-1]["reason"] == "canary alarms" and (
        history[-1]["version"],
        history[-1]["from_version"],
    ) == (1, 3)
    listing = subprocess.run(
        [str(BIN / "fti"), "models"], env=env, capture_output=True, text=True, timeout=300
    ).stdout
    assert "champion" in listing and "refused" in listing and "canary alarms" in listing
    full = subprocess.run(
        [str(BIN / "fti"), "models", "--history"], env=env, capture_output=True, text=True, timeout=300
    ).stdout
    assert len(full.splitlines()) == 4 and "refuse   v2" in full and "rollback v1 from v3" in full


def test_rematerializing_after_a_rollback_does_not_re_promote(home: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(home, ["champion_model", "flight_delay_bento"], None, None, instance=instance)
    assert result.success and champion_at(home) == 1
    assert "refused v3: it was rolled back" in verdict_of(result, instance)
    assert registry_at(home).history()[-1]["action"] == "refuse"


def test_an_evaluation_against_a_former_champion_is_refused(home: Path) -> None:
    from fti_assets.deployment.champion import promotion_problem

    evaluation = json.loads((home / "records" / "model_evaluation.json").read_text())
    tags = registry_at(home).client().get_model_version("flight_delay", "3").tags
    fresh = {k: v for k, v in tags.items() if k not in ("rolled_back_at", "rollback_reason")}
    assert promotion_problem(evaluation, 1, fresh) is None  # judged against v1, and v1 is champion
    assert "evaluated against champion v1, but the champion is now v4" in promotion_problem(
        evaluation, 4, fresh
    )
    other = {**fresh, "dataset_hash": "0" * 64}
    assert "evaluated on dataset" in promotion_problem(evaluation, 1, other)


def test_a_leaky_feature_trips_the_leak_alarm(home: Path, tmp_path: Path) -> None:
    leaky_home = Path(shutil.copytree(home, tmp_path / "leaky"))
    store = OfflineStore(home=str(leaky_home))
    outcomes = store.read("flight_outcomes").select(
        "flight_id", flight_arr_delay=pl.col("arr_delay").cast(pl.Float64)
    )
    store.write("training_dataset", store.read("training_dataset").join(outcomes, on="flight_id", how="left"))
    champion_before = champion_at(leaky_home)
    result = materialize(
        leaky_home, TRAIN, None, None, run_config=training_run({"extra_features": ["flight_arr_delay"]})
    )
    assert result.success
    assert gate_verdicts(result)["leak_alarm"] is False
    record = json.loads((leaky_home / "records" / "model_evaluation.json").read_text())
    assert "look for leakage" in record["gates"]["leak_alarm"]["message"]
    assert champion_at(leaky_home) == champion_before
