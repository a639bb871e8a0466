"""The lock that serializes champion changes: promotion, rollback, canary changes, packaging.

Locally a file lock under FTI_HOME (every process on the machine, Dagster steps and the
``fti`` command alike, takes the same file). A deployment spanning machines replaces this
resource by one with the same ``hold`` method backed by its database.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

LIFECYCLE_POOL = "model_lifecycle"
"""The Dagster concurrency pool of every asset that changes what is served (limit 1)."""


class ChangeLock(dg.ConfigurableResource):
    """An exclusive lock per name, held for the duration of a ``with`` block."""

    folder: str

    @contextmanager
    def hold(self, name: str, holder: str, log=None) -> Iterator[float]:
        """Block until the lock is free; yield how many seconds were spent waiting."""
        path = Path(self.folder) / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if log:
                    handle.seek(0)
                    log(f"waiting for the {name} lock, held by {handle.read().strip() or 'another process'}")
                fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            handle.truncate()
            handle.write(f"{holder} (pid {os.getpid()}) since {datetime.now(UTC).isoformat()}\n")
            handle.flush()
            try:
                yield time.monotonic() - began
            finally:
                handle.seek(0)
                handle.truncate()
                handle.flush()
                fcntl.flock(handle, fcntl.LOCK_UN)
