"""What a model needs to be rebuilt: code version and library versions."""

from __future__ import annotations

import platform
import subprocess
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

LIBRARIES = (
    "fti-assets",
    "dagster",
    "polars",
    "duckdb",
    "pandera",
    "lightgbm",
    "mlflow",
    "numpy",
    "scikit-learn",
    "bentoml",
    "evidently",
)


@cache
def code_version() -> str:
    """The git commit of the project (``-dirty`` with uncommitted changes), else the package version."""
    import fti_assets

    root = Path(fti_assets.__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"fti-assets {version('fti-assets')}"


def library_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
