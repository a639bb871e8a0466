"""Serving models in the BentoML model store, and the pointer that names the champion.

The pointer is a small JSON file under ``FTI_HOME/serving``; the running service watches it
and swaps models when it changes, so promotion and rollback need no restart.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

MODEL_NAME = "flight_delay_model"
MODEL_FILE, SPEC_FILE = "model.txt", "feature_spec.json"


def pointer_path(home: Path) -> Path:
    return home / "serving" / "champion.json"


def read_pointer(home: Path) -> dict[str, Any] | None:
    path = pointer_path(home)
    return json.loads(path.read_text()) if path.exists() else None


def write_pointer(home: Path, pointer: dict[str, Any]) -> None:
    """Publish the champion atomically: readers see the old or the new file, never half."""
    path = pointer_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(pointer, handle)
    os.replace(tmp, path)


def save_serving_model(model_file: Path, spec: dict, registry_version: int, labels: dict[str, str]) -> str:
    """Copy a registered LightGBM text model and its spec into the BentoML store; return the tag.

    The tag's version is the registry version, so re-promoting a version reuses its entry.
    """
    import bentoml
    from bentoml.exceptions import NotFound

    tag = f"{MODEL_NAME}:v{registry_version}"
    try:
        return str(bentoml.models.get(tag).tag)
    except NotFound:
        pass
    with bentoml.models.create(tag, labels=labels, metadata={"registry_version": registry_version, "features": spec["features"]}) as model:
        Path(model.path_of(MODEL_FILE)).write_text(model_file.read_text())
        Path(model.path_of(SPEC_FILE)).write_text(json.dumps(spec))
    return tag


def load_serving_model(tag: str):
    """A ``ServingModel`` from the BentoML store: the LightGBM text file and its spec."""
    import bentoml
    import lightgbm as lgb

    from fti_assets.serving.predictor import ServingModel
    from fti_assets.training.encoding import FeatureSpec

    model = bentoml.models.get(tag)
    booster = lgb.Booster(model_file=model.path_of(MODEL_FILE))
    spec = FeatureSpec.from_dict(json.loads(Path(model.path_of(SPEC_FILE)).read_text()))
    return ServingModel(version=str(model.tag), booster=booster, spec=spec)
