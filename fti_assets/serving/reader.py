"""What serving reads from an online store, whichever the backend, and how it says it cannot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fti_assets.domain.catalog import FeatureGroup


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
