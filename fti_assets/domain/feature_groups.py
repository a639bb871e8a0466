"""What each feature group holds and how a flight finds its row: the feature catalog.

Every group is a table with entity key columns, a ``known_at`` instant and feature columns.
A flight's value is the group's latest row for its keys with ``known_at`` at or before the
flight's as-of time (its prediction time offline; the refresh time online).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FeatureGroup:
    """One feature table: the keys shared with a flight, its features, and their defaults."""

    name: str
    keys: tuple[str, ...]
    features: tuple[str, ...]
    #: Value used when a flight's entity has no row known at its as-of time.
    defaults: dict[str, float] = field(default_factory=dict)
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
        features=("temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip",
                  "pressure", "visib"),
    ),
    FeatureGroup(
        name="carrier_delay_stats",
        keys=("carrier",),
        features=tuple(f"carrier_{s}" for s in _STATS),
        defaults={"carrier_flights_1d": 0, "carrier_flights_7d": 0},
    ),
    FeatureGroup(
        name="route_delay_stats",
        keys=("origin", "dest"),
        features=tuple(f"route_{s}" for s in _STATS),
        defaults={"route_flights_1d": 0, "route_flights_7d": 0},
    ),
    FeatureGroup(
        name="plane_last_arrival",
        keys=("tailnum",),
        features=("plane_prev_arr_delay", "plane_prev_dep_delay", "plane_prev_delayed"),
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
    ),
)

#: Features computed from the request itself by ``request_features``.
REQUEST_FEATURES: tuple[str, ...] = (
    "dep_hour", "dep_minute_of_day", "weekday", "month", "distance",
    "scheduled_duration_min", "carrier", "origin", "dest",
)  # fmt: skip
CATEGORICAL_FEATURES: tuple[str, ...] = ("carrier", "origin", "dest")


def feature_names(groups: tuple[FeatureGroup, ...] = FEATURE_GROUPS) -> list[str]:
    """Model input columns, in the order the model sees them."""
    return [*REQUEST_FEATURES, *(f for g in groups for f in g.features)]


def group(name: str) -> FeatureGroup:
    return next(g for g in FEATURE_GROUPS if g.name == name)
