"""The prediction log: every served prediction as a JSON line, for monitoring to read.

A record is appended to ``predictions/<day>/<pid>.jsonl`` (one file per worker, so workers
never share a file) with one ``write`` on an append-only descriptor before the answer is
sent: once a client has its answer, the record is in the operating system's hands, and a
worker killed with kill -9 loses nothing it answered. A background thread fsyncs the file
every 200 ms (what a machine crash can lose), rotates it past ``max_bytes`` and removes day
folders older than ``retention_days``. A failure of either is logged and makes ``healthy``
false, which takes the service out of readiness.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic_core import to_json

# A child of "bentoml": the server's logging setup disables other loggers and shows only these.
log = logging.getLogger("bentoml.fti")
SYNC_SECONDS = 0.2


class PredictionLogError(RuntimeError):
    """The log cannot take a record: the prediction must not be answered unlogged."""


class PredictionLog:
    def __init__(
        self,
        folder: Path,
        max_bytes: int = 64 << 20,
        retention_days: int = 90,
        sync_seconds: float = SYNC_SECONDS,
    ) -> None:
        self.folder, self.max_bytes, self.retention_days = folder, max_bytes, retention_days
        self._write_error: str | None = None  # cleared by the next successful append
        self._sync_error: str | None = None  # cleared by the next successful sync
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._day: str | None = None
        self._size = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(sync_seconds,), daemon=True, name="prediction-log"
        )
        self._thread.start()

    @property
    def failure(self) -> str | None:
        return self._write_error or self._sync_error

    @property
    def healthy(self) -> bool:
        return self.failure is None and self._thread.is_alive()

    def write(self, record: dict[str, Any]) -> None:
        """Append one record now; raises ``PredictionLogError`` if it cannot be written."""
        line = to_json(record) + b"\n"
        with self._lock:
            try:
                fd = self._file(len(line))
                os.write(fd, line)
                self._size += len(line)
                self._write_error = None
            except OSError as exc:
                self._write_error = self._report(
                    f"cannot append to the prediction log under {self.folder}: {exc}"
                )
                raise PredictionLogError(self._write_error) from exc

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None

    def _file(self, adding: int) -> int:
        """The descriptor of today's file, rotated by day and past ``max_bytes``."""
        day = datetime.now(UTC).date().isoformat()
        if self._fd is not None and day == self._day and self._size + adding <= self.max_bytes:
            return self._fd
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        folder = self.folder / day
        folder.mkdir(parents=True, exist_ok=True)
        pid, n = os.getpid(), 0
        path = folder / f"{pid}.jsonl"
        while path.exists() and path.stat().st_size + adding > self.max_bytes:
            n += 1
            path = folder / f"{pid}.{n}.jsonl"
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._day, self._size = day, os.fstat(self._fd).st_size
        return self._fd

    def _report(self, message: str) -> str:
        if self.failure is None:  # one line when it starts failing, not one per record
            log.error("%s; the service reports not ready until it recovers", message)
        return message

    def _run(self, sync_seconds: float) -> None:
        while not self._stop.wait(sync_seconds):
            try:
                # The sync runs on a duplicate of the descriptor, outside the lock: an fsync takes
                # milliseconds (3 ms at the median on these machines), and a request appending its
                # record meanwhile would wait it out.
                with self._lock:
                    fd = os.dup(self._fd) if self._fd is not None else None
                if fd is not None:
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                self.prune(datetime.now(UTC).date())
                if self._sync_error is not None:
                    log.info("the prediction log writer recovered")
                self._sync_error = None
            except OSError as exc:
                self._sync_error = self._report(f"prediction log writer: {exc}")

    def prune(self, today: date) -> list[str]:
        """Remove day folders older than the retention; returns the days removed."""
        oldest = today - timedelta(days=self.retention_days)
        removed = []
        for folder in self.folder.glob("????-??-??"):
            try:
                day = date.fromisoformat(folder.name)
            except ValueError:
                continue
            if day < oldest:
                shutil.rmtree(folder)
                removed.append(folder.name)
        return removed
