"""The online feature store on Redis: versioned snapshots behind one pointer key.

Keys under a prefix ``P`` (one prefix per deployment, or per test):

- ``P:current``: the id of the snapshot readers use;
- ``P:snapshots``: a hash from snapshot id to the JSON list of its keys (for cleanup);
- ``P:snap:<id>:meta``: ``as_of`` and ``refreshed_at``;
- ``P:snap:<id>:tz``: airport code to time zone;
- ``P:snap:<id>:fg:<group>``: entity key to the JSON list ``[known_at, *features]``;
- ``P:snap:<id>:vec``: ``flight_id`` to the JSON record of its precomputed vector
  (``serving.vectors``), written with the group rows it was computed from.

A refresh writes a whole new snapshot, then switches ``P:current`` to it in one server-side
script: readers pin one snapshot per request and see the old refresh or the new one, never a
mix. Snapshots that are no longer current expire after ``retain_seconds``, long enough for
requests pinned to them to finish. A refresh that died half-way is registered too, so the
next successful one expires its keys.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import polars as pl
import redis
from pydantic_core import from_json
from redis.backoff import NoBackoff
from redis.retry import Retry

from fti_assets.domain.catalog import FEATURE_GROUPS, FeatureGroup
from fti_assets.serving.reader import OnlineStoreUnavailable

SEP = "\x1f"  # between the parts of a composite entity key; never inside an airport or carrier code
_UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
# Makes the snapshot current, keeps it, and retires every other one, atomically on the server.
_SWITCH = """
redis.call('SET', KEYS[1], ARGV[1])
for _, k in ipairs(cjson.decode(ARGV[3])) do redis.call('PERSIST', k) end
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  if all[i] ~= ARGV[1] then
    for _, k in ipairs(cjson.decode(all[i + 1])) do redis.call('EXPIRE', k, tonumber(ARGV[2])) end
    redis.call('HDEL', KEYS[2], all[i])
  end
end
return 1
"""


#: How long a read waits for Redis: a frozen server costs a request this and a 503 (and /readyz
#: reports it), not the request's whole budget. A read of a thousand flights is one round trip
#: of a few milliseconds.
READ_TIMEOUT_SECONDS = 0.5
#: A refresh writes hundreds of thousands of fields in pipelines: each reply may take longer.
WRITE_TIMEOUT_SECONDS = 30.0


def client(url: str, timeout: float = READ_TIMEOUT_SECONDS) -> redis.Redis:
    """A client that fails fast: an absent server costs about a second, a frozen one ``timeout``.

    A broken connection (a restarted server) is retried once on a new one; a timeout is not, so
    a frozen server is not waited out twice."""
    retry = Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,))
    return redis.Redis.from_url(
        url, decode_responses=True, socket_connect_timeout=0.5, socket_timeout=timeout, retry=retry
    )


def entity_field(keys: tuple) -> str | None:
    """The hash field of an entity (None when a key part is null: such rows match nothing)."""
    if any(v is None for v in keys):
        return None
    return SEP.join(v.isoformat() if isinstance(v, datetime) else str(v) for v in keys)


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _group_fields(frame: pl.DataFrame, group: FeatureGroup) -> dict[str, str]:
    columns = [group.known_at_column, *group.features]
    fields: dict[str, str] = {}
    rows = 0
    for keys, values in zip(
        frame.select(group.keys).iter_rows(), frame.select(columns).iter_rows(), strict=True
    ):
        field = entity_field(keys)
        if field is None:
            continue
        rows += 1
        fields[field] = json.dumps([_json_value(v) for v in values])
    if len(fields) != rows:
        raise ValueError(f"{group.name}: {rows - len(fields)} duplicate entity keys in one refresh")
    return fields


def _chunks(mapping: dict[str, str], size: int = 5000) -> Iterator[dict[str, str]]:
    items = list(mapping.items())
    for start in range(0, len(items), size):
        yield dict(items[start : start + size])


def write_snapshot(
    url: str,
    prefix: str,
    latest: dict[str, pl.DataFrame],
    timezones: pl.DataFrame,
    as_of: datetime,
    retain_seconds: int = 600,
    vectors: list[tuple[str, dict]] | None = None,
) -> dict[str, int]:
    """Write ``latest`` (group name to its latest rows) and ``vectors`` ((flight_id, record)
    pairs) as a new snapshot and make it current."""
    fields = {g.name: _group_fields(latest[g.name], g) for g in FEATURE_GROUPS}  # validated before any write
    flights = {fid: json.dumps(record) for fid, record in vectors or []}
    snapshot = f"{as_of.astimezone(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"
    base = f"{prefix}:snap:{snapshot}"
    group_keys = {g.name: f"{base}:fg:{g.name}" for g in FEATURE_GROUPS}
    keys = [f"{base}:meta", f"{base}:tz", f"{base}:vec", *group_keys.values()]
    zones = {
        faa: tz
        for faa, tz in timezones.select("faa", "tzone").iter_rows()
        if faa is not None and tz is not None
    }
    r = client(url, WRITE_TIMEOUT_SECONDS)
    try:
        r.hset(
            f"{prefix}:snapshots", snapshot, json.dumps(keys)
        )  # registered first: see the module docstring
        pipe = r.pipeline(transaction=False)
        for name, mapping in fields.items():
            for chunk in _chunks(mapping):
                pipe.hset(group_keys[name], mapping=chunk)
        if zones:
            pipe.hset(f"{base}:tz", mapping=zones)
        for chunk in _chunks(flights):
            pipe.hset(f"{base}:vec", mapping=chunk)
        pipe.hset(
            f"{base}:meta",
            mapping={"as_of": as_of.isoformat(), "refreshed_at": datetime.now(UTC).isoformat()},
        )
        pipe.execute()
        r.eval(
            _SWITCH,
            2,
            f"{prefix}:current",
            f"{prefix}:snapshots",
            snapshot,
            str(retain_seconds),
            json.dumps(keys),
        )
    except _UNREACHABLE as exc:
        raise OnlineStoreUnavailable(f"Redis at {url} is unreachable: {exc}") from exc
    finally:
        r.close()
    return {**{g.name: len(fields[g.name]) for g in FEATURE_GROUPS}, "flight_vectors": len(flights)}


class RedisSnapshot:
    """One snapshot, pinned for the length of a request."""

    def __init__(self, r: redis.Redis, base: str | None, as_of: str | None, zones: dict[str, str]) -> None:
        self._r, self._base, self._as_of, self._zones = r, base, as_of, zones

    def pinned(self) -> RedisSnapshot:
        return self

    def as_of(self) -> str | None:
        return self._as_of

    def timezone(self, airport: str) -> str | None:
        return self._zones.get(airport)

    def lookup(self, group: FeatureGroup, keys: tuple) -> dict[str, Any] | None:
        """The group's row for ``keys`` (known-at time and features), or None."""
        return self.lookup_many([(group, keys)])[0]

    def lookup_many(self, requests: list[tuple[FeatureGroup, tuple]]) -> list[dict[str, Any] | None]:
        """Every lookup in one round trip; raises if the snapshot vanished meanwhile."""
        if self._base is None:
            raise OnlineStoreUnavailable("the online store is empty: materialize online_features")
        fields = [entity_field(keys) for _, keys in requests]
        pipe = self._r.pipeline(transaction=False)
        for (group, _), field in zip(requests, fields, strict=True):
            if field is not None:
                pipe.hget(f"{self._base}:fg:{group.name}", field)
        pipe.exists(f"{self._base}:meta")
        try:
            *found, alive = pipe.execute()
        except _UNREACHABLE as exc:
            raise OnlineStoreUnavailable(f"Redis is unreachable: {exc}") from exc
        if not alive:  # expired or deleted: its absent rows would read as "unknown entity"
            raise OnlineStoreUnavailable(f"snapshot {self._base} is gone")
        values = iter(found)
        out: list[dict[str, Any] | None] = []
        for (group, _), field in zip(requests, fields, strict=True):
            raw = next(values) if field is not None else None
            columns = [group.known_at_column, *group.features]
            out.append(dict(zip(columns, from_json(raw), strict=True)) if raw is not None else None)
        return out

    def vectors(self, flight_ids: list[str]) -> list[dict[str, Any] | None]:
        """The precomputed record of each flight (``serving.vectors``), or None, in one round trip."""
        if self._base is None:
            raise OnlineStoreUnavailable("the online store is empty: materialize online_features")
        pipe = self._r.pipeline(transaction=False)
        pipe.hmget(f"{self._base}:vec", flight_ids)
        pipe.exists(f"{self._base}:meta")
        try:
            found, alive = pipe.execute()
        except _UNREACHABLE as exc:
            raise OnlineStoreUnavailable(f"Redis is unreachable: {exc}") from exc
        if not alive:
            raise OnlineStoreUnavailable(f"snapshot {self._base} is gone")
        return [from_json(raw) if raw is not None else None for raw in found]


class RedisStoreReader:
    """The service's reader: ``pinned()`` resolves the current snapshot once per request."""

    local_reads = False
    """Reads cross the network and may wait on a timeout: never on the service's event loop."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url, self.prefix = url, prefix
        self._client: redis.Redis | None = None
        self._zones: tuple[str, dict[str, str]] | None = None  # time zones of the last snapshot seen

    def _redis(self) -> redis.Redis:
        if self._client is None:  # created in the serving process, after any fork
            self._client = client(self.url)
        return self._client

    def pinned(self) -> RedisSnapshot:
        r = self._redis()
        try:
            snapshot = r.get(f"{self.prefix}:current")
            if snapshot is None:
                return RedisSnapshot(r, None, None, {})
            base = f"{self.prefix}:snap:{snapshot}"
            meta = r.hgetall(f"{base}:meta")
            if self._zones is None or self._zones[0] != snapshot:
                self._zones = (snapshot, r.hgetall(f"{base}:tz"))
        except _UNREACHABLE as exc:
            raise OnlineStoreUnavailable(f"Redis at {self.url} is unreachable: {exc}") from exc
        if not meta:
            raise OnlineStoreUnavailable(f"the current snapshot {snapshot} is gone")
        return RedisSnapshot(r, base, meta["as_of"], self._zones[1])

    def as_of(self) -> str | None:
        return self.pinned().as_of()

    def timezone(self, airport: str) -> str | None:
        return self.pinned().timezone(airport)

    def lookup(self, group: FeatureGroup, keys: tuple) -> dict[str, Any] | None:
        return self.pinned().lookup(group, keys)

    def lookup_many(self, requests: list[tuple[FeatureGroup, tuple]]) -> list[dict[str, Any] | None]:
        return self.pinned().lookup_many(requests)

    def vectors(self, flight_ids: list[str]) -> list[dict[str, Any] | None]:
        return self.pinned().vectors(flight_ids)
