"""The stream's check: it fails while an event waits unapplied past the stall limit, and passes
once the consumer has applied it; the sensor records both for the UI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import dagster as dg

from fti_assets.inference.stream_health import feature_stream_sensor
from fti_assets.resources.feature_stream import FeatureStream
from fti_assets.resources.online_store import OnlineStore
from fti_assets.serving.sqlite_store import SqliteWriter
from fti_assets.stream.consumer import Consumer
from fti_assets.stream.redis_streams import RedisStream, client, stream_key
from fti_assets_tests.servers import REDIS_URL, new_redis_prefix
from fti_assets_tests.stream.feed import all_events, feeds


def _evaluate(
    stream: FeatureStream, online: OnlineStore
) -> tuple[dg.AssetObservation, dg.AssetCheckEvaluation]:
    context = dg.build_sensor_context(resources={"stream": stream, "online": online})
    result = feature_stream_sensor(context)
    observation, check = result.asset_events
    return observation, check


def test_the_check_fails_while_an_event_waits_too_long_and_passes_once_it_is_applied(tmp_path: Path) -> None:
    events = all_events(feeds(21, outcomes=10))
    online = OnlineStore(path=str(tmp_path / "online.sqlite"))
    with new_redis_prefix() as prefix:
        stream = FeatureStream(url=REDIS_URL, prefix=prefix, stall_seconds=30)
        r = client(REDIS_URL)
        _, check = _evaluate(stream, online)
        assert check.passed  # an empty stream waits for nothing
        # Appended a minute ago (stream ids are append times), and no consumer has taken it.
        minute_ago = int(time.time() * 1000) - 60_000
        for i, event in enumerate(events):
            r.xadd(stream_key(prefix), {"event": json.dumps(event)}, id=f"{minute_ago}-{i}")
        observation, check = _evaluate(stream, online)
        assert not check.passed and check.metadata["lag"].value == len(events)
        assert check.metadata["oldest_waiting_seconds"].value >= 60
        assert observation.asset_key == dg.AssetKey("online_features")
        writer = SqliteWriter(tmp_path / "online.sqlite")
        Consumer(RedisStream(REDIS_URL, prefix, "c", block_ms=10), writer).drain()
        writer.close()
        observation, check = _evaluate(stream, online)
    assert check.passed and check.metadata["lag"].value == 0 and check.metadata["pending"].value == 0
    assert check.metadata["newest_applied_event_at"].value is not None


def test_an_unreachable_stream_fails_the_check_with_the_reason(tmp_path: Path) -> None:
    from fti_assets_tests.service_process import free_port

    stream = FeatureStream(url=f"redis://127.0.0.1:{free_port()}/0", prefix="nowhere")
    _, check = _evaluate(stream, OnlineStore(path=str(tmp_path / "online.sqlite")))
    assert not check.passed and "ConnectionError" in check.metadata["error"].value
