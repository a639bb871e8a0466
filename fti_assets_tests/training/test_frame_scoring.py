"""Scoring a frame (training's evaluation, batch, monitoring) and scoring request rows (the
service) give the same numbers for the same flights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from fti_assets.resources.offline_store import OfflineStore


@pytest.fixture(scope="module")
def fitted(feature_home: Path):
    from fti_assets.training.trainer import lightgbm_params, train_booster

    dataset = OfflineStore(home=str(feature_home)).read("training_dataset")
    train, validation, test = (dataset.filter(pl.col("split") == s) for s in ("train", "validation", "test"))
    return train_booster(train, validation, lightgbm_params({"num_leaves": 15}, 42), 40, 10), test


def odd_flights(test: pl.DataFrame, spec) -> pl.DataFrame:
    """Real flights plus the awkward ones: unseen and null categories, every number null."""
    numeric = [c for c in spec.features if c not in spec.categories]
    unseen = test.head(5).with_columns(carrier=pl.lit("ZZ"), dest=pl.lit(None, pl.String))
    missing = test.head(1).with_columns([pl.lit(None, test.schema[c]).alias(c) for c in numeric])
    return pl.concat([test.head(400), unseen, missing])


def test_frame_scoring_equals_the_service_rows_including_missing_values(fitted) -> None:
    trained, test = fitted
    spec, booster = trained.spec, trained.booster
    flights = odd_flights(test, spec)
    assert any(flights.schema[c].is_integer() for c in spec.features if c not in spec.categories)  # integers read as such
    rows = spec.encode_rows(flights.to_dicts())
    assert np.array_equal(spec.predict(booster, flights), booster.predict(rows))
    assert np.array_equal(spec.predict(booster, flights, contributions=True), booster.predict(rows, pred_contrib=True))
    # the frame read in place and the training matrix agree too
    assert np.array_equal(spec.predict(booster, flights), booster.predict(spec.encode(flights)))
    assert spec.predict(booster, flights.head(0)).shape == (0,)


def test_a_flight_scores_the_same_alone_and_among_others(fitted) -> None:
    trained, test = fitted
    flights = odd_flights(test, trained.spec)
    together = trained.spec.predict(trained.booster, flights)
    alone = [trained.spec.predict(trained.booster, flights.slice(i, 1))[0] for i in (0, flights.height - 2, flights.height - 1)]
    assert alone == [together[0], together[-2], together[-1]]
