"""The model's encoding: the frame path (training, batch) and the row path (service) agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from fti_assets.resources.offline_store import OfflineStore
from fti_assets.training.encoding import FeatureSpec


def test_row_and_frame_encodings_are_identical_including_unknown_categories(feature_home: Path) -> None:
    dataset = OfflineStore(home=str(feature_home)).read("training_dataset")
    spec = FeatureSpec.fit(dataset.filter(pl.col("split") == "train"))
    numeric = [c for c in spec.features if c not in spec.categories]
    missing = dataset.head(1).with_columns([pl.lit(None, dataset.schema[c]).alias(c) for c in numeric])  # every number null
    sample = pl.concat([dataset.head(300), dataset.head(5).with_columns(carrier=pl.lit("ZZ"), dest=pl.lit(None, pl.String)), missing])
    frame, rows = spec.encode(sample), spec.encode_rows(sample.to_dicts())
    assert np.array_equal(frame, rows, equal_nan=True)
    carrier = spec.features.index("carrier")
    assert np.isnan(rows[-2, carrier]) and not np.isnan(rows[0, carrier])  # unseen categories are missing
    assert np.isnan(frame[-1, [spec.features.index(c) for c in numeric]]).all()  # null numbers are missing, whatever their type
    assert FeatureSpec.from_dict(spec.to_dict()) == spec

