"""Cross-field rules of the flight tables: values in range that cannot all be true together.

Each column of a row can pass its own range check while the row as a whole is impossible: a
departure delay swapped with the arrival delay, an arrival delay with two hours added, origin
and destination swapped. Every rule below holds on every row of the packaged data (all
336,776 flights of 2013), so a row that breaks one goes to quarantine with the rule's name:

- ``origin`` / ``dest``: ``time_zone_known``: the airport has a time zone in the stored
  airports table (or ``timezones.FALLBACK_TIMEZONES``). A flight whose zone cannot be known
  would get a guessed one, and a wrong known-at time (a point-in-time leak);
- ``dest``: ``differs_from_origin``;
- ``distance``: ``near_great_circle``: within ``routes.DISTANCE_TOLERANCE_MILES`` plus
  ``routes.DISTANCE_TOLERANCE_SHARE`` of the great-circle distance (measured: 8.9 miles at most);
- ``sched_arr_time``: ``plausible_scheduled_duration`` for the distance (``routes.plausible_block``),
  the two clock times read in their airports' zones;
- ``dep_delay``: ``equals_dep_time_minus_sched_dep_time`` and ``arr_delay``:
  ``equals_arr_time_minus_sched_arr_time``, modulo a day (flights only);
- ``air_time``: ``within_actual_block_time``: at most the scheduled duration plus the arrival
  delay minus the departure delay, with ``AIR_TIME_SLACK_MINUTES`` (flights only: seven rows
  of 3 November, the end of daylight saving, exceed it by up to 47 minutes).

Rows whose columns are missing or failed their types are left to the other rules.
"""

from __future__ import annotations

from collections.abc import Callable

import pandera.polars as pa
import polars as pl

from fti_assets.contracts.validation import ROW, ContractError, cast_to_schema, require_columns
from fti_assets.domain.routes import (
    DISTANCE_TOLERANCE_MILES,
    DISTANCE_TOLERANCE_SHARE,
    ROUTE_TABLES,
    airport_coordinates,
    great_circle_expr,
    plausible_block_expr,
)
from fti_assets.domain.timezones import airport_timezones, calendar_date, hhmm_to_local, local_to_utc

AIR_TIME_SLACK_MINUTES = 60
_EMPTY = pl.DataFrame(schema={ROW: pl.UInt32, "column": pl.String, "rule": pl.String})


def _minutes(hhmm: str) -> pl.Expr:
    return (pl.col(hhmm) // 100) * 60 + pl.col(hhmm) % 100


def route_failures(
    frame: pl.DataFrame, schema: pa.DataFrameSchema, zone: str | None, airports: pl.DataFrame
) -> pl.DataFrame:
    """The cross-field failures of a raw flights or schedules ``frame`` (``_row, column, rule``,
    indexed like ``frame``, as ``validate_rows`` takes them), against the stored ``airports``."""
    cast, _ = cast_to_schema(frame, schema, zone)
    zones = airport_timezones(airports)
    coordinates = pl.DataFrame(
        [(faa, lat, lon) for faa, (lat, lon) in airport_coordinates(airports).items()],
        schema={"faa": pl.String, "lat": pl.Float64, "lon": pl.Float64},
        orient="row",
    )
    rows = (
        cast.with_columns(flight_date=calendar_date())  # null, not an error, for a day that does not exist
        .join(zones.rename({"faa": "origin", "tzone": "_otz"}), on="origin", how="left")
        .join(zones.rename({"faa": "dest", "tzone": "_dtz"}), on="dest", how="left")
        .join(coordinates.rename({"faa": "origin", "lat": "_olat", "lon": "_olon"}), on="origin", how="left")
        .join(coordinates.rename({"faa": "dest", "lat": "_dlat", "lon": "_dlon"}), on="dest", how="left")
    )
    names = sorted(set(zones["tzone"].to_list()))
    departure = local_to_utc(hhmm_to_local("flight_date", "sched_dep_time"), pl.col("_otz"), names)
    arrival = local_to_utc(hhmm_to_local("flight_date", "sched_arr_time"), pl.col("_dtz"), names)
    rows = rows.with_columns(_dep=departure, _arr=arrival).with_columns(
        _arr=pl.when(pl.col("_arr") < pl.col("_dep"))
        .then(pl.col("_arr") + pl.duration(days=1))
        .otherwise("_arr")
    )
    scheduled = (pl.col("_arr") - pl.col("_dep")).dt.total_minutes()
    great_circle = great_circle_expr(pl.col("_olat"), pl.col("_olon"), pl.col("_dlat"), pl.col("_dlon"))
    rules: list[tuple[str, str, pl.Expr]] = [
        ("origin", "time_zone_known", pl.col("origin").is_null() | pl.col("_otz").is_not_null()),
        ("dest", "time_zone_known", pl.col("dest").is_null() | pl.col("_dtz").is_not_null()),
        ("dest", "differs_from_origin", pl.col("dest") != pl.col("origin")),
        (
            "distance",
            "near_great_circle",
            (pl.col("distance") - great_circle).abs()
            <= DISTANCE_TOLERANCE_MILES + DISTANCE_TOLERANCE_SHARE * great_circle,
        ),
        (
            "sched_arr_time",
            "plausible_scheduled_duration",
            plausible_block_expr(pl.col("distance"), scheduled),
        ),
    ]
    if "arr_delay" in schema.columns:
        day = 24 * 60
        block = scheduled + pl.col("arr_delay") - pl.col("dep_delay")
        rules += [
            (
                "dep_delay",
                "equals_dep_time_minus_sched_dep_time",
                (_minutes("dep_time") - _minutes("sched_dep_time") - pl.col("dep_delay")) % day == 0,
            ),
            (
                "arr_delay",
                "equals_arr_time_minus_sched_arr_time",
                (_minutes("arr_time") - _minutes("sched_arr_time") - pl.col("arr_delay")) % day == 0,
            ),
            ("air_time", "within_actual_block_time", pl.col("air_time") <= block + AIR_TIME_SLACK_MINUTES),
        ]
    failures = [
        rows.filter(~passed.fill_null(True)).select(ROW, column=pl.lit(column), rule=pl.lit(rule))
        for column, rule, passed in rules
    ]
    return pl.concat([_EMPTY, *failures])


def extra_failures(
    table: str,
    frame: pl.DataFrame,
    schema: pa.DataFrameSchema,
    zone: str | None,
    found: pl.DataFrame,
    read_airports: Callable[[], pl.DataFrame],
) -> pl.DataFrame:
    """``found`` (other scans' failures, such as PII) plus the route rules' failures of a flights or
    schedules ``frame``, checked against the airports ``read_airports`` returns (the stored ones:
    what the features will use). Without a stored airports table the rules cannot be checked:
    that is a ``ContractError``, never a pass."""
    if table not in ROUTE_TABLES:
        return found
    require_columns(frame, schema, table)  # a missing column is refused with its name, before any rule
    try:
        airports = read_airports()
    except FileNotFoundError as exc:
        raise ContractError(
            f"{table} needs the stored airports table to know each flight's time zones ({exc})"
        ) from None
    return pl.concat([found, route_failures(frame, schema, zone, airports)])
