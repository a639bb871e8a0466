"""The local profile's Dagster storage: Dagster's SQLite storages with kept connections.

Dagster's SQLite run and event-log storages build a new SQLAlchemy engine, and so a new
connection and an empty statement cache, for every read and every event they store: a run of
the feature pipeline over 46 daily partitions took 43 s on them (18 s in Dagster's in-memory
instance). These storages keep each file's engine and one connection to it for the process.

Also:

- Events of a run reach its file's write-ahead log (``<run>.db-wal``) and the file itself only
  at a checkpoint, now that its connection stays open. The UI follows a live run by watching
  that file, so its watch here also wakes on writes to the log.
- Commits use SQLite's ``synchronous=NORMAL``, its advice for write-ahead logging: no flush to
  disk per commit (Dagster's default flushes on every stored event), and a crash of the machine
  may lose the last events but never corrupts a file. A killed process loses nothing.
- A run's planned materializations (one per partition and asset: 5,155 for the full-year
  feature pipeline) are inserted in one transaction per file, as Dagster's batched event writes
  allow; Dagster's SQLite storage spends two transactions and three or four statements on each.
  The full-year feature pipeline took 32.8 and 35.0 s one by one, 28.2 and 28.3 s batched.
  A planned check's rows (one per partition) take one statement run over them all, its event
  serialized once (Dagster serializes it per row): in the full-year demo 2.24 s, then 0.56 s.
- A step's batched materializations (or observations) are stored the same way, where Dagster's
  SQLite storage spends two transactions on each: the demo's batched writes, 6.45 s, then 2.35 s.
- Dagster asks whether a table or an asset-index column exists before every stored asset event;
  a "yes" is remembered (a migration only adds them). Under cProfile, the full-year feature
  pipeline took 75 s before, 59 s after.

Everything else is Dagster's: the same files under ``DAGSTER_HOME/history``, schema and
journal mode. An idle SQLite connection holds no lock, so the daemon, the webserver and run
workers share the files as before. ``fti_assets/platform/instance.py`` names these storages in the
instance's ``dagster.yaml``.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from dagster import DagsterEventType, EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.base import EventHandlerFn
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
    SqliteEventLogStorageWatchdog,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._serdes import ConfigurableClassData, serialize_value
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy import event as sa_event
from watchdog.events import FileSystemEvent
from watchdog.observers import Observer

#: Events Dagster buffers before one batched write (read by Dagster at each event, so an
#: operator's own DAGSTER_EVENT_BATCH_SIZE wins). Both instance storages turn batching on.
EVENT_BATCH_SIZE = "1000"
#: The events a run stores before it starts, one per partition and asset (or check).
PLANNED = frozenset(
    {DagsterEventType.ASSET_MATERIALIZATION_PLANNED, DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED}
)
#: Batches of one of these types are stored in one transaction per file too (each type alone).
MIRRORED = ({DagsterEventType.ASSET_MATERIALIZATION}, {DagsterEventType.ASSET_OBSERVATION})

#: Engines a process keeps, one per file, each with its statement cache and a connection. A
#: long-lived webserver reads many runs' files: past this many, the least recently used engine
#: is disposed (its connection closed) and rebuilt when its file is read again.
KEPT_FILES = 16
_engines: OrderedDict[str, Engine] = OrderedDict()
_lock = threading.Lock()


def index_planned(storage: SqlEventLogStorage, events: Sequence[EventLogEntry], ids: Sequence[int]) -> None:
    """After a batch of planned events got their ids in the index: each check's planned
    executions stored and each asset's entry set from its latest event, in one transaction, as
    storing the events one by one leaves them. Shared by both instance storages' batched writes."""
    assets: list[tuple[EventLogEntry, int]] = []
    checks: list[dict[str, Any]] = []
    for event, event_id in zip(events, ids, strict=True):
        if event.dagster_event_type == DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED:
            checks += _planned_check_rows(storage, event, event_id)
        else:
            assets.append((event, event_id))
    with storage.index_transaction() as conn:
        if checks:  # one statement run over every row, not one multi-row statement per event
            conn.execute(AssetCheckExecutionsTable.insert(), checks)
        _store_latest_entries(storage, conn, assets)


def _store_latest_entries(
    storage: SqlEventLogStorage, conn: Connection, stored: Sequence[tuple[EventLogEntry, int]]
) -> None:
    """Each asset's entry set from its latest (event, id) of ``stored``: each event overwrites
    its asset's entry, so the latest one leaves what all of them, stored in turn, leave."""
    latest = {
        event.get_dagster_event().asset_key.to_string(): (event, event_id) for event, event_id in stored
    }
    for event, event_id in latest.values():
        storage._store_asset_event(conn, event, event_id)


def _planned_check_rows(
    storage: SqlEventLogStorage, event: EventLogEntry, event_id: int
) -> list[dict[str, Any]]:
    """The rows Dagster's ``_store_asset_check_evaluation_planned`` inserts for one planned check,
    one per partition, with the event serialized once: Dagster serializes it again for every
    partition (365 times for a check planned over a year)."""
    planned = event.get_dagster_event().event_specific_data
    keys = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
    serialized, at = serialize_value(event), storage._event_insert_timestamp(event)
    return [
        {
            "asset_key": planned.asset_key.to_string(),
            "check_name": planned.check_name,
            "partition": key,
            "run_id": event.run_id,
            "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
            "evaluation_event": serialized,
            "evaluation_event_timestamp": at,
            "evaluation_event_storage_id": event_id,
        }
        for key in keys
    ]


def _no_flush_per_commit(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def engine_for(conn_string: str) -> Engine:
    """The process's engine for one SQLite file: one kept connection and a few more under load."""
    with _lock:
        engine = _engines.get(conn_string)
        if engine is None:
            engine = create_engine(
                conn_string,
                pool_size=1,
                max_overflow=4,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
            sa_event.listen(engine, "connect", _no_flush_per_commit)
            _engines[conn_string] = engine
            while len(_engines) > KEPT_FILES:
                _engines.popitem(last=False)[1].dispose()
        _engines.move_to_end(conn_string)
        return engine


def dispose_all(close: bool = True) -> None:
    """Forget every kept connection (closing them unless they belong to a parent process)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=close)
        _engines.clear()


# A forked child must not use its parent's SQLite connections (SQLite's own rule).
os.register_at_fork(after_in_child=lambda: dispose_all(close=False))


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn


class KeptSqliteRunStorage(SqliteRunStorage):
    """Dagster's SQLite run storage on a kept connection."""

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> KeptSqliteRunStorage:
        return cls.from_local(inst_data=inst_data, **config_value)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with _transaction(engine_for(self._conn_string)) as conn:
            yield conn


class KeptSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log (one file per run and an index) on kept connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Tables and asset-index columns seen to exist. Dagster asks before every stored asset
        # event (a new engine each time for a table); a migration only ever adds them.
        self._known_schema: set[str] = set()
        super().__init__(*args, **kwargs)
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """A run's planned events, or its materializations (or observations), inserted in one
        transaction on its file and one on the index, with their tags and each asset's entry set
        from its latest event (planned ones through ``index_planned``), as storing them one by one
        leaves them; any other batch event by event, as Dagster stores it."""
        types = {e.dagster_event_type for e in events}
        if not events or len({e.run_id for e in events}) > 1 or not (types <= PLANNED or types in MIRRORED):
            return super().store_event_batch(events)
        rows = [self._event_to_row(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        with self.index_transaction() as conn:
            inserted = conn.execute(
                SqlEventLogStorageTable.insert().returning(
                    SqlEventLogStorageTable.c.id, sort_by_parameter_order=True
                ),
                rows,
            )
            ids = [int(row[0]) for row in inserted]
            tagged = [
                (e, i)
                for e, i in zip(events, ids, strict=True)
                if e.dagster_event_type != DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED
            ]
            self._store_asset_event_tags(conn, [e for e, _ in tagged], [i for _, i in tagged])
            if types in MIRRORED:
                _store_latest_entries(self, conn, tagged)
        if types <= PLANNED:
            index_planned(self, events, ids)

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> KeptSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = engine_for(self.conn_string_for_shard(shard))
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with _transaction(engine) as conn:
                yield conn

    def _known(self, name: str, probe: Callable[[], bool]) -> bool:
        if name not in self._known_schema and probe():
            self._known_schema.add(name)
        return name in self._known_schema

    def _index_has_table(self, table_name: str) -> bool:
        engine = engine_for(self.conn_string_for_shard(INDEX_SHARD_NAME))
        with engine.connect() as conn:
            return bool(engine.dialect.has_table(conn, table_name))

    def has_table(self, table_name: str) -> bool:
        return self._known(table_name, lambda: self._index_has_table(table_name))

    def _has_asset_key_col_on_connection(self, conn: Connection, column_name: str) -> bool:
        probe = super()._has_asset_key_col_on_connection
        return self._known(f"asset_keys.{column_name}", lambda: probe(conn, column_name))

    def watch(self, run_id: str, cursor: str | None, callback: EventHandlerFn) -> None:
        """Dagster's watch of a run's file (see ``SqliteEventLogStorage.watch``), by ``RunFileWatch``."""
        if not self._obs:
            self._obs = Observer()
            self._obs.start()
        handler = RunFileWatch(self, run_id, callback, cursor)
        self._watchers[run_id][callback] = (
            handler,
            self._obs.schedule(handler, self._base_dir, recursive=True),
        )

    def wipe(self) -> None:
        dispose_all()  # the files are deleted: no connection may outlive them
        self._known_schema.clear()
        super().wipe()


class RunFileWatch(SqliteEventLogStorageWatchdog):
    """Dagster's watch of one run's file, woken also by writes to the file's write-ahead log,
    where a writer's events land first while it keeps its connection."""

    def __init__(
        self, storage: SqliteEventLogStorage, run_id: str, callback: EventHandlerFn, cursor: str | None
    ) -> None:
        super().__init__(storage, run_id, callback, cursor)
        self._patterns = [self._log_path, f"{self._log_path}-wal"]  # watchdog's patterns, read-only once set

    def on_modified(self, event: FileSystemEvent) -> None:
        self._process_log()  # Dagster's handler insists on the file itself
