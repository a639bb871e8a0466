"""Precomputed feature vectors of published flights, written with each online refresh.

A refresh as of T knows the schedule of every flight published by T. For each such flight
whose prediction time is still ahead (at or after T), the refresh computes the whole vector
the request path would build from this snapshot: ``point_in_time_join`` (the training
retrieval, with ``request_features``) over the snapshot's own rows, as of T. The vector is
stored by ``flight_id`` in the same snapshot as the group rows (one SQLite transaction, one
Redis snapshot), so a later refresh (hourly weather, say) replaces vectors and rows together
and a vector never holds values the snapshot beside it does not.

A request is served from a vector only when it describes the published flight exactly
(carrier, number, tail, airports, distance and times); anything else takes the request path.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from fti_assets.domain.catalog import FEATURE_GROUPS, feature_names
from fti_assets.domain.schedule import MAX_SCHEDULE_LEAD_DAYS, PREDICTION_LEAD

#: Request fields a vector was computed from; a request must match them all to use it.
MATCHED = (
    "carrier",
    "flight",
    "tailnum",
    "origin",
    "dest",
    "distance",
    "scheduled_departure",
    "scheduled_arrival",
)
PRECOMPUTED, COMPUTED = "precomputed", "computed"


def schedule_days(as_of: datetime) -> list[str]:
    """Schedule partitions that can hold flights published by ``as_of`` and predicted after it:
    a local day starts up to 14 hours off UTC, and a schedule is published at most
    ``MAX_SCHEDULE_LEAD_DAYS`` ahead."""
    first: date = as_of.date() - timedelta(days=1)
    return [(first + timedelta(days=d)).isoformat() for d in range(MAX_SCHEDULE_LEAD_DAYS + 3)]


def published_vectors(
    schedule: pl.DataFrame, latest: dict[str, pl.DataFrame], as_of: datetime
) -> pl.DataFrame:
    """One row per flight published at or before ``as_of`` with its prediction time at or after
    it: ``flight_id``, the ``MATCHED`` request fields, every model feature as of ``as_of`` and
    ``unknown`` (groups without a row, which took their defaults)."""
    due = schedule.filter((pl.col("published_at") <= as_of) & (pl.col("prediction_time") >= as_of))
    spine = due.select("flight_id", *MATCHED, "origin_tz").with_columns(
        as_of=pl.lit(as_of, dtype=pl.Datetime("us", "UTC"))
    )
    from fti_assets.domain.retrieval import point_in_time_join

    # The snapshot's rows, as the stored tables name their stamp: one row per entity, the latest known at as_of.
    tables = {g.name: latest[g.name].rename({g.known_at_column: "known_at"}) for g in FEATURE_GROUPS}
    joined = point_in_time_join(spine, tables)
    unknown = pl.concat_list(
        [pl.when(pl.col(g.known_at_column).is_null()).then(pl.lit(g.name)) for g in FEATURE_GROUPS]
    ).list.drop_nulls()
    return joined.select(
        "flight_id", *MATCHED, *(f for f in feature_names() if f not in MATCHED), unknown=unknown
    )


def _text(value: Any) -> Any:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value


def records(vectors: pl.DataFrame) -> list[tuple[str, dict[str, Any]]]:
    """(flight_id, record) pairs as the stores keep them (JSON-ready)."""
    names = feature_names()
    out = []
    for row in vectors.iter_rows(named=True):
        out.append(
            (
                row["flight_id"],
                {
                    "request": {k: _text(row[k]) for k in MATCHED},
                    "features": {k: row[k] for k in names},
                    "unknown": row["unknown"],
                },
            )
        )
    return out


def request_key(flight: dict[str, Any]) -> dict[str, Any]:
    """A request's ``MATCHED`` fields as a record holds them."""
    key = {k: _text(flight.get(k)) for k in MATCHED}
    key["distance"] = float(key["distance"])
    return key


def request_flight_id(flight: dict[str, Any], origin_tz: str) -> str:
    """``flight_id`` of a request, as ``domain.schedule.flight_id`` writes it (origin's local date)."""
    from zoneinfo import ZoneInfo

    local_date = flight["scheduled_departure"].astimezone(ZoneInfo(origin_tz)).date()
    return f"{local_date.isoformat()}-{flight['carrier']}{flight['flight']}-{flight['origin']}"


def prediction_time(flight: dict[str, Any]) -> datetime:
    return flight["scheduled_departure"].astimezone(UTC) - PREDICTION_LEAD


def usable(record: dict[str, Any] | None, flight: dict[str, Any], features: list[str]) -> bool:
    """The record was computed for exactly this request and holds every feature the model reads."""
    return (
        record is not None
        and record["request"] == request_key(flight)
        and all(f in record["features"] for f in features)
    )
