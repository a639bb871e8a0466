"""Request rows computed ahead for published flights equal the rows the service computes, on
both backends; any request that differs from the published flight is computed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from fti_assets.inference.refresh import write_backstop
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.serving.published import computed_rows, request_key, request_rows
from fti_assets.serving.schemas import FlightRequest
from fti_assets.serving.sqlite_store import OnlineStoreReader, SqliteWriter

DAY = date(2013, 1, 10)


def _requests(schedule: pl.DataFrame) -> list[dict]:
    """What clients send for these flights, departures in the origin's own offset."""
    return [
        FlightRequest.model_validate(
            {
                **{k: r[k] for k in ("carrier", "flight", "tailnum", "origin", "dest", "distance")},
                "scheduled_departure": r["scheduled_departure"].astimezone(r["scheduled_departure"].tzinfo),
                "scheduled_arrival": r["scheduled_arrival"].isoformat(),
            }
        ).model_dump()
        for r in schedule.iter_rows(named=True)
    ]


def _same(found: list[dict], expected: list[dict]) -> None:
    assert found == expected
    for a, b in zip(found, expected, strict=True):  # and the same types: ints stay ints, times stay aware
        assert {k: type(v) for k, v in a.items()} == {k: type(v) for k, v in b.items()}


@pytest.fixture(scope="module")
def backstopped(feature_home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    store = OfflineStore(home=str(feature_home))
    path = Path(tmp_path_factory.mktemp("published")) / "online.sqlite"
    as_of = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=6)
    writer = SqliteWriter(path)
    counts = write_backstop(writer, store, store.read("airports"), as_of)
    writer.close()
    schedule = store.read("flight_schedule", [DAY.isoformat()])
    assert counts["published_flights"] >= schedule.height > 100
    return path, schedule


def test_published_rows_equal_the_computed_ones(backstopped: tuple[Path, pl.DataFrame]) -> None:
    path, schedule = backstopped
    reader = OnlineStoreReader(path)
    flights = _requests(schedule.sample(200, seed=5))
    assert all(row is not None for row in reader.published([request_key(f) for f in flights]))
    expected = [computed_rows([f], reader)[0] for f in flights]  # one at a time, as requests come
    _same(request_rows(flights, reader), expected)


def test_a_request_unlike_the_published_flight_is_computed(backstopped: tuple[Path, pl.DataFrame]) -> None:
    path, schedule = backstopped
    reader = OnlineStoreReader(path)
    [published] = _requests(schedule.sample(1, seed=9))
    later = {**published, "scheduled_arrival": published["scheduled_arrival"] + timedelta(minutes=30)}
    other_plane = {**published, "tailnum": "N999ZZ"}
    flights = [published, later, other_plane]
    assert [row is not None for row in reader.published([request_key(f) for f in flights])] == [
        True,
        False,
        False,
    ]
    rows = request_rows(flights, reader)
    _same(rows, [computed_rows([f], reader)[0] for f in flights])
    assert rows[1]["scheduled_duration_min"] == rows[0]["scheduled_duration_min"] + 30
    assert rows[2]["tailnum"] == "N999ZZ"


def test_redis_holds_the_published_rows_sqlite_holds_and_both_prune_them(
    feature_home: Path, backstopped: tuple[Path, pl.DataFrame], tmp_path: Path
) -> None:
    from fti_assets.serving.redis_store import RedisStoreReader, RedisWriter
    from fti_assets_tests.servers import REDIS_URL, new_redis_prefix

    path, schedule = backstopped
    store = OfflineStore(home=str(feature_home))
    as_of = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=6)
    keys = [request_key(f) for f in _requests(schedule)]
    with new_redis_prefix() as prefix:
        writer = RedisWriter(REDIS_URL, prefix)
        write_backstop(writer, store, store.read("airports"), as_of)
        writer.close()
        redis = RedisStoreReader(REDIS_URL, prefix)
        assert redis.published(keys) == OnlineStoreReader(path).published(keys)
        # Five days on, the day's flights left the retained history: both stores drop their rows.
        later = as_of + timedelta(days=5)
        for writer in (RedisWriter(REDIS_URL, prefix), SqliteWriter(tmp_path / "online.sqlite")):
            write_backstop(writer, store, store.read("airports"), as_of)
            write_backstop(writer, store, store.read("airports"), later)
            writer.close()
        assert redis.published(keys) == [None] * len(keys)
        assert OnlineStoreReader(tmp_path / "online.sqlite").published(keys) == [None] * len(keys)
