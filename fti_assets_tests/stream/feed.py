"""Random but plausible feeds, their offline feature tables, and a comparison of the two paths."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl

from fti_assets.domain import events as ev
from fti_assets.domain import transforms
from fti_assets.domain.catalog import FEATURE_GROUPS, FeatureGroup
from fti_assets.domain.retrieval import asof_join

T0 = datetime(2013, 4, 1, tzinfo=UTC)
UTC_US = pl.Datetime("us", "UTC")
STREAMED = [g for g in FEATURE_GROUPS if g.name != "plane_attributes"]


def feeds(seed: int, outcomes: int = 60, days: int = 10) -> dict[str, pl.DataFrame]:
    """Outcomes, weather and schedule rows of ``days`` days from ``seed``."""
    rng = random.Random(seed)
    rows = []
    for i in range(outcomes):
        known = T0 + timedelta(minutes=rng.randrange(days * 24 * 60))
        delay = rng.randrange(-20, 120)
        rows.append(
            {
                "flight_id": f"2013-04-01_X{i}",
                "flight_date": known.date(),
                "carrier": rng.choice(["AA", "UA", "DL"]),
                "tailnum": rng.choice(["N1", "N2", "N3", None]),
                "origin": rng.choice(["EWR", "JFK"]),
                "dest": rng.choice(["LAX", "ORD"]),
                "status": "arrived",
                "dep_delay": delay - 5,
                "arr_delay": delay,
                "known_at": known,
                "is_delayed": delay > 15,
            }
        )
    weather = []
    for h in range(0, days * 24, 3):
        for origin in ("EWR", "JFK"):
            hour = T0 + timedelta(hours=h)
            weather.append(
                {
                    "origin": origin,
                    "obs_date": hour.date(),
                    "time_hour": hour,
                    **{c: round(rng.uniform(0, 30), 1) for c in transforms.WEATHER_COLUMNS},
                }
            )
    schedule = []
    for i in range(outcomes):
        departure = T0 + timedelta(days=rng.randrange(days), hours=rng.randrange(24))
        schedule.append(
            {
                "flight_id": f"S{i}",
                "origin": rng.choice(["EWR", "JFK"]),
                "flight_date": departure.date(),
                "scheduled_departure": departure,
                "published_at": datetime.combine(departure.date(), datetime.min.time(), tzinfo=UTC)
                - timedelta(days=1),
            }
        )
    return {
        "outcomes": pl.DataFrame(rows, schema=ev.FEEDS["outcomes"]),
        "weather": pl.DataFrame(weather, schema=ev.FEEDS["weather"]),
        "schedule": pl.DataFrame(schedule, schema=ev.FEEDS["schedule"]),
    }


def offline_tables(feed: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Every streamed group's offline table, from the same transforms the assets call."""
    start = T0 - timedelta(days=30)
    outcomes = feed["outcomes"]
    return {
        "carrier_delay_stats": transforms.delay_stats(outcomes, ["carrier"], "carrier", start),
        "route_delay_stats": transforms.delay_stats(outcomes, ["origin", "dest"], "route", start),
        "plane_last_arrival": transforms.plane_last_arrival(outcomes),
        "origin_weather": transforms.origin_weather(feed["weather"]),
        "origin_congestion": transforms.origin_congestion(feed["schedule"]),
    }


def all_events(feed: dict[str, pl.DataFrame]) -> list[dict]:
    return [e for name, frame in feed.items() for e in ev.events_from_table(name, frame)]


def probes(
    feed: dict[str, pl.DataFrame], seed: int, count: int = 40
) -> list[tuple[FeatureGroup, tuple, datetime]]:
    """Random (group, keys, instant) lookups over the feed's entities and days."""
    rng = random.Random(seed)
    entities = {
        "carrier_delay_stats": [(c,) for c in ("AA", "UA", "DL")],
        "route_delay_stats": [(o, d) for o in ("EWR", "JFK") for d in ("LAX", "ORD")],
        "plane_last_arrival": [(t,) for t in ("N1", "N2", "N3")],
        "origin_weather": [("EWR",), ("JFK",)],
        "origin_congestion": [
            (o, T0 + timedelta(hours=h)) for o in ("EWR", "JFK") for h in range(0, 10 * 24, 1)
        ],
    }
    out = []
    for _ in range(count):
        group = rng.choice(STREAMED)
        keys = rng.choice(entities[group.name])
        # Up to 20 days past the feed: a group's value expires with its TTL (weather 2 days; a
        # window 10 days after its latest change, an outcome leaving the 7-day window included).
        at = T0 + timedelta(seconds=rng.randrange(-86400, 30 * 86400))
        out.append((group, keys, at))
    return out


def offline_value(tables: dict[str, pl.DataFrame], group: FeatureGroup, keys: tuple, at: datetime) -> dict:
    """The offline retrieval's features for one entity as of ``at``, and the known-at time of
    the row it joined (None where none is within the TTL)."""
    spine = pl.DataFrame(
        {**{k: [v] for k, v in zip(group.keys, keys, strict=True)}, "as_of": [at]},
        schema={**{k: tables[group.name].schema[k] for k in group.keys}, "as_of": UTC_US},
    )
    row = asof_join(spine, tables[group.name], group).row(0, named=True)
    known_at = row[group.known_at_column]
    return {
        "known_at": None if known_at is None else ev.micros(known_at),
        **{f: row[f] for f in group.features},
    }


def online_value(found: dict | None, group: FeatureGroup) -> dict:
    """An online lookup's features with the group's defaults, as the service fills them."""
    values = {f: found.get(f) if found is not None else None for f in group.features}
    return {f: group.defaults.get(f) if v is None else v for f, v in values.items()}


def online_row(found: dict | None, group: FeatureGroup) -> dict:
    """``online_value`` and the known-at time of the row read (None where none was found: the
    service lists the flight's group as ``unknown``), to compare with ``offline_value``."""
    known_at = found.get(group.known_at_column) if found is not None else None
    return {"known_at": known_at, **online_value(found, group)}


def assert_same(offline: dict, online: dict, context: object) -> None:
    for name, want in offline.items():
        got = online[name]
        if want is None or got is None:
            assert want == got, (context, name, want, got)
        else:
            assert abs(float(want) - float(got)) <= 1e-12 * max(1.0, abs(float(want))), (
                context,
                name,
                want,
                got,
            )
