"""The lock that serializes champion changes: promotion, rollback, canary changes, packaging.

Locally a file lock under FTI_HOME (every process on the machine, Dagster steps and the
``fti`` command alike, takes the same file). In production (``database_url`` set, the
production PostgreSQL database) a session-level advisory lock of that database, which every
machine of the deployment shares, and which PostgreSQL releases if its holder dies.
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
    database_url: str = ""
    """A PostgreSQL SQLAlchemy URL: the lock is an advisory lock there instead of a file."""

    @contextmanager
    def hold(self, name: str, holder: str, log=None) -> Iterator[float]:
        """Block until the lock is free; yield how many seconds were spent waiting."""
        if self.database_url:
            with _advisory(self.database_url, name, log) as waited:
                yield waited
            return
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


@contextmanager
def _advisory(url: str, name: str, log=None) -> Iterator[float]:
    """``pg_advisory_lock`` on a connection of its own, held until the block ends."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    key = sa.text("select hashtext(:name)")
    began = time.monotonic()
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            lock_id = conn.execute(key, {"name": f"fti:{name}"}).scalar_one()
            if not conn.execute(sa.text("select pg_try_advisory_lock(:id)"), {"id": lock_id}).scalar_one():
                if log:
                    log(f"waiting for the {name} lock, held by another session of the production database")
                conn.execute(sa.text("select pg_advisory_lock(:id)"), {"id": lock_id})
            try:
                yield time.monotonic() - began
            finally:
                conn.execute(sa.text("select pg_advisory_unlock(:id)"), {"id": lock_id})
    finally:
        engine.dispose()
