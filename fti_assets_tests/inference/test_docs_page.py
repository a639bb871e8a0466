"""Swagger UI at /docs and /: only this service's own files, by relative addresses."""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from fti_assets.serving.docs_page import DocsPage


def _client() -> TestClient:
    inner = Starlette(routes=[Route("/docs.json", lambda _: PlainTextResponse("{}"))])
    return TestClient(DocsPage(inner))


def test_docs_and_root_serve_swagger_from_this_host_only() -> None:
    client = _client()
    for path in ("/docs", "/"):
        page = client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "SwaggerUIBundle(" in page.text and 'url: "docs.json"' in page.text
        # No absolute address: no other host is ever asked (the tag manager of BentoML's page included).
        assert "://" not in page.text and "//" not in re.sub(r"<!doctype html>", "", page.text, flags=re.I)
        loaded = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert loaded and all(a.startswith("static_content/") or a == "data:," for a in loaded)
        assert "validatorUrl: null" in page.text  # Swagger's online validator stays off


def test_other_paths_reach_the_service() -> None:
    client = _client()
    assert client.get("/docs.json").text == "{}"
    assert client.post("/docs").status_code in (404, 405)  # not the page: the service answers
    assert client.get("/docs/", follow_redirects=False).headers["location"] == "/docs"
