"""The Dagster code location: ``fti_assets.definitions:defs``.

Each FTI pipeline lists its own definitions in its folder's ``definitions.py``; this module
merges them and binds them to one environment's settings and resources. Heavy libraries
(pandera, LightGBM, MLflow, BentoML, Evidently) are imported inside asset bodies, so this
module loads fast; every run re-imports it.
"""

from __future__ import annotations

import dagster as dg

from fti_assets.alerts.sensors import build_alert_sensors
from fti_assets.deployment import definitions as deployment
from fti_assets.features import definitions as features
from fti_assets.inference import definitions as inference
from fti_assets.jobs import build_jobs
from fti_assets.monitoring import definitions as monitoring
from fti_assets.partitions import bind_partitions
from fti_assets.platform.lineage import build_lineage_sensors
from fti_assets.platform.progress import quiet_logger
from fti_assets.platform.run_workers import dead_run_worker_sensor
from fti_assets.resources.environment import build_resources
from fti_assets.schedules import SCHEDULES
from fti_assets.settings import Settings
from fti_assets.training import definitions as training

_PIPELINES = (features.defs, training.defs, deployment.defs, inference.defs, monitoring.defs)
ASSETS = [asset for pipeline in _PIPELINES for asset in pipeline.assets or []]
"""Every asset as declared, before ``bind_partitions`` gives it the settings' window."""
SENSORS = [sensor for pipeline in _PIPELINES for sensor in pipeline.sensors or []]


def build_definitions(settings: Settings, overrides: dict | None = None) -> dg.Definitions:
    """The whole graph bound to one environment's settings and resources (``overrides`` replaces some).

    Each asset carries a code reference to the file and line of its body, which the UI links to.
    """
    return dg.Definitions(
        assets=dg.with_source_code_references(bind_partitions(ASSETS, settings)),
        jobs=build_jobs(settings),
        # Alerts and lineage run by default only where their settings are present; the dead-run-worker
        # sensor in the local profile, whose runs are processes of this machine, which it can look at.
        sensors=[
            *SENSORS,
            *build_alert_sensors(settings.alerts),
            *build_lineage_sensors(settings.lineage),
            *([] if settings.production else [dead_run_worker_sensor]),
        ],
        schedules=SCHEDULES,
        resources={**build_resources(settings), **(overrides or {})},
        loggers={"quiet_logger": quiet_logger},
    )


defs = build_definitions(Settings.from_env())
