"""Enlarge the nycflights13 year by a factor, keeping its schema and structure.

Each replica is a parallel airline network: every flight is copied with its own flight
number and plane (tail numbers get a suffix, planes are copied with their attributes), its
scheduled times jittered by a few minutes, and its delays drawn from the same day and
origin's real delays. More tails and more flights per day, same distributions; weather,
airports and carriers stay as they are. For benchmarks only.

``replicate`` copies the whole year at once; ``month_copies`` gives the same copies of one
month's flights and of the days before it that the month's features reach, so a large factor
can be generated a month at a time (``bench.prepare``).
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from fti_assets.contracts.raw_schemas import RAW_SCHEMAS
from fti_assets.contracts.validation import validate_rows
from fti_assets.domain.transforms import STATS_WINDOW_DAYS
from fti_assets.resources.source import PACKAGED, read_raw_table

#: How long after the start of its date (UTC) a flight's outcome may become known; the
#: year's latest is about two days (an evening departure landing the next day, then a long
#: delay). ``bench.prepare`` checks every generated flight against it.
REACH = timedelta(days=3, hours=23)
#: Days before a month whose flights its features can reach. A flight dated before them is
#: known at least (LOOKBACK_DAYS + 1) days - REACH = STATS_WINDOW_DAYS days and an hour before the
#: month starts: before the trailing window of the month's first delay-stats snapshot and of
#: the hour before it, which decides whether that snapshot is emitted.
LOOKBACK_DAYS = STATS_WINDOW_DAYS + 3
_SHUFFLED = ("dep_time", "dep_delay", "arr_delay", "air_time")


def typed_raw() -> dict[str, pl.DataFrame]:
    """The real tables, typed by their contracts, with the partition-day columns."""
    out = {
        t: validate_rows(read_raw_table(PACKAGED, t), RAW_SCHEMAS[t]).valid
        for t in ("flights", "weather", "planes", "airports")
    }
    out["flights"] = out["flights"].with_columns(flight_date=pl.date("year", "month", "day"))
    out["weather"] = out["weather"].with_columns(obs_date=pl.date("year", "month", "day"))
    return out


def _jitter(hhmm: pl.Expr, minutes: pl.Expr) -> pl.Expr:
    total = ((hhmm // 100) * 60 + hhmm % 100 + minutes).clip(0, 23 * 60 + 59)
    return (total // 60) * 100 + total % 60


def _numbered(flights: pl.DataFrame) -> pl.DataFrame:
    """The year's flights with ``row``, each one's position in the table: its jitter follows it."""
    return flights.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))


def _copy(flights: pl.DataFrame, r: int, seed: int) -> pl.DataFrame:
    """Replica ``r`` of numbered flights (0: the real ones). The shuffle permutes each day and
    origin's rows by the seed alone, so whole days give the same values whatever else is in the frame."""
    if r == 0:
        return flights
    jitter = (pl.col("row") * 7 + r * 13) % 21 - 10
    return flights.with_columns(
        *[pl.col(c).shuffle(seed=seed + r).over("flight_date", "origin") for c in _SHUFFLED],
        flight=pl.col("flight") + 10_000 * r,
        tailnum=pl.col("tailnum") + f"R{r}",
        sched_dep_time=_jitter(pl.col("sched_dep_time"), jitter),
        sched_arr_time=_jitter(pl.col("sched_arr_time"), jitter),
    )


def copy_planes(planes: pl.DataFrame, factor: int) -> pl.DataFrame:
    """``factor`` copies of the planes, tail numbers suffixed as the flights' are."""
    return pl.concat(
        [planes, *(planes.with_columns(tailnum=pl.col("tailnum") + f"R{r}") for r in range(1, factor))]
    )


def replicate(raw: dict[str, pl.DataFrame], factor: int, seed: int = 0) -> dict[str, pl.DataFrame]:
    """``factor`` copies of the year's flights and planes (the first copy is the real data)."""
    if factor == 1:
        return raw
    flights = _numbered(raw["flights"])
    copies = pl.concat([_copy(flights, r, seed) for r in range(factor)]).drop("row")
    return {**raw, "flights": copies, "planes": copy_planes(raw["planes"], factor)}


def month_copies(flights: pl.DataFrame, factor: int, first: date, last: date, seed: int = 0) -> pl.DataFrame:
    """The rows ``replicate`` gives for the flights of ``first..last`` and the ``LOOKBACK_DAYS``
    before (``flights``: the whole year's real ones)."""
    days = pl.col("flight_date").is_between(first - timedelta(days=LOOKBACK_DAYS), last)
    flights = _numbered(flights).filter(days)
    return pl.concat([_copy(flights, r, seed) for r in range(factor)]).drop("row")
