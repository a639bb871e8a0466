"""Do two point-in-time builds agree? Every feature and ``<group>_known_at``, row by row.

The project fills a group's defaults (zero flights in a window) where no row is known; the
peers leave nulls, so the peers get the same defaults before comparing.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from fti_assets.domain.catalog import FEATURE_GROUPS


def columns() -> list[str]:
    return [c for g in FEATURE_GROUPS for c in (*g.features, g.known_at_column)]


def differing(ours: pl.DataFrame, peer: pl.DataFrame) -> dict[str, int]:
    """Per column, how many rows differ (missing rows count as differing in every column)."""
    defaults = [pl.col(c).fill_null(v) for g in FEATURE_GROUPS for c, v in g.defaults.items()]
    peer = peer.with_columns(defaults)
    joined = ours.select("row_id", *columns()).join(
        peer.select("row_id", *columns()), on="row_id", how="full", suffix="__peer"
    )
    out = {}
    for c in columns():
        a, b = pl.col(c), pl.col(f"{c}__peer")
        if ours.schema[c].is_numeric():  # pandas-based peers give floats for ints with nulls
            a, b = a.cast(pl.Float64), b.cast(pl.Float64)
        else:
            b = b.cast(ours.schema[c])
        same = a.eq_missing(b)
        if ours.schema[c].is_float():
            same = same | (a.is_nan() & b.is_nan()).fill_null(False)
        bad = joined.filter(~same).height
        if bad:
            out[c] = bad
    return out


def compare_files(ours: Path, peer: Path) -> dict:
    a, b = pl.read_parquet(ours), pl.read_parquet(peer)
    diff = differing(a, b)
    return {"rows": a.height, "peer_rows": b.height, "values": a.height * len(columns()), "differing": diff}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(compare_files(Path(sys.argv[1]), Path(sys.argv[2]))))
