"""The online store as a Dagster resource: SQLite (``online_store``) or Redis (``redis_store``)."""

import sqlite3
from datetime import datetime
from pathlib import Path

import dagster as dg
import polars as pl


class OnlineStore(dg.ConfigurableResource):
    """The online feature store: SQLite in WAL mode at ``path``, or Redis at ``redis_url``
    with every key under ``prefix`` (``backend`` chooses; ``resources.environment`` sets it per environment)."""

    path: str
    backend: str = "sqlite"
    redis_url: str = ""
    prefix: str = "fti"
    retain_seconds: int = 600
    """Redis: how long a replaced snapshot stays readable for requests still pinned to it."""

    @property
    def location(self) -> str:
        """The SQLite file or the Redis server with its prefix, for metadata and messages."""
        return self.path if self.backend == "sqlite" else f"{self.redis_url} ({self.prefix}:*)"

    def write_snapshot(
        self,
        latest: dict[str, pl.DataFrame],
        timezones: pl.DataFrame,
        as_of: datetime,
        vectors: list | None = None,
    ) -> dict[str, int]:
        from fti_assets.serving.stores import write

        where = self.path if self.backend == "sqlite" else self.redis_url
        return write(self.backend, where, self.prefix, latest, timezones, as_of, self.retain_seconds, vectors)

    def current_as_of(self) -> str | None:
        """The refresh instant the store serves now (None before the first refresh)."""
        if self.backend == "sqlite" and not Path(self.path).exists():
            return None
        try:
            return self.reader().as_of()
        except sqlite3.OperationalError:  # a SQLite file created but never refreshed
            return None

    def reader(self):
        from fti_assets.serving.stores import open_reader

        return open_reader(
            self.backend, self.path if self.backend == "sqlite" else self.redis_url, self.prefix
        )
