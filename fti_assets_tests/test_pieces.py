"""The training dataset built in pieces equals the whole build: same rows, same content hash."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from fti_assets.assets.training_data import build_training_dataset, label_spine, pieced_dataset
from fti_assets.domain.feature_groups import FEATURE_GROUPS
from fti_assets.domain.pieces import pieces_of
from fti_assets.domain.retrieval import content_hash
from fti_assets.storage.offline_store import OfflineStore

WINDOW = {"start": "2013-01-01", "end": "2013-01-14", "train_end": "2013-01-10", "validation_end": "2013-01-12"}


def test_pieces_cover_the_window_once_cut_at_months_or_days() -> None:
    assert pieces_of(date(2013, 1, 20), date(2013, 3, 3)) == [
        (date(2013, 1, 20), date(2013, 1, 31)), (date(2013, 2, 1), date(2013, 2, 28)), (date(2013, 3, 1), date(2013, 3, 3))]  # fmt: skip
    assert pieces_of(date(2013, 1, 1), date(2013, 1, 5), 2) == [
        (date(2013, 1, 1), date(2013, 1, 2)), (date(2013, 1, 3), date(2013, 1, 4)), (date(2013, 1, 5), date(2013, 1, 5))]  # fmt: skip
    with pytest.raises(ValueError, match="piece_days"):
        pieces_of(date(2013, 1, 1), date(2013, 1, 5), -1)


@pytest.mark.parametrize("piece_days", [0, 1, 3])
def test_a_pieced_build_equals_the_whole_one(feature_home: Path, piece_days: int) -> None:
    store = OfflineStore(home=str(feature_home))
    whole_spine = label_spine(store.read("flight_outcomes"), store.read("flight_schedule"), WINDOW["start"], WINDOW["end"])
    whole = build_training_dataset(whole_spine, {g.name: store.read(g.name) for g in FEATURE_GROUPS}, WINDOW["train_end"], WINDOW["validation_end"])
    pieced, unlabelled = pieced_dataset(store, WINDOW, piece_days)
    assert whole.height > 10_000 and unlabelled > 0
    assert pieced.equals(whole)
    assert content_hash(pieced, "flight_id") == content_hash(whole, "flight_id")


def test_the_materialized_dataset_is_the_whole_build(feature_home: Path) -> None:
    """What ``training_dataset`` stored (built month by month) is what one whole join gives."""
    store = OfflineStore(home=str(feature_home))
    stored = store.read("training_dataset")
    spine = label_spine(store.read("flight_outcomes"), store.read("flight_schedule"), WINDOW["start"], WINDOW["end"])
    whole = build_training_dataset(spine, {g.name: store.read(g.name) for g in FEATURE_GROUPS}, WINDOW["train_end"], WINDOW["validation_end"])
    assert stored.equals(whole.select(stored.columns))
    assert set(stored.columns) == set(whole.columns) and pl.DataFrame.equals(stored, whole)
