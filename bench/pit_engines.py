"""One point-in-time build, timed in its own process.

``python -m bench.pit_engines ENGINE SCALE REPEATS [full|slice]``. Engines: ``ours`` (the
project's ``point_in_time_join``, request-time features included) and ``duckdb`` (one bare SQL
query of six ASOF joins, TTLs applied: the floor). Prints one JSON line with the seconds of
each repeat and the process's peak resident memory; writes the last result to
``<scale dir>/out_<engine>_<spine>.parquet`` for the equality check.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import polars as pl

from bench.prepare import groups_spec, project_tables, scale_dir


def ours(folder: Path, spine_name: str) -> tuple[float, pl.DataFrame]:
    from fti_assets.domain.retrieval import point_in_time_join

    spine = pl.read_parquet(folder / "spine_full.parquet")
    if spine_name == "slice":
        spine = spine.join(pl.read_parquet(folder / "spine_slice.parquet", columns=["row_id"]), on="row_id", how="semi")
    tables = project_tables(folder)
    start = time.perf_counter()
    out = point_in_time_join(spine, tables)
    return time.perf_counter() - start, out


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
        con.execute(f"CREATE TABLE g{i} AS SELECT {columns} FROM read_parquet('{folder / (g['name'] + '.parquet')}')")
        on = " AND ".join(f"s.{k} = g{i}.{k}" for k in g["keys"])
        joins.append(f"ASOF LEFT JOIN g{i} ON {on} AND s.as_of >= g{i}.known_at")
        # ASOF takes one inequality: the TTL nulls a match that is too old, afterwards.
        fresh = "TRUE" if g["ttl_seconds"] is None else f"g{i}.known_at >= s.as_of - to_seconds({g['ttl_seconds']})"
        select += [f"CASE WHEN {fresh} THEN g{i}.{c} END AS {a}" for c, a in
                   [("known_at", f"{g['name']}_known_at"), *((f, f) for f in g["features"])]]  # fmt: skip
    sql = f"SELECT {', '.join(select)} FROM spine s {' '.join(joins)}"
    start = time.perf_counter()
    table = con.sql(sql).arrow()
    seconds = time.perf_counter() - start
    return seconds, pl.from_arrow(table)


ENGINES = {"ours": ours, "duckdb": duckdb_floor}


def main() -> None:
    engine, scale, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    spine_name = sys.argv[4] if len(sys.argv) > 4 else "full"
    folder = scale_dir(scale)
    seconds, out = [], pl.DataFrame()
    for _ in range(repeats):
        took, out = ENGINES[engine](folder, spine_name)
        seconds.append(round(took, 4))
    out.write_parquet(folder / f"out_{engine}_{spine_name}.parquet")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"engine": engine, "scale": scale, "spine": spine_name, "rows": out.height, "seconds": seconds}
    print(json.dumps({**result, "peak_rss_mb": round(peak)}))


if __name__ == "__main__":
    main()
