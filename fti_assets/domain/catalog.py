"""What each feature group holds and how a flight finds its row: the feature catalog.

Every group is a table with entity key columns, a ``known_at`` instant and feature columns.
A flight's value is the group's latest row for its keys with ``known_at`` at or before the
flight's as-of time (its prediction time offline; the refresh time online).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from fti_assets.domain.schedule import MAX_SCHEDULE_LEAD_DAYS


@dataclass(frozen=True)
class FeatureGroup:
    """One feature table: the keys shared with a flight, its features, and their defaults."""

    name: str
    keys: tuple[str, ...]
    features: tuple[str, ...]
    #: Value used when a flight's entity has no row known at its as-of time.
    defaults: dict[str, float] = field(default_factory=dict)
    #: A row older than this at the as-of time is not used (None: never too old). It bounds
    #: the history a day's retrieval reads, so a new day costs the same in year ten as in week two.
    ttl: timedelta | None = None
    #: Daily partitions after the as-of day that can hold rows already known then: an
    #: overnight arrival or late report lands in the previous day's partition (1), a
    #: schedule is published days before its flights' partition.
    lookahead_days: int = 1
    version: int = 1

    @property
    def known_at_column(self) -> str:
        """Column of the joined frame that records when the joined row became known."""
        return f"{self.name}_known_at"


_STATS = ("flights_1d", "delay_share_1d", "flights_7d", "delay_share_7d", "mean_arr_delay_7d")

FEATURE_GROUPS: tuple[FeatureGroup, ...] = (
    FeatureGroup(
        name="origin_weather",
        keys=("origin",),
        features=(
            "temp",
            "dewp",
            "humid",
            "wind_dir",
            "wind_speed",
            "wind_gust",
            "precip",
            "pressure",
            "visib",
        ),
        ttl=timedelta(days=2),
        version=2,  # known at minute 51 of the hour, not at the hour's label
    ),
    FeatureGroup(
        name="carrier_delay_stats",
        keys=("carrier",),
        features=tuple(f"carrier_{s}" for s in _STATS),
        defaults={"carrier_flights_1d": 0, "carrier_flights_7d": 0},
        # An idle entity's last row is its all-zero snapshot, written when its last outcome
        # leaves the 7-day window: any TTL over 8 days returns the same values.
        ttl=timedelta(days=10),
        version=2,  # exact at the instant, not as of the last full hour
    ),
    FeatureGroup(
        name="route_delay_stats",
        keys=("origin", "dest"),
        features=tuple(f"route_{s}" for s in _STATS),
        defaults={"route_flights_1d": 0, "route_flights_7d": 0},
        ttl=timedelta(days=10),
        version=2,
    ),
    FeatureGroup(
        name="plane_last_arrival",
        keys=("tailnum",),
        features=("plane_prev_arr_delay", "plane_prev_dep_delay", "plane_prev_delayed"),
        ttl=timedelta(days=30),  # a leg more than a month old says nothing about today
    ),
    FeatureGroup(
        name="plane_attributes",
        keys=("tailnum",),
        features=("plane_age", "plane_seats", "plane_engines", "plane_known"),
        defaults={"plane_known": 0},
    ),
    FeatureGroup(
        name="origin_congestion",
        keys=("origin", "departure_hour"),
        features=("origin_departures_in_hour",),
        defaults={"origin_departures_in_hour": 0},
        # Published up to MAX_SCHEDULE_LEAD_DAYS ahead; a flight's prediction time is at most a
        # day and a half after its local midnight.
        ttl=timedelta(days=MAX_SCHEDULE_LEAD_DAYS + 2),
        lookahead_days=MAX_SCHEDULE_LEAD_DAYS + 1,
        version=2,  # known at the schedule's publication, not at the previous UTC midnight
    ),
)

#: Features computed from the request itself by ``request_features``.
REQUEST_FEATURES: tuple[str, ...] = (
    "dep_hour",
    "dep_minute_of_day",
    "weekday",
    "month",
    "distance",
    "scheduled_duration_min",
    "carrier",
    "origin",
    "dest",
)
CATEGORICAL_FEATURES: tuple[str, ...] = ("carrier", "origin", "dest")


def feature_names(groups: tuple[FeatureGroup, ...] = FEATURE_GROUPS) -> list[str]:
    """Model input columns, in the order the model sees them."""
    return [*REQUEST_FEATURES, *(f for g in groups for f in g.features)]


def group(name: str) -> FeatureGroup:
    return next(g for g in FEATURE_GROUPS if g.name == name)


#: A row is known at most this many days after its partition's day: an overnight arrival, a
#: late outcome of a flight that left near midnight.
KNOWN_WITHIN_DAYS = 2


def history_reach(group: FeatureGroup) -> tuple[int, int] | None:
    """Days of partitions before the first and after the last as-of day that a retrieval reads
    (None: all of them); ``history_days`` lists them, and the assets that retrieve declare them.

    Rows are known up to ``KNOWN_WITHIN_DAYS`` after their partition's day, so partitions from
    ``ttl`` plus that before the first day are read; rows can be known before their partition's
    day (a published schedule), so ``lookahead_days`` after the last day are read too.
    """
    if group.ttl is None:
        return None
    return (group.ttl + timedelta(days=KNOWN_WITHIN_DAYS)).days, group.lookahead_days


def history_days(group: FeatureGroup, first: date, last: date) -> list[date] | None:
    """The daily partitions a retrieval as of ``first..last`` can use (None: all of them)."""
    reach = history_reach(group)
    if reach is None:
        return None
    before, after = reach
    start = first - timedelta(days=before)
    return [start + timedelta(days=d) for d in range((last - start).days + 1 + after)]
