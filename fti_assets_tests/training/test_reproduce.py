"""``fti reproduce``: a registered model rebuilt from its recorded inputs gives the same predictions."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl

from fti_assets.resources.offline_store import OfflineStore
from fti_assets_tests.conftest import TRAINING_CONFIG, materialize, settings_for

BIN = Path(sys.executable).parent


def test_a_model_is_reproduced_on_a_small_window_and_a_changed_store_is_named(
    feature_home: Path, tmp_path: Path
) -> None:
    from fti_assets.training.reproduce import reproduce

    home = tmp_path / "home"
    shutil.copytree(feature_home, home)
    config = {
        "ops": {
            **TRAINING_CONFIG["ops"],
            "trained_model": {"config": {"seed": 11, "num_leaves": 7, "max_rounds": 80}},
        }
    }
    # The dataset and the model in one run: the model records the dataset's window.
    assert materialize(home, ["training_dataset", "trained_model"], None, None, run_config=config).success

    env = {**os.environ, "FTI_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    done = subprocess.run(
        [str(BIN / "fti"), "reproduce", "1"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert (
        "hash" in done.stdout
        and "test predictions identical" in done.stdout
        and "version 1 reproduced" in done.stdout
    )

    # Rewrite what the store knows of planes: the dataset, and so the model, are no longer the recorded ones.
    store = OfflineStore(home=str(home))
    planes = store.read("plane_attributes")
    store.write("plane_attributes", planes.with_columns(pl.col("plane_seats") * 2))
    changed = reproduce(1, settings_for(home))
    assert not changed.reproduced
    assert any(d.startswith("training dataset hash: recorded") for d in changed.differences)
    assert any(d.startswith("test predictions:") for d in changed.differences), changed.differences

    missing = subprocess.run(
        [str(BIN / "fti"), "reproduce", "9"], env=env, capture_output=True, text=True, timeout=300
    )
    assert missing.returncode == 2 and "no version 9" in missing.stdout
