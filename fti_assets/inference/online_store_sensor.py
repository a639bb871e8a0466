"""A sensor that rebuilds an online store found empty: a Redis restarted without its data.

Replicas answer 503 while the store holds no event; the stream only adds new ones, and the
daily backstop would come hours later. The sensor compares the store with the last recorded
materialization of ``online_features``: it recorded events (``newest_event_at``) but the store
holds none, so the store lost them. It then alerts (an error on the sensor's tick and in the
daemon's log, and the alert channels where ``FTI_ALERT_*`` sets them) and launches
``online_refresh`` as of the recorded backstop instant: the offline tables hold every event
up to it. Events the stream applied after that instant come
back with the next backstop.
"""

import dagster as dg

from fti_assets.jobs import online_refresh
from fti_assets.resources.alerts import AlertChannels
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
def online_store_rebuild_sensor(
    context: dg.SensorEvaluationContext, online: OnlineStore, alerts: AlertChannels
):
    """Rebuilds the online store when it has lost the events `online_features` left in it (a
    Redis restarted empty), with an error on the tick as the alert."""
    from fti_assets.serving.reader import OnlineStoreUnavailable

    event = context.instance.get_latest_materialization_event(dg.AssetKey("online_features"))
    if event is None or event.asset_materialization is None:
        return dg.SkipReason("online_features was never materialized: nothing to restore")
    metadata = event.asset_materialization.metadata
    recorded, held = metadata.get("as_of"), metadata.get("newest_event_at")
    if recorded is None or held is None or held.value is None:
        return dg.SkipReason("the last online_features materialization recorded no event in the store")
    as_of = str(recorded.value)
    try:
        current = online.newest_event_at()
    except OnlineStoreUnavailable as exc:  # a server that is down is the outage itself, not a loss
        return dg.SkipReason(f"the online store is unreachable, nothing to compare: {exc}")
    if current is not None:
        return dg.SkipReason(f"the online store holds events up to {current.isoformat()}")
    running = context.instance.get_runs(filters=dg.RunsFilter(tags={REBUILD_TAG: as_of}, statuses=_ACTIVE))
    if running:
        return dg.SkipReason(f"run {running[0].run_id} is already rebuilding the refresh of {as_of}")
    title = f"The online store at {online.location} is empty: every replica answers 503 until it is rebuilt"
    detail = (
        f"online_features left events in it up to {held.value} (a Redis restarted without its data?); "
        f"online_refresh is launched as of {as_of}"
    )
    context.log.error(f"ALERT: {title}. {detail}")
    if alerts.configured:  # also to the alert channels (FTI_ALERT_*), where they are set
        from fti_assets.alerts.message import Alert

        alert = Alert(
            f"online_store_empty.{as_of}",
            title,
            "online_features",
            None,
            "no event held",
            f"events up to {held.value} recorded",
            f"{alerts.ui_url}/assets/online_features",
            detail,
        )
        for delivery in alerts.send(alert):
            context.log.info(f"alert delivery: {delivery}")
    return dg.RunRequest(
        run_config={"ops": {"online_features": {"config": {"as_of": as_of}}}},
        tags={REBUILD_TAG: as_of},
    )
