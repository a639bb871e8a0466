"""The training dataset, materialized through Dagster on two weeks of real data."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
from polars.testing import assert_frame_equal

from fti_assets.domain.catalog import FEATURE_GROUPS, feature_names
from fti_assets.resources.offline_store import OfflineStore
from fti_assets_tests.conftest import TRAINING_CONFIG, materialize


def _dataset(home: Path) -> pl.DataFrame:
    return OfflineStore(home=str(home)).read("training_dataset")


def _hash(result: dg.ExecuteInProcessResult) -> str:
    [event] = result.get_asset_materialization_events()
    return event.materialization.metadata["content_hash"].value


def test_columns_labels_and_time_split(feature_home: Path) -> None:
    dataset = _dataset(feature_home)
    assert dataset.columns[:3] == ["flight_id", "flight_date", "prediction_time"]
    assert {"is_delayed", "split", *feature_names()} <= set(dataset.columns)
    outcomes = OfflineStore(home=str(feature_home)).read("flight_outcomes")
    assert dataset.height == outcomes.filter(pl.col("status") == "arrived").height  # no unlabelled flight
    assert dataset["is_delayed"].null_count() == 0
    bounds = dataset.group_by("split").agg(
        pl.col("prediction_time").min().alias("lo"), pl.col("prediction_time").max().alias("hi")
    )
    spans = {s: (lo, hi) for s, lo, hi in bounds.iter_rows()}
    assert spans["train"][1] < spans["validation"][0] and spans["validation"][1] < spans["test"][0]


def test_every_joined_value_was_known_at_prediction_time(feature_home: Path) -> None:
    dataset = _dataset(feature_home)
    for group in FEATURE_GROUPS:
        known = dataset[group.known_at_column]
        assert (known.drop_nulls() <= dataset.filter(known.is_not_null())["prediction_time"]).all(), (
            group.name
        )


def test_same_inputs_same_hash_other_split_other_hash(feature_home: Path) -> None:
    first = materialize(feature_home, ["training_dataset"], None, None, run_config=TRAINING_CONFIG)
    again = materialize(feature_home, ["training_dataset"], None, None, run_config=TRAINING_CONFIG)
    assert first.success and again.success
    assert _hash(first) == _hash(again) and len(_hash(first)) == 64
    moved = {
        "ops": {
            "training_dataset": {
                "config": {**TRAINING_CONFIG["ops"]["training_dataset"]["config"], "train_end": "2013-01-09"}
            }
        }
    }
    assert _hash(materialize(feature_home, ["training_dataset"], None, None, run_config=moved)) != _hash(
        first
    )


def test_a_folder_source_gives_the_same_tables_as_the_package(
    feature_home: Path, source_slice: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    tables = ["flights", "schedules", "weather", "airports", "flight_schedule", "origin_weather"]
    assert materialize(home, tables, source=source_slice).success
    for table in ("flights", "flight_schedule", "origin_weather"):
        ours = OfflineStore(home=str(home)).read(table)
        theirs = OfflineStore(home=str(feature_home)).read(table)
        assert_frame_equal(ours, theirs), table


def _failure(result: dg.ExecuteInProcessResult) -> str:
    return " ".join(
        e.event_specific_data.error.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    )


def test_training_pipeline_with_no_config_trains_on_the_materialized_days(
    feature_home: Path, tmp_path: Path
) -> None:
    """A short window (two weeks) and the job's defaults, as launched from the UI or GraphQL."""
    import shutil

    from fti_assets.definitions import build_definitions
    from fti_assets_tests.conftest import settings_for

    home = Path(shutil.copytree(feature_home, tmp_path / "home"))
    defs = build_definitions(settings_for(home))
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("training_pipeline").execute_in_process(
        instance=instance, raise_on_error=False
    )
    assert result.success, _failure(result)
    meta = instance.get_latest_materialization_event(
        dg.AssetKey("training_dataset")
    ).asset_materialization.metadata
    assert meta["window"].value == {
        "start": "2013-01-01",
        "end": "2013-01-14",
        "train_end": "2013-01-11",
        "validation_end": "2013-01-13",
        # Nothing restated since the first load; features as known at each prediction time.
        "known_by": "first load",
        "features": "as known at each prediction time",
    }
    assert "70%" in meta["split_rule"].value
    assert set(_dataset(home)["split"].unique()) == {"train", "validation", "test"}
    assert result.output_for_node("trained_model")["version"] == 1
    assert result.output_for_node("champion_model")["outcome"] in (
        "promoted",
        "refused",
    )  # either way, a green run


def test_an_empty_split_is_refused_with_the_dates_to_use(feature_home: Path, tmp_path: Path) -> None:
    import shutil

    home = Path(shutil.copytree(feature_home, tmp_path / "home"))
    before = _dataset(home)
    late = {
        "ops": {"training_dataset": {"config": {"train_end": "2013-01-13", "validation_end": "2013-01-20"}}}
    }
    result = materialize(home, ["training_dataset"], None, None, run_config=late)
    assert not result.success
    message = _failure(result)
    assert (
        "the test split is empty" in message
        and "use train_end=2013-01-11, validation_end=2013-01-13" in message
    )
    assert_frame_equal(_dataset(home), before)  # nothing stored
