"""A minimal FastAPI peer of the BentoML service, for ``bench/serving.py``.

POST /predict takes the service's body (``{"flights": [...], "include_features": false}``)
and answers with the same JSON: the same champion (the pointer under ``FTI_HOME``, loaded
from the BentoML model store by ``load_serving_model``), the same online store, the same
``spine`` / ``serve`` functions, the same serialization and the same prediction-log records.
So the two servers differ in the framework around the handler, not in the work it does.

Left out on purpose: hot swap (no pointer watcher thread; the champion is read once at
startup), BentoML's request timeout and metrics, and its error format: a malformed body gets
FastAPI's 422 here where the service answers 400.

Run it as the benchmark does, from the repository root:
    FTI_HOME=... BENTOML_HOME=... python -m uvicorn bench.fastapi_peer:app --workers 2
"""

from __future__ import annotations

import os

# As in the service: a request is one flight, and polars' thread pool costs more than it saves.
os.environ.setdefault("POLARS_MAX_THREADS", "1")
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, TypeAdapter
from starlette.responses import Response

from fti_assets.serving.model_store import load_serving_model, read_pointer
from fti_assets.serving.online_store import OnlineStoreReader
from fti_assets.serving.packaged import PACKAGED_MODEL
from fti_assets.serving.prediction_log import PredictionLog
from fti_assets.serving.predictor import ServingState, serve, spine
from fti_assets.serving.schemas import FlightPrediction, FlightRequest

MAX_FLIGHTS = 1000
# Serialized by hand, as the service does, so both spend the same on the response body.
_PREDICTIONS = TypeAdapter(list[FlightPrediction])


class PredictBody(BaseModel):
    """The body BentoML derives from ``FlightDelayService.predict``'s signature."""

    flights: list[FlightRequest]
    include_features: bool = False


class Served:
    """What one worker process serves with; filled by the lifespan, before the first request."""

    state: ServingState
    store: OnlineStoreReader
    log: PredictionLog


def _home() -> Path:
    return Path(os.environ.get("FTI_HOME", ".fti")).expanduser().resolve()


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    # Loaded per worker process (uvicorn spawns each worker and imports the app anew).
    home = _home()
    pointer = read_pointer(home)
    Served.state = ServingState(load_serving_model(pointer["model_tag"] if pointer else PACKAGED_MODEL))
    Served.store = OnlineStoreReader(home / "online.sqlite")
    Served.log = PredictionLog(home / "predictions")
    yield
    Served.log.close()


app = FastAPI(title="flight_delay_service (FastAPI peer)", lifespan=lifespan)


@app.get("/readyz")
async def readyz() -> Response:
    ready = Served.store.as_of() is not None
    return Response("ready" if ready else "not ready", status_code=200 if ready else 503)


# `async def`, like the service's API: the handler runs on the event loop, one request at a
# time per worker, with no hop to a thread pool that BentoML does not make either.
@app.post("/predict", response_class=Response)
async def predict(body: PredictBody) -> Response:
    flights = body.flights
    if not flights:
        raise HTTPException(400, "flights: must hold at least one flight")
    if len(flights) > MAX_FLIGHTS:
        raise HTTPException(400, f"flights: at most {MAX_FLIGHTS} per request, got {len(flights)}")
    for i, f in enumerate(flights):
        if f.scheduled_arrival <= f.scheduled_departure:
            raise HTTPException(400, f"flights[{i}].scheduled_arrival: must be after scheduled_departure")
    state, store = Served.state, Served.store
    as_of = store.as_of()
    if as_of is None:
        raise HTTPException(503, "the online store is empty: materialize online_features")
    rows = spine([f.model_dump() for f in flights], store)
    served: dict[str, Any] = serve(state, rows, store)
    names = state.champion.spec.features
    vectors = [{k: row[k] for k in names} for row in served["features"]]
    now = datetime.now(UTC).isoformat()
    out = []
    for i, flight_id in enumerate(rows["flight_id"]):
        p = float(served["probability"][i])
        out.append(FlightPrediction(flight_id=flight_id, delay_probability=p, model_version=served["served_by"][i], features_as_of=as_of,
                                    unknown=served["unknown"][i], features=vectors[i] if body.include_features else None))  # fmt: skip
        # The service's record (no challenger here), so both pay the same logging cost.
        Served.log.write({
            "at": now, "flight_id": flight_id, "request": flights[i].model_dump(mode="json"), "features": vectors[i],
            "unknown": served["unknown"][i], "delay_probability": p, "model_version": served["served_by"][i],
            "features_as_of": as_of, "champion_version": state.champion.version, "champion_probability": float(served["champion"][i]),
            "challenger_version": None, "challenger_probability": None, "mode": state.mode,
        })  # fmt: skip
    return Response(_PREDICTIONS.dump_json(out), media_type="application/json")
