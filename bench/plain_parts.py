"""The plain script's pieces (``bench/plain.py``): raw ingestion, feature and known-at checks
without Dagster, calling the functions the asset bodies call, and a step timer."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import polars as pl

#: The demo's default window (fti_assets/commands/demo.py).
START, END = date(2013, 1, 1), date(2013, 12, 31)


def log(message: str) -> None:
    print(f"[plain {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def days(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=d)).isoformat() for d in range((last - first).days + 1)]


def utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def partition_column(asset) -> str:
    """The partition column an asset declares in its definition metadata (as the IO manager reads it)."""
    from fti_assets.resources.io_manager import PARTITION_COLUMN

    return asset.metadata_by_key[asset.key][PARTITION_COLUMN]


class Steps:
    """Seconds per named step, logged as each ends."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        log(f"{name} ...")
        began = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - began, 3)
        log(f"{name}: {self.seconds[name]:.2f}s")


def ingest(table: str, day_column: str | None, store, run_id: str) -> pl.DataFrame:
    """raw.py ``ingest`` without Dagster: read, PII scan, contract, quarantine, gate, valid rows."""
    from fti_assets.contracts.pii import find_pii
    from fti_assets.contracts.quarantine import quarantine_records
    from fti_assets.contracts.raw_schemas import RAW_SCHEMAS
    from fti_assets.contracts.validation import validate_rows
    from fti_assets.features.raw_tables import RawContractConfig, days_over_threshold, source_day
    from fti_assets.resources.source import PACKAGED, read_raw_table

    frame = read_raw_table(PACKAGED, table)
    schema = RAW_SCHEMAS[table]
    if frame.height == 0:
        raise RuntimeError(f"{table} has no rows")
    if day_column and "day" in frame.columns:  # the run's partition window: the whole year
        day = frame.select(source_day()).to_series()
        frame = frame.filter(day.is_null() | day.is_between(START, END + timedelta(days=1), closed="left"))
    text_columns = [c for c, col in schema.columns.items() if col.dtype.type == pl.String]
    pii = find_pii(frame, text_columns)
    result = validate_rows(frame, schema, pii)
    rejected = result.rejected
    if rejected.height:
        store.write_quarantine(
            table,
            quarantine_records(table, rejected, pii, source_day() if day_column else None, run_id),
            run_id,
        )
    limit = RawContractConfig().max_rejected_share
    over = days_over_threshold(frame, rejected, bool(day_column), limit)
    if over or pii.height:
        raise RuntimeError(
            f"{table}: contract failed: over threshold {list(over)[:5]}, {pii.height} PII cells"
        )
    if day_column:
        return result.valid.with_columns(pl.date("year", "month", "day").alias(day_column))
    return result.valid


def publish_checks(
    table: str,
    frame: pl.DataFrame,
    keys: list[str],
    day_column: str | None = None,
    max_lag: timedelta | None = None,
) -> None:
    """publishing.py ``publish`` without Dagster: the contract (blocking), null shares and freshness."""
    from fti_assets.contracts.group_schemas import FEATURE_SCHEMAS
    from fti_assets.contracts.validation import validate_rows
    from fti_assets.features.publishing import stale_days
    from fti_assets.metadata import null_shares

    result = validate_rows(frame, FEATURE_SCHEMAS[table])
    if result.rejected.height:
        raise RuntimeError(f"{table}: {result.rejected.height} rows break the contract: {result.reasons()}")
    null_shares(frame)
    if day_column and max_lag is not None:
        stale_days(frame, day_column, keys, max_lag)


def check_known_at(raw: dict[str, pl.DataFrame], tables: dict[str, pl.DataFrame]) -> None:
    """The known-at stamps recomputed from the raw event times, as the assets check them."""
    from fti_assets.contracts import known_at
    from fti_assets.domain.timezones import airport_timezones

    zones, outcomes = airport_timezones(raw["airports"]), tables["flight_outcomes"]
    disagreeing = [
        known_at.schedule_mismatches(raw["schedules"], zones, tables["flight_schedule"], 1),
        known_at.outcome_mismatches(raw["flights"], zones, outcomes),
        known_at.weather_mismatches(raw["weather"], tables["origin_weather"]),
        known_at.stats_mismatches(outcomes, tables["carrier_delay_stats"], ["carrier"], "carrier"),
        known_at.stats_mismatches(outcomes, tables["route_delay_stats"], ["origin", "dest"], "route"),
        known_at.plane_mismatches(outcomes, tables["plane_last_arrival"]),
        known_at.congestion_mismatches(tables["flight_schedule"], tables["origin_congestion"]),
    ]
    if any(d.height for d in disagreeing):
        raise RuntimeError("known-at stamps disagree with the raw event times")
