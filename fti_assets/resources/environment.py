"""The one place that chooses resources for an environment (local or production)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from fti_assets.resources.alerts import AlertChannels
from fti_assets.resources.feature_stream import FeatureStream
from fti_assets.resources.io_manager import ParquetIOManager
from fti_assets.resources.lineage import LineageResource
from fti_assets.resources.locks import ChangeLock
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.online_store import OnlineStore
from fti_assets.resources.policy import PolicyResource
from fti_assets.resources.records import RecordIOManager
from fti_assets.resources.registry import ModelRegistry
from fti_assets.resources.reports import ReportStore
from fti_assets.resources.retraining_rule import RetrainingRule
from fti_assets.resources.search_storage import SearchStorage
from fti_assets.resources.serving import ServingResource
from fti_assets.resources.source import RawSource
from fti_assets.settings import Settings


def build_resources(settings: Settings) -> dict[str, Any]:
    """Resources for ``settings.env``.

    ``local`` keeps everything under ``FTI_HOME``: Parquet, SQLite for MLflow and the online
    store, the BentoML store. ``production`` keeps MLflow's tracking and registry at
    ``FTI_MLFLOW_TRACKING_URI`` (PostgreSQL) with artifacts at ``FTI_MLFLOW_ARTIFACTS``, and
    the online store in Redis (``FTI_REDIS_URL``, keys under ``FTI_REDIS_PREFIX``); the asset
    code is the same in both.
    """
    store = OfflineStore(home=str(settings.home))
    online = OnlineStore(
        path=str(settings.online_store_path),
        backend=settings.online_backend,
        redis_url=settings.redis_url if settings.production else "",
        prefix=settings.redis_prefix,
    )
    return {
        "store": store,
        "source": RawSource(location=settings.source, schedule_lead_days=settings.schedule_lead_days),
        "io_manager": ParquetIOManager(store=store),
        "record_io_manager": RecordIOManager(home=str(settings.home)),
        # Small values passed between the steps of one asset (training_dataset's piece summaries).
        "step_io_manager": dg.FilesystemIOManager(base_dir=str(settings.home / "steps")),
        "policy": PolicyResource(path=str(settings.policy)),
        "search_storage": SearchStorage(url=settings.optuna_storage),
        "registry": ModelRegistry(
            tracking_uri=settings.tracking_uri,
            artifact_root=settings.artifact_root,
            history_url=settings.model_history_url,
            ui_url=settings.mlflow_ui_url,
        ),
        "lock": ChangeLock(folder=str(settings.lock_dir), database_url=settings.lock_database_url),
        "online": online,
        "stream": FeatureStream(
            url=settings.stream_url, prefix=settings.redis_prefix, stall_seconds=settings.stream_stall_seconds
        ),
        "serving": ServingResource(home=str(settings.home), bentoml_home=str(settings.bentoml_home)),
        "retraining_rule": RetrainingRule(),
        "alerts": _alert_channels(settings),
        "lineage": LineageResource(enabled=settings.lineage, namespace=settings.lineage_namespace),
        "reports": ReportStore(folder=str(settings.reports_dir), base_url=settings.reports_url),
    }


def _alert_channels(settings: Settings) -> AlertChannels:
    """The channels of ``FTI_ALERT_*``. The URLs go in as ``EnvVar``s: Dagster resolves them when
    the sensor runs, and its UI shows the variable's name, never the secret in it."""
    return AlertChannels(
        webhook_url=dg.EnvVar("FTI_ALERT_WEBHOOK_URL") if settings.alert_webhook_url else "",
        smtp_url=dg.EnvVar("FTI_ALERT_SMTP_URL") if settings.alert_smtp_url else "",
        email_to=list(settings.alert_email_to),
        email_from=settings.alert_email_from,
        attempts=settings.alert_attempts,
        ui_url=settings.dagster_url,
    )
