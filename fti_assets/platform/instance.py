"""The Dagster instance: under ``FTI_HOME`` (SQLite), or on PostgreSQL in production."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fti_assets.settings import Settings

_ROOT = Path(__file__).resolve().parents[2]  # the project: fti_assets/platform/instance.py
_TEMPLATES = {"local": _ROOT / "dagster.yaml", "production": _ROOT / "deploy" / "dagster.production.yaml"}
_FALLBACK = "telemetry:\n  enabled: false\n"
#: The first line of an instance file written here: such a file is rewritten when the
#: project's ``dagster.yaml`` or the folder changes; any other file is the operator's and kept.
WRITTEN = (
    "# Written by fti_assets/platform/instance.py from the project's dagster.yaml; edit that file instead.\n"
)


def local_instance_yaml(home: Path, template: str) -> str:
    """``template`` with Dagster's SQLite storages under ``home`` on kept connections
    (``fti_assets/platform/sqlite_storage.py``): the same files as Dagster's default, which needs no path."""
    import yaml

    history = home.resolve() / "history"
    storage = {
        "run_storage": {
            "module": "fti_assets.platform.sqlite_storage",
            "class": "KeptSqliteRunStorage",
            "config": {"base_dir": str(history)},
        },
        "event_log_storage": {
            "module": "fti_assets.platform.sqlite_storage",
            "class": "KeptSqliteEventLogStorage",
            "config": {"base_dir": str(history / "runs")},
        },
    }
    return (
        f"{WRITTEN}{template.rstrip()}\n# Dagster's SQLite files under this folder, on kept "
        f"connections.\n{yaml.safe_dump(storage, sort_keys=False)}"
    )


def write_instance_file(home: Path, production: bool) -> Path:
    """``home/dagster.yaml``: the repository's production file in production (a leftover local one
    is replaced), else the local one for this folder, unless an operator wrote their own."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    template = _TEMPLATES["production" if production else "local"]
    if production:
        if not template.exists():
            raise FileNotFoundError(f"FTI_ENV=production needs {template}")
        if not target.exists() or target.read_text() != template.read_text():
            shutil.copyfile(template, target)
        return home
    text = (
        template.read_text() if template.exists() else _FALLBACK
    )  # the fallback: installed without the project tree
    current = target.read_text() if target.exists() else None
    if (
        current is None or current.startswith(WRITTEN) or current == text
    ):  # ours, or a plain copy of the project's
        wanted = local_instance_yaml(home, text)
        if current != wanted:
            target.write_text(wanted)
    return home


def prepare_dagster_home(settings: Settings) -> Path:
    """The instance folder: ``DAGSTER_HOME`` if set, else ``$FTI_HOME/dagster``, with the project's
    settings: ``dagster.yaml`` locally, ``deploy/dagster.production.yaml`` in production."""
    return write_instance_file(
        Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home), settings.production
    )
