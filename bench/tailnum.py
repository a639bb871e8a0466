"""What the tail number is worth: the champion's training setup with and without the plane features.

The tail number comes from the outcome feed and is treated as known a day ahead (the schedule
carries it), though the aircraft that actually flies is known for sure only later and swaps
correlate with delays. ``python -m bench.tailnum HOME`` trains, on HOME's training dataset with
the default hyperparameters, one model on every feature and one without the features looked up
by tail number (``plane_last_arrival``, ``plane_attributes``), and prints both test AUCs as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl

from fti_assets.domain.catalog import FEATURE_GROUPS, feature_names
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.training.trained_model import TrainingConfig
from fti_assets.training.trainer import labels, lightgbm_params, train_booster

PLANE_GROUPS = ("plane_last_arrival", "plane_attributes")


def test_auc(home: Path, without: tuple[str, ...]) -> dict:
    from sklearn.metrics import roc_auc_score

    dataset = OfflineStore(home=str(home)).read("training_dataset")
    split = {s: dataset.filter(pl.col("split") == s) for s in ("train", "validation", "test")}
    dropped = {f for g in FEATURE_GROUPS if g.name in without for f in g.features}
    subset = [f for f in feature_names() if f not in dropped]
    config = TrainingConfig()
    names = ("learning_rate", "num_leaves", "min_data_in_leaf", "feature_fraction", "bagging_fraction")
    tuned = {k: getattr(config, k) for k in (*names, "bagging_freq", "lambda_l2")}
    params = lightgbm_params(tuned, config.seed)
    train, validation = split["train"], split["validation"]
    rounds, patience = config.max_rounds, config.early_stopping_rounds
    fitted = train_booster(train, validation, params, rounds, patience, feature_subset=subset)
    scores = fitted.spec.predict(fitted.booster, split["test"])
    return {
        "features": len(subset),
        "test_auc": round(float(roc_auc_score(labels(split["test"]), scores)), 4),
    }


def main() -> None:
    home = Path(sys.argv[1])
    every, without = test_auc(home, ()), test_auc(home, PLANE_GROUPS)
    drop = round(every["test_auc"] - without["test_auc"], 4)
    print(json.dumps({"every_feature": every, "without_tail_number": without, "auc_drop": drop}))


if __name__ == "__main__":
    main()
