"""The Dagster code location: ``fti_assets.definitions:defs``.

Heavy libraries (pandera, LightGBM, MLflow, BentoML, Evidently) are imported inside asset
bodies, so this module loads fast; every run re-imports it.
"""

from __future__ import annotations

import dagster as dg

from fti_assets.assets.card import CARD_ASSETS
from fti_assets.assets.challenger import CHALLENGER_ASSETS
from fti_assets.assets.dataset_graph import TRAINING_DATA_ASSETS
from fti_assets.assets.deployment import DEPLOYMENT_ASSETS
from fti_assets.assets.drift import DRIFT_ASSETS
from fti_assets.assets.features import FEATURE_ASSETS
from fti_assets.assets.inference import INFERENCE_ASSETS
from fti_assets.assets.model import MODEL_ASSETS
from fti_assets.assets.monitoring import MONITORING_ASSETS
from fti_assets.assets.raw import RAW_ASSETS
from fti_assets.assets.replay_report import REPLAY_ASSETS
from fti_assets.assets.search import SEARCH_ASSETS
from fti_assets.assets.shadow import SHADOW_ASSETS
from fti_assets.assets.skew import SKEW_ASSETS
from fti_assets.automation import SCHEDULES, SENSORS
from fti_assets.jobs import JOBS
from fti_assets.progress import progress_logger
from fti_assets.resources import build_resources
from fti_assets.run_outcome import OUTCOME_SENSORS
from fti_assets.settings import Settings

ASSETS = [*RAW_ASSETS, *FEATURE_ASSETS, *TRAINING_DATA_ASSETS, *MODEL_ASSETS, *CARD_ASSETS, *SEARCH_ASSETS, *DEPLOYMENT_ASSETS, *CHALLENGER_ASSETS,
          *INFERENCE_ASSETS, *MONITORING_ASSETS, *DRIFT_ASSETS, *SHADOW_ASSETS, *SKEW_ASSETS, *REPLAY_ASSETS]



def build_definitions(settings: Settings, overrides: dict | None = None) -> dg.Definitions:
    """The whole graph bound to one environment's resources (``overrides`` replaces some)."""
    return dg.Definitions(
        assets=ASSETS,
        jobs=JOBS,
        sensors=[*SENSORS, *OUTCOME_SENSORS],
        schedules=SCHEDULES,
        resources={**build_resources(settings), **(overrides or {})},
        loggers={"progress_logger": progress_logger},
    )


defs = build_definitions(Settings.from_env())
