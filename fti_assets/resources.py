"""The one place that chooses resources for an environment (local or production)."""

from __future__ import annotations

import os
from typing import Any

from fti_assets.assets.deployment import ServingResource
from fti_assets.assets.drift import ReportStore
from fti_assets.automation import RetrainingRuleConfig
from fti_assets.registry import ModelRegistry
from fti_assets.serving.online_store_resource import OnlineStore
from fti_assets.settings import Settings
from fti_assets.storage.io_manager import ParquetIOManager
from fti_assets.storage.offline_store import OfflineStore
from fti_assets.storage.records import RecordIOManager
from fti_assets.storage.source import RawSource


def build_resources(settings: Settings) -> dict[str, Any]:
    """Resources for ``settings.env``.

    ``local`` keeps everything under ``FTI_HOME``: Parquet, SQLite for MLflow and the online
    store, the BentoML store. ``production`` takes the MLflow server from
    ``FTI_MLFLOW_TRACKING_URI``; the asset code is the same in both.
    """
    if settings.env not in ("local", "production"):
        raise ValueError(f"FTI_ENV must be 'local' or 'production', not {settings.env!r}")
    tracking = settings.mlflow_tracking_uri
    if settings.env == "production":
        tracking = os.environ["FTI_MLFLOW_TRACKING_URI"]
    store = OfflineStore(home=str(settings.home))
    return {
        "store": store,
        "source": RawSource(location=settings.source),
        "io_manager": ParquetIOManager(store=store),
        "record_io_manager": RecordIOManager(home=str(settings.home)),
        "registry": ModelRegistry(tracking_uri=tracking, artifact_root=str(settings.mlflow_dir / "artifacts"), ui_url=settings.mlflow_ui_url),
        "online": OnlineStore(path=str(settings.online_store_path)),
        "serving": ServingResource(home=str(settings.home), bentoml_home=str(settings.bentoml_home)),
        "retraining_rule": RetrainingRuleConfig(),
        "reports": ReportStore(folder=str(settings.reports_dir), base_url=settings.reports_url),
    }
