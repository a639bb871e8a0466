"""A sensor that rebuilds an online store found empty: a Redis restarted without its data.

Replicas answer 503 while the store holds no snapshot; nothing else would write one before the
next scheduled refresh. The sensor compares the store with the last recorded materialization
of ``online_features``: recorded but absent means the store lost it. It then logs an error
(the alert, on the sensor's tick and in the daemon's log) and launches ``online_refresh`` for
the recorded refresh instant, so replicas serve what they served before, and no later one.
"""

import dagster as dg

from fti_assets.jobs import online_refresh
from fti_assets.resources.online_store import OnlineStore

REBUILD_TAG = "fti/online_store_rebuild"
"""Tag of a rebuild run: the refresh instant it restores."""
_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dg.sensor(job=online_refresh, default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30)
def online_store_rebuild_sensor(context: dg.SensorEvaluationContext, online: OnlineStore):
    """Rebuilds the online store when it has lost the refresh `online_features` last recorded
    (a Redis restarted empty), with an error on the tick as the alert."""
    from fti_assets.serving.reader import OnlineStoreUnavailable

    event = context.instance.get_latest_materialization_event(dg.AssetKey("online_features"))
    if event is None or event.asset_materialization is None:
        return dg.SkipReason("online_features was never materialized: nothing to restore")
    recorded = event.asset_materialization.metadata.get("as_of")
    if recorded is None:
        return dg.SkipReason("the last online_features materialization records no refresh instant")
    as_of = str(recorded.value)
    try:
        current = online.current_as_of()
    except OnlineStoreUnavailable as exc:  # a server that is down is the outage itself, not a loss
        return dg.SkipReason(f"the online store is unreachable, nothing to compare: {exc}")
    if current is not None:
        return dg.SkipReason(f"the online store serves the refresh of {current}")
    running = context.instance.get_runs(filters=dg.RunsFilter(tags={REBUILD_TAG: as_of}, statuses=_ACTIVE))
    if running:
        return dg.SkipReason(f"run {running[0].run_id} is already rebuilding the refresh of {as_of}")
    context.log.error(
        f"ALERT: the online store at {online.location} is empty, but online_features recorded the refresh of "
        f"{as_of} (a Redis restarted without its data?): every replica answers 503 until it is rebuilt; "
        "launching online_refresh for it"
    )
    return dg.RunRequest(
        run_config={"ops": {"online_features": {"config": {"as_of": as_of}}}},
        tags={REBUILD_TAG: as_of},
    )
