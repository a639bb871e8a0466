"""Feature events on Redis Streams: a stream per deployment, one consumer group.

``<prefix>:events`` holds the events (field ``event``: its JSON); the group ``online-store``
splits them among its consumers, each message to one consumer, kept pending until that
consumer acknowledges it. A consumer that restarts under its name first takes back its own
pending messages; messages pending longer than ``claim_idle_ms`` with a consumer that died
are claimed by the others (``XAUTOCLAIM``). Events that cannot be applied go to
``<prefix>:events:dead`` with their reason.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

from fti_assets.stream.consumer import Consumer

GROUP = "online-store"
log = logging.getLogger(__name__)
_UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def stream_key(prefix: str) -> str:
    return f"{prefix}:events"


def dead_key(prefix: str) -> str:
    return f"{prefix}:events:dead"


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=1, socket_timeout=10)


def publish(r: redis.Redis, prefix: str, events: list) -> list[str]:
    """Append events (dicts or JSON strings) to the stream; returns their message ids."""
    import json

    pipe = r.pipeline(transaction=False)
    for event in events:
        pipe.xadd(stream_key(prefix), {"event": event if isinstance(event, str) else json.dumps(event)})
    return pipe.execute()


class RedisStream:
    """A consumer's view of the stream (``consumer.Source``)."""

    def __init__(
        self, url: str, prefix: str, name: str, block_ms: int = 1000, claim_idle_ms: int = 30_000
    ) -> None:
        self.r, self.prefix, self.name = client(url), prefix, name
        self.block_ms, self.claim_idle_ms = block_ms, claim_idle_ms
        self._own_pending = True  # a restarted consumer first finishes what it had taken
        self.ensure_group()

    def ensure_group(self) -> None:
        try:
            self.r.xgroup_create(stream_key(self.prefix), GROUP, id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _messages(self, found) -> list[tuple[str, str]]:
        return [(mid, fields.get("event", "")) for mid, fields in found if fields is not None]

    def read(self, count: int) -> list[tuple[str, str]]:
        key = stream_key(self.prefix)
        if self._own_pending:
            [[_, mine]] = self.r.xreadgroup(GROUP, self.name, {key: "0"}, count=count) or [[key, []]]
            if mine:
                return self._messages(mine)
            self._own_pending = False
        claimed = self.r.xautoclaim(key, GROUP, self.name, self.claim_idle_ms, "0-0", count=count)
        if claimed[1]:
            return self._messages(claimed[1])
        found = self.r.xreadgroup(GROUP, self.name, {key: ">"}, count=count, block=self.block_ms)
        return self._messages(found[0][1]) if found else []

    def ack(self, ids: list[str]) -> None:
        if ids:
            self.r.xack(stream_key(self.prefix), GROUP, *ids)

    def dead(self, message_id: str, data: str, reason: str) -> None:
        self.r.xadd(dead_key(self.prefix), {"id": message_id, "event": data, "reason": reason})

    def lag(self) -> dict[str, int]:
        """Messages not yet delivered to the group, and delivered but not acknowledged."""
        key = stream_key(self.prefix)
        groups = {g["name"]: g for g in self.r.xinfo_groups(key)}
        group = groups.get(GROUP, {})
        return {"lag": int(group.get("lag") or 0), "pending": int(group.get("pending") or 0)}


def run(url: str, prefix: str, name: str, writer, stop: threading.Event, batch: int = 500) -> dict[str, int]:
    """Consume until ``stop`` is set; a Redis outage is waited out, then consuming resumes from the
    last acknowledged event (unacknowledged ones are delivered again)."""
    stream: RedisStream | None = None
    consumer: Consumer | None = None
    wait = 0.1
    while not stop.is_set():
        try:
            if stream is None:
                stream = RedisStream(url, prefix, name)
                consumer = Consumer(stream, writer, batch)
                log.info("consuming %s as %s in group %s", stream_key(prefix), name, GROUP)
            consumer.step()
            wait = 0.1
        except _UNREACHABLE as exc:
            log.warning("the stream is unreachable (%s): retrying in %.1f s", exc, wait)
            stream = None  # its own pending messages are taken back on reconnection
            stop.wait(wait)
            wait = min(wait * 2, 5.0)
        except Exception:
            log.exception("a batch failed; it stays pending and is retried")
            stream = None
            time.sleep(1)
    return dict(consumer.counts) if consumer else {}


def health(r: redis.Redis, prefix: str) -> dict[str, float | int]:
    """How far the group is behind: events never delivered (``lag``), delivered but not yet
    acknowledged (``pending``), and how long the oldest of them has waited (seconds)."""
    key = stream_key(prefix)
    if not r.exists(key):
        return {"lag": 0, "pending": 0, "oldest_waiting_seconds": 0.0}
    groups = {g["name"]: g for g in r.xinfo_groups(key)}
    group = groups.get(GROUP)
    waiting: list[int] = []
    if group is None:  # no consumer ever joined: every event waits
        first = r.xrange(key, count=1)
        lag, pending = int(r.xlen(key)), 0
        waiting += [int(first[0][0].split("-")[0])] if first else []
    else:
        lag, pending = int(group.get("lag") or 0), int(group.get("pending") or 0)
        if lag:
            after = r.xrange(key, min=f"({group['last-delivered-id']}", count=1)
            waiting += [int(after[0][0].split("-")[0])] if after else []
        if pending:
            summary = r.xpending(key, GROUP)
            waiting += [int(summary["min"].split("-")[0])] if summary.get("min") else []
    now_ms = time.time() * 1000
    oldest = max((now_ms - t) / 1000 for t in waiting) if waiting else 0.0
    return {"lag": lag, "pending": pending, "oldest_waiting_seconds": round(max(oldest, 0.0), 3)}
