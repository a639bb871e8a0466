"""The Dagster instance: under ``FTI_HOME`` (SQLite), or on PostgreSQL in production."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fti_assets.settings import Settings

_ROOT = Path(__file__).resolve().parents[1]
_TEMPLATES = {"local": _ROOT / "dagster.yaml", "production": _ROOT / "deploy" / "dagster.production.yaml"}
_FALLBACK = "telemetry:\n  enabled: false\n"


def prepare_dagster_home(settings: Settings) -> Path:
    """The instance folder: ``DAGSTER_HOME`` if set, else ``$FTI_HOME/dagster``, with the project's
    settings: ``dagster.yaml`` locally, ``deploy/dagster.production.yaml`` in production."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    template = _TEMPLATES["production" if settings.production else "local"]
    if settings.production:
        # Production's instance is the repository's file, never a leftover local one.
        if not template.exists():
            raise FileNotFoundError(f"FTI_ENV=production needs {template}")
        if not target.exists() or target.read_text() != template.read_text():
            shutil.copyfile(template, target)
    elif not target.exists():
        if template.exists():
            shutil.copyfile(template, target)
        else:  # installed without the project tree
            target.write_text(_FALLBACK)
    return home
