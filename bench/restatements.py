"""What keeping every version costs: store growth and the point-in-time build with version filtering.

``python -m bench.restatements SCALE SHARE REPEATS``. Takes the scale's feature tables
(``bench.prepare``) and restates ``SHARE`` of each table's rows: each chosen row is corrected
(its first feature moved by one) and learnt at the first midnight of the month after it became
known, so the year has an ingestion instant a month, as a monthly correction feed would. The
versioned tables hold both versions (``domain.versions``: ``ingested_at`` on the new one,
``superseded_at`` on the old one), exactly what ``merge_ingest`` stores. Measures the rows and
zstd Parquet bytes of the tables with and without versions, and ``point_in_time_join`` over
the year's spine on today's tables (no version columns) and on the versioned ones, alternating.
Checks that rows predicted before the first instant get the same values from both. Prints one
JSON line.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from bench.prepare import project_tables, scale_dir
from fti_assets.domain import versions
from fti_assets.domain.catalog import FEATURE_GROUPS


def restate(table: pl.DataFrame, feature: str, share: float, seed: int) -> pl.DataFrame:
    """``table`` with ``share`` of its rows corrected, learnt at the next month's first midnight."""
    chosen = (pl.int_range(pl.len()).hash(seed) % 1_000_000) < int(share * 1_000_000)
    learnt = pl.col("known_at").dt.truncate("1mo").dt.offset_by("1mo")
    # A static table (one known_at for every row) is restated once, at the start of 2013.
    learnt = (
        pl.when(pl.col("known_at").dt.year() < 2013)
        .then(pl.datetime(2013, 1, 1, time_zone="UTC"))
        .otherwise(learnt)
    )
    marked = table.with_columns(_chosen=chosen, _learnt=learnt.cast(versions.STAMP))
    old = marked.with_columns(
        pl.lit(None, dtype=versions.STAMP).alias(versions.INGESTED_AT),
        pl.when("_chosen").then(pl.col("_learnt")).alias(versions.SUPERSEDED_AT),
    )
    new = marked.filter("_chosen").with_columns(
        (pl.col(feature).fill_null(0) + 1).cast(table.schema[feature]).alias(feature),
        pl.col("_learnt").alias(versions.INGESTED_AT),
        pl.lit(None, dtype=versions.STAMP).alias(versions.SUPERSEDED_AT),
    )
    return pl.concat([old, new]).drop("_chosen", "_learnt")


def parquet_bytes(tables: dict[str, pl.DataFrame], folder: Path) -> int:
    total = 0
    for name, table in tables.items():
        path = folder / f"{name}.parquet"
        table.write_parquet(path, compression="zstd", statistics=True)
        total += path.stat().st_size
    return total


def main(scale: int, share: float, repeats: int) -> dict:
    from fti_assets.domain.retrieval import point_in_time_join

    folder = scale_dir(scale)
    spine = pl.read_parquet(folder / "spine_full.parquet")
    today = project_tables(folder)
    versioned = {
        g.name: restate(today[g.name], g.features[0], share, i) for i, g in enumerate(FEATURE_GROUPS)
    }
    with tempfile.TemporaryDirectory(prefix="restatements-") as tmp:
        plain_dir, versioned_dir = Path(tmp, "plain"), Path(tmp, "versioned")
        plain_dir.mkdir(), versioned_dir.mkdir()
        sizes = {
            "plain": parquet_bytes(today, plain_dir),
            "versioned": parquet_bytes(versioned, versioned_dir),
        }
    timings: dict[str, list[float]] = {"today": [], "versioned": []}
    outputs = {}
    for _ in range(repeats):
        for name, tables in (("today", today), ("versioned", versioned)):
            start = time.perf_counter()
            outputs[name] = point_in_time_join(spine, tables)
            timings[name].append(round(time.perf_counter() - start, 4))
    first = min(versions.instants(*versioned.values()))
    before = pl.col("as_of") < first
    same = outputs["today"].filter(before).equals(outputs["versioned"].filter(before))
    later = outputs["today"].filter(~before)
    differing = int(
        sum(
            (later[g.features[0]].ne_missing(outputs["versioned"].filter(~before)[g.features[0]])).sum()
            for g in FEATURE_GROUPS
        )
    )
    return {
        "scale": scale,
        "share": share,
        "spine_rows": spine.height,
        "instants": versions.instants(*versioned.values()).len(),
        "rows": {
            "plain": sum(t.height for t in today.values()),
            "versioned": sum(t.height for t in versioned.values()),
        },
        "bytes": sizes,
        "seconds": timings,
        "equal_before_first_instant": same,
        "values_differing_after": differing,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]))))
