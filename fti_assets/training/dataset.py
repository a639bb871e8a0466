"""The training dataset: labels joined point-in-time with every feature group."""

from datetime import UTC, date, datetime, time, timedelta

import dagster as dg
import polars as pl

from fti_assets.domain.catalog import FEATURE_GROUPS, feature_names
from fti_assets.domain.retrieval import assign_split, point_in_time_join
from fti_assets.metadata import column_schema, markdown_table

#: The standard split of the embedded year, used when the window spans it.
STANDARD_TRAIN_END, STANDARD_VALIDATION_END = date(2013, 9, 1), date(2013, 10, 1)
SPLIT_RULE = (
    "train before 2013-09-01, validate in September, test from October when the window spans those dates; "
    "otherwise the window's first 70% of days train, the next 15% validate, the last 15% test"
)


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
    return {
        "start": start,
        "end": end,
        "train_end": config.train_end or train_end.isoformat(),
        "validation_end": config.validation_end or validation_end.isoformat(),
    }


def empty_split_problem(counts: dict[str, int], window: dict[str, str]) -> str | None:
    """Why a dataset with these split sizes must not be stored, with the dates to use instead."""
    empty = [s for s in ("train", "validation", "test") if not counts.get(s)]
    if not empty:
        return None
    train_end, validation_end = split_points(
        date.fromisoformat(window["start"]), date.fromisoformat(window["end"])
    )
    return (
        f"the {' and '.join(empty)} split{'s are' if len(empty) > 1 else ' is'} empty with start={window['start']}, "
        f"end={window['end']}, train_end={window['train_end']}, validation_end={window['validation_end']} "
        f"(rows: {counts}); for this window use train_end={train_end}, validation_end={validation_end} "
        f"(leave them empty for that default: {SPLIT_RULE}), or a longer window; nothing was stored"
    )


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
    columns = [
        "flight_id",
        "flight_date",
        "prediction_time",
        "tailnum",
        "is_delayed",
        *feature_names(),
        *audit,
    ]
    dataset = joined.select(columns).sort("prediction_time", "flight_id")
    return assign_split(dataset, _utc(train_end), _utc(validation_end))


def coverage(dataset: pl.DataFrame, group: str) -> dict[str, float | int]:
    """How many rows found a row of ``group`` known at their prediction time."""
    found = int(dataset[f"{group}_known_at"].is_not_null().sum())
    return {
        "rows": dataset.height,
        "with_value": found,
        "share": round(found / dataset.height, 6) if dataset.height else 0.0,
    }


def build_piece(store, window: dict[str, str], first: date, last: date) -> tuple[pl.DataFrame, int]:
    """The dataset rows of the flights of ``first..last`` (``training.pieces``: only the outcome,
    schedule and feature partitions they can reach are read), and how many of those flights
    were left out for want of a label. Empty when the piece has no labelled flight."""
    from fti_assets.training.pieces import build_pieces, days

    outcomes = store.read("flight_outcomes", days(first, last))
    unlabelled = outcomes.filter(pl.col("status") != "arrived").height

    def spine_of(lo: date, hi: date) -> pl.DataFrame:
        return label_spine(
            outcomes, store.read("flight_schedule", days(lo, hi)), lo.isoformat(), hi.isoformat()
        )

    def build(spine: pl.DataFrame, tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
        return build_training_dataset(spine, tables, window["train_end"], window["validation_end"])

    return next(
        build_pieces([(first, last)], spine_of, store.read_history, build), pl.DataFrame()
    ), unlabelled


def pieced_dataset(store, window: dict[str, str], piece_days: int = 0) -> tuple[pl.DataFrame, int]:
    """The window's whole dataset in memory, built piece by piece as ``training_dataset`` does
    (for comparisons; the asset writes each piece to the store instead)."""
    from fti_assets.training.pieces import pieces_of

    built = [
        build_piece(store, window, first, last)
        for first, last in pieces_of(
            date.fromisoformat(window["start"]), date.fromisoformat(window["end"]), piece_days
        )
    ]
    parts = [frame for frame, _ in built if frame.height]
    # Pieces are consecutive days and a flight's prediction time follows its date: in order.
    return (pl.concat(parts) if parts else pl.DataFrame()), sum(n for _, n in built)


def dataset_summary(dataset: pl.LazyFrame, window: dict[str, str]) -> dict:
    """The metadata of a stored dataset, computed on a lazy scan (one pass per figure, no
    whole copy in memory); raises ``dg.Failure`` for an empty dataset or an empty split."""
    rows = dataset.select(pl.len()).collect().item()
    if rows == 0:
        raise dg.Failure(
            f"no flights with known outcomes between {window['start']} and {window['end']}: materialize the "
            "features first"
        )
    splits = (
        dataset.group_by("split")
        .agg(
            rows=pl.len(),
            delayed_share=pl.col("is_delayed").mean().round(4),
            first=pl.col("prediction_time").min(),
            last=pl.col("prediction_time").max(),
        )
        .collect()
        .sort("first")
    )
    if problem := empty_split_problem(dict(splits.select("split", "rows").iter_rows()), window):
        raise dg.Failure(problem)
    preview = dataset.head(5).collect()
    nulls = dataset.null_count().collect().row(0, named=True)
    found = dataset.select(pl.col("origin_congestion_known_at").is_not_null().sum()).collect().item()
    return {
        "dagster/row_count": rows,
        "dagster/column_schema": column_schema(preview),
        "preview": dg.MetadataValue.md(markdown_table(preview)),
        "null_shares": dg.MetadataValue.json({c: round(n / rows, 4) for c, n in nulls.items() if n}),
        "features": dg.MetadataValue.json(feature_names()),
        "window": dg.MetadataValue.json(window),
        "split_rule": SPLIT_RULE,
        "splits": dg.MetadataValue.md(markdown_table(splits)),
        # Every flight with a published schedule should find its origin's congestion.
        "congestion_coverage": dg.MetadataValue.json(
            {"rows": rows, "with_value": found, "share": round(found / rows, 6)}
        ),
    }
