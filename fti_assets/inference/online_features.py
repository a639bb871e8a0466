"""The online feature store's refresh: each entity's latest features as of an instant."""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from fti_assets.domain.catalog import FEATURE_GROUPS
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.online_store import OnlineStore

_SINGLE_RUN = dg.BackfillPolicy.single_run()


class OnlineRefreshConfig(dg.Config):
    as_of: str = ""
    """The backstop's instant (ISO 8601). Empty: the end of the run's last partition day, or now
    outside partitioned runs. Events known after it are left out."""


def refresh_time(as_of: str, tags: dict[str, str]) -> datetime:
    from datetime import date, time, timedelta

    if as_of:
        return datetime.fromisoformat(as_of).astimezone(UTC)
    day = tags.get("dagster/asset_partition_range_end") or tags.get("dagster/partition")
    if day:  # a daily run backs the store up as it stands when that day ends
        return datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(), tzinfo=UTC)
    return datetime.now(UTC)


# Unpartitioned: it depends on every partition of each; the instant, and so the days read, is
# run config.
@dg.asset(
    group_name="inference",
    deps=[*(g.name for g in FEATURE_GROUPS), "flight_schedule"],
    backfill_policy=_SINGLE_RUN,
)
def online_features(
    context: dg.AssetExecutionContext,
    config: OnlineRefreshConfig,
    online: OnlineStore,
    store: OfflineStore,
    airports: pl.DataFrame,
):
    """The online feature store: every group's values as of any instant it still holds (two days
    back), in SQLite (WAL) or, in production, Redis. The stream consumer (`fti stream consume`)
    applies feature events within a second of their arrival; this asset is its daily backstop:
    it applies every event the offline tables hold that the online groups can still use,
    through the same writer, so a healthy stream sees nothing change and a gap is filled. It
    also writes the airport time zones and plane attributes, and prunes old history."""
    from fti_assets.inference.refresh import write_backstop

    as_of = refresh_time(config.as_of, context.run.tags)
    writer = online.writer()
    try:
        counts = write_backstop(writer, store, airports, as_of)
    finally:
        writer.close()
    newest = online.newest_event_at()
    context.log.info(f"online store backstop as of {as_of.isoformat()}: {counts}")
    return dg.MaterializeResult(
        metadata={
            "as_of": as_of.isoformat(),
            "events": counts["events"],
            "applied": counts["applied"],
            "already_applied": counts["ignored"],
            "newest_event_at": newest.isoformat() if newest else None,
            "store": online.location,
        }
    )
