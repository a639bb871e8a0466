"""The online feature store: SQLite in WAL mode, so readers keep working while it refreshes.

Each feature group is a table keyed by its entity keys holding the latest values known at
the refresh time; ``flight_vectors`` holds the refresh's precomputed vectors of published
flights (``serving.vectors``) by ``flight_id``. A refresh replaces every table in one transaction.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from pydantic_core import from_json

from fti_assets.domain.catalog import FEATURE_GROUPS, FeatureGroup

META = "online_meta"
TIMEZONES = "airport_timezones"
VECTORS = "flight_vectors"


def _table(group: FeatureGroup) -> str:
    return f"fg_{group.name}"


def _sql_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    conn = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False, isolation_level=None)
    if not readonly:
        conn.execute("PRAGMA journal_mode=WAL")
    return conn


def write_snapshot(
    path: Path,
    latest: dict[str, pl.DataFrame],
    timezones: pl.DataFrame,
    as_of: datetime,
    vectors: list[tuple[str, dict]] | None = None,
) -> dict[str, int]:
    """Replace the store's content with ``latest`` (group name to its latest rows) and
    ``vectors`` ((flight_id, record) pairs; none: every request takes the request path) atomically."""
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for group in FEATURE_GROUPS:
            frame = latest[group.name]
            columns = [*group.keys, group.known_at_column, *group.features]
            table = _table(group)
            conn.execute(f'DROP TABLE IF EXISTS "{table}"')
            conn.execute(
                f'CREATE TABLE "{table}" ({", ".join(columns)}, PRIMARY KEY ({", ".join(group.keys)}))'
            )
            rows = [tuple(_sql_value(v) for v in row) for row in frame.select(columns).iter_rows()]
            conn.executemany(f'INSERT INTO "{table}" VALUES ({", ".join("?" * len(columns))})', rows)
        conn.execute(f"DROP TABLE IF EXISTS {TIMEZONES}")
        conn.execute(f"CREATE TABLE {TIMEZONES} (faa TEXT PRIMARY KEY, tzone TEXT)")
        conn.executemany(
            f"INSERT INTO {TIMEZONES} VALUES (?, ?)", timezones.select("faa", "tzone").iter_rows()
        )
        conn.execute(f"DROP TABLE IF EXISTS {VECTORS}")
        conn.execute(f"CREATE TABLE {VECTORS} (flight_id TEXT PRIMARY KEY, record TEXT)")
        conn.executemany(
            f"INSERT INTO {VECTORS} VALUES (?, ?)", [(fid, json.dumps(r)) for fid, r in vectors or []]
        )
        conn.execute(f"CREATE TABLE IF NOT EXISTS {META} (key TEXT PRIMARY KEY, value TEXT)")
        refreshed = datetime.now(UTC).isoformat()
        conn.executemany(
            f"INSERT OR REPLACE INTO {META} VALUES (?, ?)",
            [("as_of", as_of.isoformat()), ("refreshed_at", refreshed)],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    return {**{g.name: latest[g.name].height for g in FEATURE_GROUPS}, VECTORS: len(vectors or [])}


class OnlineStoreReader:
    """Point lookups for the service; one connection per thread."""

    local_reads = True
    """Reads are of a local file, quick enough to run on the service's event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path, readonly=True)
        return conn

    def pinned(self) -> OnlineStoreReader:
        """The reader itself: each lookup reads one whole committed refresh, though two lookups of
        a request can straddle a refresh (Redis pins one snapshot per request instead)."""
        return self

    def as_of(self) -> str | None:
        row = self._conn().execute(f"SELECT value FROM {META} WHERE key = 'as_of'").fetchone()
        return row[0] if row else None

    def timezone(self, airport: str) -> str | None:
        row = self._conn().execute(f"SELECT tzone FROM {TIMEZONES} WHERE faa = ?", (airport,)).fetchone()
        return row[0] if row else None

    def lookup(self, group: FeatureGroup, keys: tuple) -> dict[str, Any] | None:
        """The group's row for ``keys`` (known-at time and features), or None."""
        where = " AND ".join(f"{k} = ?" for k in group.keys)
        columns = [group.known_at_column, *group.features]
        row = (
            self._conn()
            .execute(f'SELECT {", ".join(columns)} FROM "{_table(group)}" WHERE {where}', keys)
            .fetchone()
        )
        return dict(zip(columns, row, strict=True)) if row else None

    def lookup_many(self, requests: list[tuple[FeatureGroup, tuple]]) -> list[dict[str, Any] | None]:
        """``lookup`` for each (group, keys): local SQLite reads need no batching."""
        return [self.lookup(group, keys) for group, keys in requests]

    def vectors(self, flight_ids: list[str]) -> list[dict[str, Any] | None]:
        """The precomputed record of each flight (``serving.vectors``), or None."""
        conn, out = self._conn(), []
        for fid in flight_ids:
            try:
                row = conn.execute(f"SELECT record FROM {VECTORS} WHERE flight_id = ?", (fid,)).fetchone()
            except (
                sqlite3.OperationalError
            ):  # a store written before vectors existed: the request path serves
                return [None] * len(flight_ids)
            out.append(from_json(row[0]) if row else None)
        return out
