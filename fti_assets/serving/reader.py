"""What serving reads from an online store, whichever the backend, and how it says it cannot."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fti_assets.domain.catalog import FeatureGroup


class OnlineStoreUnavailable(RuntimeError):
    """The online store cannot answer now (server unreachable): retry later.

    The service answers 503 with Retry-After, never a prediction from default values."""


class FeatureReader(Protocol):
    """What serving reads from an online store, whichever the backend."""

    local_reads: bool
    """True where a read is local and quick (SQLite), False where it crosses the network (Redis)."""

    def pinned(self) -> FeatureReader:
        """A view for the length of a request."""
        ...

    def meta(self) -> dict[str, str]:
        """``newest_event_at`` (the newest applied event's known-at time) and ``retained_from``
        (the earliest instant the store still answers exactly), epoch microseconds as text."""
        ...

    def timezone(self, airport: str) -> str | None: ...

    def published(self, keys: list[str]) -> list[str | None]:
        """Published flights' request rows computed ahead (``serving.published``), None where
        the store has none under a key."""
        ...

    def lookup_many(
        self, requests: list[tuple[FeatureGroup, tuple, datetime]]
    ) -> list[dict[str, Any] | None]:
        """Each group's value for the keys as of the instant (None: no value known then)."""
        ...
