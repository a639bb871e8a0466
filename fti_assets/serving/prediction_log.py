"""The prediction log: every served prediction as a JSON line, for monitoring to read.

Requests only enqueue; a background thread appends to ``predictions/<day>/<pid>.jsonl`` so
several workers never write the same file.
"""

from __future__ import annotations

import os
import queue
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic_core import to_json


class PredictionLog:
    def __init__(self, folder: Path, flush_seconds: float = 0.5) -> None:
        self.folder = folder
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, args=(flush_seconds,), daemon=True, name="prediction-log")
        self._thread.start()

    def write(self, record: dict[str, Any]) -> None:
        self._queue.put(record)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self, flush_seconds: float) -> None:
        while True:
            batch = [self._queue.get()]
            try:
                while len(batch) < 1000:
                    batch.append(self._queue.get(timeout=flush_seconds))
            except queue.Empty:
                pass
            done = None in batch
            records = [r for r in batch if r is not None]
            if records:
                day = datetime.now(UTC).date().isoformat()
                path = self.folder / day / f"{os.getpid()}.jsonl"
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "ab") as handle:
                    handle.writelines(to_json(r) + b"\n" for r in records)
            if done:
                return
