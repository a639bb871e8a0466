"""The consumer on real Redis Streams: killed and restarted, split across two consumers, fed
malformed events, and through an outage of its Redis server."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from fti_assets.serving.sqlite_store import OnlineStoreReader, SqliteWriter
from fti_assets.stream.redis_streams import client, dead_key, publish
from fti_assets_tests.servers import REDIS_URL, RedisServer, new_redis_prefix
from fti_assets_tests.stream.feed import all_events, feeds, probes

BIN = Path(sys.executable).parent


def _applied(path: Path) -> int:
    """Facts the store holds a version of: each applied event once."""
    if not path.exists():
        return 0
    with sqlite3.connect(path) as conn:
        try:
            return sum(
                conn.execute(f"SELECT count(*) FROM versions_{f}").fetchone()[0]
                for f in ("outcomes", "weather", "schedule")
            )
        except sqlite3.OperationalError:
            return 0


def _wait(condition: Callable[[], bool], what: str, timeout: float = 240) -> None:
    """Waits for an event; the deadline only stops a hung test."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.05)


@contextmanager
def _consumer(
    home: Path, prefix: str, name: str, url: str = REDIS_URL, batch: int = 25
) -> Iterator[subprocess.Popen]:
    env = {**os.environ, "FTI_HOME": str(home), "FTI_REDIS_PREFIX": prefix, "FTI_STREAM_URL": url}
    env.pop("FTI_ENV", None)
    process = subprocess.Popen(
        [str(BIN / "fti"), "stream", "consume", "--name", name, "--batch", str(batch)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def _reference(tmp_path: Path, events: list[dict]) -> OnlineStoreReader:
    path = tmp_path / "reference.sqlite"
    writer = SqliteWriter(path)
    writer.apply(events)
    writer.close()
    return OnlineStoreReader(path)


def _same_answers(store: Path, reference: OnlineStoreReader, feed: dict, seed: int) -> None:
    lookups = probes(feed, seed, count=120)
    found = OnlineStoreReader(store).lookup_many(lookups)
    assert found == reference.lookup_many(lookups)
    assert sum(f is not None for f in found) > 30


def test_a_consumer_killed_and_restarted_loses_no_event_and_counts_none_twice(tmp_path: Path) -> None:
    feed = feeds(11, outcomes=200)
    events = all_events(feed)
    store = tmp_path / "home" / "online.sqlite"
    with new_redis_prefix() as prefix:
        publish(client(REDIS_URL), prefix, events)
        with _consumer(tmp_path / "home", prefix, "c1", batch=10) as first:
            _wait(lambda: _applied(store) > 50, "the first batches")
            first.send_signal(signal.SIGKILL)
            first.wait()
        killed_at = _applied(store)
        assert killed_at < len(events)  # it died mid-stream
        with _consumer(tmp_path / "home", prefix, "c1"):
            _wait(lambda: _applied(store) == len(events), "every event")
            _wait(
                lambda: client(REDIS_URL).xpending(f"{prefix}:events", "online-store")["pending"] == 0, "acks"
            )
    _same_answers(store, _reference(tmp_path, events), feed, 11)


def test_two_consumers_split_a_stream_of_shuffled_and_repeated_events_and_answer_as_one(
    tmp_path: Path,
) -> None:
    feed = feeds(12, outcomes=200)
    events = all_events(feed)
    rng = random.Random(12)
    delivered = events + rng.sample(events, 60)
    rng.shuffle(delivered)
    store = tmp_path / "home" / "online.sqlite"
    with new_redis_prefix() as prefix:
        with (
            _consumer(tmp_path / "home", prefix, "a", batch=10) as a,
            _consumer(tmp_path / "home", prefix, "b", batch=10) as b,
        ):
            publish(client(REDIS_URL), prefix, delivered)
            _wait(lambda: _applied(store) == len(events), "every event")
            _wait(
                lambda: client(REDIS_URL).xpending(f"{prefix}:events", "online-store")["pending"] == 0, "acks"
            )
            consumers = client(REDIS_URL).xinfo_consumers(f"{prefix}:events", "online-store")
        for process in (a, b):
            process.send_signal(signal.SIGTERM)
    # Each consumer took a share of the messages.
    assert {c["name"] for c in consumers} == {"a", "b"}
    stopped = [json.loads(p.stderr.read().split("stopped: ")[-1].strip().replace("'", '"')) for p in (a, b)]
    assert all(s["applied"] > 0 for s in stopped)
    assert sum(s["applied"] for s in stopped) == len(events)
    _same_answers(store, _reference(tmp_path, events), feed, 12)


def test_malformed_events_go_to_the_dead_letters_with_their_reason(tmp_path: Path) -> None:
    feed = feeds(13, outcomes=20)
    events = all_events(feed)
    good = events[0]
    bad = [
        "not json at all",
        json.dumps({**good, "feed": "tweets"}),
        json.dumps({**good, "row": {k: v for k, v in good["row"].items() if k != "origin"}}),
        json.dumps({**good, "ingested_at": "yesterday"}),
    ]
    store = tmp_path / "home" / "online.sqlite"
    with new_redis_prefix() as prefix:
        publish(client(REDIS_URL), prefix, [*events[:10], *bad, *events[10:]])
        with _consumer(tmp_path / "home", prefix, "c"):
            _wait(lambda: _applied(store) == len(events), "every good event")
            _wait(lambda: client(REDIS_URL).xlen(dead_key(prefix)) == len(bad), "the dead letters")
            _wait(
                lambda: client(REDIS_URL).xpending(f"{prefix}:events", "online-store")["pending"] == 0, "acks"
            )
            dead = client(REDIS_URL).xrange(dead_key(prefix))
    reasons = [fields["reason"] for _, fields in dead]
    assert [fields["event"] for _, fields in dead] == bad
    assert reasons[0].startswith("not JSON") and "unknown feed 'tweets'" in reasons[1]
    assert "missing" in reasons[2] and reasons[3].startswith("ingested_at")


def test_the_consumer_waits_out_a_redis_outage_and_resumes(tmp_path: Path) -> None:
    feed = feeds(14, outcomes=80)
    events = all_events(feed)
    half = len(events) // 2
    store = tmp_path / "home" / "online.sqlite"
    server = RedisServer(tmp_path / "redis").start()
    try:
        publish(redis.Redis.from_url(server.url, decode_responses=True), "outage", events[:half])
        with _consumer(tmp_path / "home", "outage", "c", url=server.url) as consumer:
            _wait(lambda: _applied(store) == half, "the first half")
            server.stop()
            server.start()
            publish(redis.Redis.from_url(server.url, decode_responses=True), "outage", events[half:])
            _wait(lambda: _applied(store) == len(events), "the second half, after the outage")
            assert consumer.poll() is None  # it never gave up
    finally:
        server.stop()
    _same_answers(store, _reference(tmp_path, events), feed, 14)
