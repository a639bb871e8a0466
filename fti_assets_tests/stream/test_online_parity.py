"""Events applied to the online store, in any order and any number of times, give the offline
retrieval's values at every instant."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from fti_assets.serving.sqlite_store import OnlineStoreReader, SqliteWriter
from fti_assets_tests.stream.feed import (
    all_events,
    assert_same,
    feeds,
    offline_tables,
    offline_value,
    online_row,
)
from fti_assets_tests.stream.feed import probes as random_probes


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), batch=st.integers(1, 50), duplicates=st.integers(0, 20))
def test_property_any_order_and_redelivery_gives_the_offline_values(
    tmp_path_factory, seed: int, batch: int, duplicates: int
) -> None:
    feed = feeds(seed)
    events = all_events(feed)
    rng = random.Random(seed)
    delivered = events + rng.sample(events, min(duplicates, len(events)))
    rng.shuffle(delivered)
    path = Path(tmp_path_factory.mktemp("online")) / "online.sqlite"
    writer = SqliteWriter(path)
    applied = 0
    for start in range(0, len(delivered), batch):
        applied += writer.apply(delivered[start : start + batch])["applied"]
    writer.close()
    assert applied == len(events)  # every fact once, none twice
    tables, reader = offline_tables(feed), OnlineStoreReader(path)
    for group, keys, at in random_probes(feed, seed):
        [found] = reader.lookup_many([(group, keys, at)])
        assert_same(offline_value(tables, group, keys, at), online_row(found, group), (group.name, keys, at))


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 10_000), batch=st.integers(1, 50))
def test_property_redis_holds_what_sqlite_holds(tmp_path_factory, seed: int, batch: int) -> None:
    from fti_assets.serving.redis_store import RedisStoreReader, RedisWriter
    from fti_assets_tests.servers import REDIS_URL, new_redis_prefix

    feed = feeds(seed)
    events = all_events(feed)
    random.Random(seed).shuffle(events)
    path = Path(tmp_path_factory.mktemp("online")) / "online.sqlite"
    with new_redis_prefix() as prefix:
        writers = [SqliteWriter(path), RedisWriter(REDIS_URL, prefix)]
        for writer in writers:
            for start in range(0, len(events), batch):
                writer.apply(events[start : start + batch])
            writer.close()
        lookups = random_probes(feed, seed, count=80)
        sqlite = OnlineStoreReader(path).lookup_many(lookups)
        redis_found = RedisStoreReader(REDIS_URL, prefix).lookup_many(lookups)
    assert sqlite == redis_found
    assert any(found is not None for found in sqlite)
