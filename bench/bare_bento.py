"""The framework's own floor: a BentoML service that answers every request with a constant.

Started by ``bench/serving.py`` with ``bentoml serve bench.bare_bento:ConstantService`` exactly
as the project's Bento is served (loopback, one worker per core), and configured like it: an
``async`` API (no hop to BentoML's thread pool), no access log, no Prometheus metrics and no
tracing of ``/predict``.
Loaded the same way: one flight per request, JSON in and out. What it costs per request is what BentoML costs before
any of the project's code runs.
"""

from __future__ import annotations

from typing import Any

import bentoml


@bentoml.service(
    workers="cpu_count",
    logging={"access": {"enabled": False}},
    metrics={"enabled": False},
    tracing={"excluded_urls": ["/predict"]},
)
class ConstantService:
    @bentoml.api
    async def predict(self, flights: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One constant answer per flight, in the shape of the project's answers."""
        return [{"delay_probability": 0.5, "path": "constant"} for _ in flights]
