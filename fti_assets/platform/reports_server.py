"""The reports server of ``make dev``: ``$FTI_HOME/reports`` over HTTP, its root an index.

The root page lists every report by its title (evaluations, model cards, drift reports),
grouped by kind and newest first, instead of a bare directory listing; every other path is
served as a static file, as ``python -m http.server`` would.
"""

from __future__ import annotations

import argparse
import functools
import html
import re
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

#: The kinds of report, by their folder, in the order the index shows them.
KINDS = {
    "evaluation": "Evaluations (metrics, gates, plots)",
    "model_card": "Model cards",
    "feature_drift": "Feature drift",
    "prediction_drift": "Prediction drift",
}
_TITLE = re.compile(r"<title>(.*?)</title>", re.I | re.S)


def report_title(path: Path) -> str:
    """The page's ``<title>`` (read from its first 64 KB; Evidently's reports are megabytes), or its name."""
    with open(path, encoding="utf-8", errors="replace") as page:
        found = _TITLE.search(page.read(65_536))
    return html.unescape(found.group(1).strip()) if found and found.group(1).strip() else path.name


def _order(path: Path) -> tuple:
    """Newest first: version folders by number, dated files by date."""
    name = path.parent.name if path.name == "index.html" else path.stem
    number = name[1:] if name.startswith("v") else ""
    return (int(number),) if number.isdigit() else (0, name)


def index_page(folder: Path) -> str:
    """Every HTML report under ``folder`` with its title and link, grouped by kind."""
    sections = []
    for kind, heading in KINDS.items():
        pages = [p for p in (folder / kind).rglob("*.html")] if (folder / kind).is_dir() else []
        if not pages:
            continue
        items = "".join(
            f'<li><a href="{html.escape(p.relative_to(folder).as_posix())}">{html.escape(report_title(p))}</a></li>'
            for p in sorted(pages, key=_order, reverse=True)
        )
        sections.append(f"<h2>{html.escape(heading)}</h2><ul>{items}</ul>")
    body = "".join(sections) or "<p>No report yet: run <code>.venv/bin/fti demo</code> or a pipeline.</p>"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>fti-assets reports</title>"
        "<style>body{font-family:sans-serif;margin:2em}</style></head><body><h1>fti-assets reports</h1>"
        f"{body}</body></html>"
    )


class ReportsHandler(SimpleHTTPRequestHandler):
    """Static files, and the index at ``/``."""

    def do_GET(self) -> None:
        if self.path.split("?")[0] in ("/", "/index.html"):
            body = index_page(Path(self.directory)).encode()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", required=True)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("port", type=int)
    args = parser.parse_args()
    handler = functools.partial(ReportsHandler, directory=args.directory)
    with ThreadingHTTPServer((args.bind, args.port), handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
