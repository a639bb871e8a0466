"""The training dataset built in pieces equals the whole build: same rows, same content hash,
also as stored (one file per piece) and read back."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from fti_assets.domain.catalog import FEATURE_GROUPS
from fti_assets.domain.retrieval import content_hash, content_hash_of_pieces
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.pieced import pieces_hash
from fti_assets.training.dataset import build_training_dataset, label_spine, pieced_dataset
from fti_assets.training.pieces import pieces_of
from fti_assets_tests.conftest import materialize

WINDOW = {
    "start": "2013-01-01",
    "end": "2013-01-14",
    "train_end": "2013-01-10",
    "validation_end": "2013-01-12",
}


def test_pieces_cover_the_window_once_cut_at_months_or_days() -> None:
    assert pieces_of(date(2013, 1, 20), date(2013, 3, 3)) == [
        (date(2013, 1, 20), date(2013, 1, 31)),
        (date(2013, 2, 1), date(2013, 2, 28)),
        (date(2013, 3, 1), date(2013, 3, 3)),
    ]
    assert pieces_of(date(2013, 1, 1), date(2013, 1, 5), 2) == [
        (date(2013, 1, 1), date(2013, 1, 2)),
        (date(2013, 1, 3), date(2013, 1, 4)),
        (date(2013, 1, 5), date(2013, 1, 5)),
    ]
    with pytest.raises(ValueError, match="piece_days"):
        pieces_of(date(2013, 1, 1), date(2013, 1, 5), -1)


@pytest.mark.parametrize("piece_days", [0, 1, 3])
def test_a_pieced_build_equals_the_whole_one(feature_home: Path, piece_days: int) -> None:
    store = OfflineStore(home=str(feature_home))
    whole_spine = label_spine(
        store.read("flight_outcomes"), store.read("flight_schedule"), WINDOW["start"], WINDOW["end"]
    )
    whole = build_training_dataset(
        whole_spine,
        {g.name: store.read(g.name) for g in FEATURE_GROUPS},
        WINDOW["train_end"],
        WINDOW["validation_end"],
    )
    pieced, unlabelled = pieced_dataset(store, WINDOW, piece_days)
    assert whole.height > 10_000 and unlabelled > 0
    assert pieced.equals(whole)
    assert content_hash(pieced, "flight_id") == content_hash(whole, "flight_id")
    # The same hash one piece at a time, from the pieces as they come.
    cuts = pieces_of(date(2013, 1, 1), date(2013, 1, 14), piece_days)
    parts = [pieced.filter(pl.col("flight_date").is_between(a, b)) for a, b in cuts]
    assert content_hash_of_pieces(parts, "flight_id") == content_hash(whole, "flight_id")


def test_the_piecewise_hash_refuses_pieces_out_of_key_order(feature_home: Path) -> None:
    stored = OfflineStore(home=str(feature_home)).read("training_dataset")
    early, late = (
        stored.filter(pl.col("flight_date") < date(2013, 1, 7)),
        stored.filter(pl.col("flight_date") >= date(2013, 1, 7)),
    )
    with pytest.raises(ValueError, match="pieces overlap"):
        content_hash_of_pieces([late, early], "flight_id")


def test_the_materialized_dataset_is_the_whole_build(feature_home: Path, tmp_path: Path) -> None:
    """What ``training_dataset`` stored (one Parquet file per piece, committed in one rename) is
    what one whole join gives, and its recorded hash is the whole build's."""
    home = Path(shutil.copytree(feature_home, tmp_path / "home", symlinks=True))
    config = {"ops": {"training_dataset": {"config": {**WINDOW, "piece_days": 4}}}}
    result = materialize(home, ["training_dataset"], None, None, run_config=config)
    assert result.success
    store = OfflineStore(home=str(home))
    files = sorted(p.name for p in store.table_dir("training_dataset").glob("*.parquet"))
    assert files == ["2013-01-01.parquet", "2013-01-05.parquet", "2013-01-09.parquet", "2013-01-13.parquet"]
    assert store.table_dir("training_dataset").is_symlink()
    assert not list(store.root.glob(".versions/training_dataset/*.partial"))
    stored = store.read("training_dataset")
    spine = label_spine(
        store.read("flight_outcomes"), store.read("flight_schedule"), WINDOW["start"], WINDOW["end"]
    )
    whole = build_training_dataset(
        spine,
        {g.name: store.read(g.name) for g in FEATURE_GROUPS},
        WINDOW["train_end"],
        WINDOW["validation_end"],
    )
    assert stored.equals(whole.select(stored.columns))
    assert set(stored.columns) == set(whole.columns) and pl.DataFrame.equals(stored, whole)
    [event] = result.get_asset_materialization_events()
    meta = event.materialization.metadata
    assert (
        meta["content_hash"].value
        == content_hash(whole, "flight_id")
        == pieces_hash(store.table_dir("training_dataset"), "flight_id")
    )
    assert meta["dagster/row_count"].value == whole.height and meta["pieces"].value == 4
    assert (
        store.scan("training_dataset")
        .filter(pl.col("split") == "test")
        .collect()
        .equals(whole.filter(pl.col("split") == "test"))
    )


def test_a_refused_dataset_leaves_the_stored_one_in_place(feature_home: Path, tmp_path: Path) -> None:
    """An empty split fails the assembly after the pieces were written: they are discarded."""
    home = Path(shutil.copytree(feature_home, tmp_path / "home", symlinks=True))
    store = OfflineStore(home=str(home))
    before = store.read("training_dataset")
    late = {
        "ops": {
            "training_dataset": {
                "config": {**WINDOW, "train_end": "2013-02-01", "validation_end": "2013-02-02"}
            }
        }
    }
    result = materialize(home, ["training_dataset"], None, None, run_config=late)
    assert not result.success
    assert store.read("training_dataset").equals(before)
    assert not list(store.root.glob(".versions/training_dataset/*.partial"))


def test_a_killed_run_s_staging_folder_is_removed_at_the_next_stage(tmp_path: Path) -> None:
    """A run killed while it wrote pieces leaves `store/.versions/<table>/<id>.partial`; the next
    stage of any table removes it, and keeps the folder of a writer still running."""
    import subprocess
    import sys

    from fti_assets.resources.offline_store import OfflineStore
    from fti_assets.resources.pieced import OWNER, stage, write_piece

    store = OfflineStore(home=str(tmp_path))
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    abandoned = stage(store, "training_dataset", "killed-run")
    write_piece(abandoned, "2013-01", pl.DataFrame({"x": [1]}))
    Path(abandoned.folder, OWNER).write_text(str(killed.pid))
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        busy = stage(store, "training_dataset", "running-run")
        Path(busy.folder, OWNER).write_text(str(running.pid))
        killed.kill()
        killed.wait()
        stage(store, "other_table", "next-run")
        assert not Path(abandoned.folder).exists()
        assert Path(busy.folder).exists()
    finally:
        running.kill()
        running.wait()
