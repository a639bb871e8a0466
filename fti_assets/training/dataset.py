"""The training dataset: labels joined point-in-time with every feature group."""

from datetime import UTC, date, datetime, time, timedelta

import dagster as dg
import polars as pl

from fti_assets.domain import versions
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
    known_by: str = ""
    """The knowledge cutoff: only what the store had ingested by this instant is used (ISO 8601, or
    "first load"). Labels are each flight's outcome as known then; features as known at each flight's
    prediction time (or the cutoff, if earlier). Default: everything ingested so far. Recorded in the
    window, so `fti reproduce` rebuilds the same dataset after later corrections."""
    features_with_hindsight: bool = False
    """Analysis only, never for a model that serves: every feature value as restated by the cutoff,
    corrections learnt after a flight's prediction time included (the world as it really was)."""


#: How the window records the two ways of building features.
AS_KNOWN, WITH_HINDSIGHT = "as known at each prediction time", "with hindsight, as restated by known_by"


def resolve_window(
    config: TrainingDatasetConfig, outcome_days: list[str], clock: datetime | None = None
) -> dict[str, str]:
    """The config with its empty fields filled from the materialized days, the split rule and
    the store's knowledge ``clock`` (its latest ingestion instant; None: the first load only)."""
    if not outcome_days:
        raise dg.Failure("flight_outcomes is empty: materialize the feature pipeline first")
    start = config.start or min(outcome_days)
    end = config.end or max(outcome_days)
    train_end, validation_end = split_points(date.fromisoformat(start), date.fromisoformat(end))
    try:
        known_by = versions.parse_cutoff(config.known_by) if config.known_by else clock
    except ValueError:
        raise dg.Failure(
            f"known_by '{config.known_by}' is neither an ISO 8601 instant nor 'first load'"
        ) from None
    return {
        "start": start,
        "end": end,
        "train_end": config.train_end or train_end.isoformat(),
        "validation_end": config.validation_end or validation_end.isoformat(),
        "known_by": versions.cutoff_text(known_by),
        "features": WITH_HINDSIGHT if config.features_with_hindsight else AS_KNOWN,
    }


def knowledge(window: dict[str, str]) -> tuple[datetime | None, bool]:
    """A window's knowledge cutoff and whether its features take hindsight (a window recorded
    before cutoffs existed has none: every current value)."""
    return versions.parse_cutoff(window.get("known_by")), window.get("features") == WITH_HINDSIGHT


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


def label_spine(
    outcomes: pl.DataFrame, schedule: pl.DataFrame, start: str, end: str, known_by: datetime | None = None
) -> pl.DataFrame:
    """Flights of the window with a known outcome, with their schedule and ``as_of``: each
    label the latest the store had learnt by ``known_by`` (None: the latest of all), so a
    corrected arrival corrects its own flight's label."""
    outcomes, schedule = (
        versions.visible(t, known_by) if known_by else versions.current(t) for t in (outcomes, schedule)
    )
    window = pl.col("flight_date").is_between(date.fromisoformat(start), date.fromisoformat(end))
    labelled = outcomes.filter(window, pl.col("status") == "arrived").select("flight_id", "is_delayed")
    return labelled.join(schedule.filter(window), on="flight_id", how="inner").with_columns(
        as_of=pl.col("prediction_time")
    )


def relabelled(outcomes: pl.DataFrame, spine: pl.DataFrame) -> int:
    """Flights of the spine whose label differs from the one first loaded (a restated outcome)."""
    first = versions.visible(outcomes, None).select("flight_id", first=pl.col("is_delayed"))
    return (
        spine.join(first, on="flight_id", how="left")
        .filter(pl.col("is_delayed").ne_missing(pl.col("first")))
        .height
    )


def build_training_dataset(
    spine: pl.DataFrame,
    tables: dict[str, pl.DataFrame],
    train_end: str,
    validation_end: str,
    known_by: datetime | None = None,
    hindsight: bool = False,
) -> pl.DataFrame:
    """``flight_id, prediction_time, is_delayed``, the features, the known-at audit columns
    and ``split``; features as the store knew them (``point_in_time_join``'s ``known_by`` and
    ``hindsight``)."""
    joined = point_in_time_join(spine, tables, known_by=known_by, hindsight=hindsight)
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


def build_piece(
    store, window: dict[str, str], first: date, last: date
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The dataset rows of the flights of ``first..last`` (``training.pieces``: only the outcome,
    schedule and feature partitions they can reach are read), and how many of those flights
    were left out for want of a label (``unlabelled``) or carry a label restated since the first
    load (``relabelled``). Empty when the piece has no labelled flight."""
    from fti_assets.training.pieces import build_pieces, days

    known_by, hindsight = knowledge(window)
    outcomes = store.read("flight_outcomes", days(first, last), versions=True)
    known = versions.visible(outcomes, known_by) if known_by else versions.current(outcomes)
    counts = {"unlabelled": known.filter(pl.col("status") != "arrived").height, "relabelled": 0}

    def spine_of(lo: date, hi: date) -> pl.DataFrame:
        schedule = store.read("flight_schedule", days(lo, hi), versions=True)
        spine = label_spine(outcomes, schedule, lo.isoformat(), hi.isoformat(), known_by)
        counts["relabelled"] += relabelled(outcomes, spine)
        return spine

    def build(spine: pl.DataFrame, tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
        return build_training_dataset(
            spine, tables, window["train_end"], window["validation_end"], known_by, hindsight
        )

    frame = next(build_pieces([(first, last)], spine_of, store.read_history, build), pl.DataFrame())
    return frame, counts


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
    return (pl.concat(parts) if parts else pl.DataFrame()), sum(n["unlabelled"] for _, n in built)


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
