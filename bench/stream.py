"""The feature stream: consumer throughput, and event-to-online freshness under a replay.

``python -m bench.stream HOME DAY SPEED`` takes the events of DAY from HOME's offline store:

- throughput: all of them appended to a fresh Redis stream, then consumed into a fresh SQLite
  store by one ``Consumer``; beside it, its peer: the same messages read and acknowledged from
  Redis with nothing applied (what Redis Streams alone costs);
- freshness: a consumer process (``fti stream consume``) running while the day is replayed
  into the stream at SPEED times real time; for every event, the seconds from its append to
  the first read of the online store that sees it (a service reads the same store).

Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import numpy as np
import redis

from fti_assets.domain.events import identity, known_at
from fti_assets.inference.refresh import offline_events
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.serving.sqlite_store import SqliteWriter
from fti_assets.stream.consumer import Consumer
from fti_assets.stream.redis_streams import GROUP, RedisStream, publish, stream_key

REDIS = os.environ.get("FTI_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def day_events(home: Path, day: date) -> list[dict]:
    start = datetime.combine(day, clock(), tzinfo=UTC)
    events = offline_events(OfflineStore(home=str(home)), start + timedelta(days=1))
    return [e for e in events if known_at(e["feed"], e["row"]) >= start]


def _drop(r: redis.Redis, prefix: str) -> None:
    keys = list(r.scan_iter(f"{prefix}:*", count=1000))
    if keys:
        r.delete(*keys)


def throughput(events: list[dict], folder: Path) -> dict:
    r = redis.Redis.from_url(REDIS, decode_responses=True)
    out = {}
    for name in ("applied", "read_and_acked"):
        prefix = f"bench-stream-{uuid.uuid4().hex[:8]}"
        publish(r, prefix, events)
        stream = RedisStream(REDIS, prefix, "bench", block_ms=1)
        began = time.perf_counter()
        if name == "applied":
            writer = SqliteWriter(folder / f"{prefix}.sqlite")
            Consumer(stream, writer).drain()
            writer.close()
        else:
            while messages := stream.read(500):
                stream.ack([m for m, _ in messages])
        seconds = time.perf_counter() - began
        out[name] = {"seconds": round(seconds, 3), "events_per_second": round(len(events) / seconds, 1)}
        _drop(r, prefix)
    return out


def freshness(home: Path, events: list[dict], speed: float, folder: Path) -> dict:
    prefix = f"bench-fresh-{uuid.uuid4().hex[:8]}"
    r = redis.Redis.from_url(REDIS, decode_responses=True)
    consumer_home = folder / "consumer-home"
    env = {**os.environ, "FTI_HOME": str(consumer_home), "FTI_REDIS_PREFIX": prefix, "FTI_STREAM_URL": REDIS}
    env.pop("FTI_ENV", None)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "fti"), "stream", "consume", "--name", "bench", "--batch", "100"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    store = consumer_home / "online.sqlite"
    appended: dict[tuple[str, str], float] = {}
    expected: dict[tuple[str, str], str] = {}
    seen: dict[tuple[str, str], float] = {}
    done = threading.Event()

    def probe() -> None:
        while not (store.exists()):
            time.sleep(0.001)
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        while not done.is_set() or len(seen) < len(appended):
            for feed in ("outcomes", "weather", "schedule"):
                try:
                    rows = conn.execute(f"SELECT identity, event FROM versions_{feed}").fetchall()
                except sqlite3.OperationalError:
                    continue
                now = time.perf_counter()
                for key, event in rows:
                    if (
                        (feed, key) in appended
                        and (feed, key) not in seen
                        and json.loads(event)["id"] == expected[(feed, key)]
                    ):
                        seen[(feed, key)] = now
            if done.is_set() and time.perf_counter() - last_append > 30:
                break
            time.sleep(0.002)

    RedisStream(REDIS, prefix, "setup").ensure_group()
    while not store.exists():  # the consumer's store is open: timing starts from a ready consumer
        time.sleep(0.05)
    last_append = time.perf_counter()
    prober = threading.Thread(target=probe)
    prober.start()
    origin = known_at(events[0]["feed"], events[0]["row"])
    began = time.perf_counter()
    for event in events:
        due = (known_at(event["feed"], event["row"]) - origin).total_seconds() / speed
        wait = due - (time.perf_counter() - began)
        if wait > 0:
            time.sleep(wait)
        key = (event["feed"], identity(event["feed"], event["row"]))
        expected[key] = event["id"]
        publish(r, prefix, [event])
        last_append = appended[key] = time.perf_counter()
    done.set()
    prober.join()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    _drop(r, prefix)
    delays = np.array([seen[k] - appended[k] for k in appended if k in seen])
    return {
        "speed": speed,
        "events": len(appended),
        "seen": len(delays),
        "p50_seconds": round(float(np.quantile(delays, 0.5)), 4),
        "p99_seconds": round(float(np.quantile(delays, 0.99)), 4),
        "max_seconds": round(float(delays.max()), 4),
        "replay_seconds": round(time.perf_counter() - began, 1),
    }


def main() -> None:
    home, day, speed = Path(sys.argv[1]), date.fromisoformat(sys.argv[2]), float(sys.argv[3])
    events = day_events(home, day)
    with tempfile.TemporaryDirectory() as folder:
        out = {
            "day": day.isoformat(),
            "events": len(events),
            "group": GROUP,
            "stream": stream_key("<prefix>"),
            "throughput": throughput(events, Path(folder)),
            "freshness": freshness(home, events, speed, Path(folder)),
            "loadavg_1m": os.getloadavg()[0],
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
