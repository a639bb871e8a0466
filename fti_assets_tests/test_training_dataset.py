"""The training dataset, materialized through Dagster on two weeks of real data."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
from polars.testing import assert_frame_equal

from fti_assets.domain.feature_groups import FEATURE_GROUPS, feature_names
from fti_assets.storage.offline_store import OfflineStore
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
    bounds = dataset.group_by("split").agg(pl.col("prediction_time").min().alias("lo"), pl.col("prediction_time").max().alias("hi"))
    spans = {s: (lo, hi) for s, lo, hi in bounds.iter_rows()}
    assert spans["train"][1] < spans["validation"][0] and spans["validation"][1] < spans["test"][0]


def test_every_joined_value_was_known_at_prediction_time(feature_home: Path) -> None:
    dataset = _dataset(feature_home)
    for group in FEATURE_GROUPS:
        known = dataset[group.known_at_column]
        assert (known.drop_nulls() <= dataset.filter(known.is_not_null())["prediction_time"]).all(), group.name


def test_same_inputs_same_hash_other_split_other_hash(feature_home: Path) -> None:
    first = materialize(feature_home, ["training_dataset"], None, None, run_config=TRAINING_CONFIG)
    again = materialize(feature_home, ["training_dataset"], None, None, run_config=TRAINING_CONFIG)
    assert first.success and again.success
    assert _hash(first) == _hash(again) and len(_hash(first)) == 64
    moved = {"ops": {"training_dataset": {"config": {**TRAINING_CONFIG["ops"]["training_dataset"]["config"], "train_end": "2013-01-09"}}}}
    assert _hash(materialize(feature_home, ["training_dataset"], None, None, run_config=moved)) != _hash(first)


def test_a_folder_source_gives_the_same_tables_as_the_package(feature_home: Path, source_slice: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    tables = ["flights", "schedules", "weather", "airports", "flight_schedule", "origin_weather"]
    assert materialize(home, tables, source=source_slice).success
    for table in ("flights", "flight_schedule", "origin_weather"):
        ours = OfflineStore(home=str(home)).read(table)
        theirs = OfflineStore(home=str(feature_home)).read(table)
        assert_frame_equal(ours, theirs), table
