"""Online/offline skew: what the service served against what offline retrieval gives for the
same flights at their prediction times (pure functions over the prediction log's records).

The online store answers as of each flight's prediction time from the events the stream
applied, so a served vector differs from the offline one only where an event had not reached
the store by the request (the store was behind) or a bug. Flights the store no longer held
history for (``past_flight``) and flights asked for before their prediction time (``early``,
read as of the request) are counted apart and left out.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl

#: Two numbers closer than this are the same value.
TOLERANCE = 1e-9


def read_log(folder: Path, flight_dates: set[date]) -> dict[date, list[dict]]:
    """Prediction-log records of flights of ``flight_dates`` (their id starts with the date), by
    flight date: the log is read once for every day a run compares."""
    days = {d.isoformat(): d for d in flight_dates}
    records: dict[date, list[dict]] = {d: [] for d in flight_dates}
    for path in sorted(folder.glob("**/*.jsonl")):
        with open(path) as handle:
            for line in handle:
                record = json.loads(line)
                day = days.get(record.get("flight_id", "")[:10])
                if day is not None:
                    records[day].append(record)
    return records


def served_frame(records: list[dict], features: list[str]) -> pl.DataFrame:
    """One row per served flight (its last record): the vector, probability and freshness."""
    rows = [
        {
            "flight_id": r["flight_id"],
            "prediction_time": r.get("prediction_time"),
            "features_as_of": r["features_as_of"],
            "champion_version": r["champion_version"],
            "served_probability": r["champion_probability"],
            "past_flight": bool(r.get("past_flight", False)),
            "early": bool(r.get("early", False)),
            "store_newest_event_at": r.get("store_newest_event_at"),
            "congestion_known": "origin_congestion" not in r.get("unknown", []),
            **{f"served__{f}": r["features"].get(f) for f in features},
        }
        for r in records
    ]
    frame = pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()
    if frame.height == 0:
        return frame
    return frame.with_columns(
        pl.col("prediction_time").str.to_datetime(time_zone="UTC"),
        pl.col("features_as_of").str.to_datetime(time_zone="UTC"),
        pl.col("store_newest_event_at").cast(pl.String).str.to_datetime(time_zone="UTC"),
    ).unique("flight_id", keep="last")


def _differs(served: pl.Expr, offline: pl.Expr, categorical: bool) -> pl.Expr:
    if categorical:
        return served.cast(pl.String).ne_missing(offline.cast(pl.String))
    a, b = served.cast(pl.Float64), offline.cast(pl.Float64)
    return (a.is_null() != b.is_null()) | ((a - b).abs() > TOLERANCE).fill_null(False)


def skew_summary(
    served: pl.DataFrame,
    offline: pl.DataFrame,
    features: list[str],
    categorical: list[str],
    complete_until: datetime | None = None,
) -> dict:
    """Mismatch share per feature, the probability delta, and how far behind the instant it was
    read as of the store's newest event was.

    ``offline`` holds ``flight_id``, the features and ``offline_probability`` as of each
    flight's prediction time, scored by the model that served it.
    """
    awaiting = (
        served.filter(pl.col("prediction_time") >= complete_until)
        if served.height and complete_until is not None
        else served.clear()
    )
    compared = (
        served.filter(~pl.col("past_flight"), ~pl.col("early"))
        .join(awaiting.select("flight_id"), on="flight_id", how="anti")
        .join(offline, on="flight_id", how="inner")
        if served.height
        else served
    )
    out: dict = {
        "served_rows": served.height,
        "past_flights": int(served["past_flight"].sum()) if served.height else 0,
        "early_flights": int(served["early"].sum()) if served.height else 0,
        "awaiting_offline_flights": awaiting.height,
        "compared_rows": compared.height,
    }
    if compared.height == 0:
        return {
            **out,
            "mismatch_share": {},
            "rows_with_any_mismatch": 0,
            "probability_delta_p50": None,
            "probability_delta_p99": None,
            "probability_delta_max": None,
            "store_behind_hours_p50": None,
            "store_behind_hours_max": None,
            "served_congestion_share": None,
        }
    flags = compared.select(
        **{f: _differs(pl.col(f"served__{f}"), pl.col(f), f in categorical) for f in features}
    )
    delta = (compared["served_probability"] - compared["offline_probability"]).abs().to_numpy()
    behind = (compared["features_as_of"] - compared["store_newest_event_at"]).dt.total_seconds() / 3600
    behind = behind.clip(lower_bound=0).fill_null(float("nan")).to_numpy()
    return {
        **out,
        "mismatch_share": {f: round(float(flags[f].mean()), 6) for f in features},
        "rows_with_any_mismatch": int(flags.select(pl.any_horizontal(pl.all())).to_series().sum()),
        "probability_delta_p50": float(np.quantile(delta, 0.5)),
        "probability_delta_p99": float(np.quantile(delta, 0.99)),
        "probability_delta_max": float(delta.max()),
        "store_behind_hours_p50": float(np.nanquantile(behind, 0.5)) if not np.isnan(behind).all() else None,
        "store_behind_hours_max": float(np.nanmax(behind)) if not np.isnan(behind).all() else None,
        "served_congestion_share": float(compared["congestion_known"].mean()),
    }


def period_skew(daily: pl.DataFrame) -> dict:
    """A period's skew from ``serving_skew``'s daily rows: shares weighted by compared flights."""
    compared = daily.filter(pl.col("compared_rows") > 0)
    if compared.height == 0:
        return {"days": 0, "compared_rows": 0}
    n = compared["compared_rows"]
    shares: dict[str, float] = {}
    for row, weight in zip(compared["mismatch_share"], n, strict=True):
        for feature, share in json.loads(row).items():
            shares[feature] = shares.get(feature, 0.0) + share * weight
    total = int(n.sum())
    return {
        "days": compared.height,
        "served_rows": int(daily["served_rows"].sum()),
        "compared_rows": total,
        "past_flights": int(daily["past_flights"].sum()),
        "early_flights": int(daily["early_flights"].sum()) if "early_flights" in daily.columns else 0,
        "awaiting_offline_flights": int(daily["awaiting_offline_flights"].sum())
        if "awaiting_offline_flights" in daily.columns
        else 0,
        "rows_with_any_mismatch_share": round(float(compared["rows_with_any_mismatch"].sum()) / total, 4),
        "probability_delta_p50_mean": round(float(compared["probability_delta_p50"].mean()), 5),
        "probability_delta_p99_max": round(float(compared["probability_delta_p99"].max()), 5),
        "probability_delta_max": round(float(compared["probability_delta_max"].max()), 5),
        "store_behind_hours_p50_mean": round(float(compared["store_behind_hours_p50"].mean() or 0.0), 3),
        "served_congestion_share": round(float((compared["served_congestion_share"] * n).sum()) / total, 4),
        "mismatch_share": {
            f: round(s / total, 4) for f, s in sorted(shares.items(), key=lambda kv: -kv[1]) if s > 0
        },
    }


def describe_period(skew: dict) -> str:
    """One paragraph for a console summary."""
    if not skew.get("compared_rows"):
        return "serving skew: no served flight to compare"
    top = ", ".join(f"{f} {s:.1%}" for f, s in list(skew["mismatch_share"].items())[:5])
    return (
        f"serving skew over {skew['days']} days, {skew['compared_rows']:,} served flights: "
        f"{skew['rows_with_any_mismatch_share']:.1%} "
        f"had a feature value differing from offline (most: {top or 'none'}); probability delta p50 "
        f"{skew['probability_delta_p50_mean']:.4f}, p99 up to {skew['probability_delta_p99_max']:.4f}, max "
        f"{skew['probability_delta_max']:.4f}; "
        f"store behind the prediction time by {skew['store_behind_hours_p50_mean']:.2f} h at the median; "
        "origin congestion known for "
        f"{skew['served_congestion_share']:.1%} of served flights"
    )
