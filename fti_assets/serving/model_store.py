"""Serving models: the BentoML model store, and the registry roles a service follows.

The MLflow registry is the one record of which version is champion and which is challenger
(with its mode and share, as tags of the challenger version). A running service polls it and
swaps models when the roles change, so promotion and rollback need no restart.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

MODEL_NAME = "flight_delay_model"
REGISTERED_MODEL = "flight_delay"
MODEL_FILE, SPEC_FILE = "model.txt", "feature_spec.json"
#: Registry tags of the challenger version that tell a service how to run it.
MODE_TAG, SHARE_TAG = "serving_mode", "canary_share"


def serving_tag(registry_version: int) -> str:
    """The BentoML model tag of a registry version: re-promoting a version reuses its entry."""
    return f"{MODEL_NAME}:v{int(registry_version)}"


@dataclass(frozen=True)
class Roles:
    """What the registry says a service should run."""

    champion: int | None
    challenger: int | None = None
    mode: str = "off"
    share: float = 0.0


def read_roles(tracking_uri: str, model_name: str = REGISTERED_MODEL) -> Roles:
    """The champion and challenger aliases, and the challenger's mode and share tags.

    Raises when the registry cannot be read: a caller must not mistake an outage for "no champion".
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        aliases = client.get_registered_model(model_name).aliases
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return Roles(None)
        raise
    champion = int(aliases["champion"]) if "champion" in aliases else None
    if "challenger" not in aliases or champion is None:
        return Roles(champion)
    version = client.get_model_version(model_name, str(aliases["challenger"]))
    mode = version.tags.get(MODE_TAG, "shadow")
    share = float(version.tags.get(SHARE_TAG, "0")) if mode == "canary" else 0.0
    return Roles(champion, int(version.version), mode, share)


def save_serving_model(model_file: Path, spec: dict, registry_version: int, labels: dict[str, str]) -> str:
    """Copy a registered LightGBM text model and its spec into the BentoML store; return the tag."""
    import bentoml
    from bentoml.exceptions import NotFound

    tag = serving_tag(registry_version)
    try:
        return str(bentoml.models.get(tag).tag)
    except NotFound:
        pass
    with bentoml.models.create(
        tag, labels=labels, metadata={"registry_version": registry_version, "features": spec["features"]}
    ) as model:
        Path(model.path_of(MODEL_FILE)).write_text(model_file.read_text())
        Path(model.path_of(SPEC_FILE)).write_text(json.dumps(spec))
    return tag


def load_serving_model(tag: str):
    """A ``ServingModel`` from the BentoML store: the LightGBM text file and its spec."""
    import bentoml
    import lightgbm as lgb

    from fti_assets.domain.encoding import FeatureSpec
    from fti_assets.serving.predictor import ServingModel

    model = bentoml.models.get(tag)
    booster = lgb.Booster(model_file=model.path_of(MODEL_FILE))
    spec = FeatureSpec.from_dict(json.loads(Path(model.path_of(SPEC_FILE)).read_text()))
    return ServingModel(version=str(model.tag), booster=booster, spec=spec)


def load_registry_model(tracking_uri: str, registry_version: int, model_name: str = REGISTERED_MODEL):
    """A ``ServingModel`` downloaded from the MLflow registry, for a version the local BentoML
    store does not hold (a rollback to a version packaged elsewhere, say)."""
    import tempfile

    import lightgbm as lgb
    import mlflow
    import yaml

    from fti_assets.domain.encoding import FeatureSpec
    from fti_assets.serving.predictor import ServingModel

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    target = tempfile.mkdtemp(prefix=f"serving-{registry_version}-")
    folder = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{model_name}/{registry_version}", dst_path=target
        )
    )
    meta = yaml.safe_load((folder / "MLmodel").read_text())
    booster = lgb.Booster(model_file=str(folder / meta["flavors"]["lightgbm"]["data"]))
    return ServingModel(
        version=serving_tag(registry_version),
        booster=booster,
        spec=FeatureSpec.from_dict(meta["metadata"]["feature_spec"]),
    )


def load_version(tracking_uri: str, registry_version: int):
    """A registry version ready to serve: from the BentoML store if it holds it, else the registry."""
    from bentoml.exceptions import NotFound

    try:
        return load_serving_model(serving_tag(registry_version))
    except NotFound:
        return load_registry_model(tracking_uri, registry_version)
