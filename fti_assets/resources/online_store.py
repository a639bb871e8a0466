"""The online store as a Dagster resource: SQLite under FTI_HOME, or Redis in production."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg


class OnlineStore(dg.ConfigurableResource):
    """The online feature store: SQLite in WAL mode at ``path``, or Redis at ``redis_url``
    with every key under ``prefix`` (``backend`` chooses; ``resources.environment`` sets it per environment)."""

    path: str
    backend: str = "sqlite"
    redis_url: str = ""
    prefix: str = "fti"

    @property
    def location(self) -> str:
        """The SQLite file or the Redis server with its prefix, for metadata and messages."""
        return self.path if self.backend == "sqlite" else f"{self.redis_url} ({self.prefix}:*)"

    def _where(self) -> str:
        return self.path if self.backend == "sqlite" else self.redis_url

    def writer(self) -> Any:
        """An ``OnlineWriter``: what applies events (the stream consumer, the backstop)."""
        from fti_assets.serving.stores import open_writer

        return open_writer(self.backend, self._where(), self.prefix)

    def reader(self) -> Any:
        from fti_assets.serving.stores import open_reader

        return open_reader(self.backend, self._where(), self.prefix)

    def newest_event_at(self) -> datetime | None:
        """The known-at time of the newest event the store holds (None while empty)."""
        if self.backend == "sqlite" and not Path(self.path).exists():
            return None
        newest = self.reader().meta().get("newest_event_at")
        return datetime.fromtimestamp(int(newest) / 1e6, UTC) if newest else None
