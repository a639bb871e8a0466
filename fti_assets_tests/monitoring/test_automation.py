"""The retraining rule and sensors: fire once per alarm, honour the cursor and the cool-down."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from fti_assets.monitoring.rules import drift_alarm, performance_alarm, retrain_decision
from fti_assets.monitoring.sensors import retraining_sensor
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.retraining_rule import RetrainingRule
from fti_assets.schedules import daily_schedule

D0 = date(2013, 3, 1)


def _performance(aucs: list[float], test_auc: float = 0.72, rows: int = 5000) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "day": [D0 + timedelta(days=i) for i in range(len(aucs))],
            "auc_window": aucs,
            "rows_window": [rows] * len(aucs),
            "champion_test_auc": [test_auc] * len(aucs),
            "window_days": [14] * len(aucs),
        }
    )


def _drift(shares: list[float], start: date = D0, alarms: list[bool] | None = None) -> pl.DataFrame:
    """A feature_drift_report table: the drifted share of each day and the alarm the report stored."""
    alarms = [s > RetrainingRule().drift_share for s in shares] if alarms is None else alarms
    return pl.DataFrame(
        {
            "day": [start + timedelta(days=i) for i in range(len(shares))],
            "drifted_share": shares,
            "alarm": alarms,
        },
        schema_overrides={"alarm": pl.Boolean},
    )


def test_performance_alarm_needs_a_real_gap_and_enough_rows() -> None:
    rule = RetrainingRule(auc_margin=0.03, min_window_rows=2000)
    assert performance_alarm(_performance([0.71, 0.70]), rule) is None  # within the margin
    assert performance_alarm(_performance([0.71, 0.68]), rule).day == D0 + timedelta(days=1)
    assert performance_alarm(_performance([0.71, 0.60], rows=500), rule) is None  # too few flights


def test_drift_alarm_needs_consecutive_alarming_days() -> None:
    rule = RetrainingRule(drift_days=3)
    assert drift_alarm(_drift([0.2, 0.6, 0.7, 0.8]), rule).day == D0 + timedelta(days=3)
    assert drift_alarm(_drift([0.6, 0.7, 0.4]), rule) is None
    gap = pl.concat([_drift([0.6]), _drift([0.7, 0.8], D0 + timedelta(days=5))])
    assert drift_alarm(gap, rule) is None  # not consecutive days
    # The report's stored alarm decides, not a share recomputed against the rule.
    assert drift_alarm(_drift([0.8, 0.8, 0.8], alarms=[True, False, True]), rule) is None


def test_cool_down_blocks_an_alarm_soon_after_a_retrain() -> None:
    rule = RetrainingRule(cooldown_days=7)
    low = _performance([0.6] * 5)
    assert retrain_decision(low, _drift([]), rule, last_retrain=D0) is None
    assert retrain_decision(low, _drift([]), rule, last_retrain=D0 - timedelta(days=7)) is not None


@pytest.fixture
def store(tmp_path: Path) -> OfflineStore:
    return OfflineStore(home=str(tmp_path))


def _tick(store: OfflineStore, cursor: str | None, rule: RetrainingRule):
    store.write("flight_outcomes", pl.DataFrame({"flight_id": ["x"]}), "2013-01-01")
    with dg.build_sensor_context(
        cursor=cursor, resources={"store": store, "retraining_rule": rule}
    ) as context:
        result = retraining_sensor(context)
        return result, context.cursor


def test_the_sensor_fires_once_per_alarm_and_respects_the_cool_down(store: OfflineStore) -> None:
    rule = RetrainingRule(cooldown_days=5, holdout_days=7)
    store.write("model_performance", _performance([0.71, 0.62]))
    fired, cursor = _tick(store, "{}", rule)
    assert isinstance(fired, dg.RunRequest)
    assert (
        fired.run_key == "retrain-2013-03-02" and "below the champion's test AUC" in fired.tags["fti/alarm"]
    )
    config = fired.run_config["ops"]["training_dataset"]["config"]
    assert (config["start"], config["end"], config["validation_end"]) == (
        "2013-01-01",
        "2013-03-02",
        "2013-02-24",
    )
    # The same data again: the cursor says it was handled.
    again, cursor = _tick(store, cursor, rule)
    assert isinstance(again, dg.SkipReason) and "nothing new" in again.skip_message
    # A new bad day inside the cool-down: no second retrain.
    store.write("model_performance", _performance([0.71, 0.62, 0.61, 0.60]))
    quiet, cursor = _tick(store, cursor, rule)
    assert isinstance(quiet, dg.SkipReason) and "cool-down" in quiet.skip_message
    # Past the cool-down the alarm stands again, once.
    store.write("model_performance", _performance([0.71, 0.62, 0.61, 0.60, 0.6, 0.6, 0.6]))
    refired, cursor = _tick(store, cursor, rule)
    assert isinstance(refired, dg.RunRequest) and refired.run_key == "retrain-2013-03-07"
    assert json.loads(cursor)["last_retrain"] == "2013-03-07"


def test_a_healthy_model_does_not_trigger(store: OfflineStore) -> None:
    store.write("model_performance", _performance([0.72, 0.715, 0.71]))
    store.write("feature_drift_report", _drift([0.1, 0.2, 0.1]))
    result, _ = _tick(store, "{}", RetrainingRule())
    assert isinstance(result, dg.SkipReason)


def test_the_first_tick_takes_standing_alarms_as_a_baseline(store: OfflineStore) -> None:
    """`make dev` after the demo: an alarm already standing does not retrain at start-up."""
    rule = RetrainingRule(cooldown_days=5)
    store.write("model_performance", _performance([0.71, 0.62, 0.61]))
    store.write("feature_drift_report", _drift([0.8, 0.8, 0.8]))
    first, cursor = _tick(store, None, rule)
    assert isinstance(first, dg.SkipReason) and "baseline" in first.skip_message
    assert json.loads(cursor)["baseline"] == "2013-03-03"
    again, cursor = _tick(store, cursor, rule)
    assert isinstance(again, dg.SkipReason)
    # A day monitored after the baseline that alarms on its own does retrain.
    store.write("model_performance", _performance([0.71, 0.62, 0.61, 0.60]))
    fired, _ = _tick(store, cursor, rule)
    assert isinstance(fired, dg.RunRequest) and fired.run_key == "retrain-2013-03-04"


def test_loop_sensors_start_running_and_the_schedule_targets_yesterday() -> None:
    from fti_assets.definitions import defs

    for name in ("retraining_sensor", "canary_guard_sensor"):
        assert defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING
    when = datetime(2013, 3, 2, 6, 0, tzinfo=UTC)
    with dg.build_schedule_context(
        scheduled_execution_time=when, repository_def=defs.get_repository_def()
    ) as context:
        [request] = daily_schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2013-03-01"


def _collapsing(aucs: list[float], recent: list[float | None], test_auc: float = 0.70) -> pl.DataFrame:
    return _performance(aucs, test_auc).with_columns(
        auc_recent=pl.Series(recent, dtype=pl.Float64), rows_recent=pl.lit(2700)
    )


def test_a_collapse_acts_at_once_even_inside_the_cool_down() -> None:
    rule = RetrainingRule(cooldown_days=14, collapse_days=3, collapse_auc=0.55, collapse_drop=0.12)
    slide = _collapsing([0.70, 0.66], [0.68, 0.62])  # a slide: the ordinary path, which waits
    assert retrain_decision(slide, _drift([]), rule, last_retrain=D0 - timedelta(days=3)) is None
    collapse = _collapsing([0.70, 0.66], [0.68, 0.40])
    alarm = retrain_decision(collapse, _drift([]), rule, last_retrain=D0 - timedelta(days=3))
    assert (
        alarm is not None
        and alarm.severe
        and alarm.day == D0 + timedelta(days=1)
        and "collapse" in alarm.reason
    )
    far_below_test = _collapsing(
        [0.80], [0.66], test_auc=0.80
    )  # above chance, but 0.14 under the test figure
    assert retrain_decision(far_below_test, _drift([]), rule, last_retrain=None).severe


def test_a_collapse_is_judged_only_on_days_after_the_last_retrain() -> None:
    rule = RetrainingRule(collapse_days=3)
    collapse = _collapsing([0.5, 0.4, 0.4], [0.5, 0.45, 0.40])
    last_day = D0 + timedelta(days=2)
    # The window D0..D0+2 holds the retrain's own day: the evidence was already acted on.
    assert retrain_decision(collapse, _drift([]), rule, last_retrain=D0) is None
    assert retrain_decision(collapse, _drift([]), rule, last_retrain=D0 - timedelta(days=1)).day == last_day


def test_the_sensor_trains_a_collapse_retrain_on_the_present(store: OfflineStore) -> None:
    rule = RetrainingRule(collapse_days=3, cooldown_days=14)
    store.write("model_performance", _collapsing([0.70, 0.69, 0.45, 0.40], [0.70, 0.70, 0.60, 0.42]))
    fired, cursor = _tick(store, json.dumps({"last_retrain": "2013-02-25"}), rule)
    assert (
        isinstance(fired, dg.RunRequest)
        and fired.run_key == "retrain-2013-03-04"
        and "collapse" in fired.tags["fti/alarm"]
    )
    dataset = fired.run_config["ops"]["training_dataset"]["config"]
    assert (dataset["train_end"], dataset["validation_end"], dataset["end"]) == (
        "2013-03-03",
        "2013-03-04",
        "2013-03-04",
    )
    assert fired.run_config["ops"]["trained_model"]["config"]["train_from"] == "2013-03-02"
    again, _ = _tick(store, cursor, rule)  # the cursor holds: one alarm, one retrain
    assert isinstance(again, dg.SkipReason)


def test_the_schedule_feed_runs_ahead() -> None:
    from fti_assets.definitions import defs
    from fti_assets.resources.source import RawSource
    from fti_assets.schedules import schedule_feed_schedule

    when, repository = datetime(2013, 3, 2, 5, 0, tzinfo=UTC), defs.get_repository_def()
    for lead, day in (
        (1, "2013-03-02"),
        (2, "2013-03-03"),
    ):  # the day that just ended published these flights' schedule
        with dg.build_schedule_context(
            scheduled_execution_time=when,
            repository_def=repository,
            resources={"source": RawSource(schedule_lead_days=lead)},
        ) as context:
            [request] = schedule_feed_schedule.evaluate_tick(context).run_requests
        assert request.partition_key == day
