"""The production profile's Dagster storage: dagster-postgres with pooled connections and
batched event writes.

dagster-postgres opens a new PostgreSQL connection for every statement (SQLAlchemy's
``NullPool``) in every process except the webserver, which calls ``optimize_for_webserver``
to hold a pooled one. A backfill of daily partitions writes an event per partition and asset
when the run is planned and again when it materializes: the full-year feature pipeline writes
about 9,000, each with two new connections of some 4 ms here. These storages apply the
webserver's remedy in every process that loads the instance (run workers, the daemon, ``fti``)
and turn on Dagster's batched event writes: dagster-postgres stores a step's materializations
as one INSERT, and the run's planned materializations are stored the same way here (one row
per partition, as the partition status needs, in one INSERT per batch instead of five
statements each). ``deploy/dagster.production.yaml`` names them; BENCHMARKS.md measures them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from dagster import EventLogEntry
from dagster._core.storage.config import PostgresStorageConfig
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._serdes import ConfigurableClassData
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

from fti_assets.platform.sqlite_storage import EVENT_BATCH_SIZE, PLANNED, index_planned

#: A pooled connection is replaced after this long, as the webserver's are by default.
POOL_RECYCLE_SECONDS = 3600
#: Connections a storage may open beyond its pooled one (the daemon's threads, a run's steps).
POOL_MAX_OVERFLOW = 8


class _Pooled:
    """One pooled connection per storage and process, with no statement timeout (a run's
    writes are not a web request to cut short); built from the same config as dagster-postgres."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
    ) -> None:
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)  # type: ignore[call-arg]
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)
        self.optimize_for_webserver(
            statement_timeout=0, pool_recycle=POOL_RECYCLE_SECONDS, max_overflow=POOL_MAX_OVERFLOW
        )  # type: ignore[attr-defined]

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
