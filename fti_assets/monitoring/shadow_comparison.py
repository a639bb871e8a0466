"""Shadow and canary evidence: champion and challenger on the same flights, with outcomes."""

import json
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from fti_assets.partitions import EVERY_EARLIER_DAY, daily_partitions
from fti_assets.resources.io_manager import PARTITION_COLUMN
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.serving import ServingResource


def _online_records(home: Path, up_to: date) -> list[dict]:
    records = []
    for path in sorted((home / "predictions").glob("*/*.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if (
                record.get("challenger_probability") is not None
                and record["flight_id"][:10] <= up_to.isoformat()
            ):
                records.append(record)
    return records


@dg.asset(
    group_name="monitoring",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata={PARTITION_COLUMN: "day"},
    deps=[
        dg.AssetDep("batch_predictions", partition_mapping=EVERY_EARLIER_DAY),
        dg.AssetDep("flight_outcomes", partition_mapping=EVERY_EARLIER_DAY),
    ],
)
def shadow_comparison(
    context: dg.AssetExecutionContext, store: OfflineStore, serving: ServingResource
) -> dg.Output:
    """The challenger against the champion on the same flights whose outcomes are known, since
    the challenger was deployed: from batch shadow scores and the service's prediction log.
    A day reads every batch prediction and outcome up to it (the evidence since the deployment).
    The prediction log is not an asset (the service appends it, under FTI_HOME/predictions), so
    Dagster does not see it among the inputs."""
    from fti_assets.monitoring.shadow import comparison, online_shadow_records

    rows = []
    for key in context.partition_keys:
        day = date.fromisoformat(key)
        batch = store.scan("batch_predictions").filter(pl.col("flight_date") <= day).collect()
        current = batch.filter(pl.col("flight_date") == day)
        version = current["challenger_version"].drop_nulls()
        if version.len() == 0:
            rows.append({"day": day, "challenger_version": None, "rows_total": 0, "rows_day": 0})
            continue
        challenger = int(version[0])
        scored = batch.filter(pl.col("challenger_version") == challenger).select(
            "flight_id",
            "flight_date",
            champion_probability="delay_probability",
            challenger_probability="challenger_probability",
        )
        online = online_shadow_records(_online_records(Path(serving.home), day)).filter(
            pl.col("challenger_version") == f"flight_delay_model:v{challenger}"
        )
        # The service's own scores win over batch scores of the same flight.
        evidence = pl.concat(
            [
                online.select("flight_id", "champion_probability", "challenger_probability"),
                scored.join(online.select("flight_id"), on="flight_id", how="anti").drop("flight_date"),
            ]
        )
        labels = store.scan("flight_outcomes").filter(
            pl.col("status") == "arrived", pl.col("flight_date") <= day
        )
        evidence = evidence.join(
            labels.select("flight_id", "flight_date", "is_delayed").collect(), on="flight_id"
        )
        champion = int(current["model_version"][0])
        rows.append(
            {
                **comparison(evidence, day),
                "challenger_version": challenger,
                "champion_version": champion,
                "online_rows": online.height,
            }
        )
    table = pl.DataFrame(rows, infer_schema_length=None).with_columns(pl.col("day").cast(pl.Date))
    last = table.row(-1, named=True)
    context.log.info(
        f"{last['day']}: challenger {last.get('challenger_version')} vs champion on {last['rows_total']} flights"
    )
    meta = {k: v for k, v in last.items() if k != "day" and v is not None}
    return dg.Output(table, metadata={"dagster/row_count": table.height, **meta})
