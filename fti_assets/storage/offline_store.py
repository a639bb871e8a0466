"""The offline feature store: immutable Parquet files per table and partition.

Files are written to a hidden temporary name and renamed into place, so a killed run never
leaves a partial file where readers look. ``warehouse.duckdb`` holds one view per table.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import polars as pl

if TYPE_CHECKING:
    from fti_assets.domain.feature_groups import FeatureGroup

WHOLE_TABLE = "all"


class StrayRowsError(ValueError):
    """A frame written as a range of daily partitions holds rows of a day outside the range."""


class OfflineStore(dg.ConfigurableResource):
    """Parquet tables under ``<home>/store`` and their DuckDB catalog ``<home>/warehouse.duckdb``."""

    home: str

    @property
    def root(self) -> Path:
        return Path(self.home) / "store"

    def table_dir(self, table: str) -> Path:
        return self.root / table

    def path(self, table: str, partition: str | None = None) -> Path:
        return self.table_dir(table) / f"{partition or WHOLE_TABLE}.parquet"

    def write(self, table: str, frame: pl.DataFrame, partition: str | None = None) -> Path:
        """Write one partition (or the whole table) atomically and register its view."""
        return self.write_partitions(table, {partition: frame})[0]

    def write_partitions(self, table: str, frames: dict[str | None, pl.DataFrame]) -> list[Path]:
        """Write several partitions atomically, each on its own, then register the view once."""
        paths = []
        for partition, frame in frames.items():
            paths.append(self.path(table, partition))
            atomic_write_parquet(frame, paths[-1])
        self.register_view(table, self.table_dir(table))
        return paths

    def write_days(self, table: str, frame: pl.DataFrame, column: str, keys: Sequence[str]) -> list[Path]:
        """Split ``frame`` on its date ``column`` into one file per day of ``keys`` (an empty
        file for a day without rows). Rows of any other day are refused: nothing is written."""
        by_day = {day: part for (day,), part in frame.partition_by(column, as_dict=True).items()}
        stray = sorted(str(d) for d in by_day if d is None or d.isoformat() not in keys)
        if stray:
            raise StrayRowsError(f"'{table}' produced rows outside its partitions {keys[0]}..{keys[-1]}: {stray[:5]}")
        empty = frame.clear()
        return self.write_partitions(table, {key: by_day.get(date.fromisoformat(key), empty) for key in keys})

    def partitions(self, table: str) -> list[str]:
        """Partition keys present on disk, sorted."""
        return sorted(p.stem for p in self.table_dir(table).glob("*.parquet"))

    def read(self, table: str, partitions: Sequence[str] | None = None) -> pl.DataFrame:
        """A table, or the given partitions of it that exist (missing ones are skipped)."""
        return self.scan(table, partitions).collect()

    def scan(self, table: str, partitions: Sequence[str] | None = None) -> pl.LazyFrame:
        if partitions is None:
            paths = sorted(self.table_dir(table).glob("*.parquet"))
        else:
            paths = [p for p in (self.path(table, k) for k in partitions) if p.exists()]
        if not paths:
            raise FileNotFoundError(
                f"the offline store has no data for '{table}'"
                + (f" in partitions {partitions[0]}..{partitions[-1]}" if partitions else "")
                + f" under {self.table_dir(table)}: materialize '{table}' first"
            )
        if len(paths) == 1:
            return pl.scan_parquet(paths[0])
        # Partitions written before a column was added lack it: align them by name.
        return pl.concat([pl.scan_parquet(p) for p in paths], how="diagonal_relaxed")

    def read_history(self, group: FeatureGroup, first: date, last: date) -> pl.DataFrame:
        """A feature group's partitions that retrievals as of ``first..last`` can use."""
        from fti_assets.domain.feature_groups import history_days

        days = history_days(group, first, last)
        if days is None:
            return self.read(group.name)
        return self.read(group.name, [d.isoformat() for d in days])

    def write_quarantine(self, table: str, rejected: pl.DataFrame, run_id: str) -> Path:
        """Keep rejected rows with their reasons; the ``quarantine`` view unions every table."""
        folder = Path(self.home) / "quarantine" / table
        target = folder / f"{run_id}.parquet"
        atomic_write_parquet(rejected, target)
        self.register_view("quarantine", Path(self.home) / "quarantine" / "*")
        return target

    def register_view(self, name: str, folder: Path) -> None:
        """``CREATE OR REPLACE VIEW name`` over the folder's Parquet files.

        DuckDB admits one writer per file, so writers on this machine take turns through a
        lock file; if someone else (an interactive shell) holds the database, the view is
        left for the next write rather than failing the pipeline.
        """
        glob = str(folder / "*.parquet").replace("'", "''")
        sql = (
            f"CREATE OR REPLACE VIEW \"{name}\" AS "
            f"SELECT * FROM read_parquet('{glob}', union_by_name = true)"
        )
        with warehouse_lock(Path(self.home)):
            _execute_with_retry(Path(self.home) / "warehouse.duckdb", sql)


def atomic_write_parquet(frame: pl.DataFrame, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp")
    os.close(fd)
    try:
        frame.write_parquet(tmp, compression="zstd", statistics=True)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def warehouse_lock(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "warehouse.duckdb.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _execute_with_retry(database: Path, sql: str, attempts: int = 8) -> bool:
    import duckdb

    for attempt in range(attempts):
        try:
            # Files stay readable by the DuckDB CLI release on PyPI (duckdb-cli), which lags the library.
            with duckdb.connect(str(database), config={"storage_compatibility_version": "v1.4.0"}) as conn:
                conn.execute(sql)
            return True
        except (duckdb.IOException, duckdb.ConnectionException):
            time.sleep(0.05 * (attempt + 1))
    dg.get_dagster_logger().warning(f"{database} is held by another process; view not refreshed")
    return False
