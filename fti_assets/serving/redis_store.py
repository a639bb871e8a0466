"""The online feature store on Redis: the SQLite store's content under one key prefix ``P``.

- ``P:rows:<group>:<entity>``: a sorted set of the entity's rows, scored by ``known_at``
  (epoch microseconds), each member the JSON ``[known_at, values]``;
- ``P:windows:<group>``: a hash from entity to its window outcomes (``online_writer``);
- ``P:versions:<feed>``: a hash from a fact's identity to its latest applied event;
- ``P:replacements``: a sorted set of replacements (the replaced version, the version that
  replaced it), scored by when that was learnt (``serving.as_known``);
- ``P:published`` and ``P:published:departure``: hashes from a published flight's key to its
  request row computed ahead (``serving.published``) and to its scheduled departure;
- ``P:tz`` (airport time zones) and ``P:meta`` (``newest_event_at``, ``retained_from``).

Writers hold ``P:lock`` for a batch and commit its writes in one MULTI/EXEC: a reader sees a
batch whole or not at all, and a writer killed mid-batch leaves nothing behind (its lock
expires). A request's lookups go in one round trip.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from fti_assets.domain import events as ev
from fti_assets.domain.catalog import FEATURE_GROUPS, FeatureGroup
from fti_assets.serving import as_known
from fti_assets.serving.online_writer import (
    RETAIN_MICROS,
    OnlineWriter,
    decode_arrays,
    oldest_known,
    prune_arrays,
    reference_rows,
    row_value,
    window_lookup,
)
from fti_assets.serving.reader import OnlineStoreUnavailable

_UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
LOCK_MILLIS = 30_000
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


#: How long a read waits for Redis: a frozen server costs a request this and a 503 (and /readyz
#: reports it), not the request's whole budget. A request's lookups are one round trip of a few
#: milliseconds.
READ_TIMEOUT_SECONDS = 0.5
#: A writer applies batches in one MULTI/EXEC: a reply may take longer.
WRITE_TIMEOUT_SECONDS = 30.0


def client(url: str, timeout: float = READ_TIMEOUT_SECONDS) -> redis.Redis:
    """A client that fails fast: an absent server costs about a second, a frozen one ``timeout``.

    A broken connection (a restarted server) is retried once on a new one; a timeout is not, so
    a frozen server is not waited out twice."""
    retry = Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,))
    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=timeout, retry=retry)


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _read_windows(
    r: redis.Redis, prefix: str, group: FeatureGroup, entities: list[str]
) -> dict[str, np.ndarray]:
    found = r.hmget(f"{prefix}:windows:{group.name}", entities)
    return {k: decode_arrays(v) for k, v in zip(entities, found, strict=True) if v is not None}


def _load_rows(
    r: redis.Redis, prefix: str, group: FeatureGroup, entities: list[str]
) -> dict[str, list[list]]:
    pipe = r.pipeline(transaction=False)
    for entity in entities:
        pipe.zrange(f"{prefix}:rows:{group.name}:{entity}", 0, -1)
    return {
        e: [json.loads(m) for m in found] for e, found in zip(entities, pipe.execute(), strict=True) if found
    }


class RedisWriter(OnlineWriter):
    """Applies events to the Redis store at ``url`` under ``prefix`` (``OnlineWriter.apply``)."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url, self.prefix = url, prefix
        self.r = client(url, WRITE_TIMEOUT_SECONDS)
        self._pipe: Any = None

    def close(self) -> None:
        self.r.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        token, lock = uuid.uuid4().hex, f"{self.prefix}:lock"
        while not self.r.set(lock, token, nx=True, px=LOCK_MILLIS):
            time.sleep(0.005)  # another writer's batch: they take milliseconds
        self._pipe = self.r.pipeline(transaction=True)
        try:
            yield
            self._pipe.execute()
        finally:
            self._pipe = None
            self.r.eval(_RELEASE, 1, lock, token)

    def stored_versions(self, feed: str, identities: list[str]) -> dict[str, dict]:
        if not identities:
            return {}
        found = self.r.hmget(f"{self.prefix}:versions:{feed}", identities)
        return {k: json.loads(v) for k, v in zip(identities, found, strict=True) if v is not None}

    def store_versions(self, feed: str, versions: dict[str, dict]) -> None:
        if versions:
            self._pipe.hset(
                f"{self.prefix}:versions:{feed}", mapping={k: json.dumps(e) for k, e in versions.items()}
            )

    def read_windows(self, group: FeatureGroup, entities: list[str]) -> dict[str, np.ndarray]:
        return _read_windows(self.r, self.prefix, group, entities)

    def write_windows(self, group: FeatureGroup, arrays: dict[str, np.ndarray]) -> None:
        if arrays:
            self._pipe.hset(
                f"{self.prefix}:windows:{group.name}", mapping={k: a.tobytes() for k, a in arrays.items()}
            )

    def _rows_key(self, group: FeatureGroup, entity: str) -> str:
        return f"{self.prefix}:rows:{group.name}:{entity}"

    def load_rows(self, group: FeatureGroup, entities: list[str]) -> dict[str, list[list]]:
        return _load_rows(self.r, self.prefix, group, entities)

    def save_rows(self, group: FeatureGroup, rows: dict[str, list[list]]) -> None:
        for entity, entity_rows in rows.items():
            key = self._rows_key(group, entity)
            self._pipe.delete(key)
            if entity_rows:
                self._pipe.zadd(key, {json.dumps(row): row[0] for row in entity_rows})

    def store_replacements(self, entries: list[dict]) -> None:
        self._pipe.zadd(f"{self.prefix}:replacements", {json.dumps(e): e["at"] for e in entries})

    def put_published(self, rows: list[tuple[str, int, str]]) -> None:
        if not rows:
            return
        with self.transaction():
            self._pipe.hset(f"{self.prefix}:published", mapping={k: row for k, _, row in rows})
            self._pipe.hset(f"{self.prefix}:published:departure", mapping={k: d for k, d, _ in rows})

    def meta(self) -> dict[str, str]:
        return {_text(k): _text(v) for k, v in self.r.hgetall(f"{self.prefix}:meta").items()}

    def set_meta(self, values: dict[str, str]) -> None:
        self._pipe.hset(f"{self.prefix}:meta", mapping=values)

    def put_reference(self, timezones: pl.DataFrame, static: dict[str, pl.DataFrame]) -> None:
        """Airport time zones and the static groups' tables (plane attributes)."""
        with self.transaction():
            zones = dict(timezones.select("faa", "tzone").iter_rows())
            self._pipe.delete(f"{self.prefix}:tz")
            if zones:
                self._pipe.hset(f"{self.prefix}:tz", mapping=zones)
            for name, frame in static.items():
                group = next(g for g in FEATURE_GROUPS if g.name == name)
                for entity, known_at, values in reference_rows(frame, group):
                    key = self._rows_key(group, entity)
                    self._pipe.delete(key)
                    self._pipe.zadd(key, {json.dumps([known_at, values]): known_at})

    def prune(self, static: tuple[str, ...] = ("plane_attributes",)) -> int | None:
        """Drop what no lookup from ``RETAIN_MICROS`` before the newest event on needs."""
        newest = self.meta().get("newest_event_at")
        if newest is None:
            return None
        cutoff = int(newest) - RETAIN_MICROS
        with self.transaction():
            for group in FEATURE_GROUPS:
                if group.name in static:
                    continue
                for key in self.r.scan_iter(f"{self.prefix}:rows:{group.name}:*", count=1000):
                    # Keep the latest row at or before the cutoff: it is in effect there.
                    before = self.r.zrevrangebyscore(key, cutoff, "-inf", start=0, num=1, withscores=True)
                    if before:
                        self._pipe.zremrangebyscore(key, "-inf", f"({int(before[0][1])}")
                stored = self.r.hgetall(f"{self.prefix}:windows:{group.name}")
                kept = {_text(k): prune_arrays(decode_arrays(v), cutoff).tobytes() for k, v in stored.items()}
                if kept:
                    self._pipe.hset(f"{self.prefix}:windows:{group.name}", mapping=kept)
            self._pipe.zremrangebyscore(f"{self.prefix}:replacements", "-inf", f"({cutoff}")
            departures = self.r.hgetall(f"{self.prefix}:published:departure")
            gone = [k for k, d in departures.items() if int(d) < cutoff]
            if gone:
                self._pipe.hdel(f"{self.prefix}:published", *gone)
                self._pipe.hdel(f"{self.prefix}:published:departure", *gone)
            current = self.meta().get("retained_from")
            if current is None or int(current) < cutoff:
                self.set_meta({"retained_from": str(cutoff)})
        return cutoff


class RedisStoreReader:
    """The service's reader: every lookup of a request in one round trip."""

    local_reads = False
    """Reads cross the network and may wait on a timeout: never on the service's event loop."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url, self.prefix = url, prefix
        self._client: redis.Redis | None = None
        self._zones: dict[str, str] = {}

    def _redis(self) -> redis.Redis:
        if self._client is None:  # created in the serving process, after any fork
            self._client = client(self.url)
        return self._client

    def pinned(self) -> RedisStoreReader:
        return self

    def meta(self) -> dict[str, str]:
        found = self._call(lambda r: r.hgetall(f"{self.prefix}:meta"))
        return {_text(k): _text(v) for k, v in found.items()}

    def timezone(self, airport: str) -> str | None:
        if airport not in self._zones:
            zone = self._call(lambda r: r.hget(f"{self.prefix}:tz", airport))
            if zone is None:
                return None
            self._zones[airport] = _text(zone)
        return self._zones[airport]

    def published(self, keys: list[str]) -> list[str | None]:
        """The request row stored under each key (``serving.published``), None where none is."""
        return [_text(v) for v in self._call(lambda r: r.hmget(f"{self.prefix}:published", keys))]

    def read_windows(self, group: FeatureGroup, entities: list[str]) -> dict[str, np.ndarray]:
        return self._call(lambda r: _read_windows(r, self.prefix, group, entities))

    def load_rows(self, group: FeatureGroup, entities: list[str]) -> dict[str, list[list]]:
        return self._call(lambda r: _load_rows(r, self.prefix, group, entities))

    def _call(self, read: Callable[[redis.Redis], Any]) -> Any:
        """``read`` on the client; an unreachable server is ``OnlineStoreUnavailable``."""
        try:
            return read(self._redis())
        except _UNREACHABLE as exc:
            raise OnlineStoreUnavailable(f"Redis at {self.url} is unreachable: {exc}") from exc

    def lookup_many(
        self, requests: list[tuple[FeatureGroup, tuple, datetime]]
    ) -> list[dict[str, Any] | None]:
        """Each group's value for the keys as of the instant, as the store knew it then
        (``serving.as_known``); the replacements are read in the lookups' round trip."""
        if not requests:
            return []
        earliest = min(ev.micros(at) for _, _, at in requests)
        found, later = self._lookup(requests, earliest)
        if not later:
            return found
        return as_known.lookup_many(self, requests, later)

    def lookup_now(self, requests: list[tuple[FeatureGroup, tuple, datetime]]) -> list[dict[str, Any] | None]:
        """The lookups on the store as it is."""
        return self._lookup(requests, None)[0]

    def _lookup(
        self, requests: list[tuple[FeatureGroup, tuple, datetime]], replaced_after: int | None
    ) -> tuple[list[dict[str, Any] | None], list[dict]]:
        pipe = self._redis().pipeline(transaction=False)
        for group, keys, at in requests:
            entity, micros = ev.entity(keys), ev.micros(at)
            if group.name in ev.WINDOW_GROUPS:
                pipe.hget(f"{self.prefix}:windows:{group.name}", entity)
            else:
                oldest = oldest_known(group, micros)
                pipe.zrevrangebyscore(
                    f"{self.prefix}:rows:{group.name}:{entity}",
                    micros,
                    "-inf" if oldest is None else oldest,
                    start=0,
                    num=1,
                )
        if replaced_after is not None:
            pipe.zrangebyscore(f"{self.prefix}:replacements", f"({replaced_after}", "+inf")
        found = self._call(lambda _: pipe.execute())
        later = [json.loads(e) for e in found.pop()] if replaced_after is not None else []
        out: list[dict[str, Any] | None] = []
        for (group, _, at), raw in zip(requests, found, strict=True):
            if group.name in ev.WINDOW_GROUPS:
                out.append(window_lookup(group, decode_arrays(raw), ev.micros(at)))
            elif raw:
                known_at, values = json.loads(raw[0])
                out.append(row_value(group, known_at, values))
            else:
                out.append(None)
        return out, later
