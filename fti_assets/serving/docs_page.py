"""Swagger UI at ``/docs`` (and ``/``), from the files BentoML ships, calling no other host.

BentoML's own page at ``/`` loads a tag manager from an external host, so it neither works
offline nor keeps a visit private. This page loads only BentoML's bundled Swagger files
(``static_content/``) and the service's own OpenAPI document (``docs.json``), by relative
addresses, with Swagger's online validator switched off.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PATHS = ("/", "/docs", "/docs/")

PAGE = b"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>flight_delay_service: API documentation</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="static_content/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="static_content/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({
  url: "docs.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
</script>
</body>
</html>
"""


class DocsPage:
    """ASGI middleware answering ``GET /`` and ``GET /docs`` with the offline Swagger page."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in PATHS or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        # "/docs/" would resolve the page's relative addresses under /docs/: send it to /docs.
        if scope["path"] == "/docs/":
            await _answer(send, 308, b"", [(b"location", b"/docs")])
            return
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(PAGE)).encode()),
        ]
        await _answer(send, 200, PAGE if scope["method"] == "GET" else b"", headers)


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
