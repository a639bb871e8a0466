"""An optional accelerator of the Dagster instance's storage, the one module of the project that
uses Dagster's private internals: version-gated, and replaced by Dagster's stock storage when off.

``fti_assets/platform/instance.py`` names these storages in the instance's ``dagster.yaml`` only when
``FTI_STORAGE_ACCELERATOR`` is on (the default) and this module imports: it refuses any Dagster
but ``TESTED_DAGSTER`` and checks, at import, every private member it uses. On any other version,
an ImportError or an AttributeError, the instance gets Dagster's stock storage, with one logged
notice. ``fti_assets_tests/test_local_instance.py`` compares what these storages store with what
Dagster's stock SQLite storage stores; BENCHMARKS.md ("Instance storage") measures the gain.

Dagster's SQLite run and event-log storages build a new SQLAlchemy engine, and so a new
connection and an empty statement cache, for every read and every event they store. The local
storages here keep each file's engine and one connection to it for the process. Also:

- Events of a run reach its file's write-ahead log (``<run>.db-wal``) and the file itself only
  at a checkpoint, now that its connection stays open. The UI follows a live run by watching
  that file, so its watch here also wakes on writes to the log.
- Commits use SQLite's ``synchronous=NORMAL``, its advice for write-ahead logging: no flush to
  disk per commit (Dagster's default flushes on every stored event), and a crash of the machine
  may lose the last events but never corrupts a file. A killed process loses nothing.
- With Dagster's batched event writes on (``DAGSTER_EVENT_BATCH_SIZE``, which ``instance.py``
  sets for the processes it prepares), a run's planned materializations (one per partition and
  asset: 5,155 for the full-year feature pipeline) are inserted in one transaction per file;
  Dagster's SQLite storage spends two transactions and three or four statements on each. A
  planned check's rows (one per partition) take one statement run over them all, its event
  serialized once (Dagster serializes it per row). A step's batched materializations (or
  observations) are stored the same way.
- Dagster asks whether a table or an asset-index column exists before every stored asset event;
  a "yes" is remembered (a migration only adds them).

Everything else is Dagster's: the same files under ``DAGSTER_HOME/history``, schema and
journal mode. An idle SQLite connection holds no lock, so the daemon, the webserver and run
workers share the files as before.

The production profile's storages are dagster-postgres's with one pooled connection per storage
and process (dagster-postgres opens a new connection per statement outside the webserver, and
has no setting for a pool) and a run's planned events stored as one INSERT per batch.
"""

from __future__ import annotations

import copy
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import dagster

#: The Dagster release these storages were tested with; any other gets Dagster's stock storage.
TESTED_DAGSTER = "1.13.27"
if dagster.__version__ != TESTED_DAGSTER:
    raise ImportError(
        f"the storage accelerator is tested with Dagster {TESTED_DAGSTER}, not {dagster.__version__}"
    )

from dagster import DagsterEventType, EventLogEntry  # noqa: E402
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus  # noqa: E402
from dagster._core.storage.config import PostgresStorageConfig  # noqa: E402
from dagster._core.storage.event_log.base import EventHandlerFn  # noqa: E402
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable  # noqa: E402
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage  # noqa: E402
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (  # noqa: E402
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
    SqliteEventLogStorageWatchdog,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage  # noqa: E402
from dagster._serdes import ConfigurableClassData, serialize_value  # noqa: E402
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage  # noqa: E402
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config  # noqa: E402
from sqlalchemy import Connection, Engine, create_engine  # noqa: E402
from sqlalchemy import event as sa_event  # noqa: E402
from watchdog.events import FileSystemEvent, PatternMatchingEventHandler  # noqa: E402
from watchdog.observers import Observer  # noqa: E402

#: The members of Dagster's classes this module calls or overrides, checked at import: a build
#: without one fails here (AttributeError), and the instance falls back to the stock storage.
_PRIVATE_MEMBERS = {
    SqliteRunStorage: ("from_local", "connect"),
    SqliteEventLogStorage: (
        "_connect",
        "_initdb",
        "_event_to_row",
        "_store_asset_event",
        "_store_asset_event_tags",
        "_event_insert_timestamp",
        "_has_asset_key_col_on_connection",
        "conn_string_for_shard",
        "path_for_shard",
        "index_transaction",
        "run_connection",
    ),
    SqliteEventLogStorageWatchdog: ("_process_log",),
    PostgresEventLogStorage: ("optimize_for_webserver", "prepare_insert_event_batch"),
    PostgresRunStorage: ("optimize_for_webserver",),
    PostgresScheduleStorage: ("optimize_for_webserver",),
}
for _owner, _names in _PRIVATE_MEMBERS.items():
    for _name in _names:
        if not hasattr(_owner, _name):
            raise AttributeError(f"{_owner.__name__}.{_name} is gone: the storage accelerator does not fit")

#: Events Dagster buffers before one batched write: ``instance.py`` sets Dagster's
#: ``DAGSTER_EVENT_BATCH_SIZE`` to this where it is unset, for the storages here to batch.
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


class RunFileWatch(PatternMatchingEventHandler):
    """Dagster's watch of one run's file, woken also by writes to the file's write-ahead log,
    where a writer's events land first while it keeps its connection. Dagster's own handler
    reads the new events (and calls back); only the files it wakes on differ."""

    def __init__(
        self, storage: SqliteEventLogStorage, run_id: str, callback: EventHandlerFn, cursor: str | None
    ) -> None:
        self._reader = SqliteEventLogStorageWatchdog(storage, run_id, callback, cursor)
        path = storage.path_for_shard(run_id)
        super().__init__(patterns=[path, f"{path}-wal"])

    def on_modified(self, event: FileSystemEvent) -> None:
        self._reader._process_log()


def local_storage(home: str) -> dict[str, Any]:
    """The instance settings of the local storages: Dagster's SQLite files under ``home``, the
    same files as Dagster's ``storage: sqlite: base_dir: home``."""
    history = f"{home}/history"
    return {
        "run_storage": {"module": __name__, "class": "KeptSqliteRunStorage", "config": {"base_dir": history}},
        "event_log_storage": {
            "module": __name__,
            "class": "KeptSqliteEventLogStorage",
            "config": {"base_dir": f"{history}/runs"},
        },
    }


def postgres_storage(config: dict[str, Any]) -> dict[str, Any]:
    """The instance settings of the pooled storages, from the config of Dagster's
    ``storage: postgres:`` (the same database and tables)."""
    names = {"run_storage": "PooledPostgresRunStorage", "event_log_storage": "PooledPostgresEventLogStorage"}
    names["schedule_storage"] = "PooledPostgresScheduleStorage"
    return {
        key: {"module": __name__, "class": name, "config": copy.deepcopy(config)}
        for key, name in names.items()
    }


#: A pooled connection is replaced after this long, as the webserver's are by default.
POOL_RECYCLE_SECONDS = 3600
#: Connections a storage may open beyond its pooled one (the daemon's threads, a run's steps).
POOL_MAX_OVERFLOW = 8


class _Pooled:
    """One pooled connection per storage and process, with no statement timeout (a run's writes
    are not a web request to cut short): dagster-postgres's own pooled engine, which it builds
    only in the webserver (``optimize_for_webserver``); built from the same config."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
    ) -> None:
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)  # type: ignore[call-arg]
        self.optimize_for_webserver(  # type: ignore[attr-defined]
            statement_timeout=0, pool_recycle=POOL_RECYCLE_SECONDS, max_overflow=POOL_MAX_OVERFLOW
        )

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: PostgresStorageConfig
    ) -> Any:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )


class PooledPostgresRunStorage(_Pooled, PostgresRunStorage):
    """dagster-postgres's run storage on a pooled connection."""


class PooledPostgresScheduleStorage(_Pooled, PostgresScheduleStorage):
    """dagster-postgres's schedule and sensor storage on a pooled connection."""


class PooledPostgresEventLogStorage(_Pooled, PostgresEventLogStorage):
    """dagster-postgres's event log on a pooled connection, storing a batch of planned
    materializations (and check evaluations) in one INSERT."""

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        if not events or not {e.dagster_event_type for e in events} <= PLANNED:
            return super().store_event_batch(events)
        with self.index_connection() as conn:
            rows = conn.execute(
                self.prepare_insert_event_batch(events).returning(SqlEventLogStorageTable.c.id)
            ).fetchall()
        index_planned(self, events, [int(row[0]) for row in rows])
