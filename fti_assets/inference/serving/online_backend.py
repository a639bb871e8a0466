"""Which online store a process uses: SQLite under FTI_HOME, or Redis in production.

The pipeline (through the ``OnlineStore`` resource) and the service both open the store
here, so they always agree on it. Nothing heavy is imported at module level: the service
and the code location import this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fti_assets.domain.feature_groups import FeatureGroup
    from fti_assets.settings import Settings

BACKENDS = ("sqlite", "redis")


class OnlineStoreUnavailable(RuntimeError):
    """The online store cannot answer now (server unreachable, snapshot gone): retry later.

    The service answers 503 with Retry-After, never a prediction from default values."""


class FeatureReader(Protocol):
    """What serving reads from an online store, whichever the backend."""

    local_reads: bool
    """True where a read is local and quick (SQLite), False where it crosses the network (Redis)."""

    def pinned(self) -> FeatureReader:
        """A view on one refresh, for the length of a request."""
        ...

    def as_of(self) -> str | None: ...

    def timezone(self, airport: str) -> str | None: ...

    def lookup(self, group: FeatureGroup, keys: tuple) -> dict[str, Any] | None: ...

    def lookup_many(self, requests: list[tuple[FeatureGroup, tuple]]) -> list[dict[str, Any] | None]: ...

    def vectors(self, flight_ids: list[str]) -> list[dict[str, Any] | None]:
        """The precomputed record (``serving.vectors``) of each flight of the refresh, or None."""
        ...


def open_reader(backend: str, location: str, prefix: str = "") -> FeatureReader:
    """A reader with ``pinned()``, ``as_of()``, ``timezone()``, ``lookup()``, ``lookup_many()`` and ``vectors()``."""
    if backend == "sqlite":
        from fti_assets.inference.serving.online_store import OnlineStoreReader

        return OnlineStoreReader(Path(location))
    if backend == "redis":
        from fti_assets.inference.serving.redis_store import RedisStoreReader

        return RedisStoreReader(location, prefix)
    raise ValueError(f"unknown online store backend {backend!r}: use one of {BACKENDS}")


def write(backend: str, location: str, prefix: str, latest: dict, timezones: Any, as_of: Any, retain_seconds: int,
          vectors: list | None = None) -> dict[str, int]:  # fmt: skip
    """Replace the store's content with one refresh (group rows and precomputed flight
    vectors); readers see the old or the new one, whole."""
    if backend == "sqlite":
        from fti_assets.inference.serving.online_store import write_snapshot

        return write_snapshot(Path(location), latest, timezones, as_of, vectors)
    if backend == "redis":
        from fti_assets.inference.serving.redis_store import write_snapshot

        return write_snapshot(location, prefix, latest, timezones, as_of, retain_seconds=retain_seconds, vectors=vectors)
    raise ValueError(f"unknown online store backend {backend!r}: use one of {BACKENDS}")


def reader_for(settings: Settings) -> FeatureReader:
    """The reader of ``settings``' environment (what the service opens)."""
    if settings.online_backend == "redis":
        return open_reader("redis", settings.redis_url, settings.redis_prefix)
    return open_reader("sqlite", str(settings.online_store_path))
