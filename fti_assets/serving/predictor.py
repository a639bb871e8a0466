"""From request flights to probabilities: online lookups, the shared feature code, LightGBM.

Request-time features come from ``request_features``, the function training uses; group
values come from the online store, which holds the offline retrieval's output as of the
refresh time; encoding comes from the model's own feature spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any

import numpy as np
import polars as pl

from fti_assets.domain.feature_groups import FEATURE_GROUPS
from fti_assets.domain.features import request_features
from fti_assets.domain.schedule import PREDICTION_LEAD, flight_id
from fti_assets.domain.timezones import DEFAULT_TIMEZONE
from fti_assets.serving.online_store import OnlineStoreReader
from fti_assets.training.encoding import FeatureSpec

SPINE_SCHEMA = {"carrier": pl.String, "flight": pl.Int64, "tailnum": pl.String, "origin": pl.String, "dest": pl.String,
                "distance": pl.Float64, "scheduled_departure": pl.Datetime("us", "UTC"),
                "scheduled_arrival": pl.Datetime("us", "UTC"), "origin_tz": pl.String}  # fmt: skip


@dataclass(frozen=True)
class ServingModel:
    """A model ready to serve: its version label, booster and feature spec."""

    version: str
    booster: Any
    spec: FeatureSpec


def spine(flights: list[dict], store: OnlineStoreReader) -> pl.DataFrame:
    """Request flights as schedule rows in UTC, with the origin's zone from the online store."""
    rows = []
    for f in flights:
        departure = f["scheduled_departure"]
        rows.append({**{k: f.get(k) for k in ("carrier", "flight", "tailnum", "origin", "dest", "distance")},
                     "scheduled_departure": departure.astimezone(UTC), "scheduled_arrival": f["scheduled_arrival"].astimezone(UTC),
                     "origin_tz": store.timezone(f["origin"]) or DEFAULT_TIMEZONE,
                     "local_date": departure.date()})  # fmt: skip
    frame = pl.DataFrame(rows, schema={**SPINE_SCHEMA, "local_date": pl.Date})
    ids = flight_id(pl.col("local_date"), pl.col("carrier"), pl.col("flight"), pl.col("origin"))
    return frame.with_columns(flight_id=ids, prediction_time=pl.col("scheduled_departure") - PREDICTION_LEAD).drop("local_date")


def feature_frame(flights: pl.DataFrame, store: OnlineStoreReader) -> tuple[pl.DataFrame, list[list[str]]]:
    """Request-time features plus each group's online values (defaults where unknown)."""
    frame = request_features(flights)
    unknown: list[list[str]] = [[] for _ in range(frame.height)]
    columns: dict[str, list] = {}
    for group in FEATURE_GROUPS:
        keys = frame.select(group.keys).rows()
        found = [store.lookup(group, tuple(k.isoformat() if hasattr(k, "isoformat") else k for k in key)) for key in keys]
        for i, row in enumerate(found):
            if row is None:
                unknown[i].append(group.name)
        for feature in group.features:
            default = group.defaults.get(feature)
            columns[feature] = [row[feature] if row is not None and row[feature] is not None else default for row in found]
    values = pl.DataFrame(columns, schema={c: pl.Float64 for c in columns})
    return pl.concat([frame, values], how="horizontal"), unknown


def predict(model: ServingModel, flights: pl.DataFrame, store: OnlineStoreReader) -> tuple[np.ndarray, pl.DataFrame, list[list[str]]]:
    """Probabilities with LightGBM's numpy path on one thread, the features used, and unknown groups."""
    features, unknown = feature_frame(flights, store)
    matrix = model.spec.encode(features)
    return model.booster.predict(matrix, num_threads=1), features, unknown


@dataclass(frozen=True)
class ServingState:
    """What a request is served with, swapped as one object: champion, optional challenger."""

    champion: ServingModel
    challenger: ServingModel | None = None
    mode: str = "off"  # "shadow": scored and logged, never returned; "canary": returned for `share` of flights
    share: float = 0.0


def canary_bucket(flight_id: str) -> float:
    """A stable number in [0, 1) per flight, so a flight always gets the same model."""
    import hashlib

    return int(hashlib.sha256(flight_id.encode()).hexdigest()[:8], 16) / 2**32


def serve(state: ServingState, flights: pl.DataFrame, store: OnlineStoreReader) -> dict[str, Any]:
    """Champion (and challenger) probabilities, the one returned per flight, and what was used."""
    champion_p, features, unknown = predict(state.champion, flights, store)
    challenger_p = None
    if state.challenger is not None and state.mode in ("shadow", "canary"):
        challenger_p = state.challenger.booster.predict(state.challenger.spec.encode(features), num_threads=1)
    served_p, served_by = champion_p.copy(), [state.champion.version] * flights.height
    if challenger_p is not None and state.mode == "canary":
        for i, fid in enumerate(flights["flight_id"]):
            if canary_bucket(fid) < state.share:
                served_p[i], served_by[i] = challenger_p[i], state.challenger.version
    return {"probability": served_p, "served_by": served_by, "champion": champion_p, "challenger": challenger_p,
            "features": features, "unknown": unknown}  # fmt: skip
