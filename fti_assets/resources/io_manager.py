"""The IO manager that stores every table asset in the offline store, one file per partition."""

import dagster as dg
import polars as pl

from fti_assets.resources.offline_store import OfflineStore, StrayRowsError
from fti_assets.resources.pieced import StagedTable, commit

#: Definition metadata key naming the date column that assigns a row to its daily partition.
PARTITION_COLUMN = "partition_column"
#: Input metadata key: the input is every version of the stored rows (``domain.versions``), not
#: only the current ones. The feature assets take their inputs so, to derive their own history.
VERSIONS = "versions"


class ParquetIOManager(dg.ConfigurableIOManager):
    """polars frames to and from the offline store.

    A partitioned output covering a range of days (a single-run backfill) is split on the
    asset's ``partition_column`` into one file per day; days without rows get an empty file,
    so every materialized partition exists on disk. A ``StagedTable`` (pieces already written
    one by one, as ``training_dataset`` does) is committed in one rename. An input annotated
    ``pl.LazyFrame`` is a lazy scan of the stored files, so a reader can take only what it needs.
    An input reads the current rows of a versioned table unless its metadata asks for ``VERSIONS``.
    """

    store: dg.ResourceDependency[OfflineStore]

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame) -> None:
        if obj is None:
            return
        table = context.asset_key.path[-1]
        if isinstance(obj, StagedTable):
            path = commit(self.store, obj)
            context.add_output_metadata({"dagster/uri": dg.MetadataValue.path(str(path)), **self._pending()})
            return
        if not context.has_asset_partitions:
            path = self.store.write(table, obj)
            context.add_output_metadata({"dagster/uri": dg.MetadataValue.path(str(path)), **self._pending()})
            return
        column = context.definition_metadata.get(PARTITION_COLUMN)
        if column is None:
            raise dg.Failure(f"asset '{table}' is partitioned but declares no '{PARTITION_COLUMN}' metadata")
        try:
            self.store.write_days(table, obj, column, list(context.asset_partition_keys))
        except StrayRowsError as exc:
            raise dg.Failure(str(exc)) from exc
        context.add_output_metadata(
            {"dagster/uri": dg.MetadataValue.path(str(self.store.table_dir(table))), **self._pending()}
        )

    def _pending(self) -> dict:
        """Catalog views not refreshed because the DuckDB file was held: the next write retries."""
        pending = self.store.pending_views()
        return {"warehouse_views_pending": dg.MetadataValue.json(pending)} if pending else {}

    def load_input(self, context: dg.InputContext) -> pl.DataFrame | pl.LazyFrame:
        table = context.asset_key.path[-1]
        keys = list(context.asset_partition_keys) if context.has_asset_partitions else None
        self.store.refresh_pending()  # a read is a chance to catch up on views left pending
        every_version = bool((context.definition_metadata or {}).get(VERSIONS))
        if context.dagster_type.typing_type is pl.LazyFrame:
            return self.store.scan(table, keys, every_version)
        return self.store.read(table, keys, every_version)
