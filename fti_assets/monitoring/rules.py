"""When monitoring calls for retraining: pure rules over the monitoring tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from fti_assets.resources.retraining_rule import RetrainingRule


@dataclass(frozen=True)
class Alarm:
    day: date
    reason: str
    #: A collapse: the retrain trains toward and tests on the days since it began.
    severe: bool = False


def performance_alarm(performance: pl.DataFrame, rule: RetrainingRule) -> Alarm | None:
    """The latest day's trailing AUC against the champion's test AUC."""
    if performance.height == 0:
        return None
    last = performance.sort("day").row(-1, named=True)
    test_auc, auc = last.get("champion_test_auc"), last.get("auc_window")
    if test_auc is None or auc is None or last["rows_window"] < rule.min_window_rows:
        return None
    if auc < test_auc - rule.auc_margin:
        return Alarm(
            last["day"],
            f"AUC over the last {last['window_days']} days {auc:.4f} is below the champion's "
            f"test AUC {test_auc:.4f} by more than {rule.auc_margin}",
        )
    return None


def drift_alarm(drift: pl.DataFrame, rule: RetrainingRule) -> Alarm | None:
    """The feature drift report's own ``alarm`` standing on each of the last ``drift_days`` days."""
    recent = drift.sort("day").tail(rule.drift_days)
    if recent.height < rule.drift_days:
        return None
    days = recent["day"].to_list()
    consecutive = all(b - a == timedelta(days=1) for a, b in zip(days, days[1:], strict=False))
    if consecutive and recent["alarm"].all():
        return Alarm(
            days[-1],
            f"drifted share of features above {rule.drift_share} for {rule.drift_days} days "
            f"(latest {recent['drifted_share'][-1]:.2f})",
        )
    return None


def collapse_alarm(
    performance: pl.DataFrame, rule: RetrainingRule, last_retrain: date | None
) -> Alarm | None:
    """The served AUC over the last ``collapse_days`` (all after the last retrain) below chance
    territory or far below the champion's test AUC: no cool-down for that."""
    if performance.height == 0 or "auc_recent" not in performance.columns:
        return None
    last = performance.sort("day").row(-1, named=True)
    auc, rows, test_auc = last["auc_recent"], last["rows_recent"], last.get("champion_test_auc")
    first_day = last["day"] - timedelta(days=rule.collapse_days - 1)
    if (
        auc is None
        or rows < rule.collapse_min_rows
        or (last_retrain is not None and first_day <= last_retrain)
    ):
        return None
    floor = max(rule.collapse_auc, (test_auc or 0.0) - rule.collapse_drop)
    if auc < floor:
        return Alarm(
            last["day"],
            f"collapse: AUC over the last {rule.collapse_days} days {auc:.4f} is below {floor:.4f} "
            f"(champion test AUC {test_auc if test_auc is None else round(test_auc, 4)})",
            severe=True,
        )
    return None


def retrain_decision(
    performance: pl.DataFrame, drift: pl.DataFrame, rule: RetrainingRule, last_retrain: date | None
) -> Alarm | None:
    """A collapse at once; otherwise the alarm to act on, unless within the cool-down."""
    if collapse := collapse_alarm(performance, rule, last_retrain):
        return collapse
    alarm = performance_alarm(performance, rule) or drift_alarm(drift, rule)
    if alarm is None:
        return None
    if last_retrain is not None and (alarm.day - last_retrain).days < rule.cooldown_days:
        return None
    return alarm
