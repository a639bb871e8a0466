"""Sensors that close the loop: retrain on alarms, retire a bad canary, roll back a worse champion."""

import json
from datetime import date, timedelta

import dagster as dg
import polars as pl

from fti_assets.jobs import TRAINING_PIPELINE, challenger_rollout, champion_change
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.registry import ModelRegistry
from fti_assets.resources.retraining_rule import RetrainingRule


def _table(store: OfflineStore, name: str) -> pl.DataFrame:
    try:
        return store.read(name)
    except FileNotFoundError:
        return pl.DataFrame(schema={"day": pl.Date})


def training_run_config(
    first: date, last: date, holdout_days: int = 14, present_from: date | None = None
) -> dict:
    """Train on everything up to ``last``; the latest days validate and test.

    After a collapse (``present_from``, the first day of the collapsed window) the world has
    changed: the model trains on those days only, validates on the day before ``last`` and
    is judged against the champion on ``last`` itself, the present."""
    if present_from is not None:
        validation_start, test_start = last - timedelta(days=1), last
        model = {"trained_model": {"config": {"train_from": present_from.isoformat()}}}
    else:
        test_start, validation_start = (
            last - timedelta(days=holdout_days - 1),
            last - timedelta(days=2 * holdout_days - 1),
        )
        model = {}
    return {
        "ops": {
            "training_dataset": {
                "config": {
                    "start": first.isoformat(),
                    "end": last.isoformat(),
                    "train_end": validation_start.isoformat(),
                    "validation_end": test_start.isoformat(),
                }
            },
            **model,
        }
    }


@dg.sensor(
    job_name=TRAINING_PIPELINE, default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=60
)
def retraining_sensor(
    context: dg.SensorEvaluationContext, store: OfflineStore, retraining_rule: RetrainingRule
):
    """Launches the training pipeline when recent AUC falls below the champion's test AUC, or
    feature drift persists. One alarm, one retrain; then a cool-down. Its first tick takes the
    monitoring it finds as a baseline: alarms already standing then (after ``fti demo``, say)
    do not retrain at start-up; only days monitored later can."""
    from fti_assets.monitoring.rules import retrain_decision

    performance, drift = _table(store, "model_performance"), _table(store, "feature_drift_report")
    if context.cursor is None:
        baseline = performance["day"].max().isoformat() if performance.height else None
        context.update_cursor(json.dumps({"last_day": baseline, "baseline": baseline}))
        return dg.SkipReason(
            f"first tick: monitoring up to {baseline} is the baseline; days monitored after it can trigger a retrain"
        )
    cursor = json.loads(context.cursor)
    if performance.height == 0:
        return dg.SkipReason("no model_performance yet")
    latest = performance["day"].max()
    if cursor.get("last_day") == latest.isoformat():
        return dg.SkipReason(f"nothing new since {latest}")
    last_retrain = date.fromisoformat(cursor["last_retrain"]) if cursor.get("last_retrain") else None
    if cursor.get("baseline"):  # standing alarms of the baseline days are not news
        performance, drift = (
            t.filter(pl.col("day") > date.fromisoformat(cursor["baseline"])) for t in (performance, drift)
        )
    alarm = retrain_decision(performance, drift, retraining_rule, last_retrain)
    context.update_cursor(
        json.dumps(
            {
                **cursor,
                "last_day": latest.isoformat(),
                **({"last_retrain": alarm.day.isoformat()} if alarm else {}),
            }
        )
    )
    if alarm is None:
        return dg.SkipReason(f"{latest}: no alarm, or within the cool-down after {last_retrain}")
    first = date.fromisoformat(store.partitions("flight_outcomes")[0])
    context.log.info(f"retraining: {alarm.reason}")
    present = alarm.day - timedelta(days=retraining_rule.collapse_days - 1) if alarm.severe else None
    return dg.RunRequest(
        run_key=f"retrain-{alarm.day}",
        run_config=training_run_config(first, alarm.day, retraining_rule.holdout_days, present),
        tags={
            "fti/trigger": "retraining_sensor",
            "fti/alarm": alarm.reason[:200],
            "fti/alarm_day": alarm.day.isoformat(),
        },
    )


@dg.sensor(job=challenger_rollout, default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=60)
def canary_guard_sensor(
    context: dg.SensorEvaluationContext,
    store: OfflineStore,
    registry: ModelRegistry,
    retraining_rule: RetrainingRule,
):
    """Retires a canary that does worse than the champion on known outcomes."""
    from fti_assets.monitoring.shadow import challenger_worse
    from fti_assets.serving.model_store import read_roles

    roles = read_roles(registry.tracking_uri, registry.model_name)
    if roles.challenger is None or roles.mode != "canary":
        return dg.SkipReason("no canary running")
    evidence = _table(store, "shadow_comparison")
    if evidence.height == 0 or "challenger_version" not in evidence.columns:
        return dg.SkipReason("no shadow_comparison yet")
    mine = evidence.filter(pl.col("challenger_version") == roles.challenger).sort("day")
    if mine.height == 0:
        return dg.SkipReason("no evidence on the canary yet")
    last = mine.row(-1, named=True)
    if not challenger_worse(last, retraining_rule.canary_min_rows, retraining_rule.canary_auc_margin):
        return dg.SkipReason(
            f"canary v{roles.challenger}: no evidence it is worse ({last['rows_total']} flights)"
        )
    reason = (
        f"canary v{roles.challenger} AUC {last['challenger_auc']:.4f} < champion {last['champion_auc']:.4f} "
        f"on {last['rows_total']} flights"
    )
    since = (
        registry.client()
        .get_model_version(registry.model_name, str(roles.challenger))
        .tags.get("challenger_since", "")
    )
    return dg.RunRequest(
        run_key=f"retire-{roles.challenger}-{since}",
        run_config={"ops": {"challenger_model": {"config": {"mode": "retire", "reason": reason}}}},
        tags={"fti/trigger": "canary_guard_sensor"},
    )


@dg.sensor(job=champion_change, default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=300)
def champion_guard_sensor(
    context: dg.SensorEvaluationContext,
    store: OfflineStore,
    registry: ModelRegistry,
    retraining_rule: RetrainingRule,
):
    """Rolls back a promoted champion whose live AUC, once outcomes land, trails the previous
    champion's on the same flights (batch_predictions scores `previous` in shadow). The
    evidence goes into the rollback's entry in the model history."""
    from fti_assets.monitoring.shadow import champion_against_previous
    from fti_assets.resources.registry import CHAMPION, PREVIOUS

    champion, previous = registry.version_by_alias(CHAMPION), registry.version_by_alias(PREVIOUS)
    if champion is None or previous is None:
        return dg.SkipReason("no promoted champion with a previous one to compare with")
    batch = _table(store, "batch_predictions")
    if "previous_version" not in batch.columns:
        return dg.SkipReason("no batch predictions with the previous champion in shadow yet")
    outcomes = (
        store.scan("flight_outcomes")
        .filter(pl.col("status") == "arrived")
        .select("flight_id", "is_delayed")
        .collect()
    )
    row = champion_against_previous(batch, outcomes, int(champion.version), int(previous.version))
    worse = (
        row["rows"] >= retraining_rule.rollback_min_rows
        and None not in (row["champion_auc"], row["previous_auc"])
        and row["champion_auc"] < row["previous_auc"] - retraining_rule.rollback_auc_margin
    )
    if not worse:
        return dg.SkipReason(
            f"champion v{champion.version}: no evidence it trails v{previous.version} ({row['rows']} flights)"
        )
    reason = (
        f"automatic rollback: live AUC of champion v{champion.version} {row['champion_auc']:.4f} trails previous "
        f"v{previous.version} {row['previous_auc']:.4f} on the same {row['rows']} flights"
    )
    config = {
        "action": "rollback",
        "reason": reason,
        "evidence": json.dumps({**row, "rule": "champion_guard_sensor"}, default=str),
    }
    return dg.RunRequest(
        run_key=f"rollback-{champion.version}-{champion.tags.get('promoted_at', '')}",
        run_config={"ops": {"champion_model": {"config": config}}},
        tags={"fti/trigger": "champion_guard_sensor"},
    )
