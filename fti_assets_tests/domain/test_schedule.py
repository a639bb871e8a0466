"""Scheduled instants, labels and known-at times on hand-built and real flights."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from fti_assets.domain.schedule import flight_outcomes, flight_schedule
from fti_assets.domain.timezones import airport_timezones

AIRPORTS = pl.DataFrame(
    {
        "faa": ["JFK", "LAX", "HNL", "XXX"],
        "tzone": ["America/New_York", "America/Los_Angeles", "Pacific/Honolulu", None],
    }
)


def _flights(rows: list[dict]) -> pl.DataFrame:
    base = {
        "carrier": "AA",
        "flight": 1,
        "tailnum": "N1",
        "origin": "JFK",
        "dest": "LAX",
        "distance": 2475,
        "dep_time": 900,
        "dep_delay": 0,
        "arr_delay": 0,
    }
    return pl.DataFrame([{**base, "flight": i + 1, **r} for i, r in enumerate(rows)]).with_columns(
        pl.col("flight_date").cast(pl.Date)
    )


def test_times_are_converted_with_each_airports_zone() -> None:
    flights = _flights([{"flight_date": date(2013, 1, 1), "sched_dep_time": 900, "sched_arr_time": 1215}])
    row = flight_schedule(flights, airport_timezones(AIRPORTS)).row(0, named=True)
    assert row["scheduled_departure"] == datetime(2013, 1, 1, 14, 0, tzinfo=UTC)  # 09:00 EST
    assert row["scheduled_arrival"] == datetime(2013, 1, 1, 20, 15, tzinfo=UTC)  # 12:15 PST
    assert row["prediction_time"] == datetime(2013, 1, 1, 12, 0, tzinfo=UTC)


def test_arrival_clock_before_departure_is_next_day_and_dst_is_respected() -> None:
    flights = _flights(
        [
            {"flight_date": date(2013, 7, 1), "sched_dep_time": 2230, "sched_arr_time": 130},  # red-eye, EDT
            {
                "flight_date": date(2013, 3, 10),
                "sched_dep_time": 230,
                "sched_arr_time": 500,
            },  # 02:30 does not exist
        ]
    )
    rows = flight_schedule(flights, airport_timezones(AIRPORTS)).sort("flight").rows(named=True)
    assert rows[0]["scheduled_departure"] == datetime(2013, 7, 2, 2, 30, tzinfo=UTC)
    assert rows[0]["scheduled_arrival"] == datetime(2013, 7, 2, 8, 30, tzinfo=UTC)  # 01:30 PDT next day
    assert rows[1]["scheduled_departure"] == datetime(2013, 3, 10, 7, 30, tzinfo=UTC)  # read as 03:30 EDT


def test_destinations_missing_from_airports_get_their_known_zone() -> None:
    flights = _flights(
        [{"flight_date": date(2013, 1, 1), "sched_dep_time": 800, "sched_arr_time": 1230, "dest": "SJU"}]
    )
    row = flight_schedule(flights, airport_timezones(AIRPORTS)).row(0, named=True)
    assert row["scheduled_arrival"] == datetime(2013, 1, 1, 16, 30, tzinfo=UTC)  # Puerto Rico is UTC-4


def test_outcome_is_known_at_actual_arrival_and_unlabelled_flights_are_kept_without_label() -> None:
    flights = _flights(
        [
            {"flight_date": date(2013, 1, 1), "sched_dep_time": 900, "sched_arr_time": 1215, "arr_delay": 16},
            {
                "flight_date": date(2013, 1, 1),
                "sched_dep_time": 900,
                "sched_arr_time": 1215,
                "dep_time": None,
                "dep_delay": None,
                "arr_delay": None,
            },
            {
                "flight_date": date(2013, 1, 1),
                "sched_dep_time": 900,
                "sched_arr_time": 1215,
                "arr_delay": None,
            },
        ]
    )
    schedule = flight_schedule(flights, airport_timezones(AIRPORTS))
    rows = flight_outcomes(flights, schedule).sort("flight_id").rows(named=True)
    assert [r["status"] for r in rows] == ["arrived", "cancelled", "diverted"]
    assert rows[0]["known_at"] == datetime(2013, 1, 1, 20, 31, tzinfo=UTC)
    assert rows[0]["is_delayed"] is True
    assert rows[1]["known_at"] is None and rows[1]["is_delayed"] is None
    assert rows[2]["known_at"] is None and rows[2]["is_delayed"] is None


def test_every_real_flight_gets_instants_and_outcomes_arrive_after_departure() -> None:
    from fti_assets.contracts.raw_schemas import RAW_SCHEMAS
    from fti_assets.contracts.validation import validate_rows
    from fti_assets.resources.source import PACKAGED, read_raw_table

    flights = validate_rows(read_raw_table(PACKAGED, "flights"), RAW_SCHEMAS["flights"]).valid
    flights = flights.with_columns(flight_date=pl.date("year", "month", "day"))
    airports = validate_rows(read_raw_table(PACKAGED, "airports"), RAW_SCHEMAS["airports"]).valid
    schedule = flight_schedule(flights, airport_timezones(airports))
    assert schedule.height == flights.height == schedule["flight_id"].n_unique()
    assert (
        schedule.select(pl.col("scheduled_departure", "scheduled_arrival").null_count())
        .sum_horizontal()
        .item()
        == 0
    )
    outcomes = flight_outcomes(flights, schedule).join(schedule, on="flight_id")
    arrived = outcomes.filter(pl.col("status") == "arrived")
    assert arrived.height == 327_346
    # Durations are physical: every scheduled flight lasts between 15 minutes and 12 hours.
    minutes = (schedule["scheduled_arrival"] - schedule["scheduled_departure"]).dt.total_minutes()
    assert minutes.min() >= 15 and minutes.max() <= 12 * 60


def test_request_features_read_the_local_clock_at_the_origin() -> None:
    from fti_assets.domain.transforms import request_features

    flights = pl.DataFrame(
        {
            "carrier": ["UA", "B6"],
            "origin": ["EWR", "JFK"],
            "dest": ["IAH", "LAX"],
            "distance": [1400, 2475],
            "scheduled_departure": [
                datetime(2013, 1, 11, 10, 15, tzinfo=UTC),
                datetime(2013, 7, 1, 3, 59, tzinfo=UTC),
            ],
            "scheduled_arrival": [
                datetime(2013, 1, 11, 14, 19, tzinfo=UTC),
                datetime(2013, 7, 1, 10, 0, tzinfo=UTC),
            ],
            "origin_tz": ["America/New_York", "America/New_York"],
        }
    )
    rows = request_features(flights).rows(named=True)
    assert [r["dep_hour"] for r in rows] == [5, 23]  # 05:15 EST; 23:59 EDT the day before
    assert [r["dep_minute_of_day"] for r in rows] == [315, 23 * 60 + 59]
    assert [r["weekday"] for r in rows] == [5, 7]  # Friday; Sunday 30 June locally
    assert [r["month"] for r in rows] == [1, 6]
    assert [r["scheduled_duration_min"] for r in rows] == [244.0, 361.0]
    assert rows[0]["departure_hour"] == datetime(2013, 1, 11, 10, 0, tzinfo=UTC)
