"""The daily partitions every time-series asset shares, bound to the settings' window.

Daily assets declare ``daily_partitions``; ``build_definitions(settings)`` binds every one of
them to ``daily_partitions_for(settings)``, so the window comes from the settings it is given
and nothing here reads the environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import dagster as dg

from fti_assets.domain.catalog import FeatureGroup, history_reach
from fti_assets.domain.schedule import MAX_SCHEDULE_LEAD_DAYS
from fti_assets.settings import Settings


def daily_partitions_for(first_day: date, last_day: date) -> dg.DailyPartitionsDefinition:
    """One partition per UTC day from ``first_day`` to ``last_day``."""
    return dg.DailyPartitionsDefinition(
        start_date=first_day.isoformat(),
        end_date=(last_day + timedelta(days=1)).isoformat(),
        timezone="UTC",
        # A schedule is published ahead of its day: the schedule feed materializes partitions of
        # days that have not ended yet, so they exist up to the longest lead ahead.
        end_offset=MAX_SCHEDULE_LEAD_DAYS,
    )


daily_partitions = daily_partitions_for(date(2013, 1, 1), date(2013, 12, 31))
"""What daily assets declare: the embedded year, until ``bind_partitions`` replaces it."""


def trailing_days(before: int, after: int = 0) -> dg.TimeWindowPartitionMapping:
    """Each daily partition reads an upstream's days from ``before`` days before it to ``after``
    days after it; days outside the partitions (before the first) are skipped, not required."""
    return dg.TimeWindowPartitionMapping(
        start_offset=-before, end_offset=after, allow_nonexistent_upstream_partitions=True
    )


#: Every upstream day up to the partition's own. Dagster has no such mapping; a trailing
#: window of a century, longer than any window the settings bind, stands for it.
EVERY_EARLIER_DAY = trailing_days(100 * 366)


def history_deps(groups: Sequence[FeatureGroup]) -> list[dg.AssetDep]:
    """The feature groups a daily retrieval reads, each with the partitions its TTL and
    lookahead reach (``history_reach``, the same numbers ``OfflineStore.read_history`` reads)."""
    deps = []
    for group in groups:
        reach = history_reach(group)
        deps.append(
            dg.AssetDep(
                group.name,
                partition_mapping=dg.AllPartitionMapping() if reach is None else trailing_days(*reach),
            )
        )
    return deps


def bind_partitions(assets: Sequence[dg.AssetsDefinition], settings: Settings) -> list[dg.AssetsDefinition]:
    """``assets`` with the declared daily partitions replaced by the settings' window."""
    bound = daily_partitions_for(settings.first_day, settings.last_day)

    def rebind(spec: dg.AssetSpec) -> dg.AssetSpec:
        return (
            spec.replace_attributes(partitions_def=bound) if spec.partitions_def == daily_partitions else spec
        )

    return [asset.map_asset_specs(rebind) for asset in assets]
