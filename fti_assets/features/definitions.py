"""The feature pipeline's definitions: raw tables under contracts, then the feature groups."""

import dagster as dg

from fti_assets.features.feature_groups import (
    carrier_delay_stats,
    flight_outcomes,
    flight_schedule,
    origin_congestion,
    origin_weather,
    plane_attributes,
    plane_last_arrival,
    route_delay_stats,
)
from fti_assets.features.raw_tables import airlines, airports, flights, planes, schedules, weather

RAW = [flights, schedules, weather, planes, airports, airlines]
FEATURE_GROUPS = [
    flight_schedule,
    flight_outcomes,
    origin_weather,
    carrier_delay_stats,
    route_delay_stats,
    plane_last_arrival,
    plane_attributes,
    origin_congestion,
]

defs = dg.Definitions(assets=[*RAW, *FEATURE_GROUPS])
