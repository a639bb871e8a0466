"""How the served model did once outcomes are known (pure functions)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl


def scored_outcomes(predictions: pl.DataFrame, outcomes: pl.DataFrame) -> pl.DataFrame:
    """Predictions joined with the labels that are now known (cancelled and diverted drop out)."""
    labelled = outcomes.filter(pl.col("status") == "arrived").select("flight_id", "is_delayed")
    return predictions.select("flight_id", "flight_date", "model_version", "delay_probability").join(
        labelled, on="flight_id"
    )


def _metrics(frame: pl.DataFrame) -> dict[str, float | int | None]:
    from fti_assets.training.gates import metrics

    if frame.height == 0:
        return {"auc": None, "log_loss": None, "brier": None, "rows": 0}
    m = metrics(frame["is_delayed"].cast(pl.Int8).to_numpy(), frame["delay_probability"].to_numpy())
    return {
        "auc": None if np.isnan(m["auc"]) else m["auc"],
        "log_loss": m["log_loss"],
        "brier": m["brier"],
        "rows": m["rows"],
    }


def daily_performance(
    scored: pl.DataFrame, days: list[date], window_days: int, recent_days: int = 3
) -> pl.DataFrame:
    """One row per day: that day's metrics, the trailing window's and the last
    ``recent_days``' (all ending that day)."""
    rows = []
    for day in days:
        today = scored.filter(pl.col("flight_date") == day)
        window = scored.filter(pl.col("flight_date").is_between(day - timedelta(days=window_days - 1), day))
        recent = _metrics(
            scored.filter(pl.col("flight_date").is_between(day - timedelta(days=recent_days - 1), day))
        )
        d, w = _metrics(today), _metrics(window)
        versions = today["model_version"].unique().to_list()
        rows.append(
            {
                "day": day,
                "model_version": max(versions) if versions else None,
                **{f"{k}_day": v for k, v in d.items()},
                **{f"{k}_window": v for k, v in w.items()},
                "window_days": window_days,
                "delayed_share_day": float(today["is_delayed"].mean()) if today.height else None,
                "auc_recent": recent["auc"],
                "rows_recent": recent["rows"],
                "recent_days": recent_days,
            }
        )
    return pl.DataFrame(
        rows,
        schema_overrides={
            "auc_day": pl.Float64,
            "auc_window": pl.Float64,
            "log_loss_day": pl.Float64,
            "log_loss_window": pl.Float64,
            "brier_day": pl.Float64,
            "brier_window": pl.Float64,
            "delayed_share_day": pl.Float64,
            "model_version": pl.Int64,
            "auc_recent": pl.Float64,
        },
    )


def monthly_auc(scored: pl.DataFrame) -> pl.DataFrame:
    """AUC of what was served, per calendar month, with the model versions involved."""
    rows = []
    for (month,), part in scored.with_columns(month=pl.col("flight_date").dt.strftime("%Y-%m")).group_by(
        "month"
    ):
        m = _metrics(part)
        rows.append(
            {
                "month": month,
                "rows": m["rows"],
                "auc": m["auc"],
                "brier": m["brier"],
                "models": ", ".join(f"v{v}" for v in sorted(part["model_version"].unique().to_list())),
            }
        )
    return pl.DataFrame(rows, schema_overrides={"auc": pl.Float64, "brier": pl.Float64}).sort("month")


def _auc(scored: pl.DataFrame, first: date, last: date) -> float | None:
    return _metrics(scored.filter(pl.col("flight_date").is_between(first, last)))["auc"]


def recovery(
    scored: pl.DataFrame, shift: date, tolerance: float = 0.02, window_days: int = 7, before_days: int = 14
) -> dict:
    """Days from ``shift`` until what is served is good again: the first day from which the
    served AUC over the next ``window_days`` is back within ``tolerance`` of its level over
    the ``before_days`` before the shift (None: not within the scored days)."""
    before = _auc(scored, shift - timedelta(days=before_days), shift - timedelta(days=1))
    last = scored["flight_date"].max() if scored.height else None
    result: dict = {
        "shift": shift.isoformat(),
        "pre_shift_auc": before,
        "recovered_on": None,
        "days_to_recover": None,
        "tolerance": tolerance,
        "window_days": window_days,
    }
    if before is None or last is None:
        return result
    day = shift
    while day + timedelta(days=window_days - 1) <= last:
        auc = _auc(scored, day, day + timedelta(days=window_days - 1))
        if auc is not None and auc >= before - tolerance:
            return {
                **result,
                "recovered_on": day.isoformat(),
                "days_to_recover": (day - shift).days,
                "auc_after": auc,
            }
        day += timedelta(days=1)
    return result


def weekly_auc(
    scored: pl.DataFrame, around: date, weeks_before: int = 2, weeks_after: int = 6
) -> pl.DataFrame:
    """Served AUC per week, counted from ``around`` (week 0 starts on it)."""
    rows = []
    for week in range(-weeks_before, weeks_after):
        first = around + timedelta(days=7 * week)
        part = scored.filter(pl.col("flight_date").is_between(first, first + timedelta(days=6)))
        if part.height:
            m = _metrics(part)
            rows.append(
                {
                    "week": week,
                    "from": first,
                    "rows": m["rows"],
                    "auc": m["auc"],
                    "models": ", ".join(f"v{v}" for v in sorted(part["model_version"].unique().to_list())),
                }
            )
    return pl.DataFrame(rows, schema_overrides={"auc": pl.Float64})
