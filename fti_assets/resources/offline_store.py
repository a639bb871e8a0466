"""The offline feature store: immutable Parquet files per table and partition.

Files are written to a hidden temporary name and renamed into place, so a killed run never
leaves a partial file where readers look. ``warehouse.duckdb`` holds one view per table.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import polars as pl

from fti_assets.resources.atomic import atomic_write_parquet, atomic_write_text

if TYPE_CHECKING:
    from fti_assets.domain.catalog import FeatureGroup

WHOLE_TABLE = "all"
#: Catalog statements that could not run yet because another process held the database.
PENDING = "warehouse.pending.json"
QUARANTINE_COLUMNS = ("table", "partition", "reason", "row", "run_id")


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
        folder = self.table_dir(table)
        if partition is None and (
            folder.is_symlink() or any(p.stem != WHOLE_TABLE for p in folder.glob("*.parquet"))
        ):
            # A table stored in pieces (storage.pieced; a copied FTI_HOME holds them as a plain
            # folder): the frame replaces every piece, as one new version swapped in whole,
            # never as one more file beside them.
            from uuid import uuid4

            from fti_assets.resources.pieced import commit, stage, write_piece

            staged = stage(self, table, f"whole-{uuid4().hex}")
            write_piece(staged, WHOLE_TABLE, frame)
            return commit(self, staged)
        return self.write_partitions(table, {partition: frame})[0]

    def write_partitions(self, table: str, frames: dict[str | None, pl.DataFrame]) -> list[Path]:
        """Write several partitions atomically, each on its own, then register the view once."""
        from fti_assets.domain.versions import SUPERSEDED_AT

        paths = []
        for partition, frame in frames.items():
            paths.append(self.path(table, partition))
            atomic_write_parquet(frame, paths[-1])
        versioned = any(SUPERSEDED_AT in frame.columns for frame in frames.values())
        self.register_view(table, self.table_dir(table), written=paths, versioned=versioned)
        return paths

    def write_days(self, table: str, frame: pl.DataFrame, column: str, keys: Sequence[str]) -> list[Path]:
        """Split ``frame`` on its date ``column`` into one file per day of ``keys`` (an empty
        file for a day without rows). Rows of any other day are refused: nothing is written."""
        by_day = {day: part for (day,), part in frame.partition_by(column, as_dict=True).items()}
        stray = sorted(str(d) for d in by_day if d is None or d.isoformat() not in keys)
        if stray:
            raise StrayRowsError(
                f"'{table}' produced rows outside its partitions {keys[0]}..{keys[-1]}: {stray[:5]}"
            )
        empty = frame.clear()
        return self.write_partitions(table, {key: by_day.get(date.fromisoformat(key), empty) for key in keys})

    def partitions(self, table: str) -> list[str]:
        """Partition keys present on disk, sorted."""
        return sorted(p.stem for p in self.table_dir(table).glob("*.parquet"))

    def row_counts(self, table: str, partitions: Sequence[str] | None = None) -> dict[str, int]:
        """Current rows of each stored partition (of the given keys, or all): from the Parquet
        footers, or counted without the superseded versions of a versioned table."""
        keys = self.partitions(table) if partitions is None else partitions
        paths = {k: self.path(table, k) for k in keys}
        return {
            k: _current(pl.scan_parquet(p)).select(pl.len()).collect().item()
            for k, p in paths.items()
            if p.exists()
        }

    def read(
        self, table: str, partitions: Sequence[str] | None = None, versions: bool = False
    ) -> pl.DataFrame:
        """A table, or the given partitions of it that exist (missing ones are skipped): its
        current rows, or with ``versions`` every version (``domain.versions``)."""
        return self.scan(table, partitions, versions).collect()

    def knowledge_clock(self, tables: Sequence[str]) -> datetime | None:
        """The latest instant at which any of ``tables`` learnt or replaced a row (None: nothing
        since the first load): what the store knows is complete up to it."""
        from fti_assets.domain.versions import VERSION_COLUMNS

        latest = []
        for table in tables:
            if not any(self.table_dir(table).glob("*.parquet")):
                continue
            lazy = self.scan(table, versions=True)
            stamps = [c for c in VERSION_COLUMNS if c in lazy.collect_schema().names()]
            if stamps:
                latest.append(lazy.select(pl.max_horizontal(pl.col(stamps).max())).collect().item())
        return max((t for t in latest if t is not None), default=None)

    def scan(
        self, table: str, partitions: Sequence[str] | None = None, versions: bool = False
    ) -> pl.LazyFrame:
        lazy = self._scan_all(table, partitions)
        return lazy if versions else _current(lazy)

    def _scan_all(self, table: str, partitions: Sequence[str] | None) -> pl.LazyFrame:
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
        """A feature group's partitions that retrievals as of ``first..last`` can use, every
        version of their rows (the retrieval picks those known at each as-of instant)."""
        from fti_assets.domain.catalog import history_days

        days = history_days(group, first, last)
        if days is None:
            return self.read(group.name, versions=True)
        return self.read(group.name, [d.isoformat() for d in days], versions=True)

    def write_quarantine(self, table: str, rejected: pl.DataFrame, run_id: str) -> Path:
        """Keep rejected rows with their reasons; the ``quarantine`` view unions every table."""
        folder = Path(self.home) / "quarantine" / table
        target = folder / f"{run_id}.parquet"
        atomic_write_parquet(rejected, target)
        self.ensure_quarantine_view()
        return target

    def ensure_quarantine_view(self) -> None:
        """The ``quarantine`` view, also before anything was rejected (then it is empty)."""
        folder = Path(self.home) / "quarantine"
        if any(folder.glob("*/*.parquet")):
            self.register_view("quarantine", folder / "*")
            return
        columns = ", ".join(f'NULL::VARCHAR AS "{c}"' for c in QUARANTINE_COLUMNS)
        self._refresh("quarantine", f'CREATE OR REPLACE VIEW "quarantine" AS SELECT {columns} WHERE false')

    def register_view(
        self, name: str, folder: Path, written: Sequence[Path] = (), versioned: bool = False
    ) -> None:
        """``CREATE OR REPLACE VIEW name`` over the folder's Parquet files, unless the view
        already shows the files just ``written`` (see ``warehouse_views``). A ``versioned`` table's
        view shows its current rows, and ``<name>_versions`` every version (``domain.versions``)."""
        from fti_assets.domain.versions import INGESTED_AT, SUPERSEDED_AT

        pattern = str(folder / "*.parquet")
        quoted = pattern.replace("'", "''")
        source = f"read_parquet('{quoted}', union_by_name = true)"
        if not versioned:
            self._refresh(
                name, f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM {source}', pattern, written
            )
            return
        current = (
            f"SELECT * EXCLUDE ({INGESTED_AT}, {SUPERSEDED_AT}) FROM {source} WHERE {SUPERSEDED_AT} IS NULL"
        )
        self._refresh(name, f'CREATE OR REPLACE VIEW "{name}" AS {current}', pattern, written)
        every = f'CREATE OR REPLACE VIEW "{name}_versions" AS SELECT * FROM {source}'
        self._refresh(f"{name}_versions", every, pattern, written)

    def pending_views(self) -> list[str]:
        """Views written to the store but not yet to the catalog (the database was held)."""
        path = Path(self.home) / PENDING
        return sorted(json.loads(path.read_text())) if path.exists() else []

    def refresh_pending(self) -> list[str]:
        """Try the pending views again; returns those still pending."""
        return self._refresh(None, None) if self.pending_views() else []

    def _refresh(
        self, name: str | None, sql: str | None, pattern: str | None = None, written: Sequence[Path] = ()
    ) -> list[str]:
        """Run ``sql`` and every statement still pending in the catalog; returns what is left.

        DuckDB admits one writer per file, so writers on this machine take turns through a
        lock file; if someone else (an interactive shell) holds the database, the statements
        are kept in ``warehouse.pending.json`` and run at the next chance, rather than failing
        the pipeline.
        """
        from fti_assets.resources import warehouse_views

        home = Path(self.home)
        with warehouse_lock(home):
            path = home / PENDING
            pending = json.loads(path.read_text()) if path.exists() else {}
            if (
                name is not None
                and sql is not None
                and not pending
                and warehouse_views.holds(home, name, sql, written)
            ):
                return []
            if name is not None:
                pending[name] = sql
            if _execute_with_retry(home / "warehouse.duckdb", list(pending.values())):
                path.unlink(missing_ok=True)
                warehouse_views.remember(
                    home, list(pending), {name: (sql, pattern)} if name and sql and pattern else {}
                )
                return []
            atomic_write_text(path, json.dumps(pending))
            return sorted(pending)


def _current(lazy: pl.LazyFrame) -> pl.LazyFrame:
    """The rows of a (possibly versioned) table no later ingest replaced, without version columns."""
    from fti_assets.domain.versions import SUPERSEDED_AT, VERSION_COLUMNS

    names = lazy.collect_schema().names()
    if SUPERSEDED_AT in names:
        lazy = lazy.filter(pl.col(SUPERSEDED_AT).is_null())
    return lazy.drop([c for c in VERSION_COLUMNS if c in names])


@contextmanager
def warehouse_lock(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "warehouse.duckdb.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _execute_with_retry(database: Path, statements: list[str], attempts: int = 8) -> bool:
    import duckdb

    for attempt in range(attempts):
        try:
            # Files stay readable by the DuckDB CLI release on PyPI (duckdb-cli), which lags the library.
            with duckdb.connect(str(database), config={"storage_compatibility_version": "v1.4.0"}) as conn:
                for sql in statements:
                    conn.execute(sql)
            return True
        except (duckdb.IOException, duckdb.ConnectionException):
            time.sleep(0.05 * (attempt + 1))
    dg.get_dagster_logger().warning(
        f"{database} is held by another process; views refreshed at the next write"
    )
    return False
