"""``fti reproduce VERSION``: rebuild a registered model from what its run recorded, and compare.

It rebuilds the training dataset from the offline store with the recorded window and split
(the same pure functions as ``training_dataset``), checks the content hash, retrains with the
recorded parameters and seed, and compares the predictions on the test split with the
registered model's. Every difference is reported; none means the model is reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from fti_assets.settings import Settings


@dataclass
class Reproduction:
    version: int
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return not self.differences


def rebuild_dataset(store, window: dict[str, str]) -> pl.DataFrame:
    """The training dataset of ``window``, from the offline store as known at the window's
    ``known_by`` (every current value for a window recorded before cutoffs existed), read back
    from Parquet as ``trained_model`` reads it: ``content_hash`` hashes Arrow IPC bytes, which
    depend on the frame's memory layout, so equal frames hash alike only once both are read
    from Parquet."""
    import tempfile
    from pathlib import Path

    from fti_assets.domain.catalog import FEATURE_GROUPS
    from fti_assets.training.dataset import build_training_dataset, knowledge, label_spine

    # As the store knew it at the recorded cutoff: corrections ingested since are left out.
    known_by, hindsight = knowledge(window)
    outcomes, schedule = (store.read(t, versions=True) for t in ("flight_outcomes", "flight_schedule"))
    spine = label_spine(outcomes, schedule, window["start"], window["end"], known_by)
    tables = {g.name: store.read(g.name, versions=True) for g in FEATURE_GROUPS}
    built = build_training_dataset(
        spine, tables, window["train_end"], window["validation_end"], known_by, hindsight
    )
    with tempfile.TemporaryDirectory(prefix="reproduce-") as folder:
        built.write_parquet(Path(folder) / "training_dataset.parquet")
        return pl.read_parquet(Path(folder) / "training_dataset.parquet")


def reproduce(version: int, settings: Settings | None = None) -> Reproduction:
    """Rebuild, retrain and compare ``version``; raise ``LookupError`` if it cannot be attempted."""
    import mlflow

    from fti_assets.domain.retrieval import content_hash
    from fti_assets.resources.environment import build_resources
    from fti_assets.training.reproducibility import code_version
    from fti_assets.training.trainer import train_booster

    resources = build_resources(settings or Settings.from_env())
    registry, store = resources["registry"], resources["store"]
    out = Reproduction(version)
    try:
        mv = registry.client().get_model_version(registry.model_name, str(version))
    except Exception as exc:
        raise LookupError(f"no version {version} of {registry.model_name} in the registry: {exc}") from None
    try:
        record = mlflow.artifacts.load_dict(f"runs:/{mv.run_id}/reproduction.json")
    except Exception:
        raise LookupError(
            f"version {version} was trained before runs recorded reproduction.json: it cannot be reproduced"
        ) from None
    if not record.get("dataset_window"):
        raise LookupError(f"version {version}'s run does not know the window of its training dataset")

    recorded_code, current_code = mv.tags.get("code_version"), code_version()
    if recorded_code != current_code:
        out.differences.append(
            f"code version: recorded {recorded_code}, running {current_code} (check out {recorded_code} to "
            "compare like for like)"
        )
    dataset = rebuild_dataset(store, record["dataset_window"])
    digest = content_hash(dataset, "flight_id")
    if digest != mv.tags.get("dataset_hash"):
        out.differences.append(
            f"training dataset hash: recorded {mv.tags.get('dataset_hash')}, rebuilt {digest} "
            f"({dataset.height:,} rows for window {record['dataset_window']}): the offline store changed"
        )
    else:
        out.notes.append(f"training dataset rebuilt: {dataset.height:,} rows, hash {digest[:12]} matches")

    from datetime import date

    train, validation, test = (dataset.filter(pl.col("split") == s) for s in ("train", "validation", "test"))
    if record["train_from"]:
        train = train.filter(pl.col("flight_date") >= date.fromisoformat(record["train_from"]))
    fitted = train_booster(
        train,
        validation,
        record["params"],
        record["max_rounds"],
        record["early_stopping_rounds"],
        record["extra_features"],
    )
    registered = registry.load(version)
    if fitted.spec.to_dict() != registered.spec:
        out.differences.append(
            "feature spec: the retrained model's features or category codes differ from the registered one's"
        )
    ours = fitted.spec.predict(fitted.booster, test)
    theirs = registered.feature_spec.predict(registered.booster, test)
    if ours.shape != theirs.shape or not np.array_equal(ours, theirs):
        gap = float(np.max(np.abs(ours - theirs))) if ours.shape == theirs.shape else float("nan")
        out.differences.append(
            f"test predictions: {int(np.sum(ours != theirs)) if ours.shape == theirs.shape else 'all'} of "
            f"{test.height:,} differ, by up to {gap:.3g}"
        )
    else:
        out.notes.append(f"test predictions identical on {test.height:,} flights")
    return out


def reproduce_command(version: int) -> int:
    try:
        result = reproduce(version)
    except LookupError as exc:
        print(f"cannot reproduce: {exc}")
        return 2
    for note in result.notes:
        print(f"  ok: {note}")
    for difference in result.differences:
        print(f"  DIFFERS: {difference}")
    print(f"version {version} {'reproduced' if result.reproduced else 'NOT reproduced'}")
    return 0 if result.reproduced else 1
