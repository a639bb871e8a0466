"""Inputs for the point-in-time benchmarks at a scale: the spine and every feature table.

Writes ``bench/.work/scale<k>/``: ``spine_full.parquet`` (what the project's join takes),
``spine.parquet`` (row_id, as_of and the join keys: what the peers take), ``spine_slice.parquet``
(its first ``SLICE_DAYS`` days, for the slow peer), one ``<group>.parquet`` per feature group
(keys, known_at, features; origin congestion keyed by an integer hour so Feast can use it as
an entity) and ``groups.json`` (each group's keys, features and TTL in seconds or null).
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from bench.generate import replicate, typed_raw
from fti_assets.domain.feature_groups import FEATURE_GROUPS
from fti_assets.domain.pipeline import feature_tables
from fti_assets.training.dataset import label_spine

WORK = Path(__file__).resolve().parent / ".work"
HOUR_KEY = "departure_hour_key"
#: Feast's retrieval holds (entity rows x source rows per key) in memory: it gets a week.
SLICE_DAYS = 7


def scale_dir(factor: int) -> Path:
    return WORK / f"scale{factor}"


def groups_spec() -> list[dict]:
    return [
        {"name": g.name, "keys": [HOUR_KEY if k == "departure_hour" else k for k in g.keys],
         "features": list(g.features), "ttl_seconds": g.ttl.total_seconds() if g.ttl else None}
        for g in FEATURE_GROUPS
    ]  # fmt: skip


def project_tables(folder: Path) -> dict[str, pl.DataFrame]:
    """The scale's feature tables as the project's retrieval takes them (congestion keyed by hour)."""
    tables = {g.name: pl.read_parquet(folder / f"{g.name}.parquet") for g in FEATURE_GROUPS}
    hour = pl.from_epoch(HOUR_KEY, "s").dt.replace_time_zone("UTC").alias("departure_hour")
    tables["origin_congestion"] = tables["origin_congestion"].with_columns(hour)
    return tables


def prepare(factor: int, again: bool = False) -> Path:
    """Write the scale's inputs (once, unless ``again``)."""
    folder = scale_dir(factor)
    if (folder / "groups.json").exists() and not again:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    raw = replicate(typed_raw(), factor)
    tables = feature_tables(raw["flights"], raw["weather"], raw["planes"], raw["airports"],
                            datetime(2013, 1, 1, tzinfo=UTC), datetime(2014, 1, 1, tzinfo=UTC))  # fmt: skip
    spine = label_spine(tables["flight_outcomes"], tables["flight_schedule"], "2013-01-01", "2013-12-31")
    spine = spine.with_row_index("row_id").with_columns(pl.col("row_id").cast(pl.Int64))
    spine.write_parquet(folder / "spine_full.parquet")
    hour = pl.col("scheduled_departure").dt.truncate("1h").dt.epoch("s").alias(HOUR_KEY)
    peers = spine.select("row_id", "as_of", "origin", "dest", "carrier", "tailnum", hour)
    peers.write_parquet(folder / "spine.parquet")
    first = peers["as_of"].min()
    peers.filter(pl.col("as_of") < first + pl.duration(days=SLICE_DAYS)).write_parquet(folder / "spine_slice.parquet")
    for g, spec in zip(FEATURE_GROUPS, groups_spec(), strict=True):
        table = tables[g.name]
        if g.name == "origin_congestion":
            table = table.with_columns(pl.col("departure_hour").dt.epoch("s").alias(HOUR_KEY))
        table.select(*spec["keys"], "known_at", *g.features).write_parquet(folder / f"{g.name}.parquet")
    (folder / "groups.json").write_text(json.dumps(groups_spec()))
    return folder


if __name__ == "__main__":
    again = "--again" in sys.argv
    for k in (a for a in sys.argv[1:] if a != "--again"):
        print(prepare(int(k), again))
