"""A Redis that restarts empty is rebuilt by the sensor, with an alert: a private redis-server,
real Dagster materializations and a real sensor evaluation."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg

from fti_assets.definitions import ASSETS
from fti_assets.inference.online_store_sensor import REBUILD_TAG, online_store_rebuild_sensor
from fti_assets.partitions import bind_partitions
from fti_assets.resources.alerts import AlertChannels
from fti_assets.resources.environment import build_resources
from fti_assets.resources.online_store import OnlineStore
from fti_assets_tests.conftest import settings_for
from fti_assets_tests.servers import RedisServer

AS_OF = "2013-01-12T06:00:00+00:00"


def _refresh(home: Path, online: OnlineStore, instance: dg.DagsterInstance, run_config: dict, tags: dict):
    settings = settings_for(home)
    resources = {**build_resources(settings), "online": online}
    return dg.materialize(
        bind_partitions(ASSETS, settings),
        selection=[dg.AssetKey("online_features")],
        resources=resources,
        instance=instance,
        run_config=run_config,
        tags=tags,
    )


def test_an_emptied_redis_is_rebuilt_with_the_recorded_refresh(feature_home: Path, tmp_path: Path) -> None:
    home = Path(shutil.copytree(feature_home, tmp_path / "home"))
    server = RedisServer(tmp_path / "redis").start()
    try:
        online = OnlineStore(
            path=str(home / "online.sqlite"), backend="redis", redis_url=server.url, prefix="rebuild"
        )
        instance = dg.DagsterInstance.ephemeral()
        config = {"ops": {"online_features": {"config": {"as_of": AS_OF}}}}
        assert _refresh(home, online, instance, config, {}).success
        held = online.newest_event_at()
        assert held is not None

        def evaluate():
            with dg.build_sensor_context(
                instance=instance, resources={"online": online, "alerts": AlertChannels()}
            ) as context:
                return online_store_rebuild_sensor(context)

        assert isinstance(evaluate(), dg.SkipReason)  # the store serves the recorded refresh
        # Restarted without its data (its append-only file gone): the pointer and snapshot are lost.
        server.stop()
        shutil.rmtree(server.folder)
        server.start()
        assert online.newest_event_at() is None
        request = evaluate()
        assert isinstance(request, dg.RunRequest) and request.tags[REBUILD_TAG] == AS_OF
        assert _refresh(home, online, instance, request.run_config, request.tags).success
        assert online.newest_event_at() == held  # what the replicas served before
        assert isinstance(evaluate(), dg.SkipReason)
    finally:
        server.stop()


def test_an_unreachable_store_is_an_outage_not_a_loss(feature_home: Path, tmp_path: Path) -> None:
    """Nothing is launched against a Redis that is down: the rebuild waits for it to be back."""
    home = Path(shutil.copytree(feature_home, tmp_path / "home"))
    server = RedisServer(tmp_path / "redis").start()
    online = OnlineStore(
        path=str(home / "online.sqlite"), backend="redis", redis_url=server.url, prefix="down"
    )
    instance = dg.DagsterInstance.ephemeral()
    assert _refresh(
        home, online, instance, {"ops": {"online_features": {"config": {"as_of": AS_OF}}}}, {}
    ).success
    server.stop()
    with dg.build_sensor_context(
        instance=instance, resources={"online": online, "alerts": AlertChannels()}
    ) as context:
        result = online_store_rebuild_sensor(context)
    assert isinstance(result, dg.SkipReason) and "unreachable" in result.skip_message
