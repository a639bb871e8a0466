"""The offline store: atomic files, concurrent partitions, and the DuckDB catalog."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from fti_assets.platform.instance import write_instance_file
from fti_assets.resources.offline_store import OfflineStore

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_a_killed_writer_leaves_no_visible_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "store" / "big" / "2013-01-01.parquet"
    script = (
        "import sys, numpy as np, polars as pl\n"
        "from pathlib import Path\n"
        "from fti_assets.resources.offline_store import atomic_write_parquet\n"
        "frame = pl.DataFrame({f'c{i}': np.random.default_rng(i).random(4_000_000) for i in range(12)})\n"
        "print('writing', flush=True)\n"
        f"atomic_write_parquet(frame, Path({str(target)!r}))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    time.sleep(0.3)
    assert proc.poll() is None, "the writer finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not target.exists()
    assert list(target.parent.glob("*.parquet")) == []


def test_writes_register_views_queryable_from_duckdb(tmp_path: Path) -> None:
    store = OfflineStore(home=str(tmp_path))
    store.write_partitions(
        "t", {"2013-01-01": pl.DataFrame({"a": [1, 2]}), "2013-01-02": pl.DataFrame({"a": [3]})}
    )
    store.write("u", pl.DataFrame({"b": ["x"]}))
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
        assert conn.sql("select sum(a) from t").fetchall() == [(6,)]
        assert conn.sql("select b from u").fetchall() == [("x",)]
    # Rewriting a partition replaces it; the view follows.
    store.write("t", pl.DataFrame({"a": [10]}), "2013-01-02")
    assert store.read("t").get_column("a").sum() == 13


def test_an_interactive_duckdb_session_does_not_fail_the_pipeline_and_views_catch_up(tmp_path: Path) -> None:
    store = OfflineStore(home=str(tmp_path))
    store.write("t", pl.DataFrame({"a": [1]}))
    holder = subprocess.Popen(  # another process holds the database open, as a DuckDB shell would
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(tmp_path / 'warehouse.duckdb')!r}); "
            "print('open', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        store.write(
            "t", pl.DataFrame({"a": [2], "c": ["new"]}), "2013-01-02"
        )  # a new column: t's view must change
        store.write("new_table", pl.DataFrame({"b": [3]}))  # its view cannot be created now
        assert store.pending_views() == ["new_table", "t"]
    finally:
        holder.kill()
        holder.wait()
    assert sorted(store.read("t")["a"].to_list()) == [1, 2]
    assert store.refresh_pending() == [] and store.pending_views() == []
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
        assert conn.sql("select b from new_table").fetchall() == [(3,)]
        assert conn.sql("select sum(a), count(c) from t").fetchall() == [(3, 1)]


def test_a_write_its_view_already_shows_leaves_the_catalog_alone_and_any_other_rebuilds_it(
    tmp_path: Path,
) -> None:
    store, database = OfflineStore(home=str(tmp_path)), tmp_path / "warehouse.duckdb"
    store.write("t", pl.DataFrame({"a": [1]}), "2013-01-01")
    before = database.read_bytes()
    store.write(
        "t", pl.DataFrame({"a": [2]}), "2013-01-02"
    )  # the one schema of t's files: already in its view
    assert database.read_bytes() == before

    def query(sql: str) -> list[tuple]:
        with duckdb.connect(str(database), read_only=True) as conn:
            return conn.sql(sql).fetchall()

    assert query("select sum(a) from t") == [(3,)]
    store.write("t", pl.DataFrame({"a": [4], "b": ["x"]}), "2013-01-03")  # a new column: the view is rebuilt
    assert database.read_bytes() != before and query("select sum(a), count(b) from t") == [(7, 1)]
    store.write(
        "t", pl.DataFrame({"a": [8], "b": ["y"]}), "2013-01-04"
    )  # files of two schemas: rebuilt each time
    assert query("select sum(a), count(b) from t") == [(15, 2)]
    # A view dropped from a DuckDB shell comes back at the next write of its table.
    with duckdb.connect(str(database)) as conn:
        conn.execute('DROP VIEW "t"')
    store.write("t", pl.DataFrame({"a": [16], "b": ["z"]}), "2013-01-04")
    assert query("select sum(a) from t") == [(23,)]
    store.write("u", pl.DataFrame({"a": [1]}))
    with duckdb.connect(str(database)) as conn:
        conn.execute('DROP VIEW "u"')
    store.write("u", pl.DataFrame({"a": [5]}))  # the same schema, but the catalog changed since
    assert query("select sum(a) from u") == [(5,)]


def test_two_runs_on_different_partitions_at_the_same_time_both_succeed(
    tmp_path: Path, source_slice: Path
) -> None:
    dagster_home = tmp_path / "dagster"
    write_instance_file(dagster_home, production=False)  # Dagster's SQLite files on kept connections
    dg.DagsterInstance.from_config(str(dagster_home)).dispose()  # an existing instance, as in real use
    env = {
        **os.environ,
        "FTI_HOME": str(tmp_path / "fti"),
        "FTI_SOURCE": str(source_slice),
        "DAGSTER_HOME": str(dagster_home),
    }
    select = (
        "flights,schedules,weather,airports,flight_schedule,origin_weather"  # airports is not partitioned
    )
    in_process = '{"execution": {"config": {"in_process": {}}}}'
    runs = [
        subprocess.Popen(
            [
                str(BIN / "dagster"),
                "asset",
                "materialize",
                "-m",
                "fti_assets.definitions",
                "--select",
                select,
                "--partition-range",
                span,
                "--config-json",
                in_process,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for span in ("2013-01-01...2013-01-03", "2013-01-04...2013-01-06")
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    store = OfflineStore(home=str(tmp_path / "fti"))
    days = [f"2013-01-0{d}" for d in range(1, 7)]
    for table in ("flights", "weather", "flight_schedule", "origin_weather"):
        assert store.partitions(table) == days
    with duckdb.connect(str(tmp_path / "fti" / "warehouse.duckdb"), read_only=True) as conn:
        assert conn.sql("select count(distinct flight_date) from flight_schedule").fetchall() == [(6,)]


def test_a_days_bounded_history_gives_the_features_of_the_whole_store(feature_home: Path) -> None:
    """Batch and online read each group only back to its TTL: nothing older can change a value."""
    from datetime import UTC, date, datetime

    from polars.testing import assert_frame_equal

    from fti_assets.domain.catalog import FEATURE_GROUPS
    from fti_assets.domain.retrieval import latest_per_entity, point_in_time_join

    store = OfflineStore(home=str(feature_home))
    whole = {g.name: store.read(g.name) for g in FEATURE_GROUPS}
    day = date(2013, 1, 13)
    bounded = {g.name: store.read_history(g, day, day) for g in FEATURE_GROUPS}
    assert bounded["origin_weather"].height < whole["origin_weather"].height  # the bound does bite
    flights = store.read("flight_schedule", [day.isoformat()]).with_columns(as_of=pl.col("prediction_time"))
    assert_frame_equal(point_in_time_join(flights, bounded), point_in_time_join(flights, whole))
    as_of = datetime(2013, 1, 13, 6, tzinfo=UTC)
    for g in FEATURE_GROUPS:
        got, want = (latest_per_entity(t[g.name], g, as_of).sort(g.keys) for t in (bounded, whole))
        assert_frame_equal(got, want)


def test_a_versioned_table_is_read_and_viewed_as_its_current_rows(tmp_path: Path) -> None:
    """Superseded versions stay stored, but readers and the catalog view see current rows;
    ``<table>_versions`` and ``versions=True`` show every version."""
    from fti_assets.domain import versions

    store = OfflineStore(home=str(tmp_path))
    first = versions.merge_ingest(None, pl.DataFrame({"k": [1, 2], "v": [1.0, 2.0]}), None)
    learnt = datetime(2013, 1, 10, tzinfo=UTC)
    stored = versions.merge_ingest(first, pl.DataFrame({"k": [1, 2], "v": [1.0, 9.0]}), learnt)
    store.write("t", stored, "2013-01-05")
    assert store.read("t").sort("k").rows() == [(1, 1.0), (2, 9.0)]
    assert store.read("t", versions=True).height == 3
    assert store.row_counts("t") == {"2013-01-05": 2}
    assert store.knowledge_clock(["t", "absent"]) == learnt
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
        assert conn.sql('select k, v from "t" order by k').fetchall() == [(1, 1.0), (2, 9.0)]
        assert conn.sql('select count(*) from "t_versions"').fetchall() == [(3,)]
