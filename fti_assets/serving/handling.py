"""What an HTTP front does with a /predict request, whatever the framework around it.

The BentoML service and the benchmark's FastAPI peer both call these, so they differ only
in the framework: the same checks, the same scoring, the same log records, the same JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter

from fti_assets.domain.events import micros
from fti_assets.serving.prediction_log import PredictionLog
from fti_assets.serving.predictor import ServingState, feature_rows, serve
from fti_assets.serving.published import request_rows
from fti_assets.serving.reader import FeatureReader
from fti_assets.serving.schemas import MAX_FLIGHTS, FlightPrediction, FlightRequest

# Serialized here: for a pydantic return value BentoML rebuilds its JSON schema on every
# response to pick the media type, which cost a quarter of the service's CPU.
_PREDICTIONS = TypeAdapter(list[FlightPrediction])


def request_problem(flights: list[FlightRequest]) -> str | None:
    """Why the request cannot be scored (the front answers 400 with it), or None."""
    if not flights:
        return "flights: must hold at least one flight"
    if len(flights) > MAX_FLIGHTS:
        return f"flights: at most {MAX_FLIGHTS} per request, got {len(flights)}"
    for i, f in enumerate(flights):
        if f.scheduled_arrival <= f.scheduled_departure:
            return f"flights[{i}].scheduled_arrival: must be after scheduled_departure"
    return None


def feature_instants(times: list[datetime], now: datetime) -> tuple[list[datetime], list[bool]]:
    """The instant each flight's features are read as of: its prediction time, as in training;
    or now, for a flight asked for before its prediction time (``early``)."""
    return [min(t, now) for t in times], [t > now for t in times]


def past_flights(as_of: list[datetime], retained_from: str | None) -> list[bool]:
    """Flights whose features would be read as of an instant the online store no longer holds
    whole (pruned history): their values may not be what was known then."""
    if retained_from is None:
        return [False] * len(as_of)
    return [micros(t) < int(retained_from) for t in as_of]


def answer(
    state: ServingState,
    flights: list[FlightRequest],
    store: FeatureReader,
    include_features: bool,
    log: PredictionLog,
    explain: bool = False,
    now: datetime | None = None,
) -> bytes:
    """Score the flights with one serving state, log a record per flight, return the JSON body."""
    return answer_many(state, [(flights, include_features, explain)], store, log, now)[0]


def answer_many(
    state: ServingState,
    requests: list[tuple[list[FlightRequest], bool, bool]],
    store: FeatureReader,
    log: PredictionLog,
    now: datetime | None = None,
) -> list[bytes]:
    """``answer`` for several ``(flights, include_features, explain)`` requests scored together
    (one set of lookups, one ``predict`` per model), each getting its own body: what adaptive
    batching runs."""
    flat = [f for flights, _, _ in requests for f in flights]
    include = [wanted for flights, wanted, _ in requests for _ in flights]
    explain = [wanted for flights, _, wanted in requests for _ in flights]
    dumped = [f.model_dump() for f in flat]
    rows = request_rows(dumped, store)
    ids, times = [r["flight_id"] for r in rows], [r["prediction_time"] for r in rows]
    at = now or datetime.now(UTC)
    as_of, early = feature_instants(times, at)
    features, unknown = feature_rows(rows, store, as_of)
    meta = store.meta()
    past = past_flights(as_of, meta.get("retained_from"))
    newest = meta.get("newest_event_at")
    newest_at = datetime.fromtimestamp(int(newest) / 1e6, UTC).isoformat() if newest else None
    served: dict[str, Any] = serve(state, ids, features, any(explain))
    explanations = served["explanations"]
    names = state.champion.spec.features
    vectors = [{k: row[k] for k in names} for row in features]
    challenger = served["challenger"]
    stamp = at.isoformat()
    out: list[FlightPrediction] = []
    for i, flight_id in enumerate(ids):
        p = float(served["probability"][i])
        out.append(
            FlightPrediction(
                flight_id=flight_id,
                delay_probability=p,
                model_version=served["served_by"][i],
                features_as_of=as_of[i].isoformat(),
                unknown=unknown[i],
                past_flight=past[i],
                early=early[i],
                features=vectors[i] if include[i] else None,
                explanation=explanations[i] if explanations is not None and explain[i] else None,
            )
        )
        log.write(
            {
                "prediction_time": times[i].isoformat(),
                "past_flight": past[i],
                "early": early[i],
                "at": stamp,
                "flight_id": flight_id,
                "request": flat[i].model_dump(mode="json"),
                "features": vectors[i],
                "unknown": unknown[i],
                "delay_probability": p,
                "model_version": served["served_by"][i],
                "features_as_of": as_of[i].isoformat(),
                "store_newest_event_at": newest_at,
                "champion_version": state.champion.version,
                "champion_probability": float(served["champion"][i]),
                "challenger_version": state.challenger.version if challenger is not None else None,
                "challenger_probability": float(challenger[i]) if challenger is not None else None,
                "mode": state.mode,
            }
        )
    bodies, start = [], 0
    for flights, _, _ in requests:
        bodies.append(_PREDICTIONS.dump_json(out[start : start + len(flights)]))
        start += len(flights)
    return bodies
