"""Dagster sees the stream: its lag as a check on the online store, evaluated by a sensor."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from fti_assets.resources.feature_stream import FeatureStream
from fti_assets.resources.online_store import OnlineStore

CHECK = dg.AssetCheckKey(dg.AssetKey("online_features"), "stream_fresh")


def evaluate(stream: FeatureStream, online: OnlineStore) -> tuple[bool, dict]:
    """Whether no event has waited longer than ``stall_seconds`` unapplied, with the figures."""
    try:
        found = stream.health()
    except Exception as exc:  # unreachable: a stalled stream as far as the store is concerned
        return False, {"error": f"{type(exc).__name__}: {exc}"[:300]}
    newest = online.newest_event_at()
    metadata = {
        **found,
        "stall_seconds": stream.stall_seconds,
        "newest_applied_event_at": newest.isoformat() if newest else None,
        "stream": f"{stream.url} {stream.prefix}:events",
    }
    return found["oldest_waiting_seconds"] <= stream.stall_seconds, metadata


@dg.asset_check(asset="online_features", name="stream_fresh", blocking=False)
def stream_fresh(stream: FeatureStream, online: OnlineStore) -> dg.AssetCheckResult:
    """The feature stream keeps the online store fresh: no event has waited unapplied longer
    than FTI_STREAM_STALL_SECONDS (events not yet delivered to the consumer group, or delivered
    and not acknowledged). Metadata: the lag, the pending events, the oldest wait, and the
    known-at time of the newest event the store holds. The feature stream sensor evaluates it
    every 30 seconds."""
    passed, metadata = evaluate(stream, online)
    return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.WARN, metadata=metadata)


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def feature_stream_sensor(context: dg.SensorEvaluationContext, stream: FeatureStream, online: OnlineStore):
    """Evaluates `stream_fresh` on the online store every 30 seconds, and records the stream's
    lag as an observation of `online_features` (the UI plots its metadata over time)."""
    passed, metadata = evaluate(stream, online)
    observed = {k: v for k, v in metadata.items() if v is not None}
    return dg.SensorResult(
        asset_events=[
            dg.AssetObservation(
                asset_key="online_features", metadata={**observed, "at": datetime.now(UTC).isoformat()}
            ),
            dg.AssetCheckEvaluation(
                asset_key=CHECK.asset_key,
                check_name=CHECK.name,
                passed=passed,
                severity=dg.AssetCheckSeverity.WARN,
                metadata=observed,
            ),
        ]
    )
