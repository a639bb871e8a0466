"""The Redis online store against the SQLite one, on real refreshes of the two-week slice."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import redis

from fti_assets.domain.catalog import FEATURE_GROUPS
from fti_assets.domain.retrieval import latest_per_entity
from fti_assets.domain.timezones import airport_timezones
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.serving import redis_store, sqlite_store
from fti_assets.serving.reader import OnlineStoreUnavailable
from fti_assets_tests.servers import REDIS_URL, redis_prefix  # noqa: F401 (fixture)

EARLY, LATE = datetime(2013, 1, 9, 6, tzinfo=UTC), datetime(2013, 1, 13, 6, tzinfo=UTC)


def _refresh(home: Path, as_of: datetime) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """What online_features writes for ``as_of``: the same retrieval code, the real store."""
    store = OfflineStore(home=str(home))
    day = as_of.date()
    latest = {g.name: latest_per_entity(store.read_history(g, day, day), g, as_of) for g in FEATURE_GROUPS}
    return latest, airport_timezones(store.read("airports"))


def _requests(latest: dict[str, pl.DataFrame]) -> list[tuple]:
    """Every entity of every group, plus an unknown one per group."""
    out = []
    for g in FEATURE_GROUPS:
        out += [
            (g, tuple(redis_store._json_value(v) for v in keys))
            for keys in latest[g.name].select(g.keys).iter_rows()
        ]
        out.append((g, tuple("ZZZ" for _ in g.keys)))
    return out


def test_redis_answers_every_lookup_as_sqlite_does(
    feature_home: Path, tmp_path: Path, redis_prefix: str
) -> None:  # noqa: F811
    latest, zones = _refresh(feature_home, LATE)
    counts = sqlite_store.write_snapshot(tmp_path / "online.sqlite", latest, zones, LATE)
    assert redis_store.write_snapshot(REDIS_URL, redis_prefix, latest, zones, LATE) == counts
    sqlite = sqlite_store.OnlineStoreReader(tmp_path / "online.sqlite").pinned()
    view = redis_store.RedisStoreReader(REDIS_URL, redis_prefix).pinned()
    assert view.as_of() == sqlite.as_of() == LATE.isoformat()
    for airport in ["EWR", "JFK", "LAX", "SJU", "BQN", "XXX"]:
        assert view.timezone(airport) == sqlite.timezone(airport)
    requests = _requests(latest)
    assert len(requests) > 3000
    got, want = view.lookup_many(requests), sqlite.lookup_many(requests)
    assert got == want
    assert sum(row is None for row in got) == len(FEATURE_GROUPS)  # only the unknown entities
    assert view.lookup(*requests[0]) == want[0]


def test_a_pinned_reader_sees_one_whole_refresh_while_others_are_written(
    feature_home: Path, tmp_path: Path, redis_prefix: str
) -> None:  # noqa: F811
    refreshes = {as_of.isoformat(): _refresh(feature_home, as_of) for as_of in (EARLY, LATE)}
    early = refreshes[EARLY.isoformat()][0]
    probe = [
        (g, tuple(redis_store._json_value(v) for v in k))
        for g in FEATURE_GROUPS
        for k in early[g.name].select(g.keys).head(40).iter_rows()
    ]
    answers = {}  # what each refresh answers, from SQLite
    for as_of, (latest, zones) in refreshes.items():
        path = tmp_path / f"{as_of[:10]}.sqlite"
        sqlite_store.write_snapshot(path, latest, zones, datetime.fromisoformat(as_of))
        answers[as_of] = sqlite_store.OnlineStoreReader(path).lookup_many(probe)
    assert answers[EARLY.isoformat()] != answers[LATE.isoformat()]
    redis_store.write_snapshot(REDIS_URL, redis_prefix, *refreshes[EARLY.isoformat()], EARLY)
    reader = redis_store.RedisStoreReader(REDIS_URL, redis_prefix)
    seen: list[tuple[str, bool]] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            view = reader.pinned()
            seen.append((view.as_of(), view.lookup_many(probe) == answers[view.as_of()]))

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for i in range(6):
            as_of = (LATE, EARLY)[i % 2]
            redis_store.write_snapshot(REDIS_URL, redis_prefix, *refreshes[as_of.isoformat()], as_of)
    finally:
        stop.set()
        thread.join()
    assert {as_of for as_of, _ in seen} == set(answers)  # both refreshes were read during the switches
    assert all(consistent for _, consistent in seen), [s for s in seen if not s[1]][:3]


def test_replaced_snapshots_expire_and_a_vanished_one_is_an_error_not_defaults(
    feature_home: Path, redis_prefix: str
) -> None:  # noqa: F811
    latest, zones = _refresh(feature_home, LATE)
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    redis_store.write_snapshot(REDIS_URL, redis_prefix, latest, zones, EARLY, retain_seconds=1)
    reader = redis_store.RedisStoreReader(REDIS_URL, redis_prefix)
    old = reader.pinned()
    old_id = client.get(f"{redis_prefix}:current")
    assert all(
        client.ttl(k) == -1 for k in client.scan_iter(f"{redis_prefix}:snap:{old_id}:*")
    )  # current: no expiry
    redis_store.write_snapshot(REDIS_URL, redis_prefix, latest, zones, LATE, retain_seconds=1)
    assert list(client.hkeys(f"{redis_prefix}:snapshots")) == [client.get(f"{redis_prefix}:current")]
    group = FEATURE_GROUPS[0]
    keys = latest[group.name].select(group.keys).row(0)
    assert old.lookup(group, keys) is not None  # still readable by a request pinned to it
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and list(client.scan_iter(f"{redis_prefix}:snap:{old_id}:*")):
        time.sleep(0.2)
    assert list(client.scan_iter(f"{redis_prefix}:snap:{old_id}:*")) == []
    with pytest.raises(OnlineStoreUnavailable, match="gone"):
        old.lookup(group, keys)
    assert reader.pinned().as_of() == LATE.isoformat()


def test_a_refresh_that_dies_before_the_switch_is_invisible_and_cleaned_up(
    feature_home: Path, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: F811
    latest, zones = _refresh(feature_home, LATE)
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    redis_store.write_snapshot(REDIS_URL, redis_prefix, latest, zones, EARLY)
    good = client.get(f"{redis_prefix}:current")

    def lost(*_args, **_kwargs):
        raise redis.exceptions.ConnectionError("connection lost before the switch")

    with monkeypatch.context() as patch:
        patch.setattr(redis.Redis, "eval", lost)
        with pytest.raises(OnlineStoreUnavailable, match="unreachable"):
            redis_store.write_snapshot(REDIS_URL, redis_prefix, latest, zones, LATE)
    assert client.get(f"{redis_prefix}:current") == good
    assert redis_store.RedisStoreReader(REDIS_URL, redis_prefix).as_of() == EARLY.isoformat()
    [orphan] = [s for s in client.hkeys(f"{redis_prefix}:snapshots") if s != good]
    assert client.exists(f"{redis_prefix}:snap:{orphan}:meta")
    redis_store.write_snapshot(REDIS_URL, redis_prefix, latest, zones, LATE)
    assert 0 < client.ttl(f"{redis_prefix}:snap:{orphan}:meta") <= 600  # the next refresh retires it


def test_duplicate_entities_fail_before_anything_is_written(feature_home: Path, redis_prefix: str) -> None:
    latest, zones = _refresh(feature_home, LATE)
    name = FEATURE_GROUPS[0].name
    broken = {**latest, name: pl.concat([latest[name], latest[name].head(1)])}
    with pytest.raises(ValueError, match="duplicate entity keys"):
        redis_store.write_snapshot(REDIS_URL, redis_prefix, broken, zones, LATE)
    client = redis.Redis.from_url(REDIS_URL)
    assert list(client.scan_iter(f"{redis_prefix}:*")) == []


def test_an_unreachable_server_is_reported_as_unavailable() -> None:
    from fti_assets_tests.service_process import free_port

    reader = redis_store.RedisStoreReader(f"redis://127.0.0.1:{free_port()}/0", "nowhere")
    with pytest.raises(OnlineStoreUnavailable, match="unreachable"):
        reader.pinned()


def test_redis_holds_the_same_precomputed_vectors_as_sqlite(
    feature_home: Path, tmp_path: Path, redis_prefix: str
) -> None:  # noqa: F811
    from fti_assets.inference.refresh import flight_vectors

    latest, zones = _refresh(feature_home, LATE)
    vectors = flight_vectors(OfflineStore(home=str(feature_home)), latest, LATE)
    assert len(vectors) > 500
    counts = sqlite_store.write_snapshot(tmp_path / "online.sqlite", latest, zones, LATE, vectors)
    assert redis_store.write_snapshot(REDIS_URL, redis_prefix, latest, zones, LATE, vectors=vectors) == counts
    ids = [fid for fid, _ in vectors] + ["2013-01-13-ZZ1-EWR"]
    want = sqlite_store.OnlineStoreReader(tmp_path / "online.sqlite").vectors(ids)
    assert redis_store.RedisStoreReader(REDIS_URL, redis_prefix).vectors(ids) == want
    assert want[-1] is None and all(w is not None for w in want[:-1])
