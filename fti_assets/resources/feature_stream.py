"""The feature stream as a Dagster resource: where its events wait, and when it counts as stalled."""

from __future__ import annotations

import dagster as dg


class FeatureStream(dg.ConfigurableResource):
    """The Redis stream ``<prefix>:events`` at ``url`` that the consumer group applies to the
    online store; ``stall_seconds``: how long an event may wait unapplied before the stream
    counts as stalled."""

    url: str
    prefix: str = "fti"
    stall_seconds: float = 300.0

    def health(self) -> dict[str, float | int]:
        """``redis_streams.health`` of the stream (raises ``redis`` errors when unreachable)."""
        from fti_assets.stream.redis_streams import client, health

        r = client(self.url)
        try:
            return health(r, self.prefix)
        finally:
            r.close()
