"""The outcome line a finished run carries (tag ``fti/outcome``), from real runs' event logs."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from fti_assets.monitoring.run_outcome import OUTCOME_TAG, run_outcome_on_failure, run_outcome_on_success
from fti_assets_tests.conftest import materialize

LOW_FLOORS = {"floor_auc": 0.5, "floor_max_brier": 0.25}
TRAIN = ["trained_model", "model_evaluation", "champion_model"]


@pytest.fixture(scope="module")
def instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.ephemeral()


@pytest.fixture(scope="module")
def home(feature_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(shutil.copytree(feature_home, tmp_path_factory.mktemp("outcome") / "home"))


def _outcome(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> str:
    run = instance.get_run_by_id(result.run_id)
    if result.success:
        run_outcome_on_success(
            dg.build_run_status_sensor_context(
                "run_outcome_on_success", result.get_run_success_event(), instance, run
            )
        )
    else:
        event = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        run_outcome_on_failure(
            dg.build_run_status_sensor_context(
                "run_outcome_on_failure", event, instance, run
            ).for_run_failure()
        )
    line = instance.get_run_by_id(result.run_id).tags[OUTCOME_TAG]
    last = instance.all_logs(result.run_id)[-1]  # the end of the run's event log says it too
    assert last.message == line
    return line


def test_a_training_run_ends_with_its_model_auc_and_verdict(home: Path, instance: dg.DagsterInstance) -> None:
    result = materialize(
        home,
        TRAIN,
        None,
        None,
        instance=instance,
        run_config={"ops": {"model_evaluation": {"config": LOW_FLOORS}}},
    )
    assert result.success
    auc = result.asset_materializations_for_node("model_evaluation")[0].metadata["test_auc"].value
    line = _outcome(instance, result)
    assert (
        line.startswith("Succeeded: model v1 (validation AUC ")
        and f"test AUC {auc}; gates passed; promoted v1: passed the gates: test AUC " in line
    )


def test_a_refused_model_is_a_green_run_whose_line_names_the_verdict(
    home: Path, instance: dg.DagsterInstance
) -> None:
    constant = {
        "num_leaves": 2,
        "max_rounds": 1,
        "min_data_in_leaf": 10_000_000,
    }  # AUC 0.5: worse than the champion
    result = materialize(
        home,
        TRAIN,
        None,
        None,
        instance=instance,
        run_config={
            "ops": {"trained_model": {"config": constant}, "model_evaluation": {"config": LOW_FLOORS}}
        },
    )
    assert result.success  # a refusal is an outcome, not a crash
    line = _outcome(instance, result)
    # The decision in words: the champion kept, the new version refused and why; no failed check.
    assert (
        line.startswith("Succeeded: ")
        and "gates refused; kept v1; refused v2: the gates refused it: " in line
    )
    assert "beats_champion: " in line and "sanity: " in line and "warnings" not in line
    assert "\n" not in line and "Traceback" not in line


def test_training_on_unchanged_data_is_skipped_and_registers_nothing(
    home: Path, instance: dg.DagsterInstance
) -> None:
    from fti_assets_tests.deployment.registry import registry_at

    # v1's dataset and parameters again: the same model under a new number would be no news.
    result = materialize(
        home,
        TRAIN,
        None,
        None,
        instance=instance,
        run_config={"ops": {"model_evaluation": {"config": LOW_FLOORS}}},
    )
    assert result.success
    assert not result.asset_materializations_for_node("trained_model")
    assert [int(v.version) for v in registry_at(home).versions()] == [2, 1]
    line = _outcome(instance, result)
    assert (
        line.startswith("Succeeded: trained_model skipped: v1 was trained on the same dataset (")
        and "with the same parameters; nothing registered" in line
    )
    [observation] = instance.fetch_observations(dg.AssetKey("trained_model"), limit=1).records
    assert "skipped: v1" in observation.asset_observation.metadata["skipped"].value


def test_a_step_failure_names_the_step_and_what_to_do(home: Path, instance: dg.DagsterInstance) -> None:
    empty = {
        "start": "2013-06-01",
        "end": "2013-06-30",
        "train_end": "2013-06-20",
        "validation_end": "2013-06-25",
    }
    result = materialize(
        home,
        ["training_dataset"],
        None,
        None,
        instance=instance,
        run_config={"ops": {"training_dataset": {"config": empty}}},
    )
    line = _outcome(instance, result)
    assert line.startswith(
        "Failed at training_dataset: no flights with known outcomes between 2013-06-01 and 2013-06-30"
    )
    assert line.endswith("then re-execute from failure.")


def test_rows_written_are_counted_per_asset(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    result = materialize(tmp_path, ["airlines", "airports"], None, None, instance=instance)
    assert result.success
    assert _outcome(instance, result) == "Succeeded: rows written: airports 1,458, airlines 16"
