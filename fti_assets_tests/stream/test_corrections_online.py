"""A correction reaches the online store as a later event: reads as of any instant give what
the store had learnt by then, as a brute-force replay of the events ingested by then does."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from fti_assets.domain import events as ev
from fti_assets.domain.catalog import group as catalog_group
from fti_assets.serving.online_writer import OnlineWriter
from fti_assets.serving.sqlite_store import OnlineStoreReader, SqliteWriter
from fti_assets_tests.stream.feed import (
    all_events,
    assert_same,
    feeds,
    offline_value,
    online_row,
    online_value,
    probes,
)

CHANGED = {
    "outcomes": pl.col("arr_delay") + 90,
    "weather": pl.col("temp") + 5,
    "schedule": pl.col("scheduled_departure") + timedelta(hours=1),
}
COLUMN = {"outcomes": "arr_delay", "weather": "temp", "schedule": "scheduled_departure"}


def _feed(seed: int) -> dict[str, pl.DataFrame]:
    """The random feeds, without two legs of one plane landing in the same minute (the store
    keeps one of them by a tie rule that a correction of the other cannot undo)."""
    feed = feeds(seed)
    feed["outcomes"] = feed["outcomes"].unique(["tailnum", "known_at"], keep="first", maintain_order=True)
    return feed


def _corrections(feed: dict[str, pl.DataFrame], seed: int, share: float = 0.3) -> list[dict]:
    """Events restating a share of each feed's facts, each learnt 1 hour to 3 days after the
    fact was first known: arrivals 90 minutes later (half of them known 90 minutes later too),
    weather 5 degrees warmer, departures an hour later."""
    rng = random.Random(seed)
    out = []
    for name, frame in feed.items():
        chosen = frame.filter(pl.Series([rng.random() < share for _ in range(frame.height)]))
        new = chosen.with_columns(CHANGED[name].alias(COLUMN[name]))
        if name == "outcomes":
            moved = pl.Series([rng.random() < 0.5 for _ in range(new.height)])
            later = pl.col("known_at") + timedelta(minutes=90)
            new = new.with_columns(
                is_delayed=pl.col("arr_delay") > 15, known_at=pl.when(moved).then(later).otherwise("known_at")
            )
        for old, row in zip(chosen.iter_rows(named=True), new.iter_rows(named=True), strict=True):
            learnt = ev.known_at(name, old) + timedelta(minutes=rng.randrange(60, 3 * 24 * 60))
            out += ev.events_from_table(name, pl.DataFrame([row], schema=frame.schema), ingested_at=learnt)
    return out


def _learnt(event: dict) -> datetime:
    return ev.utc_time(event["ingested_at"])


def _deliver(writer: OnlineWriter, events: list[dict], batch: int) -> None:
    """In the order they were learnt, ``batch`` at a time (a fact and its correction may share one)."""
    events = sorted(events, key=lambda e: (_learnt(e), e["id"]))
    for start in range(0, len(events), batch):
        writer.apply(events[start : start + batch])


def _reads_before_corrections(events: list[dict]) -> list[tuple]:
    """A read of the carrier's delay statistics a minute before each arrival's correction was
    learnt: the store holds the correction by then, the read must not see it."""
    return [
        (catalog_group("carrier_delay_stats"), (e["row"]["carrier"],), _learnt(e) - timedelta(minutes=1))
        for e in events
        if e["feed"] == "outcomes" and _learnt(e) > ev.known_at("outcomes", e["row"])
    ]


def _replay_until(path: Path, events: list[dict], at: datetime) -> OnlineStoreReader:
    """A fresh store fed only the events learnt by ``at``."""
    writer = SqliteWriter(path)
    _deliver(writer, [e for e in events if _learnt(e) <= at], 500)
    writer.close()
    return OnlineStoreReader(path)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), batch=st.integers(1, 80))
def test_property_reads_as_of_any_instant_equal_a_replay_of_what_was_learnt_by_then(
    tmp_path_factory, seed: int, batch: int
) -> None:
    feed = _feed(seed)
    events = all_events(feed) + _corrections(feed, seed)
    folder = Path(tmp_path_factory.mktemp("corrections"))
    writer = SqliteWriter(folder / "online.sqlite")
    _deliver(writer, events, batch)
    writer.close()
    store = OnlineStoreReader(folder / "online.sqlite")
    # Random reads, and reads just before the first corrections were learnt.
    before = _reads_before_corrections(events)[:5]
    undone = 0
    for i, (group, keys, at) in enumerate(probes(feed, seed, count=30) + before):
        replayed = _replay_until(folder / f"replay{i}.sqlite", events, at)
        [want] = replayed.lookup_many([(group, keys, at)])
        [got] = store.lookup_many([(group, keys, at)])
        # The values as the service fills them, and whether a row was found at all (``unknown``).
        assert_same(online_row(want, group), online_row(got, group), (group.name, keys, at))
        undone += online_value(got, group) != online_value(store.lookup_now([(group, keys, at)])[0], group)
    assert undone >= min(1, len(before))  # some reads needed a correction undone


def test_a_late_read_before_a_correction_sees_the_old_value_on_sqlite_and_redis(tmp_path: Path) -> None:
    from fti_assets.serving.redis_store import RedisStoreReader, RedisWriter
    from fti_assets_tests.servers import REDIS_URL, new_redis_prefix

    feed = _feed(11)
    first = feed["outcomes"].filter(pl.col("carrier") == "UA").sort("known_at").row(0, named=True)
    fixed = {**first, "arr_delay": first["arr_delay"] + 90, "is_delayed": True}
    learnt = first["known_at"] + timedelta(hours=5)
    correction = ev.events_from_table(
        "outcomes", pl.DataFrame([fixed], schema=feed["outcomes"].schema), ingested_at=learnt
    )
    events = all_events(feed) + correction
    group = catalog_group("carrier_delay_stats")
    before, after = learnt - timedelta(hours=1), learnt + timedelta(hours=1)
    with new_redis_prefix() as prefix:
        writers = {
            "sqlite": SqliteWriter(tmp_path / "online.sqlite"),
            "redis": RedisWriter(REDIS_URL, prefix),
        }
        for writer in writers.values():
            _deliver(writer, events, 50)
            writer.close()
        readers = {
            "sqlite": OnlineStoreReader(tmp_path / "online.sqlite"),
            "redis": RedisStoreReader(REDIS_URL, prefix),
        }
        for name, reader in readers.items():
            for at in (before, after):
                [got] = reader.lookup_many([(group, ("UA",), at)])
                [want] = _replay_until(tmp_path / f"{name}-{at:%H%M}.sqlite", events, at).lookup_many(
                    [(group, ("UA",), at)]
                )
                assert got == want, (name, at)
            [old] = reader.lookup_many([(group, ("UA",), before)])
            [new] = reader.lookup_many([(group, ("UA",), after)])
            # The 7-day window holds the flight at both instants; only the later read has the correction.
            assert new["carrier_mean_arr_delay_7d"] > old["carrier_mean_arr_delay_7d"], (name, old, new)
            assert reader.lookup_now([(group, ("UA",), before)]) != [old], name


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 10_000), batch=st.integers(1, 80))
def test_property_redis_reads_as_of_an_instant_what_sqlite_reads(
    tmp_path_factory, seed: int, batch: int
) -> None:
    from fti_assets.serving.redis_store import RedisStoreReader, RedisWriter
    from fti_assets_tests.servers import REDIS_URL, new_redis_prefix

    feed = _feed(seed)
    events = all_events(feed) + _corrections(feed, seed)
    path = Path(tmp_path_factory.mktemp("corrections")) / "online.sqlite"
    lookups = probes(feed, seed, count=60) + _reads_before_corrections(events)
    with new_redis_prefix() as prefix:
        for writer in (SqliteWriter(path), RedisWriter(REDIS_URL, prefix)):
            _deliver(writer, events, batch)
            writer.close()
        assert RedisStoreReader(REDIS_URL, prefix).lookup_many(lookups) == OnlineStoreReader(
            path
        ).lookup_many(lookups)


def test_an_hour_a_departure_moved_out_of_is_unknown_online_as_offline(tmp_path: Path) -> None:
    """The only flight of an hour moves an hour later: once that is learnt, the hour has no
    departures row offline, and the online store (SQLite and Redis) answers it as unknown too,
    not as a known count of zero; as of before, both answer the count of one."""
    from fti_assets.domain import transforms
    from fti_assets.serving.redis_store import RedisStoreReader, RedisWriter
    from fti_assets_tests.servers import REDIS_URL, new_redis_prefix

    schedule = _feed(11)["schedule"]
    hours = schedule.with_columns(hour=pl.col("scheduled_departure").dt.truncate("1h"))
    alone = hours.filter(
        pl.len().over("origin", "hour") == 1,
        ~pl.col("hour").is_in((pl.col("hour") - timedelta(hours=1)).implode()),
    )
    flight = alone.drop("hour").row(0, named=True)
    moved = {**flight, "scheduled_departure": flight["scheduled_departure"] + timedelta(hours=1)}
    learnt = flight["published_at"] + timedelta(hours=6)
    # The correction arrives in a batch of its own, hours after the schedule, as a stream delivers it.
    batches = [
        ev.events_from_table("schedule", schedule),
        ev.events_from_table("schedule", pl.DataFrame([moved], schema=schedule.schema), ingested_at=learnt),
    ]
    group = catalog_group("origin_congestion")
    hour = flight["scheduled_departure"].replace(minute=0, second=0, microsecond=0)
    keys = (flight["origin"], hour)
    before, after = learnt - timedelta(hours=1), learnt + timedelta(hours=1)

    def offline(rows: pl.DataFrame, at: datetime) -> dict:
        return offline_value({group.name: transforms.origin_congestion(rows)}, group, keys, at)

    corrected = schedule.filter(pl.col("flight_id") != flight["flight_id"]).vstack(
        pl.DataFrame([moved], schema=schedule.schema)
    )
    assert offline(schedule, before)["origin_departures_in_hour"] == 1
    assert offline(corrected, after)["known_at"] is None
    with new_redis_prefix() as prefix:
        writers = {
            "sqlite": SqliteWriter(tmp_path / "online.sqlite"),
            "redis": RedisWriter(REDIS_URL, prefix),
        }
        for writer in writers.values():
            for batch in batches:
                writer.apply(batch)
            writer.close()
        readers = {
            "sqlite": OnlineStoreReader(tmp_path / "online.sqlite"),
            "redis": RedisStoreReader(REDIS_URL, prefix),
        }
        for name, reader in readers.items():
            [old] = reader.lookup_many([(group, keys, before)])
            [new] = reader.lookup_many([(group, keys, after)])
            assert old is not None and old["origin_departures_in_hour"] == 1, (name, old)
            assert new is None, (name, new)
