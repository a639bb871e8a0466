"""A day's flights served in process at their prediction times: the service's own request
handling (``handling.answer``) over an online store refreshed at a chosen cadence.

``fti replay`` uses it to produce the prediction log that daily operation would have, so the
``serving_skew`` monitor measures what a given refresh cadence costs.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from fti_assets.serving.model_store import MODEL_NAME
from fti_assets.serving.predictor import ServingModel

#: ``daily``: the daily pipeline refreshes the store at 06:00 UTC as of the previous
#: midnight. ``hourly``: at the top of each hour. ``exact``: at each prediction time (tests).
CADENCES = ("daily", "hourly", "exact")
DAILY_REFRESH_AT = timedelta(hours=6)


def refresh_instant(t: datetime, cadence: str) -> datetime:
    """The ``as_of`` of the online snapshot serving a request made at ``t``."""
    if cadence == "exact":
        return t
    if cadence == "hourly":
        return t.replace(minute=0, second=0, microsecond=0)
    if cadence == "daily":
        return datetime.combine((t - DAILY_REFRESH_AT).date(), time(), tzinfo=UTC)
    raise ValueError(f"unknown refresh cadence {cadence!r}: use one of {', '.join(CADENCES)}")


def serving_model(loaded) -> ServingModel:
    """A registry ``LoadedModel`` as the service holds it."""
    return ServingModel(
        version=f"{MODEL_NAME}:v{loaded.version}", booster=loaded.booster, spec=loaded.feature_spec
    )


def requests(schedule: pl.DataFrame) -> list:
    """Schedule rows as the service receives them: local times with their offsets."""
    from fti_assets.serving.schemas import FlightRequest

    return [
        FlightRequest(
            carrier=r["carrier"],
            flight=r["flight"],
            tailnum=r["tailnum"],
            origin=r["origin"],
            dest=r["dest"],
            distance=r["distance"],
            scheduled_departure=r["scheduled_departure"].astimezone(ZoneInfo(r["origin_tz"])),
            scheduled_arrival=r["scheduled_arrival"],
        )
        for r in schedule.iter_rows(named=True)
    ]


def serve_schedule(
    schedule: pl.DataFrame,
    store,
    timezones: pl.DataFrame,
    model: ServingModel,
    cadence: str,
    scratch: Path,
    log,
) -> dict[str, int]:
    """Serve every flight of ``schedule`` at its prediction time, refreshing the scratch
    online store at ``scratch`` as the cadence would; records go to ``log``."""
    from fti_assets.inference.refresh import snapshot_as_of
    from fti_assets.serving.handling import answer
    from fti_assets.serving.predictor import ServingState
    from fti_assets.serving.sqlite_store import OnlineStoreReader, write_snapshot

    state = ServingState(model)
    timed = schedule.with_columns(
        as_of=pl.col("prediction_time").map_elements(
            lambda t: refresh_instant(t, cadence), return_dtype=pl.Datetime("us", "UTC")
        )
    )
    served = refreshes = 0
    for (as_of,), part in timed.sort("as_of").group_by("as_of", maintain_order=True):
        write_snapshot(scratch, snapshot_as_of(store, as_of), timezones, as_of)
        reader = OnlineStoreReader(scratch)
        answer(state, requests(part), reader, reader.as_of(), False, log)
        served, refreshes = served + part.height, refreshes + 1
    return {"served": served, "refreshes": refreshes}


def serve_days(home: Path, store, registry, days: list, cadence: str) -> dict[str, int]:
    """Serve every scheduled flight of ``days`` with the current champion, as the service
    would have at each prediction time; nothing is served without a champion."""
    from fti_assets.domain.timezones import airport_timezones
    from fti_assets.resources.registry import CHAMPION
    from fti_assets.serving.prediction_log import PredictionLog

    champion = registry.version_by_alias(CHAMPION)
    if champion is None or not days:
        return {"served": 0, "refreshes": 0}
    model = serving_model(registry.load(int(champion.version)))
    schedule = store.read("flight_schedule", [d.isoformat() for d in days])
    log = PredictionLog(home / "predictions")
    try:
        return serve_schedule(
            schedule,
            store,
            airport_timezones(store.read("airports")),
            model,
            cadence,
            home / "serving" / "replay.sqlite",
            log,
        )
    finally:
        log.close()  # flushed before the skew monitor reads it
