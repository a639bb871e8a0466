"""The production profile's Dagster storage: dagster-postgres with one pooled connection.

dagster-postgres opens a new PostgreSQL connection for every statement (SQLAlchemy's
``NullPool``) in every process except the webserver, which calls ``optimize_for_webserver``
to hold a pooled one. A backfill of daily partitions writes an event per partition and asset
when the run is planned and again when it materializes: the full-year feature pipeline writes
about 9,000, each with two new connections of some 4 ms here. This storage applies the
webserver's remedy in every process that loads the instance (run workers, the daemon, ``fti``),
and turns on Dagster's batched event writes, which dagster-postgres stores as one INSERT per
step's partitions. ``deploy/dagster.production.yaml`` names it; BENCHMARKS.md measures it.
"""

from __future__ import annotations

import os
from typing import Any

from dagster._core.storage.config import PostgresStorageConfig
from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

#: Events Dagster buffers before one batched write (read by Dagster at each event, so an
#: operator's own DAGSTER_EVENT_BATCH_SIZE wins).
EVENT_BATCH_SIZE = "1000"
#: A pooled connection is replaced after this long, as the webserver's are by default.
POOL_RECYCLE_SECONDS = 3600
#: Connections a process may open beyond its pooled one (the daemon's threads, a run's steps).
POOL_MAX_OVERFLOW = 8


class PooledPostgresStorage(DagsterPostgresStorage):
    """Run, event-log and schedule storage on PostgreSQL, one pooled connection per storage."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: ConfigurableClassData | None = None, token_provider: Any = None) -> None:  # fmt: skip
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)
        # No statement timeout (0): a run's writes are not a web request to cut short.
        for storage in (self.run_storage, self.event_log_storage, self.schedule_storage):
            storage.optimize_for_webserver(statement_timeout=0, pool_recycle=POOL_RECYCLE_SECONDS, max_overflow=POOL_MAX_OVERFLOW)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: PostgresStorageConfig) -> PooledPostgresStorage:  # type: ignore[override]
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
