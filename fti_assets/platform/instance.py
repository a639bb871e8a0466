"""The Dagster instance: under ``FTI_HOME`` (SQLite), or on PostgreSQL in production.

The instance file names Dagster's stock storage, or the project's storage accelerator
(``storage_accelerator.py``) when ``FTI_STORAGE_ACCELERATOR`` is on (the default) and the
accelerator fits the installed Dagster; when it does not, one notice is logged and the stock
storage is used."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from types import ModuleType

from fti_assets.settings import Settings

_ROOT = Path(__file__).resolve().parents[2]  # the project: fti_assets/platform/instance.py
_TEMPLATES = {"local": _ROOT / "dagster.yaml", "production": _ROOT / "deploy" / "dagster.production.yaml"}
_FALLBACK = "telemetry:\n  enabled: false\n"
#: The first line of an instance file written here: such a file is rewritten when the
#: project's ``dagster.yaml`` or the folder changes; any other file is the operator's and kept.
WRITTEN = (
    "# Written by fti_assets/platform/instance.py from the project's dagster.yaml; edit that file instead.\n"
)
#: Dagster's batched event writes: the size of a batch, read by Dagster at each event. The
#: accelerator stores a batch in one transaction; Dagster's stock storages store it event by event.
EVENT_BATCH_SIZE_VARIABLE = "DAGSTER_EVENT_BATCH_SIZE"

_log = logging.getLogger(__name__)
_noticed: list[str] = []


def storage_accelerator(enabled: bool) -> ModuleType | None:
    """The accelerator module, or None: when switched off, or when it does not fit the installed
    Dagster (another version, a missing member), which is said once per process."""
    if not enabled:
        return None
    try:
        from fti_assets.platform import storage_accelerator as accelerator
    except (ImportError, AttributeError) as error:
        if not _noticed:
            _noticed.append(str(error))
            _log.warning("Dagster's stock instance storage in use, not the storage accelerator: %s", error)
        return None
    return accelerator


def _without_key(template: str, key: str) -> str:
    """``template`` without its top-level ``key:`` block (and the comment lines right above it)."""
    lines, kept, skipping = template.splitlines(keepends=True), [], False
    for line in lines:
        top = line[:1] not in (" ", "\t", "\n", "#", "")
        if top:
            skipping = line.startswith(f"{key}:")
        if skipping:
            while kept and kept[-1].startswith("#"):
                kept.pop()
        else:
            kept.append(line)
    return "".join(kept)


def instance_yaml(home: Path, template: str, production: bool, accelerated: bool) -> str:
    """``template`` with its storage: locally Dagster's SQLite files under ``home`` (the same
    files with or without the accelerator), in production the template's PostgreSQL database."""
    import yaml

    accelerator = storage_accelerator(accelerated)
    if production:
        if accelerator is None:
            return f"{WRITTEN}{template}"
        postgres = yaml.safe_load(template)["storage"]["postgres"]
        storage = accelerator.postgres_storage(postgres)
        note = "# dagster-postgres's storages on pooled connections (fti_assets/platform/storage_accelerator.py)."
        template = _without_key(template, "storage")
        return f"{WRITTEN}{template.rstrip()}\n{note}\n{yaml.safe_dump(storage, sort_keys=False)}"
    base = str(home.resolve())
    if accelerator is None:
        storage, note = (
            {"storage": {"sqlite": {"base_dir": base}}},
            "# Dagster's SQLite storage under this folder.",
        )
    else:
        storage = accelerator.local_storage(base)
        note = "# Dagster's SQLite files under this folder, on kept connections (platform/storage_accelerator.py)."
    return f"{WRITTEN}{template.rstrip()}\n{note}\n{yaml.safe_dump(storage, sort_keys=False)}"


def write_instance_file(home: Path, production: bool, accelerated: bool = True) -> Path:
    """``home/dagster.yaml`` from the project's file: ``deploy/dagster.production.yaml`` in
    production (always rewritten: a leftover local one is replaced), else ``dagster.yaml`` for
    this folder, unless an operator wrote their own. With the accelerator in use, Dagster's
    batched event writes are turned on for this process and those it starts, where unset."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    template = _TEMPLATES["production" if production else "local"]
    if production and not template.exists():
        raise FileNotFoundError(f"FTI_ENV=production needs {template}")
    text = template.read_text() if template.exists() else _FALLBACK  # installed without the project tree
    current = target.read_text() if target.exists() else None
    if production or current is None or current.startswith(WRITTEN) or current == text:
        wanted = instance_yaml(home, text, production, accelerated)
        if current != wanted:
            target.write_text(wanted)
    if storage_accelerator(accelerated) is not None:
        from fti_assets.platform.storage_accelerator import EVENT_BATCH_SIZE

        os.environ.setdefault(EVENT_BATCH_SIZE_VARIABLE, EVENT_BATCH_SIZE)
    return home


def prepare_dagster_home(settings: Settings) -> Path:
    """The instance folder: ``DAGSTER_HOME`` if set, else ``$FTI_HOME/dagster``, with the project's
    settings: ``dagster.yaml`` locally, ``deploy/dagster.production.yaml`` in production."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    return write_instance_file(home, settings.production, settings.storage_accelerator)


if __name__ == "__main__":  # deploy/prod-dev.sh: the instance file, then the variables to export
    write_instance_file(
        Path(sys.argv[1]), Settings.from_env().production, Settings.from_env().storage_accelerator
    )
    if EVENT_BATCH_SIZE_VARIABLE in os.environ:
        print(f"{EVENT_BATCH_SIZE_VARIABLE}={os.environ[EVENT_BATCH_SIZE_VARIABLE]}")
