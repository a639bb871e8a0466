"""What an online refresh writes: each entity's latest feature values known at the refresh time.

The ``online_features`` asset and the replay's serving simulation both call this, with the
offline retrieval's own ``latest_per_entity``, so online values are offline values as of T.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from fti_assets.domain.catalog import FEATURE_GROUPS
from fti_assets.domain.retrieval import latest_per_entity


class StaleRefreshError(ValueError):
    """A refresh older than the snapshot the online store already serves."""


def snapshot_as_of(store, as_of: datetime) -> dict[str, pl.DataFrame]:
    """Every group's latest rows per entity known at ``as_of`` (``store`` is an ``OfflineStore``)."""
    day = as_of.date()
    return {g.name: latest_per_entity(store.read_history(g, day, day), g, as_of) for g in FEATURE_GROUPS}


def flight_vectors(store, latest: dict[str, pl.DataFrame], as_of: datetime) -> list[tuple[str, dict]]:
    """Precomputed vectors (``serving.vectors``) of the flights published by ``as_of`` and
    predicted at or after it, from the snapshot ``latest``; none before any schedule is stored."""
    from fti_assets.serving.vectors import published_vectors, records, schedule_days

    try:
        schedule = store.read("flight_schedule", schedule_days(as_of))
    except FileNotFoundError:
        return []
    return records(published_vectors(schedule, latest, as_of))


def write_refresh(online, store, airports: pl.DataFrame, as_of: datetime) -> dict[str, int]:
    """The refresh at ``as_of`` written to ``online`` (an ``OnlineStore``): the snapshot and the
    published flights' vectors; returns the rows written per group."""
    from fti_assets.domain.timezones import airport_timezones

    latest = snapshot_as_of(store, as_of)
    return online.write_snapshot(
        latest, airport_timezones(airports), as_of, flight_vectors(store, latest, as_of)
    )


def check_refresh_order(current: str | None, as_of: datetime, force: bool) -> None:
    """Refuse to roll served features back in time, unless ``force``."""
    if current is None or force:
        return
    served = datetime.fromisoformat(current)
    if as_of < served:
        raise StaleRefreshError(
            f"the online store serves features as of {served.isoformat()}; a refresh as of "
            f"{as_of.isoformat()} would roll "
            "them back in time (backfilling an old day does not need one). Set force: true to do it anyway."
        )
