"""The IO manager that stores every table asset in the offline store, one file per partition."""


from datetime import date

import dagster as dg
import polars as pl

from fti_assets.storage.offline_store import OfflineStore

#: Definition metadata key naming the date column that assigns a row to its daily partition.
PARTITION_COLUMN = "partition_column"


class ParquetIOManager(dg.ConfigurableIOManager):
    """polars frames to and from the offline store.

    A partitioned output covering a range of days (a single-run backfill) is split on the
    asset's ``partition_column`` into one file per day; days without rows get an empty file,
    so every materialized partition exists on disk.
    """

    store: dg.ResourceDependency[OfflineStore]

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame) -> None:
        if obj is None:
            return
        table = context.asset_key.path[-1]
        if not context.has_asset_partitions:
            path = self.store.write(table, obj)
            context.add_output_metadata({"dagster/uri": dg.MetadataValue.path(str(path))})
            return
        column = context.definition_metadata.get(PARTITION_COLUMN)
        if column is None:
            raise dg.Failure(f"asset '{table}' is partitioned but declares no '{PARTITION_COLUMN}' metadata")
        keys = list(context.asset_partition_keys)
        by_day = {day: part for (day,), part in obj.partition_by(column, as_dict=True).items()}
        stray = sorted(str(d) for d in by_day if d is None or d.isoformat() not in keys)
        if stray:
            raise dg.Failure(f"'{table}' produced rows outside its partitions {keys[0]}..{keys[-1]}: {stray[:5]}")
        empty = obj.clear()
        self.store.write_partitions(table, {key: by_day.get(date.fromisoformat(key), empty) for key in keys})
        context.add_output_metadata({"dagster/uri": dg.MetadataValue.path(str(self.store.table_dir(table)))})

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        table = context.asset_key.path[-1]
        keys = list(context.asset_partition_keys) if context.has_asset_partitions else None
        return self.store.read(table, keys)
