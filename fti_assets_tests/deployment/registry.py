"""The model registry of a test home, read as the tests read it: its champion, its Bentos, a run's checks."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from fti_assets.resources.registry import CHAMPION, ModelRegistry
from fti_assets_tests.conftest import settings_for

TRAIN = ["trained_model", "model_evaluation", "champion_model", "flight_delay_bento"]
WEAK = {"num_leaves": 2, "max_rounds": 2, "learning_rate": 0.05}  # a real but poor model
NO_SPLITS = {"num_leaves": 2, "max_rounds": 1, "min_data_in_leaf": 10_000_000}  # a constant: AUC 0.5
LOW_FLOORS = {"floor_auc": 0.5, "floor_max_brier": 0.25}


def training_run(training: dict | None = None, gates: dict | None = None) -> dict:
    """Run config for ``TRAIN``: training options, and gates with floors a small slice can meet."""
    return {
        "ops": {
            "trained_model": {"config": training or {}},
            "model_evaluation": {"config": {**LOW_FLOORS, **(gates or {})}},
        }
    }


def registry_at(home: Path) -> ModelRegistry:
    from fti_assets.resources.environment import build_resources

    return build_resources(settings_for(home))["registry"]


def champion_at(home: Path) -> int | None:
    found = registry_at(home).version_by_alias(CHAMPION)
    return int(found.version) if found else None


def gate_verdicts(result) -> dict[str, bool]:
    """Each promotion gate of a run's ``model_evaluation``: passed or not."""
    return {
        name: gate["passed"] for name, gate in result.output_for_node("model_evaluation")["gates"].items()
    }


def evaluation_metadata(result) -> dict:
    """The plain values of the run's ``model_evaluation`` materialization."""
    [event] = [
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("model_evaluation")
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def bento_folder(home: Path, version: int) -> Path:
    """The Bento folder the registry records for ``version`` (in the store under FTI_HOME)."""
    tag = registry_at(home).client().get_model_version("flight_delay", str(version)).tags["bento"]
    name, bento_version = tag.split(":")
    return home / "bentoml" / "bentos" / name / bento_version


def bundled_models(bento: Path) -> list[str]:
    import yaml

    info = yaml.safe_load((bento / "bento.yaml").read_text())
    return [m["tag"] for m in [*info["models"], *(m for s in info["services"] for m in s["models"])]]


def verdict_of(result, instance: dg.DagsterInstance) -> str:
    return instance.get_run_by_id(result.run_id).tags["fti/verdict"]
