"""Feature events: the raw feeds as a stream, and what each event changes in the online store.

Three feeds arrive as events, each at the instant its content becomes known:

- ``outcomes``: a flight's arrival (a ``flight_outcomes`` row with status ``arrived``);
- ``weather``: an hourly report, at minute 51 of its hour (a raw ``weather`` row);
- ``schedule``: a scheduled flight, at its publication (a ``flight_schedule`` row).

An event is ``{"id", "feed", "ingested_at", "row"}``. Its id is a digest of its feed and
content, so the same fact sent twice is one event; a correction is a later event with the
same identity (``IDENTITY``) and a later ``ingested_at``, and the store keeps, per identity,
the version ingested last. ``changes`` turns the rows that won into store operations using
the feature transforms themselves, so online values are the offline values at any instant.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from fti_assets.domain import transforms
from fti_assets.domain.catalog import FeatureGroup, group

UTC_US = pl.Datetime("us", "UTC")
#: Each feed's columns, as the event's ``row`` carries them (times as ISO 8601 strings).
FEEDS: dict[str, dict[str, pl.DataType]] = {
    "outcomes": {
        "flight_id": pl.String(),
        "flight_date": pl.Date(),
        "carrier": pl.String(),
        "tailnum": pl.String(),
        "origin": pl.String(),
        "dest": pl.String(),
        "status": pl.String(),
        "dep_delay": pl.Int64(),
        "arr_delay": pl.Int64(),
        "known_at": UTC_US,
        "is_delayed": pl.Boolean(),
    },
    "weather": {
        "origin": pl.String(),
        "obs_date": pl.Date(),
        "time_hour": UTC_US,
        **{c: pl.Float64() for c in transforms.WEATHER_COLUMNS},
    },
    "schedule": {
        "flight_id": pl.String(),
        "origin": pl.String(),
        "flight_date": pl.Date(),
        "scheduled_departure": UTC_US,
        "published_at": UTC_US,
    },
}
#: The columns that name one fact of a feed: a later event with the same values replaces it.
IDENTITY: dict[str, tuple[str, ...]] = {
    "outcomes": ("flight_id",),
    "weather": ("origin", "time_hour"),
    "schedule": ("flight_id",),
}
#: Columns that must hold a value for the event to be applied.
REQUIRED: dict[str, tuple[str, ...]] = {
    "outcomes": ("flight_id", "carrier", "origin", "dest", "status", "known_at", "is_delayed", "arr_delay"),
    "weather": ("origin", "time_hour"),
    "schedule": ("flight_id", "origin", "scheduled_departure", "published_at"),
}
#: Groups whose stream value is a trailing window over a feed's rows (``window_sums``).
WINDOW_GROUPS: dict[str, str] = {"carrier_delay_stats": "carrier", "route_delay_stats": "route"}
#: Groups whose rows are running counts (``RowChange.count``): a moved or cancelled flight
#: takes its hour's count down, to zero where it was the only one.
COUNT_GROUPS = ("origin_congestion",)


def known_at(feed: str, row: dict[str, Any]) -> datetime:
    """The instant an event's content became known."""
    if feed == "outcomes":
        return utc_time(row["known_at"])
    if feed == "weather":
        return utc_time(row["time_hour"]) + transforms.WEATHER_KNOWN_AFTER
    return utc_time(row["published_at"])


def utc_time(value: Any) -> datetime:
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(parsed, datetime) or parsed.tzinfo is None:
        raise ValueError(f"{value!r} is not a time with an offset")
    return parsed.astimezone(UTC)


def _json_value(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def event_id(feed: str, row: dict[str, Any]) -> str:
    """A digest of the feed and the row's content: the same fact always has the same id."""
    return _digest(feed, {k: _json_value(row.get(k)) for k in FEEDS[feed]})


def _digest(feed: str, row: dict[str, Any]) -> str:
    """``event_id`` of a row holding exactly the feed's columns, as JSON values."""
    return hashlib.sha256(json.dumps([feed, row], sort_keys=True).encode()).hexdigest()[:32]


def events_from_table(feed: str, frame: pl.DataFrame, ingested_at: datetime | None = None) -> list[dict]:
    """A feed's rows as events, in ``known_at`` order. Each is ingested at ``ingested_at`` if
    given, else at the row's own ``ingested_at`` (a versioned table's correction), else when it
    became known. Outcomes that never arrived carry no feature information and are left out."""
    if feed == "outcomes":
        frame = frame.filter(pl.col("status") == "arrived", pl.col("known_at").is_not_null())
    stamps = frame["ingested_at"].to_list() if "ingested_at" in frame.columns else [None] * frame.height
    names = list(FEEDS[feed])
    times = [i for i, c in enumerate(names) if isinstance(FEEDS[feed][c], pl.Datetime | pl.Date)]
    keyed = []
    for values, stamp in zip(frame.select(names).iter_rows(), stamps, strict=True):
        values = list(values)
        for i in times:
            values[i] = _json_value(values[i])
        r = dict(zip(names, values, strict=True))
        known, eid = known_at(feed, r), _digest(feed, r)
        learnt = ingested_at or (max(stamp, known) if stamp is not None else known)
        keyed.append(((known, eid), {"id": eid, "feed": feed, "ingested_at": learnt.isoformat(), "row": r}))
    keyed.sort(key=lambda k: k[0])
    return [event for _, event in keyed]


def problem(event: Any) -> str | None:
    """Why an event cannot be applied (it goes to the dead letters with this reason), or None."""
    return problems([event])[0]


def problems(events: list[Any]) -> list[str | None]:
    """``problem`` of each event, the rows of each feed converted in one frame: where a feed's
    rows mix types in a column, or do not all convert keeping every value, each of them is
    checked alone."""
    reasons = [_shape_problem(e) for e in events]
    by_feed: dict[str, list[int]] = defaultdict(list)
    for i, reason in enumerate(reasons):
        if reason is None:
            by_feed[events[i]["feed"]].append(i)
    for feed, index in by_feed.items():
        batch = [events[i] for i in index]
        if not _one_type_a_column(feed, batch) or _row_problem(feed, batch) is not None:
            for i in index:
                reasons[i] = _row_problem(feed, [events[i]])
    return reasons


def _one_type_a_column(feed: str, events: list[dict]) -> bool:
    """Whether each column's values are of one Python type (or None): only then does a frame of
    them convert each value as a frame of it alone would."""
    return all(len({type(e["row"].get(c)) for e in events} - {type(None)}) <= 1 for c in FEEDS[feed])


def _shape_problem(event: Any) -> str | None:
    """What an event lacks before its row's values are read: its fields and required columns."""
    if not isinstance(event, dict):
        return "not a JSON object"
    feed = event.get("feed")
    if not isinstance(feed, str) or feed not in FEEDS:
        return f"unknown feed {feed!r}: expected one of {', '.join(FEEDS)}"
    row = event.get("row")
    if not isinstance(row, dict):
        return "row: missing or not an object"
    if not isinstance(event.get("id"), str) or not event["id"]:
        return "id: missing"
    try:
        utc_time(event.get("ingested_at"))
    except (TypeError, ValueError) as exc:
        return f"ingested_at: {exc}"
    missing = [c for c in REQUIRED[feed] if row.get(c) is None]
    if missing:
        return f"row: {', '.join(missing)} missing"
    return None


def _row_problem(feed: str, events: list[dict]) -> str | None:
    """Why the rows of ``events`` (well shaped, of one feed) cannot be applied: the first column,
    in the feed's order, with a value that does not convert, or a flight that did not arrive."""
    try:
        frame = rows_frame(feed, events)
    except ValueError as exc:
        return f"row: {exc}"
    if feed == "outcomes" and (frame["status"] != "arrived").any():
        status = frame.filter(pl.col("status") != "arrived")["status"][0]
        return f"row: status {status!r}, only arrived flights are events"
    return None


def rows_frame(feed: str, events: list[dict]) -> pl.DataFrame:
    """The events' rows as a typed frame with their ``event_id`` and ``ingested_at``. Raises
    ``ValueError`` naming the first column, in the feed's order, with a value that does not
    convert to the column's type."""
    columns = {c: _typed(c, dtype, [e["row"].get(c) for e in events]) for c, dtype in FEEDS[feed].items()}
    return pl.DataFrame(columns).with_columns(
        event_id=pl.Series([e["id"] for e in events], dtype=pl.String),
        ingested_at=pl.Series([e["ingested_at"] for e in events], dtype=pl.String)
        .str.to_datetime(time_zone="UTC")
        .cast(UTC_US),
    )


def _typed(name: str, dtype: pl.DataType, values: list) -> pl.Series:
    """One column's values converted to ``dtype``; a value the conversion would lose (turn into
    null) counts as not converting."""
    try:
        raw = pl.Series(name, values, dtype=pl.String if _is_time(dtype) else None, strict=False)
        if _is_time(dtype):
            typed = raw.str.to_datetime(time_zone="UTC", strict=True).cast(UTC_US)
        elif dtype == pl.Date():
            typed = raw.cast(pl.String).str.to_date(strict=True)
        else:
            typed = raw.cast(dtype, strict=True)
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError) as exc:
        raise ValueError(f"{name}: {str(exc).splitlines()[0][:200]}") from None
    if typed.null_count() != sum(v is None for v in values):
        raise ValueError(f"{name}: a value does not convert to {dtype}")
    return typed


def _is_time(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.Datetime)


def identity(feed: str, row: dict[str, Any]) -> str:
    """The key under which the store keeps a fact's latest version."""
    return "|".join(str(_json_value(row[c])) for c in IDENTITY[feed])


def entity(values: tuple) -> str:
    """The online store's key of an entity: its key values, times as epoch microseconds."""
    return "|".join(str(micros(v)) if isinstance(v, datetime) else str(v) for v in values)


def micros(t: datetime) -> int:
    return int(t.timestamp()) * 1_000_000 + t.microsecond


@dataclass(frozen=True)
class WindowChange:
    """Add (or, with ``sign`` -1, remove) one outcome in an entity's trailing windows."""

    group: FeatureGroup
    entity: str
    known_at: int
    delayed: int
    delay: int
    sign: int


@dataclass(frozen=True)
class RowChange:
    """Write a group row for an entity at ``known_at`` (``values`` None: delete it). With
    ``count``, ``values`` is ``[delta]``: add it to the count of the row in effect there."""

    group: FeatureGroup
    entity: str
    known_at: int
    values: list | None
    count: bool = False
    #: Keep a row already at this instant when it ranks first under the group's tie rule.
    keep_smaller: int | None = None


def changes(feed: str, new: pl.DataFrame, old: pl.DataFrame) -> list[WindowChange | RowChange]:
    """The store operations that take the online store from the ``old`` versions of some facts
    to their ``new`` ones (``old`` holds the replaced versions, possibly none), computed with
    the offline transforms."""
    out: list[WindowChange | RowChange] = []
    if feed == "outcomes":
        for frame, sign in ((old, -1), (new, 1)):
            arrived = frame.filter(pl.col("status") == "arrived")
            for name in WINDOW_GROUPS:
                g = group(name)
                for r in arrived.select(*g.keys, "known_at", "is_delayed", "arr_delay").iter_rows():
                    keys, k, delayed, delay = r[: len(g.keys)], r[-3], r[-2], r[-1]
                    out.append(WindowChange(g, entity(keys), micros(k), int(delayed), int(delay), sign))
        legs = group("plane_last_arrival")
        for r in old.filter(pl.col("tailnum").is_not_null()).iter_rows(named=True):
            out.append(RowChange(legs, entity((r["tailnum"],)), micros(r["known_at"]), None))
        for r in transforms.plane_last_arrival(new).iter_rows(named=True):
            values = [r[f] for f in legs.features]
            keep = r["plane_prev_arr_delay"]
            out.append(
                RowChange(legs, entity((r["tailnum"],)), micros(r["known_at"]), values, keep_smaller=keep)
            )
    elif feed == "weather":
        weather = group("origin_weather")
        for r in transforms.origin_weather(new).iter_rows(named=True):
            values = [r[f] for f in weather.features]
            out.append(RowChange(weather, entity((r["origin"],)), micros(r["known_at"]), values))
    elif feed == "schedule":
        congestion = group("origin_congestion")
        for frame, sign in ((old, -1), (new, 1)):
            for r in transforms.origin_congestion(frame).iter_rows(named=True):
                key = entity((r["origin"], r["departure_hour"]))
                delta = sign * r["origin_departures_in_hour"]
                out.append(RowChange(congestion, key, micros(r["known_at"]), [delta], count=True))
    return out


def window_features(group_name: str, arrays: tuple, at: int) -> dict[str, Any]:
    """A window group's features at instant ``at`` (microseconds) from an entity's stored
    arrays: the offline ``window_sums`` and ``stats_features``."""
    import numpy as np

    times, delayed, delay = arrays
    sums = transforms.window_sums(times, delayed, delay, np.array([at], dtype=np.int64))
    return {k: v[0] for k, v in transforms.stats_features(sums, WINDOW_GROUPS[group_name]).items()}
