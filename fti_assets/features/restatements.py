"""Re-ingesting a raw partition appends what changed, never overwrites: restatements made visible.

A raw table that keeps versions (``domain.versions.FACT_KEYS``) is stored with every version of
its rows. An ingest into partitions that were never stored is their first load (known from each
row's event time, ``ingested_at`` null) unless the config names an ingestion instant; an ingest
into stored partitions stamps what it adds or replaces with ``ingested_at`` (the config's, else
the run's wall-clock time). Ingestion instants only move forward: an instant earlier than what
the store already learnt would change what an earlier training set or reproduction saw, so it is
refused. The materialization names the restated keys and columns, per partition as well, and a
non-blocking check flags partitions where a large share was restated.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl

from fti_assets.domain import versions
from fti_assets.metadata import markdown_table, table_metadata
from fti_assets.resources.offline_store import OfflineStore

CHECK = "restatements"


def check_spec(table: str, max_share: float) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        CHECK,
        asset=table,
        blocking=False,
        description=f"Warns when an ingest restated (changed the values of) more than the configured share "
        f"(default {max_share:.0%}) of a partition's rows. The earlier versions are kept either way.",
    )


def ingestion_instant(text: str) -> datetime | None:
    """The configured ingestion instant (ISO 8601; without an offset it is read as UTC), or None."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise dg.Failure(
            f"ingested_at '{text}' is not an ISO 8601 instant (e.g. 2013-01-12T06:00:00+00:00)"
        ) from None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if parsed > datetime.now(UTC):
        raise dg.Failure(
            f"ingested_at {parsed.isoformat()} lies in the future: the system cannot have learnt it yet"
        )
    return parsed.astimezone(UTC)


def _stored_days(stored: pl.DataFrame | None, day_column: str) -> set[date]:
    return set() if stored is None else set(versions.current(stored)[day_column].unique().to_list())


def merge_partitions(
    stored: pl.DataFrame | None, valid: pl.DataFrame, day_column: str, configured: datetime | None
) -> tuple[pl.DataFrame, datetime | None]:
    """The partitions' versioned rows after ingesting ``valid``, and the instant stamped on what
    changed in partitions already stored (None when nothing was). Days never stored are a first
    load unless ``configured`` says when they were learnt."""
    seen = _stored_days(stored, day_column)
    again = pl.col(day_column).is_in(list(seen)) if seen else pl.lit(False)
    fresh = versions.with_versions(valid.filter(~again), configured)
    if stored is None or not seen:
        return fresh, configured
    at = configured or datetime.now(UTC)
    merged = versions.merge_ingest(stored, valid.filter(again), at)
    changed = merged[versions.INGESTED_AT].eq(at).any() or merged[versions.SUPERSEDED_AT].eq(at).any()
    return pl.concat([merged, fresh.select(merged.columns)]), (at if changed or configured else None)


def versioned_output(
    context: dg.AssetExecutionContext,
    table: str,
    valid: pl.DataFrame,
    day_column: str,
    store: OfflineStore,
    configured_at: str,
    max_share: float,
    metadata: dict,
) -> Iterator[dg.AssetCheckResult | dg.Output]:
    """The restatements check and the output of a versioned raw table's partitions."""
    keys = list(context.partition_keys)
    stored = store.read(table, keys, versions=True) if store.row_counts(table, keys) else None
    configured = ingestion_instant(configured_at)
    merged, at = merge_partitions(stored, valid, day_column, configured)
    if at is not None:
        clock = store.knowledge_clock(list(versions.FACT_KEYS))
        if clock is not None and at < clock:
            raise dg.Failure(
                f"{table}: ingestion instant {at.isoformat()} is earlier than what the store already learnt "
                f"({clock.isoformat()}); nothing was stored. Ingestion times only move forward, or a training "
                f"set built in between would change: ingest at {clock.isoformat()} or later."
            )
    fact = (*versions.FACT_KEYS[table], day_column)
    change = versions.restated(merged, fact, at)
    restated = change["restated"]
    current = versions.current(merged)
    per_day = dict(current.group_by(day_column).len().iter_rows())
    restated_per_day = dict(restated.group_by(day_column).len().iter_rows()) if restated.height else {}
    shares = {}
    for key in keys:
        day = date.fromisoformat(key)
        rows, changed = per_day.get(day, 0), restated_per_day.get(day, 0)
        if changed:
            shares[key] = round(changed / max(rows, 1), 6)
        # A run over many days stores one materialization per day: each says its own count.
        context.add_asset_metadata({"dagster/row_count": rows, "restated_rows": changed}, partition_key=key)
    over = {k: s for k, s in shares.items() if s > max_share}
    sample = restated.head(10)
    if restated.height:
        context.log.warning(
            f"{table}: {restated.height} rows restated at {at.isoformat()} in {len(shares)} partitions "
            f"(columns {', '.join(change['columns'])}); the earlier versions are kept"
        )
    summary = {
        "ingested_at": at.isoformat() if at else "first load (known from each row's event time)",
        "restated_rows": restated.height,
        "restated_columns": dg.MetadataValue.json(change["columns"]),
        "restated_sample": dg.MetadataValue.md(markdown_table(sample) if sample.height else "none"),
        "rows_added": change["added"],
        "rows_removed": change["removed"],
    }
    yield dg.AssetCheckResult(
        check_name=CHECK,
        passed=not over,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            **summary,
            "partitions_over_threshold": dg.MetadataValue.json(over),
            "threshold": max_share,
        },
    )
    described = {k: v for k, v in table_metadata(current).items() if k != "dagster/row_count"}
    yield dg.Output(
        merged,
        metadata={
            **described,
            **metadata,
            **summary,
            "rows_in_run": current.height,
            "superseded_versions_stored": int(merged[versions.SUPERSEDED_AT].is_not_null().sum()),
        },
    )
