"""From request flights to probabilities: online lookups, the shared feature code, LightGBM.

Request-time features come from ``request_features``, the function training uses (computed
ahead for published flights: ``serving.published``); group values come from the online store as
of each flight's prediction time; encoding comes from the model's own feature spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from fti_assets.domain.catalog import FEATURE_GROUPS
from fti_assets.domain.encoding import FeatureSpec
from fti_assets.domain.schedule import PREDICTION_LEAD, flight_id
from fti_assets.domain.timezones import DEFAULT_TIMEZONE
from fti_assets.serving.reader import FeatureReader

SPINE_SCHEMA = {
    "carrier": pl.String,
    "flight": pl.Int64,
    "tailnum": pl.String,
    "origin": pl.String,
    "dest": pl.String,
    "distance": pl.Float64,
    "scheduled_departure": pl.Datetime("us", "UTC"),
    "scheduled_arrival": pl.Datetime("us", "UTC"),
    "origin_tz": pl.String,
}


@dataclass(frozen=True)
class ServingModel:
    """A model ready to serve: its version label, booster and feature spec."""

    version: str
    booster: Any
    spec: FeatureSpec

    @cached_property
    def codes(self) -> dict[str, dict[str, int]]:
        return self.spec.codes


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _row(flight: dict, origin_tz: str) -> dict:
    departure = flight["scheduled_departure"].astimezone(UTC)
    return {
        **{k: flight.get(k) for k in ("carrier", "flight", "tailnum", "origin", "dest", "distance")},
        "scheduled_departure": departure,
        "scheduled_arrival": flight["scheduled_arrival"].astimezone(UTC),
        # The id's date is the origin's local date, whatever offset the client wrote.
        "origin_tz": origin_tz,
        "local_date": departure.astimezone(_zone(origin_tz)).date(),
    }


def spine(flights: list[dict], store: FeatureReader) -> pl.DataFrame:
    """Request flights as schedule rows in UTC, with the origin's zone from the online store."""
    rows = [_row(f, store.timezone(f["origin"]) or DEFAULT_TIMEZONE) for f in flights]
    frame = pl.from_dicts(rows, schema={**SPINE_SCHEMA, "local_date": pl.Date})
    ids = flight_id(pl.col("local_date"), pl.col("carrier"), pl.col("flight"), pl.col("origin"))
    frame = frame.with_columns(flight_id=ids, prediction_time=pl.col("scheduled_departure") - PREDICTION_LEAD)
    frame.drop_in_place("local_date")  # in place: a drop() is another query, 0.1 ms on one row
    return frame


def feature_rows(
    rows: list[dict[str, Any]], store: FeatureReader, as_of: list[datetime]
) -> tuple[list[dict[str, Any]], list[list[str]]]:
    """Each flight's row of request-time features (``serving.published.request_rows``) plus each
    group's online value as of the flight's instant (defaults where unknown); fills ``rows``."""
    unknown: list[list[str]] = [[] for _ in rows]
    # Every lookup of the request at once: one round trip to a networked store.
    found_all = iter(
        store.lookup_many(
            [
                (g, tuple(row[k] for k in g.keys), at)
                for row, at in zip(rows, as_of, strict=True)
                for g in FEATURE_GROUPS
            ]
        )
    )
    for i, row in enumerate(rows):
        for group in FEATURE_GROUPS:
            found = next(found_all)
            if found is None:
                unknown[i].append(group.name)
            for feature in group.features:
                value = found[feature] if found is not None else None
                # As in the offline join: a default stands in for a missing value.
                row[feature] = group.defaults.get(feature) if value is None else value
    return rows, unknown


def predict(
    model: ServingModel, rows: list[dict[str, Any]], explain: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Probabilities through ``Booster.predict`` on one thread (the encoded matrix is float64 and
    C-ordered, so LightGBM scores it without a copy) and, with ``explain``, each row's TreeSHAP
    contributions (``pred_contrib``: one column per feature, then the bias) computed on the very
    matrix that was scored."""
    matrix = model.spec.encode_rows(rows, model.codes)
    p = model.booster.predict(matrix, num_threads=1)
    return p, (model.booster.predict(matrix, pred_contrib=True, num_threads=1) if explain else None)


def top_contributions(contributions: np.ndarray, features: list[str], top: int = 5) -> dict[str, Any]:
    """One row of ``pred_contrib`` as the response's explanation: the ``top`` features by
    absolute contribution (log-odds), the bias, and the raw score they all sum to."""
    values = contributions[:-1]
    order = np.argsort(-np.abs(values), kind="stable")[:top]
    return {
        "raw_score": float(contributions.sum()),
        "base_value": float(contributions[-1]),
        "top": [{"feature": features[i], "contribution": float(values[i])} for i in order],
    }


@dataclass(frozen=True)
class ServingState:
    """What a request is served with, swapped as one object: champion, optional challenger."""

    champion: ServingModel
    challenger: ServingModel | None = None
    mode: str = (
        "off"  # "shadow": scored and logged, never returned; "canary": returned for `share` of flights
    )
    share: float = 0.0


def canary_bucket(flight_id: str) -> float:
    """A stable number in [0, 1) per flight, so a flight always gets the same model."""
    import hashlib

    return int(hashlib.sha256(flight_id.encode()).hexdigest()[:8], 16) / 2**32


def serve(
    state: ServingState, flight_ids: list[str], features: list[dict[str, Any]], explain: bool = False
) -> dict[str, Any]:
    """Champion (and challenger) probabilities of the flights' feature rows, and the one returned
    per flight; with ``explain``, each flight's top contributions from the model that served it."""
    champion_p, champion_c = predict(state.champion, features, explain)
    challenger_p = challenger_c = None
    if state.challenger is not None and state.mode in ("shadow", "canary"):
        challenger_p, challenger_c = predict(state.challenger, features, explain and state.mode == "canary")
    served_p, served_by, served_c = champion_p.copy(), [state.champion.version] * len(flight_ids), champion_c
    if challenger_p is not None and state.mode == "canary":
        served_c = list(champion_c) if explain else None  # rows: the two models may have different features
        for i, fid in enumerate(flight_ids):
            if canary_bucket(fid) < state.share:
                served_p[i], served_by[i] = challenger_p[i], state.challenger.version
                if explain:
                    served_c[i] = challenger_c[i]
    explanations = None
    if explain:
        names = {
            state.champion.version: state.champion.spec.features,
            **(
                {state.challenger.version: state.challenger.spec.features}
                if state.challenger is not None
                else {}
            ),
        }
        explanations = [top_contributions(served_c[i], names[served_by[i]]) for i in range(len(flight_ids))]
    return {
        "probability": served_p,
        "served_by": served_by,
        "champion": champion_p,
        "challenger": challenger_p,
        "explanations": explanations,
    }
