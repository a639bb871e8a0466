"""The training dataset: labels joined point-in-time with every feature group."""


from datetime import UTC, date, datetime, time, timedelta

import dagster as dg
import polars as pl

from fti_assets.assets.metadata import markdown_table, table_metadata
from fti_assets.domain.feature_groups import FEATURE_GROUPS, feature_names
from fti_assets.domain.retrieval import assign_split, content_hash, point_in_time_join
from fti_assets.storage.offline_store import OfflineStore

#: The standard split of the embedded year, used when the window spans it.
STANDARD_TRAIN_END, STANDARD_VALIDATION_END = date(2013, 9, 1), date(2013, 10, 1)
SPLIT_RULE = ("train before 2013-09-01, validate in September, test from October when the window spans those dates; "
              "otherwise the window's first 70% of days train, the next 15% validate, the last 15% test")  # fmt: skip


def split_points(start: date, end: date) -> tuple[date, date]:
    """``train_end`` and ``validation_end`` for a window: the standard split when the window
    spans it; otherwise 70% / 15% / 15% of its days."""
    if start < STANDARD_TRAIN_END and end >= STANDARD_VALIDATION_END:
        return STANDARD_TRAIN_END, STANDARD_VALIDATION_END
    days = (end - start).days + 1
    return start + timedelta(days=round(days * 0.7)), start + timedelta(days=round(days * 0.85))


class TrainingDatasetConfig(dg.Config):
    """The window of flights and the time-based split (by prediction time). Empty fields
    default to the materialized data: every day of ``flight_outcomes``, split by the rule of
    ``split_points`` (the standard split when the window spans 2013-09-01..2013-10-01, else
    70% / 15% / 15% of its days)."""

    start: str = ""
    """First flight date included (default: the first materialized day)."""
    end: str = ""
    """Last flight date included (default: the last materialized day)."""
    train_end: str = ""
    """Flights predicted before this day train the model (default: the split rule)."""
    validation_end: str = ""
    """Flights predicted before this day (and after train_end) validate it; later ones test it
    (default: the split rule)."""
    piece_days: int = 0
    """Build in pieces of this many days (0: calendar months); the rows and hash do not depend on it."""


def resolve_window(config: TrainingDatasetConfig, outcome_days: list[str]) -> dict[str, str]:
    """The config with its empty fields filled from the materialized days and the split rule."""
    if not outcome_days:
        raise dg.Failure("flight_outcomes is empty: materialize the feature pipeline first")
    start = config.start or min(outcome_days)
    end = config.end or max(outcome_days)
    train_end, validation_end = split_points(date.fromisoformat(start), date.fromisoformat(end))
    return {"start": start, "end": end, "train_end": config.train_end or train_end.isoformat(),
            "validation_end": config.validation_end or validation_end.isoformat()}  # fmt: skip


def empty_split_problem(counts: dict[str, int], window: dict[str, str]) -> str | None:
    """Why a dataset with these split sizes must not be stored, with the dates to use instead."""
    empty = [s for s in ("train", "validation", "test") if not counts.get(s)]
    if not empty:
        return None
    train_end, validation_end = split_points(date.fromisoformat(window["start"]), date.fromisoformat(window["end"]))
    return (f"the {' and '.join(empty)} split{'s are' if len(empty) > 1 else ' is'} empty with start={window['start']}, "
            f"end={window['end']}, train_end={window['train_end']}, validation_end={window['validation_end']} "
            f"(rows: {counts}); for this window use train_end={train_end}, validation_end={validation_end} "
            f"(leave them empty for that default: {SPLIT_RULE}), or a longer window; nothing was stored")  # fmt: skip


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


def pieced_dataset(store, window: dict[str, str], piece_days: int = 0) -> tuple[pl.DataFrame, int]:
    """The window's dataset built month by month from the offline store (``domain.pieces``),
    and the flights of those months left out for want of a label."""
    from fti_assets.domain.pieces import build_pieces, days, pieces_of

    unlabelled = 0

    def spine_of(first: date, last: date) -> pl.DataFrame:
        nonlocal unlabelled
        outcomes = store.read("flight_outcomes", days(first, last))
        unlabelled += outcomes.filter(pl.col("status") != "arrived").height
        return label_spine(outcomes, store.read("flight_schedule", days(first, last)), first.isoformat(), last.isoformat())

    def build(spine: pl.DataFrame, tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
        return build_training_dataset(spine, tables, window["train_end"], window["validation_end"])

    pieces = pieces_of(date.fromisoformat(window["start"]), date.fromisoformat(window["end"]), piece_days)
    parts = list(build_pieces(pieces, spine_of, store.read_history, build))
    if not parts:
        return pl.DataFrame(), unlabelled
    # Pieces are whole months in date order: a stable sort of their concatenation is the whole build's order.
    return pl.concat(parts).sort("prediction_time", "flight_id"), unlabelled


@dg.asset(
    group_name="training",
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["flight_outcomes", "flight_schedule", *(g.name for g in FEATURE_GROUPS)],
)  # fmt: skip
def training_dataset(context: dg.AssetExecutionContext, config: TrainingDatasetConfig, store: OfflineStore):
    """The label spine (flights with known outcomes) joined point-in-time with every feature
    group: each value is the latest one known at or before the flight's prediction time.
    Built in monthly pieces, each reading only the partitions its flights' TTLs can reach, so
    memory follows a month; the rows and content hash are those of one whole build. Split by
    time into train, validation and test; its content hash identifies it. The stamps it joins
    on are checked against the raw event times on every feature table."""
    window = resolve_window(config, store.partitions("flight_outcomes"))
    context.log.info(f"joining labelled flights with {len(FEATURE_GROUPS)} feature groups, month by month; window {window}")
    dataset, unlabelled = pieced_dataset(store, window, config.piece_days)
    if dataset.height == 0:
        raise dg.Failure(f"no flights with known outcomes between {window['start']} and {window['end']}: materialize the features first")
    if problem := empty_split_problem(dict(dataset.group_by("split").len().iter_rows()), window):
        raise dg.Failure(problem)
    splits = dataset.group_by("split").agg(rows=pl.len(), delayed_share=pl.col("is_delayed").mean().round(4),
                                           first=pl.col("prediction_time").min(), last=pl.col("prediction_time").max()).sort("first")  # fmt: skip
    digest = content_hash(dataset, "flight_id")
    context.log.info(f"training dataset: {dataset.height:,} rows, hash {digest[:12]}")
    yield dg.Output(dataset, metadata={
        **table_metadata(dataset), "content_hash": digest, "features": dg.MetadataValue.json(feature_names()),
        "window": dg.MetadataValue.json(window), "split_rule": SPLIT_RULE,
        "splits": dg.MetadataValue.md(markdown_table(splits)),
        "unlabelled_flights_left_out": unlabelled,
        # Every flight with a published schedule should find its origin's congestion.
        "congestion_coverage": dg.MetadataValue.json(coverage(dataset, "origin_congestion")),
    })  # fmt: skip


TRAINING_DATA_ASSETS = [training_dataset]
