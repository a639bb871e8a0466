"""Contracts of the feature tables: keys and ``known_at`` present, values in range."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera import Check

UTC_TIME = pl.Datetime("us", "UTC")


def _key(dtype: type[pl.DataType] | pl.DataType = pl.String) -> pa.Column:
    return pa.Column(dtype, nullable=False)


def _value(
    dtype: type[pl.DataType] | pl.DataType,
    lo: float | None = None,
    hi: float | None = None,
    nullable: bool = True,
) -> pa.Column:
    checks = [Check.in_range(lo if lo is not None else -1e12, hi if hi is not None else 1e12)]
    return pa.Column(dtype, checks, nullable=nullable)


def _stats(prefix: str) -> dict[str, pa.Column]:
    return {
        f"{prefix}_flights_1d": _value(pl.Int64, 0, nullable=False),
        f"{prefix}_delay_share_1d": _value(pl.Float64, 0, 1),
        f"{prefix}_flights_7d": _value(pl.Int64, 0, nullable=False),
        f"{prefix}_delay_share_7d": _value(pl.Float64, 0, 1),
        f"{prefix}_mean_arr_delay_7d": _value(pl.Float64, -24 * 60, 48 * 60),
        "known_at": _key(UTC_TIME),
        "snapshot_date": _key(pl.Date),
    }


FLIGHT_SCHEDULE = pa.DataFrameSchema(
    {
        "flight_id": pa.Column(pl.String, unique=True),
        "flight_date": _key(pl.Date),
        "carrier": _key(),
        "flight": _key(pl.Int64),
        "tailnum": pa.Column(pl.String, nullable=True),
        "origin": _key(),
        "dest": _key(),
        "distance": _value(pl.Int64, 1, nullable=False),
        "origin_tz": _key(),
        "scheduled_departure": _key(UTC_TIME),
        "scheduled_arrival": _key(UTC_TIME),
        "prediction_time": _key(UTC_TIME),
        "published_at": _key(UTC_TIME),
    },
    checks=[
        Check(
            lambda d: d.lazyframe.select(pl.col("scheduled_arrival") > pl.col("scheduled_departure")),
            name="arrives_after_departure",
        ),
        Check(
            lambda d: d.lazyframe.select(pl.col("published_at") < pl.col("scheduled_departure")),
            name="published_before_departure",
        ),
    ],
    name="flight_schedule",
)

FLIGHT_OUTCOMES = pa.DataFrameSchema(
    {
        "flight_id": pa.Column(pl.String, unique=True),
        "flight_date": _key(pl.Date),
        "status": pa.Column(pl.String, Check.isin(["arrived", "cancelled", "diverted"])),
        "known_at": pa.Column(UTC_TIME, nullable=True),
        "is_delayed": pa.Column(pl.Boolean, nullable=True),
    },
    checks=[
        Check(
            lambda d: d.lazyframe.select((pl.col("status") == "arrived") == pl.col("known_at").is_not_null()),
            name="label_known_iff_arrived",
        )
    ],
    name="flight_outcomes",
)

ORIGIN_WEATHER = pa.DataFrameSchema(
    {
        "origin": _key(),
        "known_at": _key(UTC_TIME),
        "obs_date": _key(pl.Date),
        "time_hour": _key(UTC_TIME),
        "temp": _value(pl.Float64, -80, 140),
        "humid": _value(pl.Float64, 0, 100),
        "wind_speed": _value(pl.Float64, 0, 150),
        "pressure": _value(pl.Float64, 850, 1100),
    },
    unique=["origin", "known_at"],
    name="origin_weather",
)

CARRIER_DELAY_STATS = pa.DataFrameSchema(
    {"carrier": _key(), **_stats("carrier")}, unique=["carrier", "known_at"], name="carrier_delay_stats"
)
ROUTE_DELAY_STATS = pa.DataFrameSchema(
    {"origin": _key(), "dest": _key(), **_stats("route")},
    unique=["origin", "dest", "known_at"],
    name="route_delay_stats",
)

PLANE_LAST_ARRIVAL = pa.DataFrameSchema(
    {
        "tailnum": _key(),
        "known_at": _key(UTC_TIME),
        "flight_date": _key(pl.Date),
        "plane_prev_arr_delay": _value(pl.Float64, -24 * 60, 48 * 60, nullable=False),
        "plane_prev_delayed": _value(pl.Float64, 0, 1, nullable=False),
    },
    name="plane_last_arrival",
)

PLANE_ATTRIBUTES = pa.DataFrameSchema(
    {
        "tailnum": pa.Column(pl.String, unique=True),
        "known_at": _key(UTC_TIME),
        "plane_age": _value(pl.Float64, 0, 120),
        "plane_seats": _value(pl.Float64, 1, 1000),
        "plane_engines": _value(pl.Float64, 0, 8),
        "plane_known": _value(pl.Int32, 1, 1, nullable=False),
    },
    name="plane_attributes",
)

ORIGIN_CONGESTION = pa.DataFrameSchema(
    {
        "origin": _key(),
        "departure_hour": _key(UTC_TIME),
        "known_at": _key(UTC_TIME),
        "flight_date": _key(pl.Date),
        "origin_departures_in_hour": _value(pl.Int64, 1, 10_000, nullable=False),
    },
    unique=["origin", "departure_hour"],
    name="origin_congestion",
)

FEATURE_SCHEMAS: dict[str, pa.DataFrameSchema] = {
    s.name: s
    for s in (
        FLIGHT_SCHEDULE,
        FLIGHT_OUTCOMES,
        ORIGIN_WEATHER,
        CARRIER_DELAY_STATS,
        ROUTE_DELAY_STATS,
        PLANE_LAST_ARRIVAL,
        PLANE_ATTRIBUTES,
        ORIGIN_CONGESTION,
    )
}
