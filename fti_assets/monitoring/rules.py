"""When monitoring calls for retraining: pure rules over the monitoring tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl


@dataclass(frozen=True)
class RetrainRule:
    """Retrain when recent AUC falls below the champion's test AUC by ``auc_margin``, or when
    the drifted share of features stays above ``drift_share`` for ``drift_days`` days."""

    auc_margin: float = 0.03
    min_window_rows: int = 2000
    drift_share: float = 0.5
    drift_days: int = 3
    cooldown_days: int = 14


@dataclass(frozen=True)
class Alarm:
    day: date
    reason: str


def performance_alarm(performance: pl.DataFrame, rule: RetrainRule) -> Alarm | None:
    """The latest day's trailing AUC against the champion's test AUC."""
    if performance.height == 0:
        return None
    last = performance.sort("day").row(-1, named=True)
    test_auc, auc = last.get("champion_test_auc"), last.get("auc_window")
    if test_auc is None or auc is None or last["rows_window"] < rule.min_window_rows:
        return None
    if auc < test_auc - rule.auc_margin:
        return Alarm(last["day"], f"AUC over the last {last['window_days']} days {auc:.4f} is below the champion's "
                                  f"test AUC {test_auc:.4f} by more than {rule.auc_margin}")  # fmt: skip
    return None


def drift_alarm(drift: pl.DataFrame, rule: RetrainRule) -> Alarm | None:
    """The drifted share above the threshold on each of the last ``drift_days`` days."""
    recent = drift.sort("day").tail(rule.drift_days)
    if recent.height < rule.drift_days:
        return None
    days = recent["day"].to_list()
    consecutive = all(b - a == timedelta(days=1) for a, b in zip(days, days[1:], strict=False))
    if consecutive and recent["drifted_share"].min() > rule.drift_share:
        return Alarm(days[-1], f"drifted share of features above {rule.drift_share} for {rule.drift_days} days "
                               f"(latest {recent['drifted_share'][-1]:.2f})")  # fmt: skip
    return None


def retrain_decision(performance: pl.DataFrame, drift: pl.DataFrame, rule: RetrainRule, last_retrain: date | None) -> Alarm | None:
    """The alarm to act on, unless a retrain happened within the cool-down."""
    alarm = performance_alarm(performance, rule) or drift_alarm(drift, rule)
    if alarm is None:
        return None
    if last_retrain is not None and (alarm.day - last_retrain).days < rule.cooldown_days:
        return None
    return alarm
