"""A day's flights served in process at their prediction times, with the online store kept by
the stream: the service's own request handling (``handling.answer``) over an online store
that the stream's writer (``OnlineWriter.apply``) fed every event known by then.

``fti demo`` and ``fti replay`` use it to produce the prediction log that daily operation
would have, so the ``serving_skew`` monitor measures what the stream serves. Events are
applied hour by hour and each hour's flights answered after; the store answers each flight
as of its own prediction time, so this equals applying every event the instant it arrives
(the online parity tests prove the as-of reads exact).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from fti_assets.serving.model_store import MODEL_NAME
from fti_assets.serving.predictor import ServingModel


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
    schedule: pl.DataFrame, events: list[dict], writer, reader, model: ServingModel, log
) -> dict:
    """Serve every flight of ``schedule`` at its prediction time after the stream consumer's
    code (``Consumer`` over an in-process ``EmbeddedStream``) has applied, through ``writer``,
    the ``events`` (in ``known_at`` order) known by then; records go to ``log``."""
    from fti_assets.domain.events import known_at
    from fti_assets.serving.handling import answer
    from fti_assets.serving.predictor import ServingState
    from fti_assets.stream.consumer import Consumer, EmbeddedStream

    state = ServingState(model)
    stream = EmbeddedStream()
    consumer = Consumer(stream, writer)
    hours = schedule.with_columns(hour=pl.col("prediction_time").dt.truncate("1h")).sort("prediction_time")
    served = pending = 0
    for (hour,), part in hours.group_by("hour", maintain_order=True):
        end = hour + timedelta(hours=1)
        start = pending
        while pending < len(events) and known_at(events[pending]["feed"], events[pending]["row"]) < end:
            pending += 1
        stream.publish(events[start:pending])
        consumer.drain()
        answer(state, requests(part), reader, False, log, now=end)
        served += part.height
    if stream.dead_letters:
        raise ValueError(f"{len(stream.dead_letters)} offline events were refused: {stream.dead_letters[0]}")
    return {"served": served, "events": consumer.counts["applied"] + consumer.counts["ignored"]}


def serve_days(home: Path, store, registry, days: list) -> dict[str, int]:
    """Serve every scheduled flight of ``days`` with the current champion, as the service
    would have at each prediction time, from a stream-fed online store of its own
    (``serving/stream.sqlite``, kept from one call to the next): the backstop as of the first
    day, then each event as it became known. The live online store is left alone: the
    pipeline's own backstop may already hold later events and have pruned the days served.
    Nothing is served without a champion."""
    from datetime import UTC, datetime, time

    from fti_assets.inference.refresh import offline_events, write_backstop
    from fti_assets.resources.registry import CHAMPION
    from fti_assets.serving.prediction_log import PredictionLog
    from fti_assets.serving.sqlite_store import OnlineStoreReader, SqliteWriter

    champion = registry.version_by_alias(CHAMPION)
    if champion is None or not days:
        return {"served": 0, "events": 0}
    model = serving_model(registry.load(int(champion.version)))
    schedule = store.read("flight_schedule", [d.isoformat() for d in days])
    first = datetime.combine(min(days), time(), tzinfo=UTC) - timedelta(hours=6)
    last = schedule["prediction_time"].max()  # every event known by the last flight's prediction time
    path = home / "serving" / "stream.sqlite"
    writer, log = SqliteWriter(path), PredictionLog(home / "predictions")
    try:
        write_backstop(writer, store, store.read("airports"), first)
        events = [e for e in offline_events(store, last) if _after(e, first)]
        return serve_schedule(schedule, events, writer, OnlineStoreReader(path), model, log)
    finally:
        writer.close()
        log.close()  # flushed before the skew monitor reads it


def _after(event: dict, instant) -> bool:
    from fti_assets.domain.events import known_at

    return known_at(event["feed"], event["row"]) > instant
