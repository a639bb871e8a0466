"""The BentoML service: POST /predict scores scheduled flights with the champion model.

Run it with ``make serve`` (``bentoml serve`` of the champion's exact Bento on 127.0.0.1). It
reads ``FTI_HOME`` for the prediction log, the online store of its environment (SQLite under
``FTI_HOME``, or Redis with ``FTI_ENV=production``), and follows the MLflow registry (the one
record of champion and challenger): it polls the aliases and swaps models without a restart
when they move. When the online store cannot answer, a request gets 503 with ``Retry-After``,
never a probability from default values; the next request tries again. Concurrent requests
are scored together (``serving.batching``): one set of lookups and one ``predict`` per batch.
"""

from __future__ import annotations

import json
import logging
import os

# A batch is a handful of rows: polars' thread pool costs more than it saves, and each
# worker process scores one batch at a time.
os.environ.setdefault("POLARS_MAX_THREADS", "1")
from http import HTTPStatus

import bentoml
from bentoml.exceptions import InvalidArgument
from starlette.exceptions import HTTPException
from starlette.responses import Response

from fti_assets.serving.docs_page import DocsPage
from fti_assets.serving.model_store import Roles, load_version
from fti_assets.serving.packaged import PACKAGED_AIRPORTS, PACKAGED_MODEL
from fti_assets.serving.registry_watch import RegistryWatch
from fti_assets.serving.schemas import FlightPrediction, FlightRequest, PredictRequest
from fti_assets.settings import Settings

# A child of "bentoml": the server's logging setup disables other loggers and shows only these.
log = logging.getLogger("bentoml.fti")
SETTINGS = Settings.from_env()
"""The service process reads its environment once, here."""
RETRY_AFTER_SECONDS = 1
FIRST_READ_SECONDS = 120
"""How long a starting worker waits for the registry's first answer (MLflow's import included)."""


# The Bento binds loopback unless `--host` or BENTOML_HOST says otherwise: BentoML's own
# default, 0.0.0.0, would expose an unauthenticated service on every interface. /predict is
# left out of tracing unless asked for (Settings.serving_trace_predict): measured on two cores at
# eight connections, its OpenTelemetry spans took the service from about 1,450 to 800-1,000 req/s
# with no exporter to send them to. Prometheus metrics (and /metrics) are on in production and off
# on the local profile (Settings.serving_metrics): they cost 8% of the throughput.
@bentoml.service(
    name="flight_delay_service",
    workers="cpu_count",
    traffic={"timeout": 30},
    logging={"access": {"enabled": False}},
    http={"host": "127.0.0.1"},
    metrics={"enabled": SETTINGS.serving_metrics},
    tracing={"excluded_urls": [] if SETTINGS.serving_trace_predict else ["/predict"]},
)
class FlightDelayService:
    """Probability that a scheduled flight arrives more than 15 minutes late."""

    # The model this Bento was built around (an exact tag, written by the build): the Bento
    # bundles it, so a champion served from a fresh store needs no download.
    packaged = bentoml.models.BentoModel(PACKAGED_MODEL)

    def __init__(self) -> None:
        from fti_assets.serving.lifeline import leave_with_parent

        # A server killed with SIGKILL cannot stop its workers: each leaves by itself (lifeline).
        leave_with_parent()
        from fti_assets.serving.prediction_log import PredictionLog
        from fti_assets.serving.stores import reader_for

        settings = SETTINGS
        self.home, self.tracking_uri = settings.home, settings.tracking_uri
        self.store = reader_for(settings)
        self.predictions = PredictionLog(
            self.home / "predictions",
            settings.prediction_log_max_bytes,
            settings.prediction_log_retention_days,
        )
        self.state, self.roles, self.problem = None, None, "the registry has not been read yet"
        from fti_assets.serving.batching import AdaptiveBatcher

        # Small batches are scored on the event loop only where the store's reads are local: a
        # Redis read waits on the network and its timeouts would stall every request of the worker.
        inline = settings.serving_inline_flights if self.store.local_reads else 0
        self.batcher = AdaptiveBatcher(self._score_batch, settings.serving_max_batch_flights, inline)
        # The registry is polled by a child process (serving.registry_watch): MLflow's client holds
        # the interpreter lock for milliseconds, which requests arriving meanwhile would wait out.
        # Its first answer decides what the worker starts with; a model that cannot be loaded, or
        # no answer in time, leaves the worker up and /readyz answering why.
        self.watch = RegistryWatch(self.tracking_uri, settings.serving_watch_seconds, self._follow).start()
        self.watch.first.wait(FIRST_READ_SECONDS)

    def _load(self, roles: Roles, current):
        """The serving state the registry roles describe, reusing models already loaded."""
        from fti_assets.serving.model_store import serving_tag
        from fti_assets.serving.predictor import ServingState

        loaded = (
            {m.version: m for m in (current.champion, current.challenger) if m is not None} if current else {}
        )

        def model(version: int):
            return loaded.get(serving_tag(version)) or load_version(self.tracking_uri, version)

        if roles.challenger is None:
            return ServingState(model(roles.champion))
        return ServingState(model(roles.champion), model(roles.challenger), roles.mode, roles.share)

    def _follow(self, roles: Roles | str) -> None:
        """Load and swap in one rebind (atomic for readers) when the roles moved; an error (the
        registry unreadable) keeps the current model and tells /readyz why."""
        if isinstance(roles, str):
            if self.problem is None:
                log.error("could not read the registry: %s", roles)
            self.problem = f"cannot load the registry's models: {roles}"
            return
        try:
            if roles == self.roles and self.problem is None:
                return
            if roles.champion is None:
                raise LookupError(
                    "the registry names no champion: promote a model (fti demo, or champion_model)"
                )
            self.state = self._load(roles, self.state)
            self.roles, self.problem = roles, None
            log.info(
                "serving %s (challenger %s, %s)",
                self.state.champion.version,
                self.state.challenger.version if self.state.challenger else None,
                self.state.mode,
            )
        except Exception as exc:  # keep serving the current model (if any); retry on the next tick
            self.problem = f"cannot load the registry's models: {type(exc).__name__}: {exc}"
            log.exception("could not follow the registry")

    @bentoml.on_shutdown
    def _shutdown(self) -> None:
        self.watch.close()
        self.batcher.close()
        self.predictions.close()

    def __is_ready__(self) -> bool:
        """Ready when a model is loaded, the online store holds a snapshot and the prediction log
        can be written; else 503 with why."""
        from fti_assets.serving.reader import OnlineStoreUnavailable

        if self.state is None:
            raise HTTPException(status_code=HTTPStatus.SERVICE_UNAVAILABLE, detail=self.problem)
        try:
            newest = self.store.meta().get("newest_event_at")
        except OnlineStoreUnavailable as exc:
            raise HTTPException(
                status_code=HTTPStatus.SERVICE_UNAVAILABLE, detail=f"the online store is unavailable: {exc}"
            ) from exc
        if newest is None:
            raise HTTPException(
                status_code=HTTPStatus.SERVICE_UNAVAILABLE,
                detail="the online store is empty: materialize online_features or start the stream consumer",
            )
        if not self.predictions.healthy:
            raise HTTPException(
                status_code=HTTPStatus.SERVICE_UNAVAILABLE, detail="the prediction log cannot be written"
            )
        return True

    @bentoml.api(input_spec=PredictRequest)
    async def predict(
        self, flights: list[FlightRequest], include_features: bool = False, explain: bool = False
    ) -> list[FlightPrediction]:
        """Score up to 1000 flights. Unknown planes, routes or airports get documented
        defaults and are listed in `unknown`; `include_features` returns the vector used;
        `explain` returns each flight's top feature contributions."""
        from fti_assets.serving.handling import request_problem

        if problem := request_problem(flights):
            raise InvalidArgument(problem)
        try:
            body = await self.batcher.submit((flights, include_features, explain), len(flights))
        except Unavailable as exc:
            return _unavailable(str(exc))
        # Returned as bytes: see fti_assets.serving.handling.
        return Response(body, media_type="application/json")  # type: ignore[return-value]

    def _score_batch(self, requests: list[tuple[list[FlightRequest], bool, bool]]) -> list[bytes]:
        """The bodies of concurrent requests, scored with one model state and one refresh."""
        from fti_assets.serving.handling import answer_many
        from fti_assets.serving.prediction_log import PredictionLogError
        from fti_assets.serving.reader import OnlineStoreUnavailable

        state = self.state
        if state is None:
            raise Unavailable(self.problem or "no model loaded")
        try:
            store = self.store.pinned()
            return answer_many(state, requests, store, self.predictions)
        except OnlineStoreUnavailable as exc:
            log.warning("online store unavailable: %s", exc)
            raise Unavailable(f"the online store is unavailable, retry later: {exc}") from exc
        except PredictionLogError as exc:  # an answer that cannot be logged is not given
            raise Unavailable(str(exc)) from exc


class Unavailable(RuntimeError):
    """The batch cannot be answered now: each of its requests gets 503 with the reason."""


def _unavailable(reason: str) -> Response:
    """503 in the service's error shape with ``Retry-After`` (every cause is worth a retry);
    returned, not raised, so the log holds one line, no traceback."""
    from fti_assets.serving.contract import error_body

    return Response(
        json.dumps(error_body("service", reason)),
        status_code=HTTPStatus.SERVICE_UNAVAILABLE,
        media_type="application/json",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _guard() -> None:
    """Limits, content type, API key and one error shape in front of every request."""
    from fti_assets.serving.guard import RequestGuard

    FlightDelayService.add_asgi_middleware(
        RequestGuard,
        max_bytes=SETTINGS.max_request_bytes,
        api_key=SETTINGS.api_key,
        metrics=SETTINGS.serving_metrics,
        read_seconds=SETTINGS.request_read_seconds,
        airports=PACKAGED_AIRPORTS,
    )
    if not PACKAGED_AIRPORTS:
        log.warning("this build carries no airports table: requests' routes are not checked")


_guard()
# Swagger UI at /docs and /, calling no host but this service (serving.docs_page).
FlightDelayService.add_asgi_middleware(DocsPage)
