"""What an HTTP front does with a /predict request, whatever the framework around it.

The BentoML service and the benchmark's FastAPI peer both call these, so they differ only
in the framework: the same checks, the same scoring, the same log records, the same JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter

from fti_assets.serving.online_backend import FeatureReader
from fti_assets.serving.prediction_log import PredictionLog
from fti_assets.serving.predictor import ServingState, serve, spine
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


def past_flights(rows: Any, as_of: str) -> list[bool]:
    """Flights whose prediction time is before the online features' ``as_of``: their features
    hold values learnt after that time, so their scores are not what was knowable then."""
    refreshed = datetime.fromisoformat(as_of)
    return [t < refreshed for t in rows["prediction_time"]]


def answer(state: ServingState, flights: list[FlightRequest], store: FeatureReader, as_of: str,
           include_features: bool, log: PredictionLog, explain: bool = False) -> bytes:  # fmt: skip
    """Score the flights with one serving state, log a record per flight, return the JSON body."""
    rows = spine([f.model_dump() for f in flights], store)
    served: dict[str, Any] = serve(state, rows, store, explain)
    names = state.champion.spec.features
    vectors = [{k: row[k] for k in names} for row in served["features"]]
    challenger = served["challenger"]
    now = datetime.now(UTC).isoformat()
    past = past_flights(rows, as_of)
    out = []
    for i, flight_id in enumerate(rows["flight_id"]):
        p = float(served["probability"][i])
        out.append(FlightPrediction(flight_id=flight_id, delay_probability=p, model_version=served["served_by"][i], features_as_of=as_of,
                                    unknown=served["unknown"][i], past_flight=past[i], features=vectors[i] if include_features else None,
                                    explanation=served["explanations"][i] if explain else None))  # fmt: skip
        log.write({
            "prediction_time": rows["prediction_time"][i].isoformat(), "past_flight": past[i],
            "at": now, "flight_id": flight_id, "request": flights[i].model_dump(mode="json"), "features": vectors[i],
            "unknown": served["unknown"][i], "delay_probability": p, "model_version": served["served_by"][i],
            "features_as_of": as_of, "champion_version": state.champion.version, "champion_probability": float(served["champion"][i]),
            "challenger_version": state.challenger.version if challenger is not None else None,
            "challenger_probability": float(challenger[i]) if challenger is not None else None, "mode": state.mode,
        })  # fmt: skip
    return _PREDICTIONS.dump_json(out)
