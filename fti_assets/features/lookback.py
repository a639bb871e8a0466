"""Complete history for trailing-window features: a partition whose lookback is missing is blocked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import dagster as dg

from fti_assets.resources.offline_store import OfflineStore


def missing_days(
    stored: Sequence[str], keys: Sequence[str], lookback_days: int, first_day: date
) -> list[str]:
    """Days from ``lookback_days`` before the first key to the last key that are not stored.

    Days before ``first_day`` (the first partition) do not exist: no history is missing there.
    """
    start = max(date.fromisoformat(keys[0]) - timedelta(days=lookback_days), first_day)
    last = date.fromisoformat(keys[-1])
    have = set(stored)
    needed = (start + timedelta(days=n) for n in range((last - start).days + 1))
    return [d.isoformat() for d in needed if d.isoformat() not in have]


def require_lookback(
    context: dg.AssetExecutionContext, store: OfflineStore, upstream: str, lookback_days: int
) -> None:
    """Fail the step when ``upstream`` lacks a day the partitions' trailing windows read.

    Statistics over an incomplete history look like real ones (fewer flights, another delayed
    share) and would be trained on without a word; they are built once the history is there.
    """
    partitions = context.assets_def.partitions_def
    first = date.fromisoformat(partitions.get_first_partition_key())
    keys = list(context.partition_keys)
    missing = missing_days(store.partitions(upstream), keys, lookback_days, first)
    if missing:
        raise dg.Failure(
            description=f"{context.asset_key.to_user_string()} {keys[0]}..{keys[-1]} reads {lookback_days} days of "
            f"'{upstream}' before each day, and {len(missing)} are not stored ({', '.join(missing[:5])}"
            f"{' ...' if len(missing) > 5 else ''}): materialize '{upstream}' for them first. Nothing was stored.",
            metadata={"missing_lookback": dg.MetadataValue.json(missing)},
        )
