"""The service's published contract: its OpenAPI document and its one error shape.

BentoML 1.4 writes an OpenAPI 3.0.2 document holding JSON Schema 2020 forms (a numeric
``exclusiveMinimum``, ``type: "null"``, ``examples`` lists) that 3.0 tools refuse. The
document is rewritten here into valid 3.0, with the error answers the request guard gives.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from fti_assets.serving.schemas import MAX_FLIGHTS, ErrorBody

#: Statuses of POST /predict besides 200, all answered with ``ErrorBody``.
ERRORS = {
    "400": "The body is not valid JSON or breaks the request schema, or a flight could not be real: an arrival "
    "not after its departure, an origin or destination the service's airports table lacks, the same airport "
    "twice, a distance more than 15 miles plus 2% away from the great-circle distance, or a scheduled duration "
    "implausible for the distance (a block speed over 650 mph or under 5 mph, with an hour of slack); "
    "`errors` names each field and why.",
    "401": "An API key is configured (FTI_API_KEY) and the request has no matching `Authorization: Bearer` header.",
    "408": "The body did not arrive in full within FTI_REQUEST_READ_SECONDS (5 s by default), such as a "
    "Content-Length longer than the body sent.",
    "413": "The body is larger than the limit (FTI_MAX_REQUEST_BYTES, 1 MiB by default).",
    "415": "The content type is not application/json, or a Content-Encoding other than identity is declared.",
    "503": "The service is not ready: no online features yet, or the prediction log cannot be written.",
}


def error_body(field: str, reason: str) -> dict[str, Any]:
    return {"errors": [{"field": field, "reason": reason}]}


def field_path(location: tuple[int | str, ...]) -> str:
    """pydantic's error location as a path: ``("flights", 0, "distance")`` is ``flights[0].distance``."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def problems(error: ValidationError) -> dict[str, Any]:
    """A validation error as the error body: one entry per field, pydantic's message as reason."""
    found = []
    for e in error.errors(include_url=False, include_input=False):
        reason = e["msg"].removeprefix("Value error, ")
        found.append({"field": field_path(tuple(e["loc"])), "reason": reason})
    return {"errors": found}


def route_errors(flights: list, airports: dict[str, tuple[float, float]]) -> dict[str, Any] | None:
    """The error body for flights no airline could fly (unknown or equal airports, a distance
    far from the great circle, a duration implausible for it), or None when all can be real."""
    from fti_assets.domain.routes import route_problems

    found = []
    for i, flight in enumerate(flights):
        minutes = (flight.scheduled_arrival - flight.scheduled_departure).total_seconds() / 60
        for field, reason in route_problems(flight.origin, flight.dest, flight.distance, minutes, airports):
            found.append({"field": f"flights[{i}].{field}", "reason": reason})
    return {"errors": found} if found else None


def _to_openapi_30(node: Any) -> Any:
    """JSON Schema 2020 forms rewritten as their OpenAPI 3.0 equivalents, recursively."""
    if isinstance(node, list):
        return [_to_openapi_30(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {str(k): _to_openapi_30(v) for k, v in node.items()}  # BentoML keys responses by int
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), int | float) and not isinstance(out[bound], bool):
            out[plain], out[bound] = out[bound], True
    if (
        isinstance(out.get("examples"), list) and "properties" not in out
    ):  # a schema's examples, not a media type's
        examples = out.pop("examples")
        if examples:
            out["example"] = examples[0]
    if isinstance(out.get("anyOf"), list) and any(s == {"type": "null"} for s in out["anyOf"]):
        rest = [s for s in out.pop("anyOf") if s != {"type": "null"}]
        if len(rest) == 1 and "$ref" not in rest[0]:
            out = {**rest[0], **out}
        else:
            out["anyOf"] = rest
        out["nullable"] = True
    return out


def openapi_document(generated: dict[str, Any], metrics: bool = True) -> dict[str, Any]:
    """BentoML's document made valid OpenAPI 3.0.2, with the request limits and errors it lacks;
    without ``metrics`` (Prometheus off), no ``/metrics``: BentoML lists it even where it does
    not route it."""
    doc = _to_openapi_30(copy.deepcopy(generated))
    if not metrics:
        doc["paths"].pop("/metrics", None)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    error = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update({name: _to_openapi_30(s) for name, s in error.pop("$defs", {}).items()})
    schemas["ErrorBody"] = _to_openapi_30(error)
    for name in ("InvalidArgument", "NotFound", "InternalServerError"):
        schemas.pop(name, None)
    predict = doc["paths"]["/predict"]["post"]
    body = predict["requestBody"]
    body["required"] = True
    schema = body["content"]["application/json"]["schema"]
    schema["additionalProperties"] = False
    schema["properties"]["flights"].update(minItems=1, maxItems=MAX_FLIGHTS)
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    predict["responses"] = {
        "200": predict["responses"]["200"],
        **{
            code: {"description": text, "content": {"application/json": {"schema": ref}}}
            for code, text in ERRORS.items()
        },
    }
    return doc
