"""The model's encoding and scoring: the frame path (training, batch, evaluation, monitoring) and
the row path (service) agree, value for value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from fti_assets.domain.encoding import FeatureSpec
from fti_assets.resources.offline_store import OfflineStore


def odd_flights(flights: pl.DataFrame, spec: FeatureSpec) -> pl.DataFrame:
    """Real flights, then the awkward ones: five with unseen and null categories, one with every
    number null (the last row)."""
    numeric = [c for c in spec.features if c not in spec.categories]
    unseen = flights.head(5).with_columns(carrier=pl.lit("ZZ"), dest=pl.lit(None, pl.String))
    missing = flights.head(1).with_columns([pl.lit(None, flights.schema[c]).alias(c) for c in numeric])
    return pl.concat([flights.head(300), unseen, missing])


def test_row_and_frame_encodings_are_identical_including_unknown_categories(feature_home: Path) -> None:
    dataset = OfflineStore(home=str(feature_home)).read("training_dataset")
    spec = FeatureSpec.fit(dataset.filter(pl.col("split") == "train"))
    numeric = [c for c in spec.features if c not in spec.categories]
    sample = odd_flights(dataset, spec)
    frame, rows = spec.encode(sample), spec.encode_rows(sample.to_dicts())
    assert np.array_equal(frame, rows, equal_nan=True)
    carrier = spec.features.index("carrier")
    assert np.isnan(rows[-2, carrier]) and not np.isnan(rows[0, carrier])  # unseen categories are missing
    assert np.isnan(
        frame[-1, [spec.features.index(c) for c in numeric]]
    ).all()  # null numbers are missing, whatever their type
    assert FeatureSpec.from_dict(spec.to_dict()) == spec


def test_frame_scoring_equals_the_service_rows_including_missing_values(fitted) -> None:
    trained, test = fitted
    spec, booster = trained.spec, trained.booster
    flights = odd_flights(test, spec)
    assert any(
        flights.schema[c].is_integer() for c in spec.features if c not in spec.categories
    )  # integers read as such
    rows = spec.encode_rows(flights.to_dicts())
    assert np.array_equal(spec.predict(booster, flights), booster.predict(rows))
    assert np.array_equal(
        spec.predict(booster, flights, contributions=True), booster.predict(rows, pred_contrib=True)
    )
    # the frame read in place and the training matrix agree too
    assert np.array_equal(spec.predict(booster, flights), booster.predict(spec.encode(flights)))
    assert spec.predict(booster, flights.head(0)).shape == (0,)


def test_a_flight_scores_the_same_alone_and_among_others(fitted) -> None:
    trained, test = fitted
    flights = odd_flights(test, trained.spec)
    together = trained.spec.predict(trained.booster, flights)
    alone = [
        trained.spec.predict(trained.booster, flights.slice(i, 1))[0]
        for i in (0, flights.height - 2, flights.height - 1)
    ]
    assert alone == [together[0], together[-2], together[-1]]
