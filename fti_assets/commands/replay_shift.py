"""A deliberate shift in the source, to watch the loop react (replays and tests only)."""

from __future__ import annotations

from datetime import date

import polars as pl


def inverted_rush_hours(flights: pl.DataFrame, from_day: date, minutes: int = 60) -> pl.DataFrame:
    """From ``from_day`` on, morning departures run late and evening ones early.

    The champion learnt the opposite (evening flights collect delays), so its AUC falls, and
    only a model trained on the new days can recover: a clean trigger for retraining.
    """
    day = pl.date(pl.col("year").cast(pl.Int32), pl.col("month").cast(pl.Int32), pl.col("day").cast(pl.Int32))
    hour = pl.col("sched_dep_time").cast(pl.Int32) // 100
    change = pl.when(hour < 12).then(minutes).when(hour >= 16).then(-minutes // 2).otherwise(0)
    shifted = day >= from_day

    def moved(column: str) -> pl.Expr:
        return (
            pl.when(shifted & pl.col(column).is_not_null())
            .then(pl.col(column).cast(pl.Int64) + change)
            .otherwise(pl.col(column).cast(pl.Int64))
        )

    def later_clock(column: str) -> pl.Expr:
        # The actual clock moves with its delay (the raw contract checks that they agree), modulo a day.
        minutes = pl.col(column).cast(pl.Int64) // 100 * 60 + pl.col(column).cast(pl.Int64) % 100 + change
        wrapped = minutes % 1440
        return (
            pl.when(shifted & pl.col(column).is_not_null())
            .then(wrapped // 60 * 100 + wrapped % 60)
            .otherwise(pl.col(column).cast(pl.Int64))
        )

    return flights.with_columns(
        arr_delay=moved("arr_delay"),
        dep_delay=moved("dep_delay"),
        arr_time=later_clock("arr_time").cast(flights.schema["arr_time"]),
        dep_time=later_clock("dep_time").cast(flights.schema["dep_time"]),
    )
