"""End to end on real data: what happens after a cutoff cannot change predictions made before it."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from fti_assets.assets.training_data import build_training_dataset, label_spine, leaked_rows
from fti_assets.contracts.raw import RAW_SCHEMAS
from fti_assets.contracts.validation import validate_rows
from fti_assets.domain.feature_groups import feature_names
from fti_assets.domain.pipeline import feature_tables
from fti_assets.storage.source import PACKAGED, read_raw_table

START, END = date(2013, 1, 1), date(2013, 1, 14)
CUTOFF = datetime(2013, 1, 8, 12, 0, tzinfo=UTC)


def _typed(table: str) -> pl.DataFrame:
    frame = validate_rows(read_raw_table(PACKAGED, table), RAW_SCHEMAS[table]).valid
    if table in ("flights", "weather"):
        day = pl.date("year", "month", "day")
        frame = frame.filter(day.is_between(START, END)).with_columns(
            day.alias("flight_date" if table == "flights" else "obs_date")
        )
    return frame


@pytest.fixture(scope="module")
def raw() -> dict[str, pl.DataFrame]:
    return {t: _typed(t) for t in ("flights", "weather", "planes", "airports")}


def _dataset(raw: dict[str, pl.DataFrame]) -> pl.DataFrame:
    tables = feature_tables(**raw, start=datetime(2013, 1, 1, tzinfo=UTC), end=datetime(2013, 1, 15, tzinfo=UTC))
    spine = label_spine(tables["flight_outcomes"], tables["flight_schedule"], START.isoformat(), END.isoformat())
    return build_training_dataset(spine, tables, "2013-01-10", "2013-01-12")


def _after_cutoff(raw: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Rewrite every outcome and observation that became known after the cutoff."""
    tables = feature_tables(**raw, start=datetime(2013, 1, 1, tzinfo=UTC), end=datetime(2013, 1, 15, tzinfo=UTC))
    late = tables["flight_outcomes"].filter(pl.col("known_at") > CUTOFF)["flight_id"]
    ids = tables["flight_schedule"].select("flight_id", "carrier", "flight", "origin", "flight_date", "prediction_time")
    flights = raw["flights"].join(ids, on=["carrier", "flight", "origin", "flight_date"], how="left")
    hit = pl.col("flight_id").is_in(late.implode())
    changed_flights = flights.with_columns(
        # Later arrivals stay after the cutoff; every third flight predicted after it is cancelled.
        arr_delay=pl.when(hit).then(pl.col("arr_delay") + 97).otherwise(pl.col("arr_delay")),
        dep_delay=pl.when(hit).then(pl.col("dep_delay") + 55).otherwise(pl.col("dep_delay")),
        dep_time=pl.when(hit & (pl.col("prediction_time") > CUTOFF) & (pl.col("flight") % 3 == 0))
        .then(None)
        .otherwise(pl.col("dep_time")),
    ).drop("flight_id", "prediction_time")
    weather = raw["weather"].with_columns(
        temp=pl.when(pl.col("time_hour") > CUTOFF).then(pl.col("temp") + 25).otherwise(pl.col("temp")),
        pressure=pl.when(pl.col("time_hour") > CUTOFF).then(pl.col("pressure") - 30).otherwise(pl.col("pressure")),
    )
    return {**raw, "flights": changed_flights, "weather": weather}


def test_changing_data_after_a_cutoff_leaves_earlier_predictions_unchanged(raw: dict[str, pl.DataFrame]) -> None:
    original = _dataset(raw)
    changed = _dataset(_after_cutoff(raw))
    before = pl.col("prediction_time") <= CUTOFF
    columns = ["flight_id", *feature_names()]
    assert original.filter(before).height > 3000
    assert_frame_equal(original.filter(before).select(columns), changed.filter(before).select(columns))
    # The change is real: later rows do see it.
    later = original.filter(~before).select(columns).join(changed.filter(~before).select(columns), on="flight_id", suffix="_new")
    assert (later["temp"] != later["temp_new"]).sum() > 1000
    assert (later["carrier_delay_share_1d"] != later["carrier_delay_share_1d_new"]).sum() > 100


def test_real_training_rows_never_hold_future_values(raw: dict[str, pl.DataFrame]) -> None:
    dataset = _dataset(raw)
    assert leaked_rows(dataset).height == 0
    # Values do come from the recent past, not only from defaults.
    assert dataset["carrier_delay_stats_known_at"].null_count() < dataset.height * 0.05
