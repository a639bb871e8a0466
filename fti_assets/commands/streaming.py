"""``fti stream consume`` and ``fti stream publish``: the feature stream from the command line."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock

from fti_assets.settings import Settings


def consume(name: str | None, batch: int) -> int:
    """Apply the stream's events to this environment's online store until SIGTERM or SIGINT."""
    from fti_assets.resources.environment import build_resources
    from fti_assets.stream.redis_streams import run, stream_key

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    settings = Settings.from_env()
    online = build_resources(settings)["online"]
    name = name or f"{socket.gethostname()}-{os.getpid()}"
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(
        f"consumer {name}: {settings.stream_url} {stream_key(settings.redis_prefix)} -> {online.location}",
        file=sys.stderr,
        flush=True,
    )
    writer = online.writer()
    try:
        counts = run(settings.stream_url, settings.redis_prefix, name, writer, stop, batch)
    finally:
        writer.close()
    print(f"consumer {name} stopped: {counts}", file=sys.stderr)
    return 0


def publish(start: date, end: date, speed: float) -> int:
    """Publish the offline store's events known in ``start..end`` to the stream, in ``known_at``
    order; with ``speed`` > 0, paced at that many times real time."""
    from fti_assets.domain.events import known_at
    from fti_assets.inference.refresh import offline_events
    from fti_assets.resources.environment import build_resources
    from fti_assets.stream.redis_streams import client
    from fti_assets.stream.redis_streams import publish as append

    settings = Settings.from_env()
    store = build_resources(settings)["store"]
    first = datetime.combine(start, clock(), tzinfo=UTC)
    last = datetime.combine(end + timedelta(days=1), clock(), tzinfo=UTC)
    events = [e for e in offline_events(store, last) if known_at(e["feed"], e["row"]) >= first]
    r = client(settings.stream_url)
    began, origin = time.monotonic(), first
    for event in events:
        if speed > 0:
            due = (known_at(event["feed"], event["row"]) - origin).total_seconds() / speed
            time.sleep(max(0.0, due - (time.monotonic() - began)))
        append(r, settings.redis_prefix, [event])
    print(f"published {len(events):,} events of {start}..{end}", file=sys.stderr)
    return 0
