"""Known-at stamps true to how the data is made, and the guards of daily operation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from fti_assets.contracts.known_at import outcome_mismatches, schedule_mismatches, weather_mismatches
from fti_assets.contracts.raw_schemas import RAW_SCHEMAS
from fti_assets.contracts.validation import validate_rows
from fti_assets.domain import schedule, transforms
from fti_assets.domain.catalog import group
from fti_assets.domain.retrieval import asof_join, point_in_time_join
from fti_assets.domain.timezones import airport_timezones
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.source import PACKAGED, read_raw_table

DAY = date(2013, 1, 8)


def _typed(table: str) -> pl.DataFrame:
    frame = validate_rows(read_raw_table(PACKAGED, table), RAW_SCHEMAS[table]).valid
    if table in ("flights", "weather"):
        day = pl.date("year", "month", "day")
        frame = frame.filter(day.is_between(DAY - timedelta(days=1), DAY)).with_columns(
            day.alias("flight_date" if table == "flights" else "obs_date")
        )
    return frame


@pytest.fixture(scope="module")
def raw() -> dict[str, pl.DataFrame]:
    return {t: _typed(t) for t in ("flights", "weather", "airports")}


def test_an_hourly_weather_row_is_known_at_minute_51_of_its_hour(raw: dict[str, pl.DataFrame]) -> None:
    table = transforms.origin_weather(raw["weather"])
    hour = datetime(2013, 1, 8, 15, tzinfo=UTC)  # the row labelled 15:00 holds the 14:51 report
    spine = pl.DataFrame(
        {"origin": ["JFK"] * 3, "as_of": [hour, hour + timedelta(minutes=50), hour + timedelta(minutes=51)]},
        schema_overrides={"as_of": pl.Datetime("us", "UTC")},
    )
    joined = asof_join(spine, table, group("origin_weather"))
    labelled = joined.join(
        table.select("origin", "known_at", "time_hour"),
        left_on=["origin", "origin_weather_known_at"],
        right_on=["origin", "known_at"],
        how="left",
    )["time_hour"].to_list()
    assert labelled == [hour - timedelta(hours=1), hour - timedelta(hours=1), hour]


def test_a_schedule_is_known_from_local_midnight_lead_days_before_its_day(
    raw: dict[str, pl.DataFrame],
) -> None:
    zones = airport_timezones(raw["airports"])
    for lead in (1, 2):
        frame = schedule.flight_schedule(raw["flights"], zones, lead)
        published = frame.filter(pl.col("flight_date") == DAY)["published_at"].unique().to_list()
        assert published == [datetime(2013, 1, 8 - lead, 5, tzinfo=UTC)]  # local midnight in New York (EST)
    with pytest.raises(ValueError, match="publication lead"):
        schedule.flight_schedule(raw["flights"], zones, 30)


def test_late_evening_flights_find_their_congestion(raw: dict[str, pl.DataFrame]) -> None:
    frame = schedule.flight_schedule(raw["flights"], airport_timezones(raw["airports"]))
    congestion = transforms.origin_congestion(frame)
    late = frame.filter(
        pl.col("flight_date") == DAY, pl.col("scheduled_departure").dt.hour().is_between(2, 5)
    )  # 21:00 to 00:59 EST
    assert late.height > 20
    joined = point_in_time_join(
        late.with_columns(as_of=pl.col("prediction_time")),
        {"origin_congestion": congestion},
        (group("origin_congestion"),),
    )
    assert joined["origin_congestion_known_at"].null_count() == 0
    assert (joined["origin_departures_in_hour"] > 0).all()


def test_the_known_at_checks_catch_stamps_that_disagree_with_the_raw_times(
    raw: dict[str, pl.DataFrame],
) -> None:
    zones = airport_timezones(raw["airports"])
    weather = transforms.origin_weather(raw["weather"])
    assert weather_mismatches(raw["weather"], weather).height == 0
    at_the_label = weather.with_columns(known_at=pl.col("time_hour"))  # the stamp before: the hour's label
    assert weather_mismatches(raw["weather"], at_the_label).height == weather.height

    published = schedule.flight_schedule(raw["flights"], zones)
    assert schedule_mismatches(raw["flights"], zones, published, 1).height == 0
    utc_midnight = published.with_columns(
        published_at=(pl.col("flight_date") - pl.duration(days=1)).cast(pl.Datetime("us", "UTC"))
    )
    assert schedule_mismatches(raw["flights"], zones, utc_midnight, 1).height == published.height

    outcomes = schedule.flight_outcomes(raw["flights"], published)
    assert outcome_mismatches(raw["flights"], zones, outcomes).height == 0
    in_origin_zone = outcomes.with_columns(
        known_at=pl.when(pl.col("dest") == "LAX")
        .then(pl.col("known_at") - pl.duration(hours=3))
        .otherwise(pl.col("known_at"))
    )
    wrong = outcome_mismatches(raw["flights"], zones, in_origin_zone)
    assert wrong.height == outcomes.filter(pl.col("dest") == "LAX", pl.col("status") == "arrived").height > 0


def test_the_training_dataset_counts_congestion_for_every_published_flight(feature_home: Path) -> None:
    dataset = OfflineStore(home=str(feature_home)).read("training_dataset")
    late = dataset.filter(pl.col("dep_hour") >= 21)
    assert late.height > 100
    assert dataset["origin_congestion_known_at"].null_count() == 0


def test_the_same_instant_written_in_two_offsets_is_one_flight(feature_home: Path, tmp_path: Path) -> None:
    from fti_assets.serving.predictor import spine
    from fti_assets.serving.schemas import FlightRequest
    from fti_assets.serving.sqlite_store import OnlineStoreReader, SqliteWriter

    store = OfflineStore(home=str(feature_home))
    SqliteWriter(tmp_path / "online.sqlite").put_reference(airport_timezones(store.read("airports")), {})
    flight = {
        "carrier": "UA",
        "flight": 1545,
        "tailnum": "N14228",
        "origin": "EWR",
        "dest": "IAH",
        "distance": 1400,
    }
    local = FlightRequest(
        **flight,
        scheduled_departure="2013-01-05T20:00:00-05:00",
        scheduled_arrival="2013-01-05T23:10:00-06:00",
    )
    utc = FlightRequest(
        **flight, scheduled_departure="2013-01-06T01:00:00Z", scheduled_arrival="2013-01-06T05:10:00Z"
    )
    rows = spine([f.model_dump() for f in (local, utc)], OnlineStoreReader(tmp_path / "online.sqlite"))
    assert (
        rows["flight_id"].to_list() == ["2013-01-05-UA1545-EWR"] * 2
    )  # the origin's local date, not the client's
    assert rows["prediction_time"][0] == rows["prediction_time"][1] == datetime(2013, 1, 5, 23, tzinfo=UTC)
