"""The Dagster instance under ``FTI_HOME``: one folder holds the runs, cursors and schedules."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fti_assets.settings import Settings

_TEMPLATE = Path(__file__).resolve().parents[1] / "dagster.yaml"
_FALLBACK = "telemetry:\n  enabled: false\n"


def prepare_dagster_home(settings: Settings) -> Path:
    """The instance folder: ``DAGSTER_HOME`` if set, else ``$FTI_HOME/dagster``, with the project's settings."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        if _TEMPLATE.exists():
            shutil.copyfile(_TEMPLATE, target)
        else:  # installed without the project tree
            target.write_text(_FALLBACK)
    return home
