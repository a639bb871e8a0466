"""The online store as a Dagster resource (the SQLite details live in ``online_store``)."""

import sqlite3
from datetime import datetime
from pathlib import Path

import dagster as dg
import polars as pl


class OnlineStore(dg.ConfigurableResource):
    """SQLite in WAL mode at ``path``; production would point this at Redis."""

    path: str

    def write_snapshot(self, latest: dict[str, pl.DataFrame], timezones: pl.DataFrame, as_of: datetime) -> dict[str, int]:
        from fti_assets.serving.online_store import write_snapshot

        return write_snapshot(Path(self.path), latest, timezones, as_of)

    def current_as_of(self) -> str | None:
        """The refresh instant the store serves now (None before the first refresh)."""
        if not Path(self.path).exists():
            return None
        from fti_assets.serving.online_store import OnlineStoreReader

        try:
            return OnlineStoreReader(Path(self.path)).as_of()
        except sqlite3.OperationalError:  # created but never refreshed
            return None

    def reader(self):
        from fti_assets.serving.online_store import OnlineStoreReader

        return OnlineStoreReader(Path(self.path))
