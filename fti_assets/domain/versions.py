"""Two times on every fact: when it became true (``known_at``) and when the system learnt it.

A versioned table keeps every version of its rows. ``ingested_at`` is the instant a version
was learnt; null means the partition's first load, taken as known at its event time (the
history the system starts from). ``superseded_at`` is the instant a later ingest replaced or
removed that version; null means it is still current. Nothing is overwritten: an ingest that
changes a row appends the new version and stamps the old one, so the table as the system knew
it at any instant (``visible``) can always be rebuilt. Pure polars functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import polars as pl

INGESTED_AT, SUPERSEDED_AT = "ingested_at", "superseded_at"
VERSION_COLUMNS = (INGESTED_AT, SUPERSEDED_AT)
STAMP = pl.Datetime("us", "UTC")
#: The raw tables that keep versions, and the columns that name one fact of each (a flight
#: number leaves an origin at most once a day; one weather row per origin and hour). A row
#: whose values change under the same key is a restatement.
FACT_KEYS: dict[str, tuple[str, ...]] = {
    "flights": ("year", "month", "day", "carrier", "flight", "origin"),
    "schedules": ("year", "month", "day", "carrier", "flight", "origin"),
    "weather": ("origin", "time_hour"),
}


def has_versions(frame: pl.DataFrame) -> bool:
    """Whether any row of ``frame`` was learnt after the first load or has been superseded."""
    return any(c in frame.columns and frame[c].null_count() < frame.height for c in VERSION_COLUMNS)


def plain(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` without its version columns."""
    return frame.drop([c for c in VERSION_COLUMNS if c in frame.columns])


def with_versions(frame: pl.DataFrame, at: datetime | None = None) -> pl.DataFrame:
    """``frame`` with its version columns (added when missing): new rows learnt ``at``."""
    missing = [c for c in VERSION_COLUMNS if c not in frame.columns]
    stamps = {INGESTED_AT: pl.lit(at, dtype=STAMP), SUPERSEDED_AT: pl.lit(None, dtype=STAMP)}
    return frame.with_columns(**{c: stamps[c] for c in missing})


def current(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows no later ingest has replaced, without version columns: the table as best known now."""
    if SUPERSEDED_AT not in frame.columns:
        return plain(frame)
    return plain(frame.filter(pl.col(SUPERSEDED_AT).is_null()))


def visible(frame: pl.DataFrame, at: datetime | None) -> pl.DataFrame:
    """The rows the system knew at ``at``: learnt at or before it and not yet superseded by then.

    ``at=None`` is the instant before any ingestion: the first load only. Version columns are
    dropped: the result is the table as it looked then.
    """
    if not any(c in frame.columns for c in VERSION_COLUMNS):
        return frame
    frame = with_versions(frame)
    learnt, replaced = pl.col(INGESTED_AT), pl.col(SUPERSEDED_AT)
    if at is None:
        return plain(frame.filter(learnt.is_null()))
    return plain(frame.filter((learnt.is_null() | (learnt <= at)) & (replaced.is_null() | (replaced > at))))


def instants(*frames: pl.DataFrame) -> pl.Series:
    """Every instant at which one of ``frames`` changed, sorted: between two of them, what the
    system knew of the frames is constant."""
    stamps = [f[c] for f in frames for c in VERSION_COLUMNS if c in f.columns]
    if not stamps:
        return pl.Series(INGESTED_AT, [], dtype=STAMP)
    return pl.concat([s.cast(STAMP).rename(INGESTED_AT) for s in stamps]).drop_nulls().unique().sort()


def merge_ingest(stored: pl.DataFrame | None, new: pl.DataFrame, at: datetime | None) -> pl.DataFrame:
    """``stored`` (a versioned table, or None) after ingesting ``new``, learnt ``at``.

    A row of ``new`` that is not among the current rows (value for value) is appended, learnt
    ``at``; a current row that is not in ``new`` is superseded ``at``. Unchanged rows, and every
    earlier version, stay as they are. ``at=None`` (a first load) may only add rows.
    """
    new = plain(new)
    columns = new.columns
    if stored is None or stored.height == 0:
        return with_versions(new, at)
    stored = with_versions(stored)
    missing = {c: pl.lit(None, dtype=new.schema[c]) for c in columns if c not in stored.columns}
    stored = stored.with_columns(**missing).with_row_index("_version_row")
    live = stored.filter(pl.col(SUPERSEDED_AT).is_null())
    gone = live.join(new, on=columns, how="anti", nulls_equal=True)["_version_row"]
    added = new.join(live.select(columns), on=columns, how="anti", nulls_equal=True)
    if at is None and gone.len():
        raise ValueError(f"a first load (no ingestion instant) cannot replace {gone.len()} stored rows")
    stamped = stored.with_columns(
        pl.when(pl.col("_version_row").is_in(gone.implode()))
        .then(pl.lit(at, dtype=STAMP))
        .otherwise(pl.col(SUPERSEDED_AT))
        .alias(SUPERSEDED_AT)
    ).drop("_version_row")
    return pl.concat([stamped, with_versions(added, at).select(stamped.columns)], how="diagonal_relaxed")


def replay(compute: Callable[..., pl.DataFrame], *inputs: pl.DataFrame) -> pl.DataFrame:
    """The versioned output of ``compute`` over versioned ``inputs``: computed from what was
    known of the inputs at their first load and again at every later instant one of them
    changed, each result merged in as learnt at that instant. So a derived table changes
    exactly when, and only because, its inputs did."""
    result = with_versions(compute(*(visible(f, None) for f in inputs)))
    for at in instants(*inputs):
        result = merge_ingest(result, compute(*(visible(f, at) for f in inputs)), at)
    return result


def restated(merged: pl.DataFrame, keys: tuple[str, ...], at: datetime | None) -> dict:
    """What ingesting ``at`` changed: facts whose values were restated, added or removed (by
    ``keys``), and the columns that changed among the restated ones."""
    if at is None or SUPERSEDED_AT not in merged.columns:
        return {"restated": merged.clear().select(keys), "added": 0, "removed": 0, "columns": []}
    ingested = pl.col(INGESTED_AT) == at
    new = merged.filter(ingested)
    old = merged.filter(pl.col(SUPERSEDED_AT) == at)
    pairs = old.join(new, on=list(keys), how="inner", suffix="_new", nulls_equal=True)
    values = [c for c in plain(merged).columns if c not in keys]
    changed = [c for c in values if (pairs[c].ne_missing(pairs[f"{c}_new"])).any()] if pairs.height else []
    return {
        "restated": pairs.select(keys).unique(maintain_order=True),
        "added": new.join(old, on=list(keys), how="anti", nulls_equal=True).height,
        "removed": old.join(new, on=list(keys), how="anti", nulls_equal=True).height,
        "columns": changed,
    }


def available_at(known_at: str = "known_at") -> pl.Expr:
    """When a version could first be used: its event-derived ``known_at``, or its ingestion if later."""
    return pl.max_horizontal(pl.col(known_at), pl.col(INGESTED_AT))


#: A knowledge cutoff before any ingestion instant: only the first load is visible.
FIRST_LOAD = datetime(1, 1, 1, tzinfo=UTC)
FIRST_LOAD_TEXT = "first load"


def cutoff_text(cutoff: datetime | None) -> str:
    """How a knowledge cutoff is recorded (a training window's ``known_by``)."""
    return FIRST_LOAD_TEXT if cutoff is None or cutoff == FIRST_LOAD else cutoff.astimezone(UTC).isoformat()


def parse_cutoff(text: str | None) -> datetime | None:
    """The instant a recorded ``known_by`` names (None: not recorded, no cap: everything)."""
    if not text:
        return None
    if text == FIRST_LOAD_TEXT:
        return FIRST_LOAD
    parsed = datetime.fromisoformat(text)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
