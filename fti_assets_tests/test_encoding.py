"""The model's encoding: the frame path (training, batch) and the row path (service) agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from fti_assets.storage.offline_store import OfflineStore
from fti_assets.training.encoding import FeatureSpec


def test_row_and_frame_encodings_are_identical_including_unknown_categories(feature_home: Path) -> None:
    dataset = OfflineStore(home=str(feature_home)).read("training_dataset")
    spec = FeatureSpec.fit(dataset.filter(pl.col("split") == "train"))
    sample = pl.concat([dataset.head(300), dataset.head(5).with_columns(carrier=pl.lit("ZZ"), dest=pl.lit(None, pl.String))])
    frame, rows = spec.encode(sample), spec.encode_rows(sample.to_dicts())
    assert np.array_equal(frame, rows, equal_nan=True)
    carrier = spec.features.index("carrier")
    assert np.isnan(rows[-1, carrier]) and not np.isnan(rows[0, carrier])  # unseen categories are missing
    assert FeatureSpec.from_dict(spec.to_dict()) == spec


def test_a_challenger_judged_on_too_few_test_flights_is_refused() -> None:
    import polars as pl

    from fti_assets.training.evaluation import GateConfig, gates

    slices = pl.DataFrame(schema={"slice_by": pl.String, "slice": pl.String, "rows": pl.Int64, "auc": pl.Float64})
    better = {"auc": 0.80, "brier": 0.15, "rows": 400}
    champion = {"auc": 0.60, "brier": 0.2, "rows": 400}
    verdict = gates(better, champion, slices, slices, [], GateConfig(min_test_rows=500))["beats_champion"]
    assert not verdict.passed and "at least 500 rows" in verdict.message
    assert gates({**better, "rows": 900}, {**champion, "rows": 900}, slices, slices, [], GateConfig(min_test_rows=500))["beats_champion"].passed
