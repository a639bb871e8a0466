"""Schedules: the daily feature, inference and monitoring run, the schedule feed ahead of its
day, and an hourly online refresh. Stopped by default: the embedded data ends in 2013."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from fti_assets.jobs import AssetJob, daily_pipeline, schedule_feed
from fti_assets.resources.source import RawSource


def _partitions(context: dg.ScheduleEvaluationContext, job: AssetJob) -> dg.PartitionsDefinition:
    """The job's partitions as the code location bound them (``partitions.bind_partitions``)."""
    return context.repository_def.get_job(job.name).partitions_def


@dg.schedule(
    job=daily_pipeline,
    name="daily_pipeline_schedule",
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
def daily_schedule(context: dg.ScheduleEvaluationContext):
    """Each finished day's outcomes and features, online refresh, batch predictions and
    monitoring, at 06:00 UTC for the day before. Stopped by default: the embedded data ends
    in 2013; turn it on when pointing at live data."""
    key = (context.scheduled_execution_time.date() - timedelta(days=1)).isoformat()
    if not _partitions(context, daily_pipeline).has_partition_key(key):
        return dg.SkipReason(f"{key} is outside the partitions")
    return dg.RunRequest(run_key=f"daily-{key}", partition_key=key)


def schedule_feed_partition(tick: date, lead_days: int) -> str:
    """The flight day whose schedule is published during the day before ``tick``."""
    return (tick - timedelta(days=1) + timedelta(days=lead_days)).isoformat()


@dg.schedule(
    job=schedule_feed,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
def schedule_feed_schedule(context: dg.ScheduleEvaluationContext, source: RawSource):
    """Ingests the schedule published yesterday (the flights of `schedule_lead_days` later), an
    hour before the daily pipeline refreshes the online store, so tomorrow's flights are known."""
    key = schedule_feed_partition(context.scheduled_execution_time.date(), source.schedule_lead_days)
    if not _partitions(context, schedule_feed).has_partition_key(key):
        return dg.SkipReason(f"{key} is outside the partitions")
    return dg.RunRequest(run_key=f"schedule-{key}", partition_key=key)


SCHEDULES = [schedule_feed_schedule, daily_schedule]
