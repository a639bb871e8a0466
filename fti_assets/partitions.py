"""The daily partitions every time-series asset shares."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from fti_assets.domain.schedule import MAX_SCHEDULE_LEAD_DAYS
from fti_assets.settings import Settings

_settings = Settings.from_env()

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=_settings.first_day.isoformat(),
    end_date=(_settings.last_day + timedelta(days=1)).isoformat(),
    timezone="UTC",
    # A schedule is published ahead of its day: the schedule feed materializes partitions of
    # days that have not ended yet, so they exist up to the longest lead ahead.
    end_offset=MAX_SCHEDULE_LEAD_DAYS,
)
