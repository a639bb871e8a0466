"""OpenLineage events of real runs, sent through openlineage-python's HTTP transport
(``OPENLINEAGE_URL``) to a real HTTP receiver: START and COMPLETE for every materialized asset,
inputs and outputs as the asset graph's dependencies, schema facets from the pandera contracts,
the dataset hash and MLflow run on the training events."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from fti_assets.definitions import build_definitions
from fti_assets.platform.lineage import build_lineage_sensors, child_run_id
from fti_assets.resources.lineage import LineageResource
from fti_assets_tests.alerts.receivers import HttpReceiver
from fti_assets_tests.conftest import TRAINING_CONFIG, materialize, settings_for

ON_SUCCESS, ON_FAILURE = build_lineage_sensors(True)
LENIENT = {"floor_auc": 0.5, "floor_max_brier": 0.25, "min_improvement": -1.0, "max_slice_drop": 1.0}


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch):
    receiver = HttpReceiver()
    monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)
    for name in ("OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    yield receiver
    receiver.close()


def _emit(home: Path, instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> None:
    repository = build_definitions(settings_for(home)).get_repository_def()
    run = instance.get_run_by_id(result.run_id)
    resources = {"lineage": LineageResource(enabled=True, namespace="fti_test")}
    if result.success:
        event, sensor = result.get_run_success_event(), ON_SUCCESS
    else:
        event = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        sensor = ON_FAILURE
    context = dg.build_run_status_sensor_context(
        sensor.name, event, instance, run, resources=resources, repository_def=repository
    )
    sensor(context.for_run_failure() if not result.success else context)


def _by_job(bodies: list[dict]) -> dict[str, list[dict]]:
    jobs: dict[str, list[dict]] = {}
    for body in bodies:
        jobs.setdefault(body["job"]["name"], []).append(body)
    return jobs


def test_each_materialized_asset_has_start_and_complete_with_its_graph_edges(
    feature_home: Path, tmp_path: Path, collector: HttpReceiver
) -> None:
    home = Path(shutil.copytree(feature_home, tmp_path / "home"))
    instance = dg.DagsterInstance.ephemeral()
    assets = [
        "weather",
        "origin_weather",
        "training_dataset",
        "trained_model",
        "model_evaluation",
        "champion_model",
    ]
    ops = {**TRAINING_CONFIG["ops"], "model_evaluation": {"config": LENIENT}}
    result = materialize(home, assets, run_config={"ops": ops}, instance=instance)
    assert result.success
    _emit(home, instance, result)
    # 2 events of the Dagster run, 2 per asset
    collector.wait_for(lambda r: len(r.bodies) >= 2 + 2 * len(assets), "every event")
    jobs = _by_job(collector.bodies)
    run_events = jobs.pop(instance.get_run_by_id(result.run_id).job_name)
    assert [e["eventType"] for e in run_events] == ["START", "COMPLETE"]
    assert {e["run"]["runId"] for e in run_events} == {result.run_id}
    assert set(jobs) == set(assets)
    graph = build_definitions(settings_for(home)).resolve_asset_graph()
    for asset, events in jobs.items():
        assert [e["eventType"] for e in events] == ["START", "COMPLETE"], asset
        start, complete = events
        assert start["eventTime"] <= complete["eventTime"]
        assert complete["run"]["runId"] == child_run_id(result.run_id, asset)
        assert complete["run"]["facets"]["parent"]["run"]["runId"] == result.run_id
        parents = {k.to_user_string() for k in graph.get(dg.AssetKey(asset)).parent_keys}
        assert {d["name"] for d in complete["inputs"]} == parents, asset
        assert [d["name"] for d in complete["outputs"]] == [asset]
        assert all(d["namespace"] == "fti_test" for d in complete["inputs"] + complete["outputs"])
    # Partitions: the days written, and the upstream days each read.
    weather_out = jobs["weather"][1]["outputs"][0]
    written = [
        p["identifier"] for p in weather_out["outputFacets"]["subset"]["outputCondition"]["partitions"]
    ]
    assert written == [f"2013-01-{d:02d}" for d in range(1, 15)]
    origin_in = jobs["origin_weather"][1]["inputs"]
    weather_in = next(d for d in origin_in if d["name"] == "weather")
    read = {p["identifier"] for p in weather_in["inputFacets"]["subset"]["inputCondition"]["partitions"]}
    assert set(written) <= read
    # Schema facets from the pandera contracts.
    fields = {f["name"]: f["type"] for f in weather_out["facets"]["schema"]["fields"]}
    assert {"origin", "temp", "time_hour"} <= set(fields)
    # Training: the dataset hash as the dataset's version, read by trained_model, with its MLflow run.
    digest = result.asset_materializations_for_node("training_dataset")[0].metadata["content_hash"].value
    assert jobs["training_dataset"][1]["outputs"][0]["facets"]["version"]["datasetVersion"] == digest
    trained = jobs["trained_model"][1]
    dataset_in = next(d for d in trained["inputs"] if d["name"] == "training_dataset")
    assert dataset_in["facets"]["version"]["datasetVersion"] == digest
    mlflow = trained["run"]["facets"]["mlflow"]
    model = result.asset_materializations_for_node("trained_model")[0].metadata
    assert mlflow["datasetHash"] == digest and mlflow["runId"] == model["mlflow_run_id"].value
    assert mlflow["modelVersion"] == str(model["model_version"].value)
    assert trained["outputs"][0]["facets"]["version"]["datasetVersion"] == mlflow["modelVersion"]


def test_a_failed_run_ends_in_fail_events(
    tmp_path: Path, source_slice: Path, collector: HttpReceiver
) -> None:
    source = Path(shutil.copytree(source_slice, tmp_path / "source"))
    (source / "planes.parquet").unlink()
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(tmp_path / "home", ["planes"], None, None, source=source, instance=instance)
    assert not result.success
    _emit(tmp_path / "home", instance, result)
    collector.wait_for(lambda r: len(r.bodies) >= 4, "the run's and the asset's events")
    jobs = _by_job(collector.bodies)
    assert [e["eventType"] for e in jobs[instance.get_run_by_id(result.run_id).job_name]] == ["START", "FAIL"]
    assert [e["eventType"] for e in jobs["planes"]] == ["START", "FAIL"]
    assert "planes" in jobs["planes"][1]["run"]["facets"]["errorMessage"]["message"]
