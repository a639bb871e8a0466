"""Champion against challenger on the same flights once outcomes are known (pure functions)."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl


def online_shadow_records(records: list[dict]) -> pl.DataFrame:
    """Prediction-log records that carry a challenger score, as a frame."""
    rows = [
        {
            "flight_id": r["flight_id"],
            "champion_version": r["champion_version"],
            "challenger_version": r["challenger_version"],
            "champion_probability": r["champion_probability"],
            "challenger_probability": r["challenger_probability"],
            "source": "online",
        }
        for r in records
        if r.get("challenger_probability") is not None
    ]
    schema = {
        "flight_id": pl.String,
        "champion_version": pl.String,
        "challenger_version": pl.String,
        "champion_probability": pl.Float64,
        "challenger_probability": pl.Float64,
        "source": pl.String,
    }
    return pl.DataFrame(rows, schema=schema).unique("flight_id", keep="last")


def comparison(evidence: pl.DataFrame, day: date) -> dict:
    """Both models' metrics on the labelled flights in ``evidence`` (up to ``day``)."""
    from fti_assets.training.gates import metrics

    row: dict = {
        "day": day,
        "rows_total": evidence.height,
        "rows_day": evidence.filter(pl.col("flight_date") == day).height,
    }
    for side in ("champion", "challenger"):
        if evidence.height == 0:
            row.update({f"{side}_auc": None, f"{side}_log_loss": None, f"{side}_brier": None})
            continue
        m = metrics(
            evidence["is_delayed"].cast(pl.Int8).to_numpy(), evidence[f"{side}_probability"].to_numpy()
        )
        row.update(
            {
                f"{side}_auc": None if np.isnan(m["auc"]) else m["auc"],
                f"{side}_log_loss": m["log_loss"],
                f"{side}_brier": m["brier"],
            }
        )
    return row


def challenger_worse(row: dict, min_rows: int, auc_margin: float) -> bool:
    """Enough evidence that the challenger does worse than the champion."""
    if row["rows_total"] < min_rows or row["champion_auc"] is None or row["challenger_auc"] is None:
        return False
    return row["challenger_auc"] < row["champion_auc"] - auc_margin


def champion_against_previous(
    batch: pl.DataFrame, outcomes: pl.DataFrame, champion: int, previous: int
) -> dict:
    """The champion's and the previous champion's metrics on the same labelled flights: those
    batch scored while ``champion`` served with ``previous`` in shadow."""
    scored = batch.filter(
        pl.col("model_version") == champion,
        pl.col("previous_version") == previous,
        pl.col("previous_probability").is_not_null(),
    )
    evidence = scored.select(
        "flight_id",
        "flight_date",
        champion_probability="delay_probability",
        challenger_probability="previous_probability",
    ).join(outcomes.select("flight_id", "is_delayed"), on="flight_id")
    day = evidence["flight_date"].max() if evidence.height else None
    row = comparison(evidence, day)
    return {
        "champion_version": champion,
        "previous_version": previous,
        "last_day": day,
        "rows": row["rows_total"],
        "champion_auc": row["champion_auc"],
        "previous_auc": row["challenger_auc"],
        "champion_brier": row["champion_brier"],
        "previous_brier": row["challenger_brier"],
    }
