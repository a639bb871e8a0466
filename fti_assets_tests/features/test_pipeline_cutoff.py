"""End to end through Dagster on real data: what happens after a cutoff cannot change
predictions made before it.

Two homes materialize the same two weeks through the real partitioned feature assets: one
from the real source, one from a source rewritten wherever a value became known after the
cutoff (later outcomes, cancellations, weather reports, schedules published later). Every
training row predicted before the cutoff must be identical in both.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from fti_assets.contracts.raw_schemas import RAW_SCHEMAS
from fti_assets.contracts.validation import validate_rows
from fti_assets.domain.catalog import feature_names
from fti_assets.domain.schedule import flight_outcomes, flight_schedule
from fti_assets.domain.timezones import airport_timezones
from fti_assets.domain.transforms import WEATHER_KNOWN_AFTER
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.source import PACKAGED, RAW_TABLES, read_raw_table
from fti_assets_tests.conftest import FEATURES, RAW, TRAINING_CONFIG, materialize

START, END = date(2013, 1, 1), date(2013, 1, 14)
CUTOFF = datetime(2013, 1, 8, 12, 37, tzinfo=UTC)  # not on the hour: weather is known at minute 51
KEYS = ["year", "month", "day", "carrier", "flight", "origin"]


def _typed(table: str) -> pl.DataFrame:
    frame = validate_rows(read_raw_table(PACKAGED, table), RAW_SCHEMAS[table]).valid
    if table in ("flights", "weather"):
        frame = frame.filter(pl.date("year", "month", "day").is_between(START, END))
    return frame


def _stamps(flights: pl.DataFrame, airports: pl.DataFrame) -> pl.DataFrame:
    """Each raw flight's keys with its prediction time, publication and outcome known-at."""
    dated = flights.with_columns(flight_date=pl.date("year", "month", "day"))
    planned = flight_schedule(dated, airport_timezones(airports))
    outcomes = flight_outcomes(dated, planned).select("flight_id", "known_at")
    ids = planned.join(outcomes, on="flight_id").select(
        "carrier", "flight", "origin", "flight_date", "prediction_time", "published_at", "known_at"
    )
    return dated.join(ids, on=["carrier", "flight", "origin", "flight_date"]).select(
        *KEYS, "prediction_time", "published_at", "known_at"
    )


def _later(clock: str, minutes: int) -> pl.Expr:
    """An HHMM clock column ``minutes`` later, modulo a day (2400 reads as midnight)."""
    total = (pl.col(clock) // 100 * 60 + pl.col(clock) % 100 + minutes) % 1440
    return total // 60 * 100 + total % 60


def _after_cutoff(raw: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Rewrite everything that became known after the cutoff, and nothing known before it."""
    stamps = _stamps(raw["flights"], raw["airports"])
    flights = raw["flights"].join(stamps, on=KEYS, how="left")
    late = pl.col("known_at") > CUTOFF
    changed = (
        flights.with_columns(
            # Later arrivals stay after the cutoff; every third flight predicted after it is cancelled.
            # The clocks move with the delays: the raw contract checks that they agree.
            arr_delay=pl.when(late).then(pl.col("arr_delay") + 97).otherwise(pl.col("arr_delay")),
            arr_time=pl.when(late).then(_later("arr_time", 97)).otherwise(pl.col("arr_time")),
            dep_delay=pl.when(late).then(pl.col("dep_delay") + 55).otherwise(pl.col("dep_delay")),
            dep_time=pl.when(late & (pl.col("prediction_time") > CUTOFF) & (pl.col("flight") % 3 == 0))
            .then(None)
            .when(late)
            .then(_later("dep_time", 55))
            .otherwise(pl.col("dep_time")),
        )
        .filter(  # schedules published after the cutoff lose a fifth of their flights
            ~((pl.col("published_at") > CUTOFF) & (pl.col("flight") % 5 == 0))
        )
        .drop("prediction_time", "published_at", "known_at")
    )
    reported_late = pl.col("time_hour") + WEATHER_KNOWN_AFTER > CUTOFF
    weather = raw["weather"].with_columns(
        temp=pl.when(reported_late).then(pl.col("temp") + 25).otherwise(pl.col("temp")),
        pressure=pl.when(reported_late).then(pl.col("pressure") - 30).otherwise(pl.col("pressure")),
    )
    return {**raw, "flights": changed, "weather": weather}


def _home(root: Path, tables: dict[str, pl.DataFrame], ranges: list[tuple[date, date]]) -> pl.DataFrame:
    source = root / "source"
    source.mkdir(parents=True)
    for name, frame in tables.items():
        frame.write_parquet(source / f"{name}.parquet")
    home = root / "home"
    for first, last in ranges:  # partitioned runs, as the daily pipeline makes them
        result = materialize(home, [*RAW, *FEATURES], first, last, source=source)
        assert result.success, f"features {first}..{last} failed"
    assert materialize(
        home, ["training_dataset"], None, None, source=source, run_config=TRAINING_CONFIG
    ).success
    return OfflineStore(home=str(home)).read("training_dataset")


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, pl.DataFrame]:
    raw = {t: _typed(t) for t in RAW_TABLES}
    original = _home(tmp_path_factory.mktemp("original"), raw, [(START, END)])
    changed = _home(
        tmp_path_factory.mktemp("changed"),
        _after_cutoff(raw),
        [(START, date(2013, 1, 7)), (date(2013, 1, 8), END)],
    )
    return original, changed


def test_changing_data_after_a_cutoff_leaves_earlier_predictions_unchanged(
    datasets: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    original, changed = datasets
    before = pl.col("prediction_time") <= CUTOFF
    columns = ["flight_id", *feature_names()]
    assert original.filter(before).height > 3000
    assert_frame_equal(original.filter(before).select(columns), changed.filter(before).select(columns))


def test_the_change_after_the_cutoff_is_real(datasets: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    original, changed = datasets
    after = pl.col("prediction_time") > CUTOFF
    columns = ["flight_id", *feature_names()]
    later = (
        original.filter(after)
        .select(columns)
        .join(changed.filter(after).select(columns), on="flight_id", suffix="_new")
    )
    assert (later["temp"] != later["temp_new"]).sum() > 1000
    assert (later["carrier_delay_share_1d"] != later["carrier_delay_share_1d_new"]).sum() > 100
    assert (later["origin_departures_in_hour"] != later["origin_departures_in_hour_new"]).sum() > 100
    assert (
        changed.filter(after).height < original.filter(after).height
    )  # cancelled and unpublished flights are gone
