"""The online feature store on SQLite (WAL mode: readers keep reading while events apply).

It answers each group's value for an entity as of any instant it still holds:

- ``rows_<group>``: rows ``(entity, known_at, values)``; a lookup takes the latest row known
  at or before the instant, within the group's TTL, as the offline retrieval does;
- ``windows_<group>``: each entity's outcomes of the trailing windows (``online_writer``),
  summed at the instant by the offline ``window_sums``;
- ``versions_<feed>``: each fact's latest applied event, which makes applying idempotent;
- ``published``: published flights' request rows, computed ahead (``serving.published``);
- ``replacements``: each replaced version, the version that replaced it and when that was
  learnt, so a read as of an earlier instant undoes it (``serving.as_known``);
- ``airport_timezones`` and ``online_meta`` (``newest_event_at``, ``retained_from``).

Times are epoch microseconds. One transaction per applied batch: a reader sees a batch
whole or not at all.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from fti_assets.domain import events as ev
from fti_assets.domain.catalog import FEATURE_GROUPS, FeatureGroup
from fti_assets.serving import as_known
from fti_assets.serving.online_writer import (
    RETAIN_MICROS,
    OnlineWriter,
    decode_arrays,
    oldest_known,
    prune_arrays,
    reference_rows,
    row_value,
    window_lookup,
)

META = "online_meta"
TIMEZONES = "airport_timezones"
PUBLISHED = "published"
REPLACEMENTS = "replacements"


def _rows(group: FeatureGroup) -> str:
    return f"rows_{group.name}"


def _windows(group: FeatureGroup) -> str:
    return f"windows_{group.name}"


def _versions(feed: str) -> str:
    return f"versions_{feed}"


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    conn = sqlite3.connect(uri, uri=True, timeout=60, check_same_thread=False, isolation_level=None)
    if not readonly:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _schema(conn: sqlite3.Connection) -> None:
    for group in FEATURE_GROUPS:
        conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{_rows(group)}" (entity TEXT, known_at INTEGER, "values" TEXT, '
            "PRIMARY KEY (entity, known_at)) WITHOUT ROWID"
        )
        conn.execute(f'CREATE TABLE IF NOT EXISTS "{_windows(group)}" (entity TEXT PRIMARY KEY, arrays BLOB)')
    for feed in ev.FEEDS:
        conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{_versions(feed)}" (identity TEXT PRIMARY KEY, event TEXT)'
        )
    conn.execute(f"CREATE TABLE IF NOT EXISTS {TIMEZONES} (faa TEXT PRIMARY KEY, tzone TEXT)")
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {PUBLISHED} (key TEXT PRIMARY KEY, departure INTEGER, row TEXT) WITHOUT ROWID"
    )
    conn.execute(f"CREATE TABLE IF NOT EXISTS {REPLACEMENTS} (at INTEGER, entry TEXT)")
    conn.execute(f"CREATE INDEX IF NOT EXISTS {REPLACEMENTS}_at ON {REPLACEMENTS} (at)")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {META} (key TEXT PRIMARY KEY, value TEXT)")


def _read_windows(
    conn: sqlite3.Connection, group: FeatureGroup, entities: list[str]
) -> dict[str, np.ndarray]:
    sql = f'SELECT entity, arrays FROM "{_windows(group)}" WHERE entity IN ({",".join("?" * len(entities))})'
    return {k: decode_arrays(blob) for k, blob in conn.execute(sql, entities)}


def _load_rows(conn: sqlite3.Connection, group: FeatureGroup, entities: list[str]) -> dict[str, list[list]]:
    out: dict[str, list[list]] = {}
    marks = ",".join("?" * len(entities))
    sql = (
        f'SELECT entity, known_at, "values" FROM "{_rows(group)}" WHERE entity IN ({marks}) '
        "ORDER BY entity, known_at"
    )
    for entity, known_at, values in conn.execute(sql, entities):
        out.setdefault(entity, []).append([known_at, json.loads(values)])
    return out


class SqliteWriter(OnlineWriter):
    """Applies events to the SQLite store at ``path`` (``OnlineWriter.apply``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = connect(path)
        _schema(self.conn)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # IMMEDIATE: two writers serialize, each reading what the other committed.
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def stored_versions(self, feed: str, identities: list[str]) -> dict[str, dict]:
        out = {}
        for start in range(0, len(identities), 500):
            part = identities[start : start + 500]
            sql = f'SELECT identity, event FROM "{_versions(feed)}" WHERE identity IN ({",".join("?" * len(part))})'
            out.update({k: json.loads(v) for k, v in self.conn.execute(sql, part)})
        return out

    def store_versions(self, feed: str, versions: dict[str, dict]) -> None:
        self.conn.executemany(
            f'INSERT OR REPLACE INTO "{_versions(feed)}" VALUES (?, ?)',
            [(k, json.dumps(e)) for k, e in versions.items()],
        )

    def read_windows(self, group: FeatureGroup, entities: list[str]) -> dict[str, np.ndarray]:
        return _read_windows(self.conn, group, entities)

    def write_windows(self, group: FeatureGroup, arrays: dict[str, np.ndarray]) -> None:
        self.conn.executemany(
            f'INSERT OR REPLACE INTO "{_windows(group)}" VALUES (?, ?)',
            [(k, a.tobytes()) for k, a in arrays.items()],
        )

    def load_rows(self, group: FeatureGroup, entities: list[str]) -> dict[str, list[list]]:
        return _load_rows(self.conn, group, entities)

    def save_rows(self, group: FeatureGroup, rows: dict[str, list[list]]) -> None:
        table = _rows(group)
        self.conn.executemany(f'DELETE FROM "{table}" WHERE entity = ?', [(e,) for e in rows])
        self.conn.executemany(
            f'INSERT INTO "{table}" VALUES (?, ?, ?)',
            [(e, k, json.dumps(v)) for e, entity_rows in rows.items() for k, v in entity_rows],
        )

    def store_replacements(self, entries: list[dict]) -> None:
        self.conn.executemany(
            f"INSERT INTO {REPLACEMENTS} VALUES (?, ?)", [(e["at"], json.dumps(e)) for e in entries]
        )

    def put_published(self, rows: list[tuple[str, int, str]]) -> None:
        with self.transaction():
            self.conn.executemany(f"INSERT OR REPLACE INTO {PUBLISHED} VALUES (?, ?, ?)", rows)

    def meta(self) -> dict[str, str]:
        return dict(self.conn.execute(f"SELECT key, value FROM {META}"))

    def set_meta(self, values: dict[str, str]) -> None:
        self.conn.executemany(f"INSERT OR REPLACE INTO {META} VALUES (?, ?)", list(values.items()))

    def put_reference(self, timezones: pl.DataFrame, static: dict[str, pl.DataFrame]) -> None:
        """Airport time zones and the static groups' tables (plane attributes), replaced whole."""
        with self.transaction():
            self.conn.execute(f"DELETE FROM {TIMEZONES}")
            self.conn.executemany(
                f"INSERT INTO {TIMEZONES} VALUES (?, ?)", timezones.select("faa", "tzone").iter_rows()
            )
            for name, frame in static.items():
                group = next(g for g in FEATURE_GROUPS if g.name == name)
                self.conn.execute(f'DELETE FROM "{_rows(group)}"')
                self.conn.executemany(
                    f'INSERT OR REPLACE INTO "{_rows(group)}" VALUES (?, ?, ?)',
                    [(e, k, json.dumps(v)) for e, k, v in reference_rows(frame, group)],
                )

    def prune(self, static: tuple[str, ...] = ("plane_attributes",)) -> int | None:
        """Drop what no lookup from ``RETAIN_MICROS`` before the newest event on needs; returns
        the new ``retained_from`` (microseconds), None on an empty store."""
        newest = self.meta().get("newest_event_at")
        if newest is None:
            return None
        cutoff = int(newest) - RETAIN_MICROS
        with self.transaction():
            for group in FEATURE_GROUPS:
                if group.name in static:
                    continue
                # Keep each entity's latest row at or before the cutoff: it is in effect there.
                self.conn.execute(
                    f'DELETE FROM "{_rows(group)}" AS r WHERE known_at < (SELECT max(known_at) FROM '
                    f'"{_rows(group)}" AS l WHERE l.entity = r.entity AND l.known_at <= ?)',
                    (cutoff,),
                )
                stored = self.conn.execute(f'SELECT entity, arrays FROM "{_windows(group)}"')
                kept = {k: prune_arrays(decode_arrays(b), cutoff) for k, b in stored}
                self.conn.executemany(
                    f'UPDATE "{_windows(group)}" SET arrays = ? WHERE entity = ?',
                    [(a.tobytes(), k) for k, a in kept.items()],
                )
            self.conn.execute(f"DELETE FROM {PUBLISHED} WHERE departure < ?", (cutoff,))
            self.conn.execute(f"DELETE FROM {REPLACEMENTS} WHERE at < ?", (cutoff,))
            current = self.meta().get("retained_from")
            if current is None or int(current) < cutoff:
                self.set_meta({"retained_from": str(cutoff)})
        return cutoff


class OnlineStoreReader:
    """Lookups for the service as of any instant; one connection per thread."""

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
        """The reader itself: each lookup reads one whole committed batch, though two lookups of
        a request can straddle a batch (Redis reads a request's lookups in one round trip)."""
        return self

    def meta(self) -> dict[str, str]:
        try:
            return dict(self._conn().execute(f"SELECT key, value FROM {META}"))
        except sqlite3.OperationalError:  # created but never written
            return {}

    def timezone(self, airport: str) -> str | None:
        row = self._conn().execute(f"SELECT tzone FROM {TIMEZONES} WHERE faa = ?", (airport,)).fetchone()
        return row[0] if row else None

    def published(self, keys: list[str]) -> list[str | None]:
        """The request row stored under each key (``serving.published``), None where none is."""
        marks = ",".join("?" * len(keys))
        try:
            found = dict(
                self._conn().execute(f"SELECT key, row FROM {PUBLISHED} WHERE key IN ({marks})", keys)
            )
        except sqlite3.OperationalError:  # created but never written
            return [None] * len(keys)
        return [found.get(k) for k in keys]

    def lookup(self, group: FeatureGroup, keys: tuple, at: datetime) -> dict[str, Any] | None:
        """The group's value for ``keys`` as of ``at`` (its known-at time and features), or None."""
        entity, micros = ev.entity(keys), ev.micros(at)
        conn = self._conn()
        if group.name in ev.WINDOW_GROUPS:
            row = conn.execute(
                f'SELECT arrays FROM "{_windows(group)}" WHERE entity = ?', (entity,)
            ).fetchone()
            return window_lookup(group, decode_arrays(row[0] if row else None), micros)
        oldest = oldest_known(group, micros)
        oldest = -(2**62) if oldest is None else oldest
        row = conn.execute(
            f'SELECT known_at, "values" FROM "{_rows(group)}" WHERE entity = ? AND known_at <= ? AND known_at >= ? '
            "ORDER BY known_at DESC LIMIT 1",
            (entity, micros, oldest),
        ).fetchone()
        if row is None:
            return None
        return row_value(group, row[0], json.loads(row[1]))

    def read_windows(self, group: FeatureGroup, entities: list[str]) -> dict[str, np.ndarray]:
        return _read_windows(self._conn(), group, entities)

    def load_rows(self, group: FeatureGroup, entities: list[str]) -> dict[str, list[list]]:
        return _load_rows(self._conn(), group, entities)

    def replacements_after(self, at: int) -> list[dict]:
        """The replacements learnt after ``at`` (microseconds)."""
        try:
            found = self._conn().execute(f"SELECT entry FROM {REPLACEMENTS} WHERE at > ?", (at,)).fetchall()
        except sqlite3.OperationalError:  # created but never written
            return []
        return [json.loads(entry) for (entry,) in found]

    def lookup_now(self, requests: list[tuple[FeatureGroup, tuple, datetime]]) -> list[dict[str, Any] | None]:
        """``lookup`` for each (group, keys, instant) on the store as it is."""
        return [self.lookup(group, keys, at) for group, keys, at in requests]

    def lookup_many(
        self, requests: list[tuple[FeatureGroup, tuple, datetime]]
    ) -> list[dict[str, Any] | None]:
        """Each (group, keys, instant) as the store knew it then (``serving.as_known``): local
        SQLite reads need no batching."""
        later = self.replacements_after(min(ev.micros(at) for _, _, at in requests)) if requests else []
        if not later:
            return self.lookup_now(requests)
        return as_known.lookup_many(self, requests, later)
