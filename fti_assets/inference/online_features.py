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
    """The refresh instant (ISO 8601). Empty: the end of the run's last partition day, or now
    outside partitioned runs. Values known after it are left out."""
    force: bool = False
    """Refresh even when the store already serves a later snapshot (rolls features back)."""


def refresh_time(as_of: str, tags: dict[str, str]) -> datetime:
    from datetime import date, time, timedelta

    if as_of:
        return datetime.fromisoformat(as_of).astimezone(UTC)
    day = tags.get("dagster/asset_partition_range_end") or tags.get("dagster/partition")
    if day:  # a daily run refreshes the store as it stands when that day ends
        return datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(), tzinfo=UTC)
    return datetime.now(UTC)


# Unpartitioned: it depends on every partition of each; the refresh instant, and so the days
# read, is run config.
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
    """The online feature store: each entity's latest feature values known at the refresh time,
    computed by the same retrieval code as the training dataset, in SQLite (WAL) or, in
    production, Redis (a new snapshot per refresh, switched atomically). A refresh older than
    the one served is refused unless forced: backfills never roll features back. Each published
    flight still to be predicted gets its whole vector precomputed from the same snapshot
    (`flight_vectors`), so the service answers it with one lookup. It reads, through the offline
    store, the partitions of every feature group that the refresh instant's TTLs reach and the
    schedules published by then."""
    from fti_assets.inference.refresh import StaleRefreshError, check_refresh_order, write_refresh

    as_of = refresh_time(config.as_of, context.run.tags)
    try:
        check_refresh_order(online.current_as_of(), as_of, config.force)
    except StaleRefreshError as exc:
        raise dg.Failure(description=str(exc)) from exc
    counts = write_refresh(online, store, airports, as_of)
    context.log.info(f"online store refreshed as of {as_of.isoformat()}: {counts}")
    return dg.MaterializeResult(
        metadata={
            "as_of": as_of.isoformat(),
            "entities": dg.MetadataValue.json(counts),
            "store": online.location,
        }
    )
