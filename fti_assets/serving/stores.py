"""Which online store a process uses: SQLite under FTI_HOME, or Redis in production.

The pipeline (through the ``OnlineStore`` resource) and the service both open the store
here, so they always agree on it. Nothing heavy is imported at module level: the service
and the code location import this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fti_assets.serving.reader import FeatureReader

if TYPE_CHECKING:
    from fti_assets.settings import Settings

BACKENDS = ("sqlite", "redis")


def open_reader(backend: str, location: str, prefix: str = "") -> FeatureReader:
    """A ``FeatureReader`` of the store."""
    if backend == "sqlite":
        from fti_assets.serving.sqlite_store import OnlineStoreReader

        return OnlineStoreReader(Path(location))
    if backend == "redis":
        from fti_assets.serving.redis_store import RedisStoreReader

        return RedisStoreReader(location, prefix)
    raise ValueError(f"unknown online store backend {backend!r}: use one of {BACKENDS}")


def open_writer(backend: str, location: str, prefix: str = ""):
    """The ``OnlineWriter`` of a store: what the stream consumer and the backstop apply events with."""
    if backend == "sqlite":
        from fti_assets.serving.sqlite_store import SqliteWriter

        return SqliteWriter(Path(location))
    if backend == "redis":
        from fti_assets.serving.redis_store import RedisWriter

        return RedisWriter(location, prefix)
    raise ValueError(f"unknown online store backend {backend!r}: use one of {BACKENDS}")


def reader_for(settings: Settings) -> FeatureReader:
    """The reader of ``settings``' environment (what the service opens)."""
    if settings.online_backend == "redis":
        return open_reader("redis", settings.redis_url, settings.redis_prefix)
    return open_reader("sqlite", str(settings.online_store_path))
