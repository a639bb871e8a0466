"""What an HTTP front does with a /predict request, whatever the framework around it.

The BentoML service and the benchmark's FastAPI peer both call these, so they differ only
in the framework: the same checks, the same scoring, the same log records, the same JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter

from fti_assets.domain.timezones import DEFAULT_TIMEZONE
from fti_assets.serving.prediction_log import PredictionLog
from fti_assets.serving.predictor import ServingState, feature_rows, serve, spine
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


def past_flights(times: list[datetime], as_of: str) -> list[bool]:
    """Flights whose prediction time is before the online features' ``as_of``: their features
    hold values learnt after that time, so their scores are not what was knowable then."""
    refreshed = datetime.fromisoformat(as_of)
    return [t < refreshed for t in times]


def feature_vectors(
    state: ServingState, flights: list[dict], store: FeatureReader
) -> tuple[list[str], list[dict], list[list[str]], list[str]]:
    """Each flight's id, feature row, unknown groups and the path that built it: the refresh's
    precomputed vector when it was computed for exactly this request (one lookup), else the
    request path (group lookups plus ``request_features``), for the rest at once."""
    from fti_assets.serving.vectors import COMPUTED, PRECOMPUTED, request_flight_id, usable

    names = (
        state.champion.spec.features
        if state.challenger is None
        else [*state.champion.spec.features, *state.challenger.spec.features]
    )
    ids = [request_flight_id(f, store.timezone(f["origin"]) or DEFAULT_TIMEZONE) for f in flights]
    found = store.vectors(ids)
    rows: list[dict] = [
        r["features"] if usable(r, f, names) else None for r, f in zip(found, flights, strict=True)
    ]  # type: ignore[misc]
    unknown = [r["unknown"] if row is not None else [] for r, row in zip(found, rows, strict=True)]
    paths = [PRECOMPUTED if row is not None else COMPUTED for row in rows]
    missing = [i for i, row in enumerate(rows) if row is None]
    if missing:
        frame = spine([flights[i] for i in missing], store)
        computed, computed_unknown = feature_rows(frame, store)
        for j, i in enumerate(missing):
            ids[i], rows[i], unknown[i] = frame["flight_id"][j], computed[j], computed_unknown[j]
    return ids, rows, unknown, paths


def answer(
    state: ServingState,
    flights: list[FlightRequest],
    store: FeatureReader,
    as_of: str,
    include_features: bool,
    log: PredictionLog,
    explain: bool = False,
) -> bytes:
    """Score the flights with one serving state, log a record per flight, return the JSON body."""
    return answer_many(state, [(flights, include_features, explain)], store, as_of, log)[0]


def answer_many(
    state: ServingState,
    requests: list[tuple[list[FlightRequest], bool, bool]],
    store: FeatureReader,
    as_of: str,
    log: PredictionLog,
) -> list[bytes]:
    """``answer`` for several ``(flights, include_features, explain)`` requests scored together
    (one set of lookups, one ``predict`` per model), each getting its own body: what adaptive
    batching runs."""
    from fti_assets.serving.vectors import prediction_time

    flat = [f for flights, _, _ in requests for f in flights]
    include = [wanted for flights, wanted, _ in requests for _ in flights]
    explain = [wanted for flights, _, wanted in requests for _ in flights]
    dumped = [f.model_dump() for f in flat]
    ids, features, unknown, paths = feature_vectors(state, dumped, store)
    served: dict[str, Any] = serve(state, ids, features, any(explain))
    explanations = served["explanations"]
    names = state.champion.spec.features
    vectors = [{k: row[k] for k in names} for row in features]
    challenger = served["challenger"]
    now = datetime.now(UTC).isoformat()
    times = [prediction_time(f) for f in dumped]
    past = past_flights(times, as_of)
    out: list[FlightPrediction] = []
    for i, flight_id in enumerate(ids):
        p = float(served["probability"][i])
        out.append(
            FlightPrediction(
                flight_id=flight_id,
                delay_probability=p,
                model_version=served["served_by"][i],
                features_as_of=as_of,
                unknown=unknown[i],
                past_flight=past[i],
                path=paths[i],
                features=vectors[i] if include[i] else None,
                explanation=explanations[i] if explanations is not None and explain[i] else None,
            )
        )
        log.write(
            {
                "prediction_time": times[i].isoformat(),
                "past_flight": past[i],
                "path": paths[i],
                "at": now,
                "flight_id": flight_id,
                "request": flat[i].model_dump(mode="json"),
                "features": vectors[i],
                "unknown": unknown[i],
                "delay_probability": p,
                "model_version": served["served_by"][i],
                "features_as_of": as_of,
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
