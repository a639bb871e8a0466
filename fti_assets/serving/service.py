"""The BentoML service: POST /predict scores scheduled flights with the champion model.

Run it with ``make serve`` (``bentoml serve`` on 127.0.0.1). It reads ``FTI_HOME`` for the
online store, the champion pointer and the prediction log, and swaps models without a
restart when the pointer changes.
"""

from __future__ import annotations

import logging
import os

# A request is a handful of rows: polars' thread pool costs more than it saves, and each
# worker process serves one request at a time.
os.environ.setdefault("POLARS_MAX_THREADS", "1")
import threading
from http import HTTPStatus
from pathlib import Path

import bentoml
from bentoml.exceptions import BentoMLException, InvalidArgument
from starlette.responses import Response

from fti_assets.serving.model_store import load_serving_model, read_pointer
from fti_assets.serving.packaged import PACKAGED_MODEL
from fti_assets.serving.schemas import FlightPrediction, FlightRequest, PredictRequest

log = logging.getLogger("fti.service")
WATCH_SECONDS = float(os.environ.get("FTI_SERVING_WATCH_SECONDS", "0.5"))


def _home() -> Path:
    return Path(os.environ.get("FTI_HOME", ".fti")).expanduser().resolve()


@bentoml.service(name="flight_delay_service", workers="cpu_count", traffic={"timeout": 30}, logging={"access": {"enabled": False}})
class FlightDelayService:
    """Probability that a scheduled flight arrives more than 15 minutes late."""

    # The champion at build time: the Bento carries it, and it serves until a champion
    # pointer under FTI_HOME names another one.
    packaged = bentoml.models.BentoModel(PACKAGED_MODEL)

    def __init__(self) -> None:
        from fti_assets.serving.online_store import OnlineStoreReader
        from fti_assets.serving.prediction_log import PredictionLog

        self.home = _home()
        self.store = OnlineStoreReader(self.home / "online.sqlite")
        self.predictions = PredictionLog(self.home / "predictions")
        self._seen = self._pointer_stamp()
        self.state = self._load(read_pointer(self.home), None)
        self._stop = threading.Event()
        threading.Thread(target=self._watch, daemon=True, name="champion-watch").start()
        log.info("serving %s", self.state.champion.version)

    def _load(self, pointer: dict | None, current):
        """The serving state a pointer describes, reusing models already loaded."""
        from fti_assets.serving.predictor import ServingState

        loaded = {m.version: m for m in (current.champion, current.challenger) if m is not None} if current else {}

        def model(tag: str):
            return loaded.get(tag) or load_serving_model(tag)

        champion = model(pointer["model_tag"] if pointer else str(self.packaged.tag))
        challenger = (pointer or {}).get("challenger")
        if not challenger:
            return ServingState(champion)
        return ServingState(champion, model(challenger["model_tag"]), challenger["mode"], float(challenger.get("share", 0.0)))

    def _pointer_stamp(self) -> int | None:
        from fti_assets.serving.model_store import pointer_path

        try:
            return pointer_path(self.home).stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def _watch(self) -> None:
        """Swap to a new champion when the pointer changes; requests never see a half-loaded model."""
        while not self._stop.wait(WATCH_SECONDS):
            stamp = self._pointer_stamp()
            if stamp == self._seen:
                continue
            try:
                self.state = self._load(read_pointer(self.home), self.state)  # one rebind: atomic for readers
                self._seen = stamp
                log.info("serving %s (challenger %s, %s)", self.state.champion.version,
                         self.state.challenger.version if self.state.challenger else None, self.state.mode)
            except Exception:  # keep serving the current model; retry on the next tick
                log.exception("could not load the new champion")

    @bentoml.on_shutdown
    def _shutdown(self) -> None:
        self._stop.set()
        self.predictions.close()

    def __is_ready__(self) -> bool:
        return self.state is not None and self.store.as_of() is not None

    @bentoml.api(input_spec=PredictRequest)
    async def predict(self, flights: list[FlightRequest], include_features: bool = False) -> list[FlightPrediction]:
        """Score up to 1000 flights. Unknown planes, routes or airports get documented
        defaults and are listed in `unknown`; `include_features` returns the vector used."""
        from fti_assets.serving.handling import answer, request_problem

        if problem := request_problem(flights):
            raise InvalidArgument(problem)
        state, as_of = self.state, self.store.as_of()  # one state for the whole request
        if as_of is None:
            raise BentoMLException("the online store is empty: materialize online_features", error_code=HTTPStatus.SERVICE_UNAVAILABLE)
        body = answer(state, flights, self.store, as_of, include_features, self.predictions)
        # Returned as bytes: see fti_assets.serving.handling.
        return Response(body, media_type="application/json")  # type: ignore[return-value]
