"""One point-in-time build, timed in its own process.

``python -m bench.pit_engines ENGINE SCALE REPEATS [full|slice]``. Engines: ``ours`` (the
project's ``point_in_time_join``, request-time features included), ``pieced`` (the same join
month by month through ``training.pieces.build_pieces``, as ``training_dataset`` builds, each
month reading only the feature rows its TTLs can reach and written to its own Parquet file
before the next one starts) and ``duckdb`` (one bare SQL query of six ASOF joins, TTLs
applied: the floor). Prints one JSON line with the seconds of
each repeat and the process's peak resident memory; writes the last result to
``<scale dir>/out_<engine>_<spine>.parquet`` for the equality check.
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import time
from pathlib import Path

import polars as pl

from bench.prepare import groups_spec, project_tables, scale_dir


def ours(folder: Path, spine_name: str) -> tuple[float, pl.DataFrame]:
    from fti_assets.domain.retrieval import point_in_time_join

    spine = pl.read_parquet(folder / "spine_full.parquet")
    if spine_name == "slice":
        spine = spine.join(
            pl.read_parquet(folder / "spine_slice.parquet", columns=["row_id"]), on="row_id", how="semi"
        )
    tables = project_tables(folder)
    start = time.perf_counter()
    out = point_in_time_join(spine, tables)
    return time.perf_counter() - start, out


def pieced(folder: Path, spine_name: str) -> tuple[float, pl.DataFrame]:
    """Monthly pieces over lazy scans: a piece reads the rows known within its groups' reach
    (the scale folders hold one file per group, so a known_at filter stands for the partitions)."""
    from datetime import UTC, datetime, timedelta
    from datetime import time as clock

    from fti_assets.domain.retrieval import point_in_time_join
    from fti_assets.training.pieces import build_pieces, pieces_of

    out_dir = folder / f"out_pieced_{spine_name}"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir()
    spine_scan = pl.scan_parquet(folder / "spine_full.parquet")
    if spine_name == "slice":
        spine_scan = spine_scan.join(
            pl.scan_parquet(folder / "spine_slice.parquet").select("row_id"), on="row_id", how="semi"
        )
    hour = pl.from_epoch("departure_hour_key", "s").dt.replace_time_zone("UTC").alias("departure_hour")

    def spine_of(first, last) -> pl.DataFrame:
        return spine_scan.filter(pl.col("flight_date").is_between(first, last)).collect()

    def history(group, lo, hi) -> pl.DataFrame:
        scan = pl.scan_parquet(folder / f"{group.name}.parquet")
        upper = datetime.combine(hi + timedelta(days=1), clock(), tzinfo=UTC)
        known = pl.col("known_at") < upper
        if group.ttl is not None:
            known = known & (pl.col("known_at") >= datetime.combine(lo, clock(), tzinfo=UTC) - group.ttl)
        table = scan.filter(known).collect()
        return table.with_columns(hour) if group.name == "origin_congestion" else table

    bounds = (
        spine_scan.select(pl.col("flight_date").min().alias("a"), pl.col("flight_date").max().alias("b"))
        .collect()
        .row(0)
    )
    start, rows = time.perf_counter(), 0
    for i, piece in enumerate(build_pieces(pieces_of(*bounds), spine_of, history, point_in_time_join)):
        piece.write_parquet(out_dir / f"{i:03d}.parquet")
        rows += piece.height
    return time.perf_counter() - start, pl.DataFrame({"rows": [rows]})


def duckdb_floor(folder: Path, spine_name: str) -> tuple[float, pl.DataFrame]:
    import duckdb

    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    # Inputs are loaded into DuckDB's own tables first, as the other engines load theirs.
    spine_file = folder / ("spine_slice.parquet" if spine_name == "slice" else "spine.parquet")
    con.execute(f"CREATE TABLE spine AS FROM read_parquet('{spine_file}')")
    select, joins = ["s.row_id"], []
    for i, g in enumerate(groups_spec()):
        columns = ", ".join([*g["keys"], "known_at", *g["features"]])
        con.execute(
            f"CREATE TABLE g{i} AS SELECT {columns} FROM read_parquet('{folder / (g['name'] + '.parquet')}')"
        )
        on = " AND ".join(f"s.{k} = g{i}.{k}" for k in g["keys"])
        joins.append(f"ASOF LEFT JOIN g{i} ON {on} AND s.as_of >= g{i}.known_at")
        # ASOF takes one inequality: the TTL nulls a match that is too old, afterwards.
        fresh = (
            "TRUE"
            if g["ttl_seconds"] is None
            else f"g{i}.known_at >= s.as_of - to_seconds({g['ttl_seconds']})"
        )
        select += [
            f"CASE WHEN {fresh} THEN g{i}.{c} END AS {a}"
            for c, a in [("known_at", f"{g['name']}_known_at"), *((f, f) for f in g["features"])]
        ]
    sql = f"SELECT {', '.join(select)} FROM spine s {' '.join(joins)}"
    start = time.perf_counter()
    table = con.sql(sql).arrow()
    seconds = time.perf_counter() - start
    return seconds, pl.from_arrow(table)


ENGINES = {"ours": ours, "pieced": pieced, "duckdb": duckdb_floor}


def main() -> None:
    engine, scale, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    spine_name = sys.argv[4] if len(sys.argv) > 4 else "full"
    folder = scale_dir(scale)
    seconds, out = [], pl.DataFrame()
    for _ in range(repeats):
        took, out = ENGINES[engine](folder, spine_name)
        seconds.append(round(took, 4))
    # Measured before the pieces are put together for the equality check, which a build never needs.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = out["rows"][0] if engine == "pieced" else out.height
    if engine != "pieced":
        out.write_parquet(folder / f"out_{engine}_{spine_name}.parquet")
    result = {"engine": engine, "scale": scale, "spine": spine_name, "rows": rows, "seconds": seconds}
    print(json.dumps({**result, "peak_rss_mb": round(peak)}))


if __name__ == "__main__":
    main()
