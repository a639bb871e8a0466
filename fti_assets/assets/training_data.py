"""The training dataset: labels joined point-in-time with every feature group."""


from datetime import UTC, date, datetime, time

import dagster as dg
import polars as pl

from fti_assets.assets.metadata import markdown_table, table_metadata
from fti_assets.domain.feature_groups import FEATURE_GROUPS, feature_names
from fti_assets.domain.retrieval import assign_split, content_hash, point_in_time_join

FEATURE_INPUTS = {g.name: dg.AssetIn(g.name) for g in FEATURE_GROUPS}


class TrainingDatasetConfig(dg.Config):
    """The window of flights and the time-based split (by prediction time)."""

    start: str = "2013-01-01"
    """First flight date included."""
    end: str = "2013-12-31"
    """Last flight date included."""
    train_end: str = "2013-09-01"
    """Flights predicted before this day train the model."""
    validation_end: str = "2013-10-01"
    """Flights predicted before this day (and after train_end) validate it; later ones test it."""


def _utc(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(), tzinfo=UTC)


def label_spine(outcomes: pl.DataFrame, schedule: pl.DataFrame, start: str, end: str) -> pl.DataFrame:
    """Flights of the window with a known outcome, with their schedule and ``as_of``."""
    window = pl.col("flight_date").is_between(date.fromisoformat(start), date.fromisoformat(end))
    labelled = outcomes.filter(window, pl.col("status") == "arrived").select("flight_id", "is_delayed")
    return labelled.join(schedule.filter(window), on="flight_id", how="inner").with_columns(
        as_of=pl.col("prediction_time")
    )


def build_training_dataset(
    spine: pl.DataFrame, tables: dict[str, pl.DataFrame], train_end: str, validation_end: str
) -> pl.DataFrame:
    """``flight_id, prediction_time, is_delayed``, the features, the known-at audit columns
    and ``split``."""
    joined = point_in_time_join(spine, tables)
    audit = [g.known_at_column for g in FEATURE_GROUPS]
    columns = ["flight_id", "flight_date", "prediction_time", "tailnum", "is_delayed", *feature_names(), *audit]
    dataset = joined.select(columns).sort("prediction_time", "flight_id")
    return assign_split(dataset, _utc(train_end), _utc(validation_end))


def coverage(dataset: pl.DataFrame, group: str) -> dict[str, float | int]:
    """How many rows found a row of ``group`` known at their prediction time."""
    found = int(dataset[f"{group}_known_at"].is_not_null().sum())
    return {"rows": dataset.height, "with_value": found, "share": round(found / dataset.height, 6) if dataset.height else 0.0}


@dg.asset(
    group_name="training",
    backfill_policy=dg.BackfillPolicy.single_run(),
    ins={"flight_outcomes": dg.AssetIn(), "flight_schedule": dg.AssetIn(), **FEATURE_INPUTS},
)  # fmt: skip
def training_dataset(
    context: dg.AssetExecutionContext, config: TrainingDatasetConfig, flight_outcomes: pl.DataFrame,
    flight_schedule: pl.DataFrame, **feature_tables: pl.DataFrame,
):  # fmt: skip
    """The label spine (flights with known outcomes) joined point-in-time with every feature
    group: each value is the latest one known at or before the flight's prediction time.
    Split by time into train, validation and test; its content hash identifies it. The
    stamps it joins on are checked against the raw event times on every feature table."""
    spine = label_spine(flight_outcomes, flight_schedule, config.start, config.end)
    if spine.height == 0:
        raise dg.Failure(f"no flights with known outcomes between {config.start} and {config.end}: materialize the features first")
    context.log.info(f"joining {spine.height:,} labelled flights with {len(FEATURE_GROUPS)} feature groups")
    dataset = build_training_dataset(spine, feature_tables, config.train_end, config.validation_end)
    splits = dataset.group_by("split").agg(rows=pl.len(), delayed_share=pl.col("is_delayed").mean().round(4),
                                           first=pl.col("prediction_time").min(), last=pl.col("prediction_time").max()).sort("first")  # fmt: skip
    digest = content_hash(dataset, "flight_id")
    context.log.info(f"training dataset: {dataset.height:,} rows, hash {digest[:12]}")
    yield dg.Output(dataset, metadata={
        **table_metadata(dataset), "content_hash": digest, "features": dg.MetadataValue.json(feature_names()),
        "splits": dg.MetadataValue.md(markdown_table(splits)),
        "unlabelled_flights_left_out": flight_outcomes.filter(pl.col("status") != "arrived").height,
        # Every flight with a published schedule should find its origin's congestion.
        "congestion_coverage": dg.MetadataValue.json(coverage(dataset, "origin_congestion")),
    })  # fmt: skip


TRAINING_DATA_ASSETS = [training_dataset]
