"""A minimal FastAPI peer of the BentoML service, for ``bench/serving.py``.

POST /predict takes the service's body (``{"flights": [...], "include_features": false}``)
and answers with the same JSON: the same champion (the pointer under ``FTI_HOME``, loaded
from the BentoML model store by ``load_serving_model``), the same online store, the same
request handling (``fti_assets.serving.handling``: checks, scoring, log records, JSON). So the
two servers differ in the framework around the handler, not in the work it does.

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

from fastapi import FastAPI, HTTPException
from starlette.responses import Response

from fti_assets.serving.handling import answer, request_problem
from fti_assets.serving.model_store import load_version, read_roles
from fti_assets.serving.prediction_log import PredictionLog
from fti_assets.serving.predictor import ServingState
from fti_assets.serving.schemas import PredictRequest
from fti_assets.serving.sqlite_store import OnlineStoreReader
from fti_assets.settings import Settings


class Served:
    """What one worker process serves with; filled by the lifespan, before the first request."""

    state: ServingState
    store: OnlineStoreReader
    log: PredictionLog


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    # Loaded per worker process (uvicorn spawns each worker and imports the app anew).
    settings = Settings.from_env()  # the environment, read once per worker
    home, tracking_uri = (
        settings.home,
        settings.tracking_uri,
    )  # the champion the registry names, as the service does
    Served.state = ServingState(load_version(tracking_uri, read_roles(tracking_uri).champion))
    Served.store = OnlineStoreReader(home / "online.sqlite")
    Served.log = PredictionLog(home / "predictions")
    yield
    Served.log.close()


app = FastAPI(title="flight_delay_service (FastAPI peer)", lifespan=lifespan)


@app.get("/readyz")
async def readyz() -> Response:
    ready = Served.store.meta().get("newest_event_at") is not None
    return Response("ready" if ready else "not ready", status_code=200 if ready else 503)


# `async def`, like the service's API: the handler runs on the event loop, one request at a
# time per worker, with no hop to a thread pool that BentoML does not make either.
@app.post("/predict", response_class=Response)
async def predict(body: PredictRequest) -> Response:
    if problem := request_problem(body.flights):
        raise HTTPException(400, problem)
    state = Served.state
    if Served.store.meta().get("newest_event_at") is None:
        raise HTTPException(503, "the online store is empty: materialize online_features")
    return Response(
        answer(state, body.flights, Served.store, body.include_features, Served.log, body.explain),
        media_type="application/json",
    )
