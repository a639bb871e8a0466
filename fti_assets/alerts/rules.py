"""Which alerts a finished run raises: pure functions over what its event log and the
monitoring tables say.

- A failed run: one alert, naming the blocking check that stopped it (a contract, a volume
  drop, a known-at disagreement) or the step that failed and its error.
- A failed check that did not stop the run (a freshness check on the online refresh, say);
  the promotion gates are left to the verdict below.
- ``champion_model``: a refused challenger; a rollback by ``champion_guard_sensor``.
- For each day the run wrote of ``model_performance``: the retraining rule's AUC slide or
  collapse; of ``feature_drift_report``: the rule's drift alarm; of ``serving_skew``: a p99
  probability delta over the threshold.

Each alert has a key (``auc_slide.2013-03-18``); the sensors send one alert per key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from fti_assets.alerts.message import Alert

#: Checks that stop a run when they fail (``blocking=True`` in their specs): named in the alert.
GATE_ASSET = "model_evaluation"


@dataclass
class RunEvents:
    """A finished run, reduced to what the rules read."""

    run_id: str
    job_name: str
    failed: bool
    tags: dict[str, str] = field(default_factory=dict)
    partitions: dict[str, list[str | None]] = field(default_factory=dict)
    """Per materialized asset, the partitions written (``[None]`` when unpartitioned)."""
    metadata: dict[str, dict] = field(default_factory=dict)
    """Per materialized asset, its last materialization's plain metadata values."""
    failed_checks: list[tuple[str, str, bool, dict]] = field(default_factory=list)
    """(asset, check, blocking, metadata) of each check that did not pass."""
    failure: tuple[str, str, str] | None = None
    """(step, error class, message) of the first failed step."""

    @property
    def partition(self) -> str | None:
        """The run's partition or partition range, as its tags say."""
        if key := self.tags.get("dagster/partition"):
            return key
        start, end = (
            self.tags.get("dagster/asset_partition_range_start"),
            self.tags.get("dagster/asset_partition_range_end"),
        )
        return f"{start}...{end}" if start and end and start != end else start


def run_link(ui_url: str, run_id: str) -> str:
    return f"{ui_url}/runs/{run_id}"


def _figure_of_check(metadata: dict) -> tuple[str | None, str | None, str]:
    """(figure, threshold, detail) from a failed check's metadata."""
    if "rejected_share" in metadata:
        return f"rejected share {metadata['rejected_share']:.2%}", f"{metadata.get('threshold', 0):.2%}", ""
    if metadata.get("smaller_partitions"):
        smaller = metadata["smaller_partitions"]
        shown = "; ".join(f"{k}: {v}" for k, v in list(smaller.items())[:3])
        return (
            f"{len(smaller)} partitions smaller",
            f"min volume share {metadata.get('min_volume_share')}",
            shown,
        )
    if "dagster/overdue_seconds" in metadata:
        hours = float(metadata["dagster/overdue_seconds"]) / 3600
        return f"overdue by {hours:.1f} h", metadata.get("dagster/fail_window") or None, ""
    why = metadata.get("why") or metadata.get("error") or metadata.get("reason") or ""
    return None, None, str(why)[:500]


def run_failure_alert(run: RunEvents, ui_url: str) -> Alert:
    """A failed run: the blocking check that stopped it, else the failed step and its error."""
    link = run_link(ui_url, run.run_id)
    blocking = [c for c in run.failed_checks if c[2]]
    if blocking:
        asset, check, _, metadata = blocking[0]
        figure, threshold, detail = _figure_of_check(metadata)
        more = f" (and {len(blocking) - 1} more failed checks)" if len(blocking) > 1 else ""
        return Alert(
            key=f"run_failed.{run.run_id}",
            title=f"Blocking check {check} failed on {asset}: nothing was stored{more}",
            asset=asset,
            partition=run.partition,
            figure=figure,
            threshold=threshold,
            link=link,
            detail=(detail + "\n" if detail else "") + f"Run {run.run_id} of {run.job_name} failed; "
            "the last good data stays and nothing downstream ran.",
        )
    step, cls, message = run.failure or ("?", "", "the run failed before any step ran")
    first = message.splitlines()[0] if message else cls
    return Alert(
        key=f"run_failed.{run.run_id}",
        title=f"Run of {run.job_name} failed at {step}: {first}"[:300],
        asset=step if step != "?" else None,
        partition=run.partition,
        figure=None,
        threshold=None,
        link=link,
        detail=f"{cls}: {message}"[:1000] if cls else message[:1000],
    )


def check_alerts(run: RunEvents, ui_url: str) -> list[Alert]:
    """Failed checks that did not stop the run; a failed run's blocking check is its own alert."""
    alerts = []
    for asset, check, blocking, metadata in run.failed_checks:
        if blocking:
            continue
        figure, threshold, detail = _figure_of_check(metadata)
        alerts.append(
            Alert(
                key=f"check.{asset}.{check}.{run.partition or date.today().isoformat()}",
                title=f"Check {check} failed on {asset}",
                asset=asset,
                partition=run.partition,
                figure=figure,
                threshold=threshold,
                link=run_link(ui_url, run.run_id),
                detail=detail,
            )
        )
    return alerts


def champion_alerts(run: RunEvents, ui_url: str) -> list[Alert]:
    """A refused challenger, or a rollback the champion guard decided."""
    record = run.metadata.get("champion_model")
    if not record:
        return []
    link = run_link(ui_url, run.run_id)
    outcome, verdict = record.get("outcome"), str(record.get("verdict", ""))
    if outcome == "refused":
        refused = re.search(r"refused v(\d+)", verdict)
        # The gates are metadata of model_evaluation, not checks; their refusals in full are the
        # champion's recorded reason (the title carries them too, cut at 300 characters).
        evaluation = run.metadata.get(GATE_ASSET, {})
        auc, champion_auc = evaluation.get("test_auc"), evaluation.get("champion_test_auc")
        return [
            Alert(
                key=f"refused.v{refused.group(1) if refused else run.run_id}",
                title=f"Challenger refused: {verdict}"[:300],
                asset="champion_model",
                partition=None,
                figure=f"test AUC {auc}" if auc is not None else None,
                threshold=f"champion test AUC {champion_auc}" if champion_auc is not None else None,
                link=link,
                detail=str(record.get("reason") or evaluation.get("verdict") or "")[:1000],
            )
        ]
    if outcome == "rolled back" and run.tags.get("fti/trigger") == "champion_guard_sensor":
        return [
            Alert(
                key=f"rollback.v{record.get('previous_version')}",
                title=f"Automatic rollback: {verdict}"[:300],
                asset="champion_model",
                partition=None,
                figure=None,
                threshold=None,
                link=link,
                detail=str(record.get("reason", ""))[:1000],
            )
        ]
    return []


def _last_day(run: RunEvents, asset: str) -> date | None:
    """The latest day of ``asset`` the run wrote: a backfill alerts on where it ended (an alarm
    standing over twelve of its days is one alarm), as the retraining sensor reads it."""
    days = [date.fromisoformat(p) for p in run.partitions.get(asset, []) if p]
    return max(days) if days else None


def monitoring_alerts(
    run: RunEvents, read: Callable[[str], pl.DataFrame], rule, max_skew_p99: float, ui_url: str
) -> list[Alert]:
    """The retraining rule's alarms and the skew threshold, on the last day the run wrote.

    ``read(table)`` gives a monitoring table from the offline store; ``rule`` is the
    ``RetrainingRule`` the retraining sensor acts on, so an alert and a retrain agree."""
    from fti_assets.monitoring.rules import collapse_alarm, drift_alarm, performance_alarm

    link = run_link(ui_url, run.run_id)
    alerts = []
    if day := _last_day(run, "model_performance"):
        upto = read("model_performance").filter(pl.col("day") <= day)
        row = upto.filter(pl.col("day") == day)
        last = row.row(0, named=True) if row.height else None
        collapse = collapse_alarm(upto, rule, None) if last else None
        slide = performance_alarm(upto, rule) if last and not collapse else None
        if collapse:
            alerts.append(
                Alert(
                    f"auc_collapse.{day}",
                    f"Served AUC collapsed on {day}",
                    "model_performance",
                    day.isoformat(),
                    f"AUC over {rule.collapse_days} days {last['auc_recent']:.4f}",
                    f"{rule.collapse_auc}, or champion test AUC - {rule.collapse_drop}",
                    link,
                    collapse.reason,
                )
            )
        elif slide:
            alerts.append(
                Alert(
                    f"auc_slide.{day}",
                    f"Served AUC slid below the champion's test AUC on {day}",
                    "model_performance",
                    day.isoformat(),
                    f"AUC over {last['window_days']} days {last['auc_window']:.4f}",
                    f"champion test AUC {last['champion_test_auc']:.4f} - {rule.auc_margin}",
                    link,
                    slide.reason,
                )
            )
    if day := _last_day(run, "feature_drift_report"):
        table = read("feature_drift_report").filter(pl.col("day") <= day)
        alarm = drift_alarm(table, rule)
        if alarm and alarm.day == day:
            share = table.filter(pl.col("day") == day)["drifted_share"][0]
            alerts.append(
                Alert(
                    f"drift.{day}",
                    f"Feature drift on {rule.drift_days} days in a row, up to {day}",
                    "feature_drift_report",
                    day.isoformat(),
                    f"drifted share {share:.2f}",
                    f"{rule.drift_share} on {rule.drift_days} consecutive days",
                    link,
                    alarm.reason,
                )
            )
    if day := _last_day(run, "serving_skew"):
        for row in read("serving_skew").filter(pl.col("day") == day).iter_rows(named=True):
            p99 = row.get("probability_delta_p99")
            if p99 is not None and p99 > max_skew_p99:
                alerts.append(
                    Alert(
                        f"skew.{day}",
                        f"Serving skew above its threshold on {day}",
                        "serving_skew",
                        day.isoformat(),
                        f"p99 probability delta {p99:.3f}",
                        f"{max_skew_p99}",
                        link,
                        f"{row.get('rows_with_any_mismatch')} of {row.get('compared_rows')} served flights differ "
                        "from the offline vectors",
                    )
                )
    return alerts
