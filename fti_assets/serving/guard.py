"""An ASGI middleware in front of the BentoML app: limits, content type, API key, one error shape.

For ``POST /predict`` it answers 415 for a body that is not JSON or declares a content
encoding, 413 for a body over the limit (from ``Content-Length``, or while reading a chunked
body), 408 for a body that does not arrive in full within the read timeout, 401 without the
API key when one is configured, and 400 with every field at fault when the body breaks the
request schema; only a valid body reaches BentoML. A body over the limit is read and discarded
(up to ``drain_bytes``) before the 413, because a client that sends its whole body before
reading its answer would otherwise see a connection reset; a client that sent
``Expect: 100-continue`` gets the 413 at once. Every other 4xx (and a 503) is rewritten into
the same shape (a 405 keeps its ``Allow``), and ``/docs.json`` is served as valid OpenAPI 3.0.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pydantic import ValidationError

from fti_assets.serving.contract import error_body, openapi_document, problems, route_errors
from fti_assets.serving.schemas import PredictRequest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# A child of "bentoml": the server's logging setup disables other loggers and shows only these.
log = logging.getLogger("bentoml.fti")
GUARDED = "/predict"
REWRITTEN = range(400, 500)


class RequestGuard:
    def __init__(
        self,
        app: Callable,
        max_bytes: int = 1 << 20,
        api_key: str | None = None,
        metrics: bool = True,
        read_seconds: float = 5.0,
        drain_bytes: int = 64 << 20,
        airports: dict[str, tuple[float, float]] | None = None,
    ) -> None:
        self.app, self.max_bytes, self.api_key, self.metrics = app, max_bytes, api_key or None, metrics
        self.read_seconds, self.drain_bytes, self.airports = read_seconds, drain_bytes, airports or {}

    async def _read(self, scope: Scope, receive: Receive, send: Send, declared: int | None) -> bytes | None:
        """The whole body, or None once it has been answered: 413 past the limit (after draining,
        so a client that sends before it reads sees the status), 408 when the body does not arrive
        in full within ``read_seconds`` (a Content-Length longer than what is sent)."""
        body, more = bytearray(), True
        deadline = asyncio.get_running_loop().time() + self.read_seconds
        try:
            # One timer for the whole body: ``wait_for`` would wrap every read in a new task.
            async with asyncio.timeout_at(deadline):
                while more and len(body) <= self.max_bytes:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    body += message.get("body", b"")
                    more = message.get("more_body", False)
        except TimeoutError:
            got = f"{len(body)} of the {declared} declared" if declared is not None else f"{len(body)}"
            reason = f"not received in full within {self.read_seconds:g} s ({got} bytes arrived)"
            await _refuse(scope, send, 408, "body", reason, closing=True)
            return None
        if len(body) > self.max_bytes:
            if more:
                await self._drain(receive, self.drain_bytes - len(body), deadline)
            await _refuse(scope, send, 413, "body", f"over {self.max_bytes} bytes", closing=True)
            return None
        return bytes(body)

    async def _drain(self, receive: Receive, bound: int, deadline: float | None = None) -> None:
        """Read and discard up to ``bound`` more bytes of the body, for at most ``read_seconds``."""
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + self.read_seconds
        seen, more = 0, True
        try:
            async with asyncio.timeout_at(deadline):
                while more and seen <= bound:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    seen += len(message.get("body", b""))
                    more = message.get("more_body", False)
        except TimeoutError:
            return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif scope["path"] == "/docs.json":
            await self.app(scope, receive, _rewrite_document(send, self.metrics))
        elif scope["path"] == GUARDED and scope["method"] == "POST":
            await self._predict(scope, receive, send)
        else:
            await self.app(scope, receive, _uniform_errors(scope, send))

    async def _predict(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.api_key and not hmac.compare_digest(
            headers.get("authorization", ""), f"Bearer {self.api_key}"
        ):
            return await _refuse(
                scope, send, 401, "authorization", "a valid `Authorization: Bearer <key>` header is required"
            )
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            return await _refuse(
                scope, send, 415, "content-type", f"must be application/json, not {media or 'missing'}"
            )
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding not in ("", "identity"):  # a gzip header over a plain body would be scored as plain
            return await _refuse(
                scope, send, 415, "content-encoding", f"{encoding} is not supported: send the body unencoded"
            )
        length = headers.get("content-length", "")
        declared = int(length) if length.isdigit() else None
        if declared is not None and declared > self.max_bytes:
            reason = f"{length} bytes; at most {self.max_bytes} are accepted"
            # A client that asked to continue has not sent the body: it reads the answer now. One that
            # sends the whole body before reading would see a reset if the body were left unread.
            if headers.get("expect", "").lower() != "100-continue" and declared <= self.drain_bytes:
                await self._drain(receive, declared)
            return await _refuse(scope, send, 413, "body", reason, closing=True)
        body = await self._read(scope, receive, send, declared)
        if body is None:
            return
        try:
            request = PredictRequest.model_validate_json(body)
        except ValidationError as exc:
            found = problems(exc)
            return await _answer(scope, send, 400, found)
        if self.airports and (found := route_errors(request.flights, self.airports)):
            return await _answer(scope, send, 400, found)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, _uniform_errors(scope, send))


async def _refuse(
    scope: Scope, send: Send, status: int, field: str, reason: str, closing: bool = False
) -> None:
    """Answer ``status`` in the error shape; ``closing`` where the body was left unread (in
    part), so the connection cannot carry another request."""
    await _answer(
        scope, send, status, error_body(field, reason), [(b"connection", b"close")] if closing else None
    )


async def _answer(
    scope: Scope, send: Send, status: int, body: dict[str, Any], kept: list | None = None
) -> None:
    """Send the error body (with ``kept`` headers of the app's answer, such as Retry-After);
    a client error is one log line, never a traceback."""
    first = body["errors"][0]
    more = f" (+{len(body['errors']) - 1} more)" if len(body["errors"]) > 1 else ""
    log.info(
        "%s %s %s: %s: %s%s",
        status,
        scope["method"],
        scope["path"],
        first["field"],
        first["reason"][:200],
        more,
    )
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(kept or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _uniform_errors(scope: Scope, send: Send) -> Send:
    """A ``send`` that rewrites the app's 4xx and 503 answers into the error shape."""
    held: dict[str, Any] = {}

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start" and (
            message["status"] in REWRITTEN or message["status"] == 503
        ):
            # Retry-After of a 503, and Allow of a 405 (RFC 9110 requires it there).
            retry = [(k, v) for k, v in message.get("headers", []) if k.lower() in (b"retry-after", b"allow")]
            held.update(status=message["status"], body=b"", kept=retry)
            return
        if not held:
            return await send(message)
        held["body"] += message.get("body", b"")
        if not message.get("more_body", False):
            await _answer(scope, send, held["status"], _error(held["status"], held["body"]), held["kept"])

    return wrapped


def _error(status: int, raw: bytes) -> dict[str, Any]:
    """The app's error answer in the error shape (kept as is when it already has it)."""
    text = raw.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("errors"), list) and parsed["errors"]:
        return parsed
    reason = parsed.get("error", text) if isinstance(parsed, dict) else text
    return error_body(
        {404: "path", 405: "method", 503: "service"}.get(status, "body"), str(reason)[:500] or "refused"
    )


def _rewrite_document(send: Send, metrics: bool) -> Send:
    """A ``send`` that replaces BentoML's OpenAPI document by its valid 3.0 form (``/metrics``
    listed only where ``metrics`` says the server routes it)."""
    held: dict[str, Any] = {}

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            held.update(start=message, body=b"")
            return
        held["body"] += message.get("body", b"")
        if message.get("more_body", False):
            return
        start = held["start"]
        payload = held["body"]
        if start["status"] == 200:
            payload = json.dumps(openapi_document(json.loads(payload), metrics)).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await send({**start, "headers": [*headers, (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    return wrapped
