"""The served model's performance, once each day's outcomes are known."""

import dagster as dg
import polars as pl

from fti_assets.metadata import markdown_table
from fti_assets.partitions import daily_partitions, trailing_days
from fti_assets.resources.io_manager import PARTITION_COLUMN
from fti_assets.resources.registry import ModelRegistry
from fti_assets.resources.retraining_rule import RetrainingRule

#: The trailing window of the served model's AUC (``auc_window``), which the retraining rule's
#: performance alarm reads.
PERFORMANCE_WINDOW_DAYS = 14
_TRAILING = trailing_days(PERFORMANCE_WINDOW_DAYS - 1)
_DAILY = dict(
    group_name="monitoring",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata={PARTITION_COLUMN: "day"},
)


@dg.asset(
    **_DAILY,
    ins={
        "batch_predictions": dg.AssetIn(partition_mapping=_TRAILING),
        "flight_outcomes": dg.AssetIn(partition_mapping=_TRAILING),
    },
)
def model_performance(
    context: dg.AssetExecutionContext,
    batch_predictions: pl.DataFrame,
    flight_outcomes: pl.DataFrame,
    registry: ModelRegistry,
    retraining_rule: RetrainingRule,
) -> dg.Output:
    """The served model's AUC, log loss and Brier score once a day's outcomes are known, for
    the day, the trailing 14 days and the last few days (the retraining rule's collapse
    window), beside the champion's test-split AUC."""
    from datetime import date

    from fti_assets.monitoring.performance import daily_performance, scored_outcomes

    scored = scored_outcomes(batch_predictions, flight_outcomes)
    table = daily_performance(
        scored,
        [date.fromisoformat(k) for k in context.partition_keys],
        PERFORMANCE_WINDOW_DAYS,
        retraining_rule.collapse_days,
    )
    client = registry.client()
    test_auc = {}
    for version in table["model_version"].drop_nulls().unique().to_list():
        tag = client.get_model_version(registry.model_name, str(version)).tags.get("test_auc")
        test_auc[version] = float(tag) if tag else None
    table = table.with_columns(
        champion_test_auc=pl.col("model_version").replace_strict(
            test_auc, default=None, return_dtype=pl.Float64
        )
    )
    last = table.row(-1, named=True)
    context.log.info(
        f"{last['day']}: AUC {last['auc_day'] or float('nan'):.4f} today, {last['auc_window'] or float('nan'):.4f} "
        f"over {PERFORMANCE_WINDOW_DAYS} days; champion test AUC {last['champion_test_auc'] or float('nan'):.4f}"
    )
    return dg.Output(
        table,
        metadata={
            "dagster/row_count": table.height,
            "auc_day": last["auc_day"],
            "auc_window": last["auc_window"],
            "champion_test_auc": last["champion_test_auc"],
            "rows_window": last["rows_window"],
            "days": dg.MetadataValue.md(
                markdown_table(
                    table.select("day", "model_version", "auc_day", "auc_window", "brier_day", "rows_day"), 31
                )
            ),
        },
    )
