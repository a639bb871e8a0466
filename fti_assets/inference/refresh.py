"""The daily backstop of the online store: the offline tables' events, applied as the stream does.

The stream consumer keeps the online store fresh within a second; the daily refresh replays
every event the offline store holds for the days the online groups can still use, through
the same ``OnlineWriter.apply``. Applying is idempotent, so a backstop after a healthy
stream changes nothing, and one after a gap fills it. It also writes the reference data the
stream does not carry (airport time zones, plane attributes), the request rows of the published
flights still to be served (``serving.published``), and prunes old history.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from fti_assets.domain import events as ev
from fti_assets.domain.catalog import KNOWN_WITHIN_DAYS, group
from fti_assets.domain.schedule import MAX_SCHEDULE_LEAD_DAYS
from fti_assets.serving.online_writer import RETAIN_MICROS

#: Events are applied in batches of this many (one transaction each).
BATCH = 5_000


def _days(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=d)).isoformat() for d in range((last - first).days + 1)]


def feed_days(feed: str, as_of: datetime) -> list[str]:
    """The partitions of a feed's table that hold events the online groups can use at ``as_of``:
    a plane's previous leg reaches back 30 days, the delay windows 7, weather 2; schedules are
    published up to ``MAX_SCHEDULE_LEAD_DAYS`` ahead."""
    day = as_of.date()
    if feed == "outcomes":
        reach = max(group("plane_last_arrival").ttl, group("carrier_delay_stats").ttl)
        return _days(day - reach - timedelta(days=KNOWN_WITHIN_DAYS), day)
    if feed == "weather":
        return _days(day - group("origin_weather").ttl - timedelta(days=1), day)
    return _days(day - timedelta(days=1), day + timedelta(days=MAX_SCHEDULE_LEAD_DAYS + 1))


#: Each feed's offline table and its partition column.
FEED_TABLES = {"outcomes": "flight_outcomes", "weather": "origin_weather", "schedule": "flight_schedule"}


def offline_events(store, as_of: datetime, since: datetime | None = None) -> list[dict]:
    """Every event the offline store (an ``OfflineStore``) holds that was known by ``as_of`` (and
    after ``since``), in ``known_at`` order: the current version of each fact, stamped with the
    instant it was learnt. Without ``since``, the partitions the online groups can still use at
    ``as_of``; with it, every partition from the day before ``since`` on."""
    out = []
    for feed, table in FEED_TABLES.items():
        wanted = set(feed_days(feed, as_of))
        if since is not None:
            wanted = set(_days(since.date() - timedelta(days=1), date.fromisoformat(max(wanted))))
        days = [d for d in store.partitions(table) if d in wanted]
        if not days:
            continue
        # With versions: a corrected row is an event ingested when the correction was learnt.
        frame = store.read(table, days, versions=True)
        if "superseded_at" in frame.columns:
            frame = frame.filter(pl.col("superseded_at").is_null())
        out += [
            e
            for e in ev.events_from_table(feed, frame)
            if ev.known_at(feed, e["row"]) <= as_of and (since is None or ev.known_at(feed, e["row"]) > since)
        ]
    return sorted(out, key=lambda e: (ev.known_at(e["feed"], e["row"]), e["id"]))


def write_backstop(writer, store, airports: pl.DataFrame, as_of: datetime) -> dict[str, int]:
    """Reference data, then every offline event known by ``as_of`` applied through ``writer``
    (an ``OnlineWriter``), then old history pruned; returns the counts."""
    from fti_assets.domain.timezones import airport_timezones
    from fti_assets.serving.published import published_rows

    timezones = airport_timezones(airports)
    writer.put_reference(timezones, {"plane_attributes": store.read("plane_attributes")})
    counts = {"applied": 0, "ignored": 0}
    events = offline_events(store, as_of)
    for start in range(0, len(events), BATCH):
        done = writer.apply(events[start : start + BATCH])
        counts = {k: counts[k] + done[k] for k in counts}
    flights = published_flights(store, as_of)
    writer.put_published(published_rows(flights, timezones))
    writer.prune()
    return {**counts, "events": len(events), "published_flights": flights.height}


def published_flights(store, as_of: datetime) -> pl.DataFrame:
    """The schedule published by ``as_of`` of the flights the store can still serve (departing
    within the retained history or later): their request rows are computed ahead
    (``serving.published``)."""
    retained = timedelta(microseconds=RETAIN_MICROS)
    wanted = set(
        _days(
            (as_of - retained).date() - timedelta(days=1),
            as_of.date() + timedelta(days=MAX_SCHEDULE_LEAD_DAYS + 1),
        )
    )
    days = [d for d in store.partitions("flight_schedule") if d in wanted]
    if not days:
        return pl.DataFrame()
    return store.read("flight_schedule", days).filter(
        pl.col("published_at") <= as_of, pl.col("scheduled_departure") >= as_of - retained
    )
