"""The feature pipelines composed as plain functions, for scripts, tests and benchmarks.

The Dagster assets call the same transforms one by one; this is the same graph without the
orchestrator, used to check point-in-time behaviour end to end and to measure overhead.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from fti_assets.domain import schedule, transforms
from fti_assets.domain.timezones import airport_timezones


def feature_tables(
    flights: pl.DataFrame,
    weather: pl.DataFrame,
    planes: pl.DataFrame,
    airports: pl.DataFrame,
    start: datetime,
    end: datetime,
    reference_year: int = 2013,
) -> dict[str, pl.DataFrame]:
    """Schedule, outcomes and every feature group from typed raw tables.

    ``flights`` carries ``flight_date`` and ``weather`` carries ``obs_date``, as the raw
    assets store them; delay statistics are emitted for hours in ``[start, end)``.
    """
    flight_schedule = schedule.flight_schedule(flights, airport_timezones(airports))
    outcomes = schedule.flight_outcomes(flights, flight_schedule)
    return {
        "flight_schedule": flight_schedule,
        "flight_outcomes": outcomes,
        "origin_weather": transforms.origin_weather(weather),
        "carrier_delay_stats": transforms.delay_stats(outcomes, ["carrier"], "carrier", start, end),
        "route_delay_stats": transforms.delay_stats(outcomes, ["origin", "dest"], "route", start, end),
        "plane_last_arrival": transforms.plane_last_arrival(outcomes),
        "plane_attributes": transforms.plane_attributes(planes, reference_year),
        "origin_congestion": transforms.origin_congestion(flight_schedule),
    }
