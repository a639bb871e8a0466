"""The alert sensors: Dagster's run-status sensors, one for failed runs, one for successful ones.

Each finished run is read once (the sensor's cursor, kept in the instance's storage, survives
daemon restarts). Each alert is sent once per key: the run that raised it is tagged
``fti/alert/<key>`` before anything is sent, and a key some run already carries is not sent
again (so a day rematerialized, or a tick repeated after a crash, does not alert twice). Every
delivery is written to that run's event log; a receiver that is down is tried
``FTI_ALERT_ATTEMPTS`` times, then reported there as not delivered. The run's status never
changes: an alert cannot break the run that raised it.
"""

from __future__ import annotations

import dagster as dg

from fti_assets.alerts.message import Alert
from fti_assets.alerts.rules import (
    RunEvents,
    champion_alerts,
    check_alerts,
    monitoring_alerts,
    run_failure_alert,
)
from fti_assets.resources.alerts import AlertChannels
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.retraining_rule import RetrainingRule

ALERT_TAG_PREFIX = "fti/alert/"
_OFF = "alerts are off: set FTI_ALERT_WEBHOOK_URL, or FTI_ALERT_SMTP_URL and FTI_ALERT_EMAIL_TO"


def read_run(instance: dg.DagsterInstance, run: dg.DagsterRun) -> RunEvents:
    """A run's materializations (with partitions), failed checks and first step failure."""
    events = RunEvents(run.run_id, run.job_name, run.status == dg.DagsterRunStatus.FAILURE, dict(run.tags))
    kinds = {
        dg.DagsterEventType.ASSET_MATERIALIZATION,
        dg.DagsterEventType.ASSET_CHECK_EVALUATION,
        dg.DagsterEventType.STEP_FAILURE,
    }
    for record in instance.get_records_for_run(run.run_id, of_type=kinds, limit=1_000_000).records:
        entry = record.event_log_entry
        event = entry.dagster_event
        if materialization := entry.asset_materialization:
            name = materialization.asset_key.to_user_string()
            events.partitions.setdefault(name, []).append(materialization.partition)
            events.metadata[name] = {k: v.value for k, v in materialization.metadata.items()}
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            check = event.event_specific_data
            if not check.passed:
                values = {k: v.value for k, v in check.metadata.items()}
                events.failed_checks.append(
                    (check.asset_key.to_user_string(), check.check_name, bool(check.blocking), values)
                )
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE and events.failure is None:
            data = event.event_specific_data
            error = data.error
            while error is not None and error.cause is not None and error.cls_name.startswith("Dagster"):
                error = error.cause  # the user's exception inside Dagster's wrappers
            user = data.user_failure_data
            message = (
                user.description if user and user.description else error.message if error else "unknown error"
            )
            step = (event.step_key or "?").split(".")[0]  # a graph asset's step, named by its asset
            events.failure = (step, error.cls_name if error else "", message.strip())
    return events


def _already_sent(instance: dg.DagsterInstance, key: str) -> bool:
    tag = ALERT_TAG_PREFIX + key
    return bool(
        instance.get_run_ids(dg.RunsFilter(tags={tag: ["sending", "sent", "not delivered"]}), limit=1)
    )


def deliver(context, channels: AlertChannels, run: dg.DagsterRun, alerts: list[Alert]) -> list[str]:
    """Send each alert whose key no run carries yet; record what happened on ``run``."""
    instance, outcomes = context.instance, []
    for alert in alerts:
        tag = ALERT_TAG_PREFIX + alert.key
        if _already_sent(instance, alert.key):
            context.log.info(f"{alert.key}: already sent, not again")
            continue
        # Marked before sending: a daemon killed mid-send leaves the mark, so nothing goes twice.
        instance.add_run_tags(run.run_id, {tag: "sending"})
        deliveries = channels.send(alert)
        delivered = all(d.ok for d in deliveries)
        instance.add_run_tags(run.run_id, {tag: "sent" if delivered else "not delivered"})
        lines = "; ".join(d.describe() for d in deliveries)
        message = f"Alert {alert.key} ({alert.title}): {lines}"
        # In the run's event log, where the UI shows it; an error-level line when a channel failed.
        instance.report_engine_event(
            ("" if delivered else "Alert delivery failed: ") + message, run, cls=None
        )
        (context.log.info if delivered else context.log.error)(message)
        outcomes.append(message)
    return outcomes


def _alerts_of(
    context, run: dg.DagsterRun, channels: AlertChannels, store: OfflineStore, rule: RetrainingRule
):
    events = read_run(context.instance, run)
    alerts = [run_failure_alert(events, channels.ui_url)] if events.failed else []
    alerts += check_alerts(events, channels.ui_url) + champion_alerts(events, channels.ui_url)
    alerts += monitoring_alerts(events, store.read, rule, channels.max_skew_p99, channels.ui_url)
    return alerts


def build_alert_sensors(enabled: bool) -> list[dg.SensorDefinition]:
    """The two sensors, running by default only where a channel is configured."""
    status = dg.DefaultSensorStatus.RUNNING if enabled else dg.DefaultSensorStatus.STOPPED

    @dg.run_failure_sensor(
        name="alert_on_run_failure",
        monitor_all_code_locations=True,
        minimum_interval_seconds=10,
        default_status=status,
        description="Alerts (FTI_ALERT_*) on each failed run: the blocking check or the step that stopped it.",
    )
    def alert_on_run_failure(
        context: dg.RunFailureSensorContext,
        alerts: AlertChannels,
        store: OfflineStore,
        retraining_rule: RetrainingRule,
    ):
        if not alerts.configured:
            return dg.SkipReason(_OFF)
        run = context.dagster_run
        deliver(context, alerts, run, _alerts_of(context, run, alerts, store, retraining_rule))

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        name="alert_on_alarms",
        monitor_all_code_locations=True,
        minimum_interval_seconds=10,
        default_status=status,
        description="Alerts (FTI_ALERT_*) on what a successful run found: an AUC slide or collapse, drift, "
        "serving skew, a refused challenger, an automatic rollback, a failed non-blocking check.",
    )
    def alert_on_alarms(
        context: dg.RunStatusSensorContext,
        alerts: AlertChannels,
        store: OfflineStore,
        retraining_rule: RetrainingRule,
    ):
        if not alerts.configured:
            return dg.SkipReason(_OFF)
        run = context.dagster_run
        deliver(context, alerts, run, _alerts_of(context, run, alerts, store, retraining_rule))

    return [alert_on_run_failure, alert_on_alarms]
